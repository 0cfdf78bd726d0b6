// Calendar dates "YYYY-MM-DD", as the API's business dates: civil dates with no time zone,
// computed in UTC so that no local offset moves a day.

export const datePattern = /^\d{4}-\d{2}-\d{2}$/;

function parts(date) {
  const [y, m, d] = date.split('-').map(Number);
  return { y, m, d };
}

function iso(y, m, d) {
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

export function isDate(s) {
  if (!datePattern.test(s)) return false;
  const { y, m, d } = parts(s);
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

// monthEnd returns the last day of the month k months after date's month (k may be negative).
export function monthEnd(date, k) {
  const { y, m } = parts(date);
  const t = new Date(Date.UTC(y, m - 1 + k + 1, 0)); // day 0 of the next month
  return iso(t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate());
}

export function isMonthEnd(date) {
  return monthEnd(date, 0) === date;
}

// trendDates returns the dates of a 12-point monthly trend ending at asOf: the eleven month
// ends before asOf's month, then asOf itself (its month end when asOf is one; otherwise the
// month to date).
export function trendDates(asOf) {
  const out = [];
  for (let k = -11; k <= -1; k += 1) out.push(monthEnd(asOf, k));
  out.push(asOf);
  return out;
}

// compareDates orders "YYYY-MM-DD" strings (they sort as text).
export function compareDates(a, b) {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
