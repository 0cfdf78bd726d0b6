// Formatting of the API's integers. Money is integer minor units (design §API v1): it is
// turned into an exact decimal string ("2160863.59") and that string is given to
// Intl.NumberFormat, which formats strings as exact decimals. No amount is ever divided in
// floating point for display; only chart geometry uses floats.
import { h } from './dom.js';

const locale = undefined; // the browser's

const digitsByCurrency = new Map();

// minorDigits returns the number of minor-unit digits of an ISO 4217 currency (EUR 2, JPY 0,
// KWD 3), from the browser's own currency data.
export function minorDigits(currency) {
  let d = digitsByCurrency.get(currency);
  if (d === undefined) {
    try {
      d = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
    } catch {
      d = 2;
    }
    digitsByCurrency.set(currency, d);
  }
  return d;
}

// decimalString returns the exact decimal text of value / 10^scale, value an integer (a
// safe-integer Number or a BigInt): decimalString(-5, 2) is "-0.05".
export function decimalString(value, scale) {
  let n = BigInt(value);
  const negative = n < 0n;
  if (negative) n = -n;
  let text = n.toString();
  if (scale > 0) {
    text = text.padStart(scale + 1, '0');
    text = `${text.slice(0, -scale)}.${text.slice(-scale)}`;
  }
  return (negative ? '-' : '') + text;
}

function isInteger(v) {
  return Number.isSafeInteger(v);
}

const moneyFormats = new Map();
function moneyFormat(currency, digits) {
  const key = `${currency}:${digits}`;
  let f = moneyFormats.get(key);
  if (!f) {
    try {
      f = new Intl.NumberFormat(locale, { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits });
    } catch {
      f = new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits });
    }
    moneyFormats.set(key, f);
  }
  return f;
}

// moneyText formats minor units of a currency: moneyText(216086359, 'EUR') is "€2,160,863.59"
// in en-US. An amount that is not a safe integer (above 2^53 after JSON decoding) is shown as
// unknown rather than rounded.
export function moneyText(amount, currency) {
  if (!isInteger(amount) || !currency) return '—';
  const d = minorDigits(currency);
  return moneyFormat(currency, d).format(decimalString(amount, d));
}

// axisMoneyText formats an axis tick of a chart in major units, compactly ("€25K"): a
// drawing's label, never a figure (the figures are in the table beside the chart).
export function axisMoneyText(major, currency) {
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency, notation: 'compact', maximumFractionDigits: 1 }).format(major);
  } catch {
    return new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 }).format(major);
  }
}

// money returns a <data> element: the text for people, the exact minor units in value (and
// the currency in data-currency) for machines and tests. m is {amount, currency}.
export function money(m, field) {
  if (!m) return h('data', { value: '', dataset: { field } }, '—');
  return h('data', { value: String(m.amount), class: m.amount < 0 ? 'num negative' : 'num', dataset: { currency: m.currency, field } },
    moneyText(m.amount, m.currency));
}

// moneyOf is money for the bare integers of the customer read (amount, its currency).
export function moneyOf(amount, currency, field) {
  return money({ amount, currency }, field);
}

const percentFormat = new Intl.NumberFormat(locale, { style: 'percent', minimumFractionDigits: 2, maximumFractionDigits: 2 });

// bpText formats basis points as a percentage: 3328 is "33.28%".
export function bpText(bp) {
  if (!isInteger(bp)) return '—';
  return percentFormat.format(decimalString(bp, 4));
}

// bp returns a <data> element of basis points.
export function bp(value, field) {
  return h('data', { value: value === null || value === undefined ? '' : String(value), class: 'num', dataset: { unit: 'bp', field } }, bpText(value));
}

const daysFormat = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

// centidaysText formats hundredths of a day: 5198 is "52.0 days".
export function centidaysText(cd) {
  if (!isInteger(cd)) return '—';
  return `${daysFormat.format(decimalString(cd, 2))} days`;
}

export function centidays(value, field) {
  return h('data', { value: value === null || value === undefined ? '' : String(value), class: 'num', dataset: { unit: 'centidays', field } }, centidaysText(value));
}

const intFormat = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });

export function intText(n) {
  return isInteger(n) ? intFormat.format(n) : '—';
}

export function int(value, field) {
  return h('data', { value: value === null || value === undefined ? '' : String(value), class: 'num', dataset: { field } }, intText(value));
}

// pointsText formats hundredths of a risk-score point: 1738 is "17.38 pts".
export function pointsText(cp) {
  if (!isInteger(cp)) return '—';
  return `${new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(decimalString(cp, 2))} pts`;
}

// figureText formats a signals figure {name, value, unit, currency}.
export function figureText(f) {
  switch (f.unit) {
    case 'centidays': return centidaysText(f.value);
    case 'days': return `${intText(f.value)} days`;
    case 'bp': return bpText(f.value);
    case 'sigma_bp': return `${new Intl.NumberFormat(locale, { maximumFractionDigits: 2 }).format(decimalString(f.value, 4))} σ`;
    case 'minor_units': return moneyText(f.value, f.currency);
    case 'count': return intText(f.value);
    case 'points': return `${intText(f.value)} / 100`;
    case 'centipoints': return pointsText(f.value);
    default: return `${intText(f.value)} ${f.unit || ''}`.trim();
  }
}

// humanize turns an identifier into words: "silent_non_payment" is "Silent non payment".
export function humanize(id) {
  if (!id) return '';
  const t = String(id).replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}

// bucketLabel names an aging bucket: "not_due" is "Not due", "1-30" is "1–30 days",
// "over_120" is "Over 120 days".
export function bucketLabel(label) {
  if (label === 'not_due') return 'Not due';
  const over = /^over_(\d+)$/.exec(label);
  if (over) return `Over ${over[1]} days`;
  const range = /^(\d+)-(\d+)$/.exec(label);
  if (range) return `${range[1]}–${range[2]} days`;
  return humanize(label);
}

const monthFormat = new Intl.DateTimeFormat(locale, { month: 'short', year: 'numeric', timeZone: 'UTC' });

// monthText names the month of a date "YYYY-MM-DD": "Mar 2026".
export function monthText(date) {
  const [y, m] = date.split('-').map(Number);
  return monthFormat.format(new Date(Date.UTC(y, m - 1, 1)));
}

const instantFormat = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

// instantText formats an RFC 3339 instant in UTC, as the API records them.
export function instantText(s) {
  const t = new Date(s);
  return Number.isNaN(t.getTime()) ? s : `${instantFormat.format(t)} UTC`;
}
