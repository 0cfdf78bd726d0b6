// Customers: the server's list (GET /v1/customers), sorted by exposure or id, one page at a
// time. The browser holds one page only, so 10 000 customers cost what 50 do.
import { get } from '../api.js';
import { meter } from '../charts.js';
import { h, replace, uid } from '../dom.js';
import { bp, centidays, int, intText, money } from '../format.js';
import { basisLine } from './overview.js';
import { note, table } from '../ui.js';

const pageSizes = [25, 50, 100];
const pageSizeDefault = 50;

// segments caches the portfolio's segments per as-of date (they only feed the filter).
const segments = new Map();

async function segmentsAt(asOf, signal) {
  const key = asOf || 'today';
  if (!segments.has(key)) {
    const pf = await get('/v1/portfolio', { as_of: asOf }, signal);
    segments.set(key, (pf.data.by_segment || []).map((f) => f.key).filter((k) => k));
  }
  return segments.get(key);
}

export async function render(ctx) {
  const { root, asOf, signal, query } = ctx;
  const sort = query.get('sort') === 'id' ? 'id' : 'exposure';
  const limit = pageSizes.includes(Number(query.get('limit'))) ? Number(query.get('limit')) : pageSizeDefault;
  const offset = Math.max(0, Math.floor(Number(query.get('offset')) || 0));
  const segment = query.get('segment') || '';
  const [ans, segs] = await Promise.all([
    get('/v1/customers', { as_of: asOf, sort, limit, offset, segment }, signal),
    segmentsAt(asOf, signal),
  ]);
  if (!asOf) ctx.learnToday(ans.basis.as_of);
  const { customers, total } = ans.data;
  const link = (over) => ctx.href(['customers'], { sort, limit: limit === pageSizeDefault ? '' : limit, segment, offset: '', ...over });

  const segmentID = uid('segment');
  const sizeID = uid('size');
  const filters = h('form', { class: 'filters', 'aria-label': 'Filter customers', on: { submit: (ev) => ev.preventDefault() } },
    h('label', { for: segmentID }, 'Segment'),
    h('select', { id: segmentID, name: 'segment', on: { change: (ev) => { window.location.hash = link({ segment: ev.target.value }); } } },
      h('option', { value: '' }, 'All segments'),
      segs.map((sg) => h('option', { value: sg, selected: sg === segment }, sg))),
    h('label', { for: sizeID }, 'Rows per page'),
    h('select', { id: sizeID, name: 'limit', on: { change: (ev) => { window.location.hash = link({ limit: ev.target.value }); } } },
      pageSizes.map((n) => h('option', { value: String(n), selected: n === limit }, String(n)))));

  const first = total === 0 ? 0 : offset + 1;
  const last = offset + customers.length;
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of customers' },
    h('span', { class: 'range', dataset: { field: 'range' } }, `${intText(first)}–${intText(last)} of `, int(total, 'total'), ' customers'),
    offset > 0
      ? h('a', { href: link({ offset: Math.max(0, offset - limit) || '' }), rel: 'prev', dataset: { pager: 'prev' } }, '← Previous')
      : h('span', { class: 'disabled', 'aria-disabled': 'true' }, '← Previous'),
    ans.data.next_offset !== null && ans.data.next_offset !== undefined
      ? h('a', { href: link({ offset: ans.data.next_offset }), rel: 'next', dataset: { pager: 'next' } }, 'Next →')
      : h('span', { class: 'disabled', 'aria-disabled': 'true' }, 'Next →'));

  replace(root,
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Customers'), basisLine(ans.basis)),
    filters,
    customers.length === 0 ? note('No customer matches.') : table({
      caption: `Customers by ${sort === 'exposure' ? 'exposure, largest first' : 'id'}${segment ? `, segment ${segment}` : ''}`,
      attrs: { dataset: { table: 'customers' } },
      columns: [
        { label: 'Customer', header: true, sort: { state: sort === 'id' ? 'ascending' : 'none', href: link({ sort: 'id' }), label: 'Customer, sort by id' } },
        { label: 'Segment' },
        { label: 'Country' },
        { label: 'Exposure', num: true, sort: { state: sort === 'exposure' ? 'descending' : 'none', href: link({ sort: 'exposure' }), label: 'Exposure, sort largest first' } },
        { label: 'Credit limit', num: true },
        { label: 'Utilisation', num: true },
        { label: 'Overdue', num: true },
        { label: 'Open items', num: true },
        { label: 'Days beyond terms', num: true },
      ],
      rows: customers.map((c) => ({
        attrs: { dataset: { customerId: c.customer_id } },
        cells: [
          h('span', null, h('a', { href: ctx.href(['customers', c.customer_id]), class: 'customer-link' }, c.name), h('span', { class: 'id' }, c.customer_id)),
          c.segment, c.country,
          money(c.exposure, 'exposure'), money(c.credit_limit, 'credit-limit'),
          h('span', { class: 'with-meter' }, meter(c.utilisation_bp, { width: 60 }), ' ', bp(c.utilisation_bp, 'utilisation')),
          money(c.overdue, 'overdue'), int(c.open_items, 'open-items'), centidays(c.dbt_centidays, 'dbt'),
        ],
      })),
    }),
    pager);
  ctx.ready('customers', ans.basis.as_of);
}
