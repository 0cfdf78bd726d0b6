// Pieces shared by the pages: error boxes, figure cards, sections, tables, badges.
import { ApiError } from './api.js';
import { h, uid } from './dom.js';

// errorBox shows an API error (or any error) to the user.
export function errorBox(e) {
  const text = e instanceof ApiError ? `${e.message} (${e.status} ${e.code})` : String(e && e.message ? e.message : e);
  return h('p', { class: 'error', role: 'alert' }, text);
}

// note is a short remark under a heading (what a figure means, why something is missing).
export function note(...children) {
  return h('p', { class: 'note' }, ...children);
}

// card is one headline figure: a label, the value (an element from format.js) and a line
// of context.
export function card(label, value, sub, field) {
  return h('div', { class: 'kpi', dataset: { card: field } },
    h('div', { class: 'kpi-label' }, label),
    h('div', { class: 'kpi-value' }, value),
    sub ? h('div', { class: 'kpi-sub' }, sub) : null);
}

// section is a titled region of a page; the heading names it for assistive technology.
export function section(title, attrs, ...children) {
  const id = uid('section');
  return h('section', { class: 'panel', 'aria-labelledby': id, ...attrs },
    h('h2', { id }, title), ...children);
}

// table builds a data table. columns: [{label, num, sort}] (sort: {state: 'ascending' |
// 'descending' | 'none', href, label}); rows: arrays of cells (strings or elements), or
// {cells, attrs}.
export function table({ caption, columns, rows, attrs, captionHidden }) {
  return h('div', { class: 'table-wrap' },
    h('table', attrs || null,
      caption ? h('caption', { class: captionHidden ? 'visually-hidden' : null }, caption) : null,
      h('thead', null, h('tr', null, columns.map((c) => h('th', {
        scope: 'col',
        class: c.num ? 'num' : null,
        'aria-sort': c.sort ? c.sort.state : null,
      }, c.sort ? h('a', { href: c.sort.href, class: 'sort', 'aria-label': c.sort.label }, c.label, sortMark(c.sort.state)) : c.label)))),
      h('tbody', null, rows.map((r) => {
        const cells = Array.isArray(r) ? r : r.cells;
        return h('tr', Array.isArray(r) ? null : r.attrs, cells.map((cell, i) => {
          const col = columns[i] || {};
          return col.header ? h('th', { scope: 'row', class: col.num ? 'num' : null }, cell) : h('td', { class: col.num ? 'num' : null }, cell);
        }));
      }))));
}

function sortMark(state) {
  if (state === 'descending') return h('span', { 'aria-hidden': 'true' }, ' ▼');
  if (state === 'ascending') return h('span', { 'aria-hidden': 'true' }, ' ▲');
  return null;
}

// severityRank orders severities, worst first.
export const severityRank = { critical: 0, warning: 1, info: 2 };

export function severityBadge(sev) {
  return h('span', { class: `badge sev-${sev in severityRank ? sev : 'info'}` }, sev);
}

export function statusBadge(status) {
  return h('span', { class: `badge status-${status}` }, status);
}
