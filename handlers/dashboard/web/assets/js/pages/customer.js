// One customer: what it owes and since when, its risk score and what moved it, its signals,
// and its story — every event of its stream, with its alerts — as a timeline.
import { ApiError, get, mapLimit, optional } from '../api.js';
import { lineChart, meter, seriesColours } from '../charts.js';
import { compareDates, isMonthEnd, trendDates } from '../dates.js';
import { h, replace } from '../dom.js';
import {
  axisMoneyText, bp, bucketLabel, centidaysText, figureText, humanize, instantText, int, intText, minorDigits, money, moneyOf, moneyText, monthText, pointsText,
} from '../format.js';
import { basisLine } from './overview.js';
import { card, errorBox, note, section, severityBadge, table } from '../ui.js';

// Bounds of the story's reading and showing.
const eventsPageMax = 1000; // the API's page limit
const eventsPagesMax = 50; // 50 000 events: decades of a busy customer; more is cut and said
const timelineShownDefault = 40; // newest entries shown before "Show all"
const historyConcurrency = 3; // month-end replays in flight at once

export async function render(ctx) {
  const { root, asOf, signal, params } = ctx;
  const id = params.id;
  const path = `/v1/customers/${encodeURIComponent(id)}`;
  let profile;
  try {
    profile = await get(path, { as_of: asOf }, signal);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      replace(root, h('h1', { tabindex: '-1' }, 'No such customer'), note('No customer has the id ', h('code', null, id), '.'));
      ctx.ready('customer-missing');
      return;
    }
    throw e;
  }
  const day = profile.as_of;
  if (!asOf) ctx.learnToday(day);
  const past = Boolean(asOf);
  const [story, penalties, alertList, report, aged] = await Promise.all([
    readStory(path, signal),
    // Penalties and signals are side panels: their failure is shown in place, not for the page.
    get('/v1/penalties', { customer_id: id, as_of: asOf }, signal).catch((e) => ({ error: e })),
    optional(get('/v1/alerts', { customer_id: id }, signal)),
    optional(get(`${path}/signals`, { as_of: asOf }, signal)).catch((e) => ({ error: e })),
    // A past date: the aged balance replayed to it (the customer read folds today's state).
    past ? get('/v1/aging', { as_of: asOf, format: 'json' }, signal) : Promise.resolve(null),
  ]);
  if (signal.aborted) return;
  const ccy = profile.currency;
  const alerts = alertList ? alertList.alerts : null;
  const openAlerts = alerts ? alerts.filter((a) => compareDates(a.raised_on, day) <= 0 && !(a.resolved_on && compareDates(a.resolved_on, day) <= 0)) : null;

  const historyPanel = section('Balance and utilisation, 12 months', { id: 'customer-history' },
    h('p', { class: 'loading', role: 'status' }, 'Replaying the month ends…'));
  replace(root,
    h('div', { class: 'page-head' },
      h('p', { class: 'crumbs' }, h('a', { href: ctx.href(['customers']) }, 'Customers'), ' / ', id),
      h('h1', { tabindex: '-1', dataset: { field: 'name' } }, profile.name),
      h('p', { class: 'sub' }, [
        h('span', { dataset: { field: 'customer-id' } }, profile.id),
        profile.segment ? ` · ${profile.segment}` : '', profile.sector ? ` · NACE ${profile.sector}` : '',
        ` · ${profile.country} · ${profile.currency} · terms ${profile.terms} · registered ${profile.registered_on}`,
      ])),
    past ? pastFigures(aged, id, day, ccy) : presentFigures(profile, ccy),
    historyPanel,
    h('div', { class: 'grid two' },
      section('Risk score', { id: 'risk-score' }, sidePanel(report, () => riskBlock(report.risk_score),
        'Risk scores come with alerting (GET /v1/customers/{id}/signals), which this daemon does not serve.')),
      section('Signals', { id: 'signals' }, sidePanel(report, () => signalsBlock(report, openAlerts), 'No signals: alerting is not served.'))),
    section(past ? `What it owed on ${day}` : 'Open items', { id: 'open-items' },
      past ? note('Invoice by invoice, open items are served for today only (GET /v1/customers/{id} folds the current state); the aged balance above is replayed to ', day, '.') : openItemsBlock(profile, penalties.error ? null : penalties, ccy),
      penalties.error ? errorBox(penalties.error) : penaltiesBlock(penalties, day)),
    section('Story', { id: 'story' }, timeline(ctx, story, alerts, day)));
  await history(ctx, id, day, historyPanel).catch((e) => { if (!signal.aborted) replace(historyPanel, historyPanel.firstChild, errorBox(e)); });
  if (signal.aborted) return;
  ctx.ready('customer', day);
}

