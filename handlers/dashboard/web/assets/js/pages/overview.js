// Portfolio overview: exposure against limits, aging, the DSO trend, concentration, the open
// alerts (live over server-sent events) and the riskiest customers.
import { get, mapLimit, optional } from '../api.js';
import { agingColours, lineChart, meter, seriesColours, stackedBars } from '../charts.js';
import { compareDates, isMonthEnd, trendDates } from '../dates.js';
import { h, replace } from '../dom.js';
import { bp, bucketLabel, centidays, centidaysText, humanize, int, intText, money, moneyText, monthText, pointsText } from '../format.js';
import { streamEvents } from '../sse.js';
import { card, errorBox, note, section, severityBadge, severityRank, table } from '../ui.js';

// Bounds of what the overview asks for.
const alertsShownMax = 10; // alerts listed in the panel; the alerts page has them all
const riskCandidatesMax = 50; // customers whose risk score is fetched (one call each)
const riskShownMax = 5;
const trendConcurrency = 3; // month-end replays in flight at once

export async function render(ctx) {
  const { root, asOf, signal } = ctx;
  const [pf, top, alertList] = await Promise.all([
    get('/v1/portfolio', { as_of: asOf }, signal),
    get('/v1/customers', { as_of: asOf, sort: 'exposure', limit: 10 }, signal),
    // Today: the open alerts. A past date: every alert, filtered to those open then.
    optional(get('/v1/alerts', { status: asOf ? '' : 'open' }, signal)),
  ]);
  if (!asOf) ctx.learnToday(pf.basis.as_of);
  const day = pf.basis.as_of;
  const data = pf.data;
  const names = new Map(top.data.customers.map((c) => [c.customer_id, c.name]));
  const alerts = alertList === null ? null : openAt(alertList.alerts, asOf);

  const trendPanel = section('DSO trend, 12 months', { id: 'dso-trend' }, h('p', { class: 'loading', role: 'status' }, 'Replaying the month ends…'));
  const riskPanel = section('Riskiest customers', { id: 'riskiest' }, h('p', { class: 'loading', role: 'status' }, 'Reading risk scores…'));
  const alertsPanel = section('Open alerts', { id: 'open-alerts' });
  const figureSets = data.figures ? [data.figures] : data.by_currency;

  replace(root,
    h('div', { class: 'page-head' },
      h('h1', { tabindex: '-1' }, 'Portfolio'),
      basisLine(pf.basis)),
    data.warnings.map((w) => h('p', { class: 'warning', role: 'note' }, w)),
    data.figures
      ? kpis(data.figures)
      : h('div', null,
        note(`The portfolio holds ${data.by_currency.length} currencies and no exchange rate is in force on ${day}: figures are shown per currency, never added across currencies.`),
        data.by_currency.map((f) => h('section', { class: 'currency-block', dataset: { currency: f.currency }, 'aria-label': `Figures in ${f.currency}` },
          h('h2', null, f.currency), kpis(f)))),
    h('div', { class: 'grid two' },
      section('Aging', { id: 'aging' }, figureSets.map((f) => agingBlock(f, data.figures ? data.by_segment : []))),
      alertsPanel),
    trendPanel,
    h('div', { class: 'grid two' },
      section('Concentration', { id: 'concentration' }, concentrationBlock(data.concentration, names, ctx)),
      riskPanel));

  const showAlerts = (list, fresh) => replace(alertsPanel, alertsPanel.firstChild, alertsBlock(list, fresh, ctx, day));
  showAlerts(alerts, new Set());
  await Promise.all([
    trend(ctx, pf, trendPanel).catch((e) => { if (!signal.aborted) replace(trendPanel, trendPanel.firstChild, errorBox(e)); }),
    riskiest(ctx, alerts, riskPanel).catch((e) => { if (!signal.aborted) replace(riskPanel, riskPanel.firstChild, errorBox(e)); }),
  ]);
  if (signal.aborted) return;
  ctx.ready('overview', day);
  if (alerts !== null && !asOf) live(ctx, alertsPanel, alerts, showAlerts, day);
}

