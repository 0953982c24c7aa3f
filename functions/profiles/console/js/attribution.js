// Attribution: the latest report's models side by side, per channel or per campaign, with spend
// and return, for each goal; the report's picture beside it.
import { call, get } from './api.js';
import { h, empty, failure, loading, money, table } from './dom.js';

const fixed = (n, d = 2) => (typeof n === 'number' ? n.toFixed(d) : '—');

export function attributionPage(main, params) {
  const body = h('div', {}, loading());
  main.replaceChildren(h('h1', {}, 'Attribution'), body);
  get('/v1/reports/latest').then((manifest) => get(`/v1/reports/${encodeURIComponent(manifest.period)}/attribution.json`)
    .then((a) => show(body, a, params)), (err) => {
    body.replaceChildren(err.status === 404
      ? empty('No report yet.', 'The reports schedule runs daily; an operator can run it now with dcrm schedule run reports.')
      : failure(err));
  });
}

function show(body, a, params) {
  if (!a.goals.length) {
    body.replaceChildren(empty(`No conversion in ${a.from} – ${a.to}.`));
    return;
  }
  const goal = params.get('goal') || a.goals[0].goal;
  const by = params.get('by') || 'channel';
  const g = a.goals.find((x) => x.goal === goal) || a.goals[0];
  const level = g.levels.find((l) => l.by === by) || g.levels[0];
  const names = [...new Set(level.models.flatMap((m) => m.credits.map((c) => c.name)))];
  const credit = (m, name) => m.credits.find((c) => c.name === name);
  const pick = h('form', { class: 'inline', onchange: (e) => {
    const f = new FormData(e.currentTarget);
    location.hash = `#/attribution?goal=${encodeURIComponent(f.get('goal'))}&by=${encodeURIComponent(f.get('by'))}`;
  } },
  h('label', {}, 'Goal', h('select', { name: 'goal' }, a.goals.map((x) => h('option', { value: x.goal, selected: x.goal === g.goal }, x.goal)))),
  h('label', {}, 'By', h('select', { name: 'by' }, g.levels.map((l) => h('option', { value: l.by, selected: l.by === level.by }, l.by)))));
  const spendOf = (name) => level.models.map((m) => credit(m, name)).find((c) => c && typeof c.spend === 'number');
  body.replaceChildren(
    h('div', { class: 'card' }, pick, h('p', { class: 'muted' },
      `${a.from} – ${a.to}: ${fixed(g.conversions, 0)} conversions (${g.journeys} journeys), value ${money(g.value)}${a.currency ? ` ${a.currency}` : ''}. `,
      'Each column is one model: the conversions it credits to each ', level.by, '.')),
    h('div', { class: 'card' }, h('h2', {}, `Conversions credited per ${level.by}, by model`), table([
      { title: level.by, cell: (n) => n },
      ...level.models.map((m) => ({ title: m.model, num: true, cell: (n) => fixed(credit(m, n)?.conversions) })),
      { title: 'Spend', num: true, cell: (n) => (spendOf(n) ? money(spendOf(n).spend) : '—') },
    ], names)),
    picture(a.period));
}

// picture is the report's picture (an SVG), read with the user's token and shown as an image, so
// that nothing in it runs.
function picture(period) {
  const card = h('div', { class: 'card' }, h('h2', {}, 'The report\'s picture: models, journeys and the funnel'), loading());
  call('GET', `/v1/reports/${encodeURIComponent(period)}/picture.svg`).then((svg) => {
    const img = h('img', { alt: 'The attribution report drawn: credits by model, top journeys, the funnel' });
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
    card.replaceChildren(card.firstChild, img);
  }, (err) => card.replaceChildren(card.firstChild, failure(err)));
  return card;
}
