// Alerts: filter by status, severity and customer; read why each was raised; acknowledge
// one with a comment (credit managers: POST /v1/alerts/{id}/ack), or resolve it by hand
// (POST /v1/alerts/{id}/resolve: the rule stays quiet until its condition clears).
import { ApiError, get, optional, post } from '../api.js';
import { compareDates } from '../dates.js';
import { h, replace, uid } from '../dom.js';
import { figureText, humanize, intText } from '../format.js';
import { moverText } from './customer.js';
import { note, severityBadge, severityRank, statusBadge } from '../ui.js';

const statuses = [['open', 'Open (not resolved)'], ['acknowledged', 'Acknowledged'], ['resolved', 'Resolved'], ['all', 'All']];
const severities = [['info', 'All severities'], ['warning', 'Warning and critical'], ['critical', 'Critical only']];
const pageMax = 50; // alerts drawn before "Show more"
const commentBytesMax = 2000; // handlers/alerting's ackCommentBytesMax

export async function render(ctx) {
  const { root, asOf, signal, query } = ctx;
  const status = statuses.some(([k]) => k === query.get('status')) ? query.get('status') : 'open';
  const severity = severities.some(([k]) => k === query.get('severity')) ? query.get('severity') : 'info';
  const customer = (query.get('customer') || '').trim();
  const ans = await optional(get('/v1/alerts', {
    status: status === 'all' ? '' : status, customer_id: customer, min_severity: severity === 'info' ? '' : severity,
  }, signal));
  const head = h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Alerts'));
  if (ans === null) {
    replace(root, head, note('This daemon serves no alerts (GET /v1/alerts is not routed): alerting is not wired in.'));
    ctx.ready('alerts');
    return;
  }
  let list = ans.alerts;
  if (asOf) list = list.filter((a) => compareDates(a.raised_on, asOf) <= 0);
  list = [...list].sort((a, b) => (severityRank[a.severity] ?? 9) - (severityRank[b.severity] ?? 9) || b.position - a.position);

  const link = (over) => ctx.href(['alerts'], { status, severity: severity === 'info' ? '' : severity, customer, ...over });
  const statusID = uid('status');
  const sevID = uid('severity');
  const custID = uid('customer');
  const custInput = h('input', { id: custID, name: 'customer', value: customer, size: 12, autocomplete: 'off', spellcheck: 'false' });
  const filters = h('form', {
    class: 'filters',
    'aria-label': 'Filter alerts',
    on: { submit: (ev) => { ev.preventDefault(); window.location.hash = link({ customer: custInput.value.trim() }); } },
  },
  h('label', { for: statusID }, 'Status'),
  h('select', { id: statusID, name: 'status', on: { change: (ev) => { window.location.hash = link({ status: ev.target.value }); } } },
    statuses.map(([k, label]) => h('option', { value: k, selected: k === status }, label))),
  h('label', { for: sevID }, 'Severity'),
  h('select', { id: sevID, name: 'severity', on: { change: (ev) => { window.location.hash = link({ severity: ev.target.value === 'info' ? '' : ev.target.value }); } } },
    severities.map(([k, label]) => h('option', { value: k, selected: k === severity }, label))),
  h('label', { for: custID }, 'Customer id'), custInput,
  h('button', { type: 'submit' }, 'Filter'));

  const ul = h('ul', { class: 'alert-list', dataset: { list: 'alerts' } });
  const more = h('p', null);
  let shown = 0;
  const drawMore = () => {
    const next = list.slice(shown, shown + pageMax);
    for (const a of next) ul.appendChild(alertCard(a, ctx));
    shown += next.length;
    replace(more, shown < list.length ? h('button', { type: 'button', on: { click: drawMore } }, `Show ${intText(Math.min(pageMax, list.length - shown))} more`) : null);
  };
  replace(root, head, filters,
    h('p', { class: 'alert-counts' }, h('data', { value: String(list.length), dataset: { field: 'alerts-count' } }, intText(list.length)),
      ` ${status === 'all' ? '' : `${status} `}alerts`, customer ? ` for ${customer}` : '', asOf ? `, raised by ${asOf} (their status is today's)` : ''),
    list.length === 0 ? note('No alert matches.') : ul, more);
  drawMore();
  ctx.ready('alerts');
}

function figures(label, figs) {
  if (!figs || !figs.length) return null;
  return [h('dt', null, label), h('dd', null, figs.map((f, i) => [i ? '; ' : '', `${humanize(f.name)} `, h('strong', null, figureText(f))]))];
}