// basisLine says which log the figures come from (reports.Basis): the position and chain
// hash an auditor can replay to, and whether it is the live projection or a replay.
export function basisLine(basis) {
  return h('p', { class: 'basis' },
    `As of ${basis.as_of} · log position `, int(basis.position, 'basis-position'),
    ` · chain ${String(basis.chain_hash).slice(0, 12)}… · `,
    basis.live ? 'live projection' : 'replayed from the log');
}

// openAt keeps the alerts open at asOf: raised by then and not resolved by then. Without
// asOf the list is already today's open alerts.
export function openAt(list, asOf) {
  if (!asOf) return list;
  return list.filter((a) => compareDates(a.raised_on, asOf) <= 0 && !(a.resolved_on && compareDates(a.resolved_on, asOf) <= 0));
}

function kpis(f) {
  return h('div', { class: 'kpis' },
    card('Total exposure', money(f.exposure, 'exposure'),
      [int(f.customers, 'customers'), ' customers · ', int(f.open_items, 'open-items'), ' open items'], 'exposure'),
    card('Credit limits', money(f.credit_limit, 'credit-limit'),
      [meter(f.utilisation_bp), ' ', bp(f.utilisation_bp, 'utilisation'), ' used'], 'credit-limit'),
    card('Overdue', money(f.overdue, 'overdue'),
      [int(f.overdue_items, 'overdue-items'), ' of ', intText(f.open_items), ' open items past due'], 'overdue'),
    card('DSO (period method)', centidays(f.dso.dso_period_centidays, 'dso-period'),
      ['countback ', centidays(f.dso.dso_countback_centidays, 'dso-countback'), ' · best possible ', centidays(f.dso.bpdso_centidays, 'bpdso'),
        ' · ADD ', centidays(f.dso.add_centidays, 'add')], 'dso'),
    card('Collection effectiveness', bp(f.cei.cei_bp, 'cei'), `CEI, ${f.cei.period_start} to ${f.cei.period_end}`, 'cei'),
    card('Insured exposure', money(f.insured_exposure, 'insured'), ['uninsured ', money(f.uninsured_exposure, 'uninsured')], 'insured'));
}

function agingBlock(f, segments) {
  const buckets = f.aging.map((b) => b.label);
  const categories = buckets.map((label, i) => ({ label: bucketLabel(label), colour: agingColours[Math.min(i, agingColours.length - 1)] }));
  const rowOf = (label, fig) => ({
    label,
    values: fig.aging.map((b) => b.amount.amount),
    texts: fig.aging.map((b) => moneyText(b.amount.amount, b.amount.currency)),
    totalText: moneyText(fig.open_invoices.amount, fig.open_invoices.currency),
  });
  const rows = [rowOf(segments.length ? 'Portfolio' : f.currency, f), ...segments.map((sg) => rowOf(sg.key, sg))];
  return h('div', { class: 'aging-block', dataset: { currency: f.currency } },
    stackedBars({
      title: `Aging of open invoices in ${f.currency}`,
      description: `Open invoice amounts by days past due at ${f.as_of}, for the portfolio${segments.length ? ' and each segment' : ''}; the table below lists them.`,
      rows,
      categories,
    }),
    table({
      caption: `Aged balance in ${f.currency} at ${f.as_of}`,
      captionHidden: true,
      attrs: { class: 'compact', dataset: { table: 'aging', currency: f.currency } },
      columns: [{ label: 'Days past due', header: true }, { label: 'Amount', num: true }, { label: 'Items', num: true }],
      rows: f.aging.map((b) => ({ attrs: { dataset: { bucket: b.label } }, cells: [bucketLabel(b.label), money(b.amount, 'amount'), int(b.items, 'items')] })),
    }));
}