// history replays the customer at the eleven month ends before day and at day (GET
// /v1/customers?customer_id=&as_of=): its exposure against its credit limit, drawn, and the
// utilisation and overdue beside them in a table.
async function history(ctx, id, day, panel) {
  const { signal } = ctx;
  const dates = trendDates(day);
  const answers = await mapLimit(dates, historyConcurrency, (d) => get('/v1/customers', { customer_id: id, as_of: d }, signal));
  if (signal.aborted) return;
  const rows = answers.map((a) => a.data.customers[0] || null); // null: not registered yet
  const first = rows.find((r) => r !== null);
  if (!first) {
    replace(panel, panel.firstChild, note('The customer was registered after these twelve month ends.'));
    return;
  }
  const ccy = first.exposure.currency;
  const scale = 10 ** minorDigits(ccy);
  const major = (m) => (m ? m.amount / scale : null); // geometry only
  const labels = dates.map((d) => (isMonthEnd(d) ? monthText(d) : `${d} (to date)`));
  replace(panel, panel.firstChild,
    lineChart({
      title: `Exposure and credit limit over 12 months, ${ccy}`,
      description: 'The exposure (solid) and the credit limit (dashed) at each month end; the table below lists them with the utilisation and the overdue.',
      xLabels: labels,
      yText: (v) => axisMoneyText(v, ccy),
      series: [
        { name: 'Exposure', colour: seriesColours[0], values: rows.map((r) => major(r && r.exposure)), texts: rows.map((r) => (r ? moneyText(r.exposure.amount, ccy) : '—')) },
        { name: 'Credit limit', colour: seriesColours[2], dash: '6 4', values: rows.map((r) => major(r && r.credit_limit)), texts: rows.map((r) => (r ? moneyText(r.credit_limit.amount, ccy) : '—')) },
      ],
    }),
    h('details', null, h('summary', null, 'Figures'),
      table({
        caption: 'Balance and utilisation at each month end',
        attrs: { class: 'compact', dataset: { table: 'customer-history' } },
        columns: [{ label: 'As of', header: true }, { label: 'Exposure', num: true }, { label: 'Credit limit', num: true },
          { label: 'Utilisation', num: true }, { label: 'Overdue', num: true }],
        rows: dates.map((d, i) => {
          const r = rows[i];
          return {
            attrs: { dataset: { asOf: d } },
            cells: r
              ? [d, money(r.exposure, 'exposure'), money(r.credit_limit, 'credit-limit'),
                r.utilisation_bp === null ? h('span', null, bp(null, 'utilisation'), ' (zero limit)') : h('span', { class: 'with-meter' }, meter(r.utilisation_bp, { width: 60 }), ' ', bp(r.utilisation_bp, 'utilisation')),
                money(r.overdue, 'overdue')]
              : [d, h('span', null, 'not registered yet'), '', '', ''],
          };
        }),
      })));
}

// sidePanel draws an optional answer: its block, why it is missing (null: not served), or
// its error.
function sidePanel(ans, block, missing) {
  if (ans === null) return note(missing);
  if (ans.error) return errorBox(ans.error);
  return block();
}

// readStory reads the customer's whole stream, page by page.
async function readStory(path, signal) {
  const events = [];
  let from = 1;
  for (let page = 0; page < eventsPagesMax; page += 1) {
    const ans = await get(`${path}/events`, { from, limit: eventsPageMax }, signal);
    events.push(...ans.events);
    if (ans.events.length < eventsPageMax) return { events, cut: false };
    from = ans.next;
  }
  return { events, cut: true };
}

