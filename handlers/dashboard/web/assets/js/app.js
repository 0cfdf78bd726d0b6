// The dashboard's shell: hash routing, the as-of date, the token box, and the life of each
// page (one AbortController per rendering, so a page left behind stops its requests and its
// alert stream).
import { onUnauthorized, setToken, token, ApiError, noTokenReason } from './api.js';
import { isDate } from './dates.js';
import { h, replace } from './dom.js';
import { errorBox } from './ui.js';
import * as overview from './pages/overview.js';
import * as customers from './pages/customers.js';
import * as customer from './pages/customer.js';
import * as alerts from './pages/alerts.js';

const main = document.getElementById('main');
const announcer = document.getElementById('announcer');
const asOfForm = document.getElementById('asof-form');
const asOfInput = document.getElementById('asof');
const dialog = document.getElementById('token-dialog');
const tokenForm = document.getElementById('token-form');
const tokenInput = document.getElementById('token-input');
const tokenReason = document.getElementById('token-reason');

// The routes: a pattern of path segments (":name" captures one) and its page.
const routes = [
  { path: [], page: overview, nav: 'overview' },
  { path: ['customers'], page: customers, nav: 'customers' },
  { path: ['customers', ':id'], page: customer, nav: 'customers' },
  { path: ['alerts'], page: alerts, nav: 'alerts' },
];

const navSegments = { overview: [], customers: ['customers'], alerts: ['alerts'] };

// serverToday is the daemon's business date, learnt from the first answer's basis; the
// browser's own clock may disagree with it (a demo runs on a manual clock).
let serverToday = '';

function parseHash() {
  const raw = window.location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const segments = path.split('/').filter((x) => x !== '').map((x) => {
    try {
      return decodeURIComponent(x);
    } catch {
      return x;
    }
  });
  return { segments, query };
}

function match(segments) {
  for (const r of routes) {
    if (r.path.length !== segments.length) continue;
    const params = {};
    let ok = true;
    r.path.forEach((p, i) => {
      if (p.startsWith(':')) params[p.slice(1)] = segments[i];
      else if (p !== segments[i]) ok = false;
    });
    if (ok) return { route: r, params };
  }
  return null;
}

// href builds a link to a page, keeping the as-of date: href(['customers', id], {sort}).
function href(segments, query, asOf) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  if (asOf) q.set('as_of', asOf);
  const path = `/${segments.map(encodeURIComponent).join('/')}`;
  const qs = q.toString();
  return `#${path}${qs ? `?${qs}` : ''}`;
}

let controller = null;
let firstRender = true;

async function render() {
  if (controller) controller.abort();
  controller = new AbortController();
  const { signal } = controller;
  const { segments, query } = parseHash();
  let asOf = query.get('as_of') || '';
  if (asOf && !isDate(asOf)) asOf = '';
  asOfInput.value = asOf || serverToday;
  const m = match(segments);
  // The navigation keeps the as-of date: the whole dashboard looks at one day.
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.setAttribute('href', href(navSegments[a.dataset.nav] || [], {}, asOf));
    if (m && a.dataset.nav === m.route.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.getElementById('brand').setAttribute('href', href([], {}, asOf));
  delete main.dataset.ready;
  delete main.dataset.asOf;
  main.setAttribute('aria-busy', 'true');
  replace(main, h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  if (!firstRender) main.focus({ preventScroll: false });
  firstRender = false;
  if (!m) {
    replace(main, h('h1', null, 'Page not found'), h('p', null, h('a', { href: '#/' }, 'Back to the portfolio')));
    main.removeAttribute('aria-busy');
    main.dataset.ready = 'not-found';
    return;
  }
  const titles = { overview: 'Portfolio', customers: 'Customers', alerts: 'Alerts' };
  document.title = `${m.params.id ? `${m.params.id} · ` : ''}${titles[m.route.nav]}${asOf ? ` as of ${asOf}` : ''} · Encours`;
  if (!token()) {
    showTokenBox('');
    replace(main, tokenNeeded());
    main.removeAttribute('aria-busy');
    return;
  }
  const ctx = {
    root: main,
    params: m.params,
    query,
    asOf,
    signal,
    href: (segs, q) => href(segs, q, asOf),
    learnToday(d) {
      if (!serverToday && isDate(d)) {
        serverToday = d;
        if (!asOfInput.value) asOfInput.value = d;
        asOfInput.max = d;
      }
    },
    announce(text) {
      announcer.textContent = text;
    },
    ready(name, effectiveAsOf) {
      if (signal.aborted) return;
      main.removeAttribute('aria-busy');
      main.dataset.asOf = effectiveAsOf || asOf || serverToday;
      main.dataset.ready = name;
    },
    rerender: render,
  };
  try {
    await m.route.page.render(ctx);
  } catch (e) {
    if (signal.aborted) return;
    main.removeAttribute('aria-busy');
    if (e instanceof ApiError && e.status === 401) {
      replace(main, tokenNeeded());
      return;
    }
    replace(main, h('h1', null, 'Something went wrong'), errorBox(e));
    main.dataset.ready = 'error';
  }
}

function tokenNeeded() {
  return h('section', { class: 'panel' },
    h('h1', null, 'A token is needed'),
    h('p', null, 'The dashboard reads the API with a bearer token.'),
    h('button', { type: 'button', on: { click: () => showTokenBox('') } }, 'Enter a token'));
}

// showTokenBox opens the token box with reason. While it is open, "no token" (or no reason)
// never replaces a reason already shown: after a refusal the token is forgotten, so the
// page's other requests and any new render find none, and "the API refused the token (401)"
// is the reason the user needs.
function showTokenBox(reason) {
  if (!(dialog.open && (reason === '' || reason === noTokenReason) && tokenReason.textContent)) {
    tokenReason.textContent = reason;
    tokenReason.hidden = !reason;
  }
  if (!dialog.open) {
    tokenInput.value = '';
    dialog.showModal();
  }
  tokenInput.focus();
}

onUnauthorized((reason) => {
  showTokenBox(reason);
});

tokenForm.addEventListener('submit', (ev) => {
  const t = tokenInput.value.trim();
  if (!t) {
    ev.preventDefault();
    return;
  }
  setToken(t);
  tokenInput.value = '';
  // method="dialog" closes the dialog after this handler.
  render();
});

document.getElementById('token-button').addEventListener('click', () => showTokenBox(''));

asOfForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const v = asOfInput.value;
  if (!isDate(v)) {
    asOfInput.setCustomValidity('Enter a date as YYYY-MM-DD');
    asOfInput.reportValidity();
    return;
  }
  asOfInput.setCustomValidity('');
  setAsOf(v === serverToday ? '' : v);
});

document.getElementById('asof-today').addEventListener('click', () => setAsOf(''));

asOfInput.addEventListener('input', () => asOfInput.setCustomValidity(''));

function setAsOf(d) {
  const { query } = parseHash();
  if (d) query.set('as_of', d);
  else query.delete('as_of');
  const path = window.location.hash.replace(/^#/, '').split('?')[0] || '/';
  const qs = query.toString();
  const next = `#${path}${qs ? `?${qs}` : ''}`;
  if (next === window.location.hash) render();
  else window.location.hash = next;
}

document.getElementById('skip').addEventListener('click', () => main.focus());

window.addEventListener('hashchange', render);
render();