function concentrationBlock(c, names, ctx) {
  if (!c) return note('Concentration needs one currency (or an exchange rate in force): not computed for this date.');
  const topShare = Math.max(1, ...c.top.map((t) => t.share_bp));
  return h('div', null,
    h('div', { class: 'kpis small' },
      card('Top customer', bp(c.top1_share_bp, 'top1'), 'of total exposure', 'top1'),
      card('Top 5', bp(c.top5_share_bp, 'top5'), 'of total exposure', 'top5'),
      card('Top 10', bp(c.top10_share_bp, 'top10'), 'of total exposure', 'top10'),
      card('HHI', int(c.hhi_bp, 'hhi'), `Herfindahl–Hirschman, 0–10 000; ${intText(c.customers)} customers`, 'hhi')),
    table({
      caption: 'Ten largest exposures',
      attrs: { dataset: { table: 'top10' } },
      columns: [{ label: '#', num: true }, { label: 'Customer', header: true }, { label: 'Exposure', num: true }, { label: 'Share', num: true }],
      rows: c.top.slice(0, 10).map((t, i) => ({
        attrs: { dataset: { customerId: t.customer_id } },
        cells: [String(i + 1), h('a', { href: ctx.href(['customers', t.customer_id]) }, names.get(t.customer_id) || t.customer_id),
          money(t.exposure, 'exposure'), h('span', { class: 'with-meter' }, meter(t.share_bp, { capBP: topShare, width: 80 }), ' ', bp(t.share_bp, 'share'))],
      })),
    }));
}

function sortAlerts(list) {
  return [...list].sort((a, b) => (severityRank[a.severity] ?? 9) - (severityRank[b.severity] ?? 9) || b.position - a.position);
}

function alertsBlock(alerts, fresh, ctx, day) {
  if (alerts === null) {
    return note('This daemon serves no alerts (GET /v1/alerts is not routed): alerting is not wired in.');
  }
  const counts = { critical: 0, warning: 0, info: 0 };
  for (const a of alerts) counts[a.severity] = (counts[a.severity] || 0) + 1;
  const shown = sortAlerts(alerts).slice(0, alertsShownMax);
  return h('div', null,
    ctx.asOf ? note(`Alerts open on ${day} as the log records them: raised by then, not yet resolved.`) : null,
    h('p', { class: 'alert-counts' },
      int(alerts.length, 'alerts-open'), ` open on ${day}: `,
      int(counts.critical, 'alerts-critical'), ' critical, ', int(counts.warning, 'alerts-warning'), ' warning, ',
      int(counts.info, 'alerts-info'), ' info'),
    alerts.length === 0 ? note('No alert is open.') : h('ul', { class: 'alerts', dataset: { list: 'open-alerts' } }, shown.map((a) => alertItem(a, fresh.has(a.alert_id), ctx))),
    h('p', null, h('a', { href: ctx.href(['alerts']) }, `All alerts (${alerts.length} open)`)));
}

// alertItem shows one alert with its reason (the explanation's summary).
export function alertItem(a, isNew, ctx) {
  let summary = '';
  if (a.explanation && typeof a.explanation === 'object' && a.explanation.summary) summary = a.explanation.summary;
  return h('li', { class: isNew ? 'alert new' : 'alert', dataset: { alertId: a.alert_id, severity: a.severity } },
    severityBadge(a.severity), ' ',
    a.customer_id ? h('a', { href: ctx.href(['customers', a.customer_id]) }, a.customer_id) : h('strong', null, 'Portfolio'),
    ' · ', h('span', { class: 'rule' }, humanize(a.rule)), isNew ? h('span', { class: 'badge new-badge' }, 'new') : null,
    h('div', { class: 'alert-message' }, a.message),
    summary ? h('div', { class: 'alert-reason' }, 'Why: ', summary) : null);
}