function presentFigures(p, ccy) {
  const rating = p.rating;
  return h('div', { class: 'kpis' },
    card('Exposure', moneyOf(p.exposure, ccy, 'exposure'),
      ['open invoices ', moneyOf(p.open_invoice_total, ccy, 'open-invoices'), ' − cash on account ', moneyOf(p.unallocated_cash, ccy, 'unallocated'),
        ' − open credit ', moneyOf(p.open_credit, ccy, 'open-credit')], 'exposure'),
    card('Credit limit', moneyOf(p.credit_limit, ccy, 'credit-limit'),
      p.utilisation_bp === null ? 'zero limit: extend no more credit' : [meter(p.utilisation_bp), ' ', bp(p.utilisation_bp, 'utilisation'), ' used'], 'credit-limit'),
    card('Overdue', moneyOf(p.overdue_total, ccy, 'overdue'), [int(p.open_items.filter((i) => i.days_overdue > 0).length, 'overdue-items'), ' of ', intText(p.open_items.length), ' open items past due'], 'overdue'),
    card('Disputed', moneyOf(p.disputed_total, ccy, 'disputed'), 'excluded from dunning', 'disputed'),
    card('Credit insurance', p.insurer ? moneyOf(p.insured_cover, ccy, 'insured-cover') : 'none',
      p.insurer ? `${p.insurer}; declare unpaid invoices within ${p.declaration_days} days after due` : 'no cover recorded', 'insurance'),
    card('External rating', rating ? [int(rating.score, 'rating-score'), ' / 100'] : 'none',
      rating ? `${rating.agency}${rating.grade ? ` ${rating.grade}` : ''}, ${rating.rated_on}` : 'no rating received', 'rating'));
}

function pastFigures(aged, id, day, ccy) {
  const row = aged.data.find((r) => r.customer_id === id);
  const zero = { customer_id: id, currency: ccy, total: 0, overdue: 0, exposure: 0, buckets: [] };
  const r = row || zero;
  return h('div', null,
    note(`Replayed to ${day}: the aged balance as the log tells it for that day.`, basisLine(aged.basis)),
    h('div', { class: 'kpis' },
      card('Exposure', moneyOf(r.exposure, r.currency, 'exposure'), `on ${day}`, 'exposure'),
      card('Open invoices', moneyOf(r.total, r.currency, 'open-invoices'), `on ${day}`, 'open-invoices'),
      card('Overdue', moneyOf(r.overdue, r.currency, 'overdue'), `on ${day}`, 'overdue')),
    r.buckets.length ? table({
      caption: `Aged balance on ${day}`,
      attrs: { class: 'compact', dataset: { table: 'customer-aging' } },
      columns: [{ label: 'Days past due', header: true }, { label: 'Amount', num: true }],
      rows: r.buckets.map((b) => ({ attrs: { dataset: { bucket: b.label } }, cells: [bucketLabel(b.label), moneyOf(b.amount, r.currency, 'amount')] })),
    }) : note(`Nothing was open on ${day}.`));
}

function riskBlock(rs) {
  return h('div', null,
    h('p', { class: 'score-line' },
      h('span', { class: 'score-big' }, int(rs.score, 'risk-score')), ' / 100',
      h('span', { class: 'score-sub' }, rs.external_score !== undefined && rs.external_score !== null
        ? ` · internal ${pointsText(rs.internal_centipoints)} blended with the agency's ${rs.external_score} at ${bpTextPlain(rs.external_blend_bp)}`
        : ' · no external rating: internal factors only')),
    note('Higher is safer. Each factor scores 0–100 and weighs its share; what it lost is what it would add at a full score.'),
    table({
      caption: 'Risk score factors',
      attrs: { class: 'compact', dataset: { table: 'risk-factors' } },
      columns: [{ label: 'Factor', header: true }, { label: 'Measured', num: true }, { label: 'Factor score', num: true },
        { label: 'Weight', num: true }, { label: 'Contribution', num: true }, { label: 'Lost', num: true }],
      rows: rs.factors.map((f) => ({
        attrs: { dataset: { factor: f.name } },
        cells: [[humanize(f.name), f.note ? h('span', { class: 'factor-note' }, f.note) : null], figureText(f.value), h('span', { class: 'with-meter' }, meter(f.score_centipoints, { width: 50 }), ' ', pointsText(f.score_centipoints)),
          bp(f.weight_bp, 'weight'), h('data', { value: String(f.contribution_centipoints), class: 'num', dataset: { field: 'contribution' } }, pointsText(f.contribution_centipoints)),
          pointsText(f.lost_centipoints)],
      })),
    }));
}

function bpTextPlain(v) {
  return `${intText(Math.round(v / 100))} %`;
}

function figuresList(label, figs) {
  if (!figs || figs.length === 0) return null;
  return [h('dt', null, label), h('dd', null, figs.map((f, i) => [i ? '; ' : '', `${humanize(f.name)} `, h('strong', null, figureText(f))]))];
}

