// Charts as inline SVG, built node by node (no library: the two chart kinds the dashboard
// needs fit in this file, and nothing has to be vendored or kept up to date). Each chart is
// an image with a text alternative (role="img", a title and a description); the figures it
// draws are also in a table next to it, which is what screen readers and the tests read.
// Amounts are converted to floats here only for geometry.
import { h, s, uid } from './dom.js';

// Colours with at least 3:1 contrast on white (WCAG 1.4.11, graphical objects); the text
// next to them carries the figures, so colour is never the only carrier.
export const agingColours = ['#2f7d32', '#a16207', '#c2410c', '#b91c1c', '#7f1d1d', '#3b0764'];
export const seriesColours = ['#1d4ed8', '#7c3aed', '#0f766e', '#9a3412'];

function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

// legend returns the keys of a chart: a swatch and a label each.
function legend(items) {
  return h('ul', { class: 'legend' }, items.map((it) => h('li', null,
    s('svg', { width: 14, height: 14, 'aria-hidden': 'true', focusable: 'false' },
      it.dash
        ? s('line', { x1: 0, y1: 7, x2: 14, y2: 7, stroke: it.colour, 'stroke-width': 3, 'stroke-dasharray': it.dash })
        : s('rect', { width: 14, height: 14, rx: 2, fill: it.colour })),
    it.label)));
}

// stackedBars draws one horizontal bar per row, stacked by category, scaled to the largest
// row total. rows: [{label, values: [number], texts: [string], totalText}], categories:
// [{label, colour}].
export function stackedBars({ title, description, rows, categories, width = 600 }) {
  const labelW = 100;
  const totalW = 120;
  const barW = width - labelW - totalW - 16;
  const rowH = 30;
  const barH = 18;
  const height = rows.length * rowH + 8;
  const max = Math.max(1, ...rows.map((r) => r.values.reduce((a, v) => a + Math.max(0, num(v)), 0)));
  const titleID = uid('chart-title');
  const descID = uid('chart-desc');
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': `${titleID} ${descID}`, class: 'chart', preserveAspectRatio: 'xMinYMin meet' },
    s('title', { id: titleID }, title),
    s('desc', { id: descID }, description));
  rows.forEach((r, i) => {
    const y = i * rowH + 4;
    svg.appendChild(s('text', { x: labelW - 8, y: y + barH / 2 + 5, 'text-anchor': 'end', class: 'chart-label' }, r.label));
    let x = labelW;
    r.values.forEach((v, j) => {
      const w = (Math.max(0, num(v)) / max) * barW;
      if (w <= 0) return;
      svg.appendChild(s('rect', { x, y, width: Math.max(w, 1), height: barH, fill: categories[j].colour },
        s('title', null, `${r.label} · ${categories[j].label}: ${r.texts[j]}`)));
      x += w;
    });
    svg.appendChild(s('text', { x: labelW + barW + 8, y: y + barH / 2 + 5, class: 'chart-value' }, r.totalText));
  });
  return h('figure', { class: 'chart-figure' }, svg, legend(categories.map((c) => ({ label: c.label, colour: c.colour }))));
}

// niceStep returns a round tick step for a range: 1, 2 or 5 times a power of ten.
function niceStep(range, ticks) {
  const raw = range / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

// lineChart draws series over shared x labels. series: [{name, colour, dash, values:
// [number|null], texts: [string]}]; yText formats an axis value; a null value is a gap.
// width and height are the drawing's own units, close to its size on screen so that its
// text stays at the page's size.
export function lineChart({ title, description, xLabels, series, yText, width = 1200, height = 300 }) {
  const m = { left: 56, right: 48, top: 14, bottom: 34 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const all = series.flatMap((se) => se.values.filter((v) => typeof v === 'number' && Number.isFinite(v)));
  let lo = Math.min(0, ...all);
  let hi = Math.max(1, ...all);
  const step = niceStep(hi - lo, 5);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const xOf = (i) => m.left + (xLabels.length <= 1 ? plotW / 2 : (i * plotW) / (xLabels.length - 1));
  const yOf = (v) => m.top + plotH - ((v - lo) / (hi - lo)) * plotH;
  const titleID = uid('chart-title');
  const descID = uid('chart-desc');
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': `${titleID} ${descID}`, class: 'chart', preserveAspectRatio: 'xMinYMin meet' },
    s('title', { id: titleID }, title),
    s('desc', { id: descID }, description));
  for (let v = lo; v <= hi + step / 2; v += step) { // bounded: about five ticks
    const y = yOf(v);
    svg.appendChild(s('line', { x1: m.left, x2: width - m.right, y1: y, y2: y, class: 'gridline' }));
    svg.appendChild(s('text', { x: m.left - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-axis' }, yText(v)));
  }
  xLabels.forEach((label, i) => {
    svg.appendChild(s('text', { x: xOf(i), y: height - m.bottom + 18, 'text-anchor': 'middle', class: 'chart-axis' }, label));
  });
  series.forEach((se) => {
    let d = '';
    let pen = false;
    se.values.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`;
      pen = true;
    });
    if (d) {
      svg.appendChild(s('path', { d, fill: 'none', stroke: se.colour, 'stroke-width': 2.5, 'stroke-dasharray': se.dash || null, 'stroke-linejoin': 'round' }));
    }
    se.values.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) return;
      svg.appendChild(s('circle', { cx: xOf(i), cy: yOf(v), r: 3.5, fill: se.colour },
        s('title', null, `${se.name}, ${xLabels[i]}: ${se.texts[i]}`)));
    });
  });
  return h('figure', { class: 'chart-figure' }, svg, legend(series.map((se) => ({ label: se.name, colour: se.colour, dash: se.dash }))));
}

// meter draws a small bar of a ratio in basis points (utilisation, share), capped at 150 %
// of the width; over 100 % is drawn in the alarm colour. The number is always in the text
// next to it, so the bar is decoration for screen readers.
export function meter(bp, opts = {}) {
  const width = opts.width || 120;
  const height = 10;
  const cap = opts.capBP || 10000;
  const v = typeof bp === 'number' && Number.isFinite(bp) ? bp : 0;
  const w = Math.min(1, Math.max(0, v) / cap) * width;
  const colour = v > 10000 ? '#b91c1c' : v >= 8000 ? '#a16207' : '#1d4ed8';
  return s('svg', { width, height, class: 'meter', 'aria-hidden': 'true', focusable: 'false' },
    s('rect', { width, height, rx: 3, fill: '#e5e7eb' }),
    s('rect', { width: w, height, rx: 3, fill: opts.colour || colour }));
}
