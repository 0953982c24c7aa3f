// A few helpers to build the pages: elements from tags, attributes and children (text is always
// text, never HTML), and the states every page shows.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const empty = (what, todo) => h('div', { class: 'empty' }, h('strong', {}, what), todo ? h('div', {}, todo) : null);
export const failure = (err) => h('p', { class: 'error', role: 'alert' }, err.message || String(err));
export const loading = () => h('p', { class: 'muted', 'aria-live': 'polite' }, 'Loading…');

export function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function money(n) {
  return typeof n === 'number' ? n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : '—';
}

export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function table(columns, rows) {
  return h('div', { class: 'scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.title)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(r))))))));
}

// canvas is an empty SVG chart of the given size, read by screen readers as one image with the
// label; add appends an element with attributes (and text), tip gives one a tooltip.
export function canvas(W, H, label, cls = 'chart') {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  for (const [k, v] of Object.entries({ viewBox: `0 0 ${W} ${H}`, class: cls, role: 'img', 'aria-label': label })) svg.setAttribute(k, v);
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
    return el;
  };
  const tip = (el, text) => {
    el.append(Object.assign(document.createElementNS(ns, 'title'), { textContent: text }));
    return el;
  };
  return { svg, add, tip };
}

// lineChart draws values over time (points: [{at, value}]) as an SVG with labelled axes.
export function lineChart(points, { label, unit = '' }) {
  const W = 640, H = 220, L = 56, R = 12, T = 14, B = 34;
  const { svg, add, tip } = canvas(W, H, label);
  const xs = points.map((p) => new Date(p.at).getTime());
  const ys = points.map((p) => p.value);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y1 = Math.max(1, ...ys);
  const x = (t) => L + ((t - x0) / (x1 - x0)) * (W - L - R);
  const y = (v) => H - B - (v / y1) * (H - T - B);
  for (const f of [0, 0.5, 1]) {
    add('line', { x1: L, x2: W - R, y1: y(y1 * f), y2: y(y1 * f), stroke: '#e1e5ec' });
    add('text', { x: L - 6, y: y(y1 * f) + 4, 'text-anchor': 'end' }, `${Math.round(y1 * f).toLocaleString()}${unit}`);
  }
  add('text', { x: L, y: H - 10 }, new Date(x0).toLocaleDateString());
  add('text', { x: W - R, y: H - 10, 'text-anchor': 'end' }, new Date(x1).toLocaleDateString());
  add('polyline', { fill: 'none', stroke: '#1f5fbf', 'stroke-width': 2, points: points.map((p, i) => `${x(xs[i])},${y(ys[i])}`).join(' ') });
  points.forEach((p, i) => tip(add('circle', { cx: x(xs[i]), cy: y(ys[i]), r: 3, fill: '#1f5fbf' }), `${when(p.at)}: ${p.value.toLocaleString()}${unit}`));
  return svg;
}

// barChart draws grouped horizontal bars: one row per name, one bar per series (e.g. a model), each
// labelled with its value, with a legend and the axis's unit, so that it reads without hovering.
export function barChart(names, series, { label, unit = '', format = (v) => v.toLocaleString() }) {
  // distinct to most colour-blind readers too (Okabe and Ito's palette); more series than colours repeat
  const palette = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#d55e00', '#56b4e9', '#000000'];
  const W = 640, L = 150, R = 70, bar = 12, gap = 3, group = series.length * (bar + gap) + 10, T = 24 + 16 * Math.ceil(series.length / 3);
  const H = T + names.length * group + 26;
  const { svg, add, tip } = canvas(W, H, label);
  const top = Math.max(1e-9, ...series.flatMap((s) => names.map((n) => s.value(n) || 0)));
  const x = (v) => L + (v / top) * (W - L - R);
  series.forEach((s, i) => {
    const lx = 8 + (i % 3) * 210, ly = 14 + 16 * Math.floor(i / 3);
    add('rect', { x: lx, y: ly - 9, width: 10, height: 10, fill: palette[i % palette.length] });
    add('text', { x: lx + 14, y: ly }, s.name);
  });
  names.forEach((n, r) => {
    const y0 = T + r * group;
    tip(add('text', { x: L - 6, y: y0 + (group - 10) / 2 + 4, 'text-anchor': 'end' }, n.length > 24 ? `${n.slice(0, 23)}…` : n), n);
    series.forEach((s, i) => {
      const v = s.value(n) || 0, y = y0 + i * (bar + gap);
      tip(add('rect', { x: L, y, width: Math.max(0.5, x(v) - L), height: bar, fill: palette[i % palette.length] }), `${n}, ${s.name}: ${format(v)}${unit}`);
      add('text', { x: x(v) + 4, y: y + bar - 2 }, `${format(v)}${unit}`);
    });
  });
  add('line', { x1: L, x2: L, y1: T - 4, y2: H - 24, stroke: '#b9c0cc' });
  add('text', { x: L, y: H - 8 }, label);
  return svg;
}