function signalsBlock(report, openAlerts) {
  const sigs = report.signals || [];
  return h('div', null,
    report.payment_drift && report.payment_drift.observations > 0 ? note(
      `Payment drift: last payment ${centidaysText(report.payment_drift.last_dbt_centidays)} beyond terms against a baseline of `,
      `${centidaysText(report.payment_drift.baseline_mean_centidays)} (σ ${centidaysText(report.payment_drift.baseline_sigma_centidays)}, `,
      `${intText(report.payment_drift.baseline_count)} payments); CUSUM ${figureText({ value: report.payment_drift.cusum_sigma_bp, unit: 'sigma_bp' })}.`) : null,
    openAlerts !== null ? h('p', null, int(openAlerts.length, 'open-alerts'), ' open alerts') : null,
    sigs.length === 0 ? note('No signal holds.') : h('ul', { class: 'signals', dataset: { list: 'signals' } }, sigs.map((sg) => {
      const ex = sg.explanation || {};
      return h('li', { dataset: { rule: sg.rule, severity: sg.severity } },
        severityBadge(sg.severity), ' ', h('strong', null, humanize(sg.rule)), sg.hold ? ' (holding, below the threshold)' : '',
        h('div', { class: 'alert-message' }, sg.message),
        ex.summary ? h('div', { class: 'alert-reason' }, 'Why: ', ex.summary) : null,
        h('dl', { class: 'explanation' },
          figuresList('Baseline', ex.baseline), figuresList('Now', ex.current), figuresList('Threshold', ex.threshold),
          ex.moved_by && ex.moved_by.length ? [h('dt', null, 'Moved by'), h('dd', null, h('ul', null, ex.moved_by.map((mv) => h('li', null,
            moverText(mv)))))] : null));
    })));
}

// moverText says what fact moved a signal: "Invoice INV-1 on 2026-01-07 — due …".
export function moverText(mv) {
  return `${humanize(mv.kind)} ${mv.id}${mv.on ? ` on ${mv.on}` : ''}${mv.note ? ` — ${mv.note}` : ''}`;
}

function openItemsBlock(p, penalties, ccy) {
  const byInvoice = new Map();
  if (penalties) for (const l of penalties.data.lines) byInvoice.set(l.invoice_id, l);
  if (p.open_items.length === 0) return note('Nothing is open.');
  const items = [...p.open_items].sort((a, b) => compareDates(a.due_date, b.due_date) || (a.invoice_id < b.invoice_id ? -1 : 1));
  return table({
    caption: `Open invoices, days late counted to ${p.as_of}`,
    attrs: { dataset: { table: 'open-items' } },
    columns: [{ label: 'Invoice', header: true }, { label: 'Issued' }, { label: 'Due' }, { label: 'Amount', num: true }, { label: 'Open', num: true },
      { label: 'Days late', num: true }, { label: 'Status' }, { label: 'Late interest', num: true }, { label: 'Indemnity', num: true }],
    rows: items.map((it) => {
      const pen = byInvoice.get(it.invoice_id);
      return {
        attrs: { dataset: { invoiceId: it.invoice_id }, class: it.days_overdue > 0 ? 'late' : null },
        cells: [it.number || it.invoice_id, it.issue_date, it.due_date, moneyOf(it.amount, ccy, 'amount'), moneyOf(it.open_amount, ccy, 'open'),
          int(it.days_overdue, 'days-late'),
          [it.disputed ? h('span', { class: 'badge sev-warning' }, 'disputed') : null, it.plan_id ? h('span', { class: 'badge' }, `plan ${it.plan_id}`) : null],
          pen ? money(pen.interest, 'interest') : '—', pen ? money(pen.indemnity, 'indemnity') : '—'],
      };
    }),
  });
}

function penaltiesBlock(penalties, day) {
  if (!penalties) return null;
  const d = penalties.data;
  return h('p', { class: 'penalties', dataset: { field: 'penalties' } },
    'Late-payment penalties (Code de commerce L441-10) to ', day, ': ', int(d.late_invoices, 'late-invoices'), ' late invoices, settled ones included; interest ',
    d.interest_totals.length ? d.interest_totals.map((m, i) => [i ? ' + ' : '', money(m, 'interest-total')]) : moneyText(0, 'EUR'),
    ', recovery indemnities ', money(d.indemnity_total, 'indemnity-total'), '.');
}

// The kinds of story entries, for the filter.
const kinds = [
  ['invoice', 'Invoices'], ['payment', 'Payments'], ['dispute', 'Disputes'], ['credit', 'Limits, ratings, cover'], ['reminder', 'Reminders'], ['alert', 'Alerts'],
];