// trend replays the portfolio at each month end and draws both DSO methods.
async function trend(ctx, pf, panel) {
  const { signal } = ctx;
  const day = pf.basis.as_of;
  const dates = trendDates(day);
  const answers = await mapLimit(dates, trendConcurrency, (d) => (d === day ? pf : get('/v1/portfolio', { as_of: d }, signal)));
  if (signal.aborted) return;
  const currencies = pf.data.figures ? [null] : pf.data.by_currency.map((f) => f.currency);
  const labels = dates.map((d) => (isMonthEnd(d) ? monthText(d) : `${d} (to date)`));
  const blocks = currencies.map((ccy) => {
    const figs = answers.map((a) => (ccy === null ? a.data.figures : a.data.by_currency.find((f) => f.currency === ccy)) || null);
    const period = figs.map((f) => (f ? f.dso.dso_period_centidays : null));
    const countback = figs.map((f) => (f ? f.dso.dso_countback_centidays : null));
    const asDays = (v) => (typeof v === 'number' ? v / 100 : null); // geometry only
    return h('div', { class: 'trend-block', dataset: { currency: ccy || '' } },
      ccy ? h('h3', null, ccy) : null,
      lineChart({
        title: `DSO over 12 months${ccy ? ` in ${ccy}` : ''}`,
        description: 'Days sales outstanding at each month end, by the period method (solid) and the countback method (dashed); the table below lists them.',
        xLabels: labels,
        yText: (v) => `${Math.round(v)} d`,
        series: [
          { name: 'Period method', colour: seriesColours[0], values: period.map(asDays), texts: period.map(centidaysText) },
          { name: 'Countback method', colour: seriesColours[1], dash: '6 4', values: countback.map(asDays), texts: countback.map(centidaysText) },
        ],
      }),
      h('details', null, h('summary', null, 'Figures'),
        table({
          caption: `DSO at each month end${ccy ? ` in ${ccy}` : ''}`,
          attrs: { class: 'compact', dataset: { table: 'dso-trend', currency: ccy || '' } },
          columns: [{ label: 'As of', header: true }, { label: 'Period DSO', num: true }, { label: 'Countback DSO', num: true }, { label: 'Best possible', num: true }],
          rows: dates.map((d, i) => ({
            attrs: { dataset: { asOf: d } },
            cells: [d, centidays(period[i], 'dso-period'), centidays(countback[i], 'dso-countback'), centidays(figs[i] ? figs[i].dso.bpdso_centidays : null, 'bpdso')],
          })),
        })));
  });
  replace(panel, panel.firstChild, note('Period method: AR at the month end over the credit sales of the three months to it, times their days. Countback: months of sales walked back from the month end until they account for the AR.'), blocks);
}