// alertCard shows one alert, why it was raised, who acknowledged it, and the form to
// acknowledge it.
function alertCard(a, ctx) {
  const li = h('li', { class: 'alert-card', dataset: { alertId: a.alert_id, status: a.status, severity: a.severity } });
  const ex = a.explanation && typeof a.explanation === 'object' ? a.explanation : {};
  const titleID = uid('alert');
  replace(li, h('article', { 'aria-labelledby': titleID },
    h('h2', { id: titleID, class: 'alert-title' }, severityBadge(a.severity), ' ',
      a.customer_id ? h('a', { href: ctx.href(['customers', a.customer_id]) }, a.customer_id) : 'Portfolio',
      ` · ${humanize(a.rule)} `, statusBadge(a.status)),
    h('p', { class: 'alert-message' }, a.message),
    ex.summary ? h('p', { class: 'alert-reason' }, 'Why: ', ex.summary) : null,
    h('p', { class: 'entry-meta' }, `raised ${a.raised_on} · subject ${a.subject} · log position ${a.position}`,
      a.escalations && a.escalations.length ? ` · escalated ${a.escalations.map((e) => `${e.from}→${e.to} on ${e.on}`).join(', ')}` : '',
      a.status === 'resolved' ? ` · resolved ${a.resolved_on}${a.resolved_reason ? ` (${a.resolved_reason})` : ''}${a.resolved_by ? ` by ${a.resolved_by}` : ''}` : '',
      a.cleared_on ? ` · condition cleared ${a.cleared_on}` : ''),
    a.resolved_comment ? h('p', { class: 'alert-resolution', dataset: { field: 'resolved-comment' } }, 'Resolution: ', h('q', null, a.resolved_comment)) : null,
    h('details', null, h('summary', null, 'Explanation'),
      h('dl', { class: 'explanation' }, figures('Baseline', ex.baseline), figures('Now', ex.current), figures('Threshold', ex.threshold),
        ex.moved_by && ex.moved_by.length ? [h('dt', null, 'Moved by'), h('dd', null, h('ul', null, ex.moved_by.map((mv) => h('li', null, moverText(mv)))))] : null)),
    a.acknowledgements && a.acknowledgements.length ? h('ul', { class: 'acks', dataset: { list: 'acks' } }, a.acknowledgements.map((k) => h('li', null,
      `Acknowledged by ${k.actor} on ${k.acked_on}`, k.comment ? ': ' : '', k.comment ? h('q', null, k.comment) : null))) : null,
    a.status !== 'resolved' ? ackForm(a, li, ctx) : null));
  return li;
}

// ackForm acknowledges the alert or resolves it by hand, with the same optional comment:
// the button pressed says which.
function ackForm(a, li, ctx) {
  const id = uid('comment');
  const input = h('textarea', { id, name: 'comment', rows: 1, maxlength: commentBytesMax, dataset: { ackComment: a.alert_id } });
  const ack = h('button', { type: 'submit', value: 'ack', dataset: { ack: a.alert_id } }, 'Acknowledge');
  const resolve = h('button', { type: 'submit', value: 'resolve', class: 'secondary', dataset: { resolve: a.alert_id },
    title: 'Resolve by hand: the rule stays quiet until its condition clears, and raises again if it worsens' }, 'Resolve');
  const msg = h('p', { class: 'form-message', role: 'status' });
  const actions = {
    ack: { path: 'ack', doing: 'Acknowledging…', done: 'acknowledged', refused: 'acknowledge' },
    resolve: { path: 'resolve', doing: 'Resolving…', done: 'resolved', refused: 'resolve' },
  };
  return h('form', {
    class: 'ack-form',
    'aria-label': `Acknowledge or resolve alert ${a.alert_id}`,
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        const act = actions[ev.submitter && ev.submitter.value === 'resolve' ? 'resolve' : 'ack'];
        if (new TextEncoder().encode(input.value).length > commentBytesMax) {
          msg.textContent = `The comment is longer than ${commentBytesMax} bytes.`;
          return;
        }
        ack.disabled = true;
        resolve.disabled = true;
        msg.textContent = act.doing;
        try {
          const updated = await post(`/v1/alerts/${encodeURIComponent(a.alert_id)}/${act.path}`, { comment: input.value }, ctx.signal);
          const fresh = alertCard(updated, ctx);
          li.replaceWith(fresh);
          ctx.announce(`Alert ${a.alert_id} ${act.done}.`);
          const title = fresh.querySelector('h2');
          if (title) {
            title.tabIndex = -1;
            title.focus();
          }
        } catch (e) {
          ack.disabled = false;
          resolve.disabled = false;
          if (e instanceof ApiError && e.status === 403) msg.textContent = `This token may not ${act.refused} alerts: a credit manager (or admin) token is needed.`;
          else msg.textContent = `Not ${act.done}: ${e.message}`;
        }
      },
    },
  },
  h('label', { for: id }, 'Comment (optional)'), input, h('div', { class: 'form-actions' }, ack, resolve), msg);
}