const kindOfType = {
  CustomerRegistered: 'credit', CreditLimitChanged: 'credit', ExternalRatingReceived: 'credit', CreditInsuranceCoverChanged: 'credit',
  InvoiceIssued: 'invoice', CreditNoteIssued: 'invoice', InvoiceWrittenOff: 'invoice',
  PaymentReceived: 'payment', PaymentAllocated: 'payment', PaymentReversed: 'payment', PaymentPlanAgreed: 'payment', PromiseToPayRecorded: 'payment',
  InvoiceDisputed: 'dispute', DisputeResolved: 'dispute', ReminderSent: 'reminder',
};

function allocationsText(allocs, numbers) {
  return (allocs || []).map((a) => `${numbers.get(a.invoice_id) || a.invoice_id} (${moneyText(a.amount.amount, a.amount.currency)})`).join(', ');
}

// describe says in words what one event of the customer's stream records.
function describe(e, numbers) {
  const d = e.data || {};
  const m = (x) => (x ? moneyText(x.amount, x.currency) : '—');
  const inv = (idv) => numbers.get(idv) || idv;
  switch (e.type) {
    case 'CustomerRegistered':
      return [`Registered: ${d.name}`, `${d.country}${d.segment ? `, ${d.segment}` : ''}, ${d.currency}, terms ${d.terms}, credit limit ${m(d.credit_limit)}`];
    case 'CreditLimitChanged':
      return [`Credit limit ${m(d.previous)} → ${m(d.limit)}`, [d.reason, d.approved_by ? `approved by ${d.approved_by}` : ''].filter(Boolean).join('; ')];
    case 'InvoiceIssued':
      return [`Invoice ${d.number || d.invoice_id} for ${m(d.amount)}`, `issued ${d.issue_date}, due ${d.due_date}`];
    case 'CreditNoteIssued':
      return [`Credit note ${d.credit_note_id} for ${m(d.amount)}`, [d.invoice_id ? `on invoice ${inv(d.invoice_id)}` : 'customer credit', d.reason].filter(Boolean).join('; ')];
    case 'PaymentReceived':
      return [`Payment ${d.payment_id} of ${m(d.amount)} received`,
        [d.allocations && d.allocations.length ? `settles ${allocationsText(d.allocations, numbers)}` : '', d.unallocated && d.unallocated.amount ? `${m(d.unallocated)} on account` : ''].filter(Boolean).join('; ')];
    case 'PaymentAllocated':
      return [`Cash applied from ${d.payment_id ? `payment ${d.payment_id}` : `credit note ${d.credit_note_id}`}`, allocationsText(d.allocations, numbers)];
    case 'PaymentReversed':
      return [`Payment ${d.payment_id} of ${m(d.amount)} reversed`, [d.reason, d.reopened && d.reopened.length ? `reopens ${allocationsText(d.reopened, numbers)}` : ''].filter(Boolean).join('; ')];
    case 'InvoiceDisputed':
      return [`Invoice ${inv(d.invoice_id)} disputed`, d.reason || ''];
    case 'DisputeResolved':
      return [`Dispute on invoice ${inv(d.invoice_id)} resolved${d.outcome ? `: ${d.outcome}` : ''}`, d.note || ''];
    case 'PaymentPlanAgreed':
      return [`Payment plan ${d.plan_id} on ${(d.invoice_ids || []).map(inv).join(', ')}`,
        (d.instalments || []).map((i) => `${i.due_date} ${m(i.amount)}`).join('; ')];
    case 'PromiseToPayRecorded':
      return [`Promise to pay ${m(d.amount)} by ${d.promised_for}`, [(d.invoice_ids || []).map(inv).join(', '), d.note].filter(Boolean).join('; ')];
    case 'ReminderSent':
      return [`Reminder, level ${d.level}, by ${humanize(d.channel)}`, `invoice ${inv(d.invoice_id)}`];
    case 'InvoiceWrittenOff':
      return [`Invoice ${inv(d.invoice_id)}: ${m(d.amount)} written off`, d.reason || ''];
    case 'ExternalRatingReceived':
      return [`${d.agency} rating ${d.score} / 100${d.grade ? ` (${d.grade})` : ''}`, ''];
    case 'CreditInsuranceCoverChanged':
      return [d.covered && d.covered.amount ? `${d.insurer} covers ${m(d.covered)}` : `Credit insurance ended${d.insurer ? ` (${d.insurer})` : ''}`,
        d.declaration_days ? `declare unpaid invoices within ${d.declaration_days} days after due` : ''];
    default:
      return [humanize(e.type), ''];
  }
}