// riskiest ranks the customers with open alerts by their risk score (0–100, higher is
// safer): the first one is the customer to look at first.
async function riskiest(ctx, alerts, panel) {
  const { signal, asOf } = ctx;
  if (alerts === null) {
    replace(panel, panel.firstChild, note('Risk scores come with alerting (GET /v1/customers/{id}/signals), which this daemon does not serve.'));
    return;
  }
  const byCustomer = new Map();
  for (const a of alerts) {
    if (!a.customer_id) continue;
    const c = byCustomer.get(a.customer_id) || { id: a.customer_id, critical: 0, warning: 0, info: 0, alerts: 0 };
    c[a.severity] = (c[a.severity] || 0) + 1;
    c.alerts += 1;
    byCustomer.set(a.customer_id, c);
  }
  // The most alarming first, if there are more candidates than scores to fetch.
  const candidates = [...byCustomer.values()]
    .sort((a, b) => b.critical - a.critical || b.warning - a.warning || b.alerts - a.alerts || (a.id < b.id ? -1 : 1))
    .slice(0, riskCandidatesMax);
  if (candidates.length === 0) {
    replace(panel, panel.firstChild, note('No customer has an open alert.'));
    return;
  }
  const reports = await mapLimit(candidates, 4, (c) => get(`/v1/customers/${encodeURIComponent(c.id)}/signals`, { as_of: asOf }, signal));
  const ranked = candidates.map((c, i) => ({ ...c, report: reports[i] }))
    .sort((a, b) => a.report.risk_score.centipoints - b.report.risk_score.centipoints || b.critical - a.critical || (a.id < b.id ? -1 : 1))
    .slice(0, riskShownMax);
  const profiles = await mapLimit(ranked, 4, (c) => get(`/v1/customers/${encodeURIComponent(c.id)}`, { as_of: asOf }, signal));
  if (signal.aborted) return;
  replace(panel, panel.firstChild,
    note(`Customers with open alerts, lowest risk score first (0–100, higher is safer)${candidates.length < byCustomer.size ? `; scores read for the ${candidates.length} most alarming` : ''}.`),
    h('ol', { class: 'riskiest', dataset: { list: 'riskiest' } }, ranked.map((c, i) => {
      const p = profiles[i];
      const worst = [...c.report.risk_score.factors].sort((a, b) => b.lost_centipoints - a.lost_centipoints)[0];
      return h('li', { dataset: { customerId: c.id } },
        h('div', { class: 'risk-head' },
          h('a', { href: ctx.href(['customers', c.id]), class: 'customer-link' }, p.name),
          h('span', { class: 'risk-score' }, 'score ', int(c.report.risk_score.score, 'risk-score'))),
        h('div', { class: 'risk-sub' },
          `${c.id} · `, int(c.alerts, 'alerts'), ' open alerts', c.critical ? [' (', intText(c.critical), ' critical)'] : null,
          ' · exposure ', money({ amount: p.exposure, currency: p.currency }, 'exposure'),
          worst ? [` · biggest loss: ${humanize(worst.name)} −${pointsText(worst.lost_centipoints)}`] : null));
    })));
}

// live follows the alert stream: each alert event refreshes the list (debounced), new
// alerts are marked and announced.
function live(ctx, panel, initial, show, day) {
  const { signal } = ctx;
  const known = new Set(initial.map((a) => a.alert_id));
  const fresh = new Set();
  const state = h('p', { class: 'live', dataset: { liveState: 'connecting' } }, 'Connecting to the alert stream…');
  panel.insertBefore(state, panel.children[1] || null);
  let timer = null;
  let current = initial;
  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      try {
        const ans = await get('/v1/alerts', { status: 'open' }, signal);
        if (signal.aborted) return;
        const added = ans.alerts.filter((a) => !known.has(a.alert_id));
        for (const a of added) {
          known.add(a.alert_id);
          fresh.add(a.alert_id);
        }
        current = ans.alerts;
        show(current, fresh);
        panel.insertBefore(state, panel.children[1] || null);
        if (added.length > 0) {
          ctx.announce(added.length === 1 ? `New ${added[0].severity} alert: ${added[0].message}` : `${added.length} new alerts`);
        }
      } catch (e) {
        if (!signal.aborted) state.textContent = `Alert refresh failed: ${e.message}`;
      }
    }, 250);
  };
  const texts = {
    connecting: 'Connecting to the alert stream…',
    live: `● Live: alerts arrive as they are raised (${day})`,
    reconnecting: 'Alert stream lost; reconnecting…',
    unavailable: 'The alert stream is not served by this daemon.',
    forbidden: 'This token may not read the alert stream.',
    stopped: 'Alert stream stopped.',
  };
  streamEvents('/v1/alerts/stream', {
    signal,
    onState: (st) => {
      state.dataset.liveState = st;
      state.textContent = texts[st] || st;
    },
    // Each (re)connection starts live: what was raised between the last read and now is
    // read again, so nothing falls in the gap.
    onOpen: refresh,
    onEvent: () => refresh(),
  });
}
