// The Encours API as the dashboard reads it: JSON over HTTP with a bearer token
// (handlers/httpapi/API.md). The token is entered once and kept in sessionStorage: a tab
// forgets it when closed, and no other site can read it. A 401 forgets it and asks again.

const TOKEN_KEY = 'encours.token';

// requestTimeoutMs bounds one API call: a replay to a past date takes a second or two on a
// large log; past this the user gets an error and can retry.
const requestTimeoutMs = 60_000;

// ApiError is an answer in the API's error shape {"error": {"code", "message", "field"}}.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

let unauthorized = () => {};

// onUnauthorized sets what happens when the API refuses the token (or there is none): the
// app shows the token box with the reason.
export function onUnauthorized(fn) {
  unauthorized = fn;
}

// refuse forgets the token and asks for another one; it returns the error to throw.
export function refuse(reason) {
  forgetToken();
  unauthorized(reason);
  return new ApiError(401, 'unauthenticated', reason);
}

function url(path, params) {
  const u = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== '') u.searchParams.set(k, String(v));
  }
  return u;
}

// noTokenReason is the reason shown when a call finds no token.
export const noTokenReason = 'Enter a token to read the API.';

// authHeaders returns the headers of an API call, or throws when there is no token.
export function authHeaders(extra) {
  const t = token();
  if (!t) throw refuse(noTokenReason);
  return { Authorization: `Bearer ${t}`, ...extra };
}

// listFields are the API's list fields. Some answers encode an empty list as null (a Go nil
// slice: {"alerts": null}); lists normalises those to [] in one place, so that no page has
// to guard each one.
const listFields = new Set([
  'alerts', 'lines', 'interest_totals', 'factors', 'signals', 'moved_by', 'baseline', 'current', 'threshold',
  'escalations', 'acknowledgements', 'events', 'customers', 'by_segment', 'by_currency', 'aging', 'top', 'warnings',
  'open_items', 'buckets', 'instalments', 'allocations', 'invoice_ids', 'reopened', 'run', 'pieces', 'segments',
  'per_currency', 'proposals',
]);

// lists replaces null list fields with [], depth-first; depth is bounded by the answer's.
export function lists(v) {
  if (Array.isArray(v)) {
    v.forEach(lists);
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (x === null && listFields.has(k)) v[k] = [];
      else lists(x);
    }
  }
  return v;
}

async function call(method, path, params, body, signal) {
  const headers = authHeaders({ Accept: 'application/json' });
  const init = { method, headers, cache: 'no-store', signal: timeoutSignal(signal) };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url(path, params), init);
  if (res.status === 401) throw refuse('The API refused the token (401): it is unknown, revoked or mistyped.');
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = data && data.error;
    throw new ApiError(res.status, (e && e.code) || `http_${res.status}`, (e && e.message) || res.statusText || `HTTP ${res.status}`);
  }
  return lists(data);
}

function timeoutSignal(signal) {
  const t = AbortSignal.timeout(requestTimeoutMs);
  return signal ? AbortSignal.any([signal, t]) : t;
}

export function get(path, params, signal) {
  return call('GET', path, params, undefined, signal);
}

export function post(path, body, signal) {
  return call('POST', path, undefined, body, signal);
}

// optional runs an API call and answers null when the route is not served (404
// route_not_found: the daemon runs without that feature, e.g. alerting).
export async function optional(promise) {
  try {
    return await promise;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && e.code === 'route_not_found') return null;
    throw e;
  }
}

// mapLimit runs fn over items with at most limit calls in flight, in order of results.
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) { // each worker takes the next item until none is left
      const i = next;
      next += 1;
      out[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