// storyEntries merges the stream's events and the customer's alerts into one list, newest
// first.
function storyEntries(events, alerts) {
  const numbers = new Map();
  for (const e of events) if (e.type === 'InvoiceIssued' && e.data) numbers.set(e.data.invoice_id, e.data.number);
  const out = events.map((e) => {
    const [title, detail] = describe(e, numbers);
    return { source: 'event', date: e.effective_on, order: e.position, kind: kindOfType[e.type] || 'credit', type: e.type, title, detail, actor: e.actor, at: e.recorded_at, position: e.position };
  });
  for (const a of alerts || []) {
    out.push({ source: 'alert', date: a.raised_on, order: a.position, kind: 'alert', type: 'AlertRaised', severity: a.severity,
      title: `Alert raised: ${humanize(a.rule)}`, detail: a.message, at: a.raised_at, position: a.position, alertId: a.alert_id });
    for (const esc of a.escalations || []) {
      out.push({ source: 'alert', date: esc.on, order: esc.position, kind: 'alert', type: 'AlertRaised', severity: esc.to,
        title: `Alert escalated: ${humanize(a.rule)}, ${esc.from} → ${esc.to}`, detail: a.message, position: esc.position, alertId: a.alert_id });
    }
    for (const ack of a.acknowledgements || []) {
      out.push({ source: 'alert', date: ack.acked_on, order: ack.position, kind: 'alert', type: 'AlertAcknowledged',
        title: `Alert acknowledged: ${humanize(a.rule)}`, detail: ack.comment || '', actor: ack.actor, position: ack.position, alertId: a.alert_id });
    }
    if (a.status === 'resolved' && a.resolved_on) {
      out.push({ source: 'alert', date: a.resolved_on, order: a.last_position, kind: 'alert', type: 'AlertResolved',
        title: `Alert resolved: ${humanize(a.rule)}`, detail: a.resolved_reason || '', position: a.last_position, alertId: a.alert_id });
    }
  }
  out.sort((x, y) => compareDates(y.date, x.date) || y.order - x.order);
  return out;
}

function timeline(ctx, story, alerts, day) {
  const all = storyEntries(story.events, alerts);
  const upTo = all.filter((e) => compareDates(e.date, day) <= 0);
  const later = all.length - upTo.length;
  const active = new Set(kinds.map(([k]) => k));
  let showAll = false;
  const list = h('ol', { class: 'timeline', dataset: { list: 'timeline' }, 'aria-label': 'Events, newest first' });
  const more = h('p', null);
  const draw = () => {
    const shown = upTo.filter((e) => active.has(e.kind));
    const cut = showAll ? shown : shown.slice(0, timelineShownDefault);
    replace(list, cut.map((e) => h('li', { class: `entry kind-${e.kind}`, dataset: { source: e.source, type: e.type, position: e.position, alertId: e.alertId } },
      h('time', { datetime: e.date }, e.date),
      h('div', { class: 'entry-body' },
        h('div', { class: 'entry-title' }, e.severity ? [severityBadge(e.severity), ' '] : null, e.title),
        e.detail ? h('div', { class: 'entry-detail' }, e.detail) : null,
        h('div', { class: 'entry-meta' }, [
          e.at ? `recorded ${instantText(e.at)}` : 'recorded',
          e.actor ? ` by ${e.actor}` : '',
          e.position ? ` · log position ${e.position}` : '',
        ])))));
    replace(more, cut.length < shown.length
      ? h('button', { type: 'button', on: { click: () => { showAll = true; draw(); } } }, `Show all ${intText(shown.length)} entries`)
      : null);
  };
  draw();
  const chips = h('div', { class: 'chips', role: 'group', 'aria-label': 'Show kinds of events' }, kinds.map(([k, label]) => h('button', {
    type: 'button',
    class: 'chip',
    'aria-pressed': 'true',
    dataset: { kind: k },
    on: {
      click: (ev) => {
        if (active.has(k)) active.delete(k);
        else active.add(k);
        ev.currentTarget.setAttribute('aria-pressed', String(active.has(k)));
        draw();
      },
    },
  }, label)));
  return h('div', null,
    note(`${intText(upTo.length)} entries to ${day}`, later ? `; ${intText(later)} later ones are not shown (as of ${day})` : '',
      story.cut ? '; the stream is longer than the dashboard reads: its newest events are left out' : '', '.'),
    chips, list, more);
}
