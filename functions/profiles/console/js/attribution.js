// Attribution: a report's models side by side, per channel or per campaign, for each goal:
// conversions or value credited (a chart and a table), spend and return on it, and what each
// channel acquired (customers, their value, the cost of acquiring them); the report's picture
// beside it. Any kept period can be chosen, and the people of one segment (RFM segment,
// acquisition channel, device): their credits by channel (the report has no spend by segment).
import { call, get } from './api.js';
import { h, barChart, empty, failure, loading, money, table } from './dom.js';

const fixed = (n, d = 2) => (typeof n === 'number' ? n.toFixed(d) : '—');
// charted are the models the chart draws when the report has them (every model is in the table):
// the two single-touch rules, the even split and the two data-driven models.
const charted = ['first-touch', 'last-touch', 'linear', 'markov', 'shapley'];
const measures = { conversions: 'Conversions credited', value: 'Value credited' };

export function attributionPage(main, params) {
  const body = h('div', {}, loading());
  main.replaceChildren(h('h1', {}, 'Attribution'), body);
  get('/v1/reports?limit=100').then((list) => {
    const period = params.get('period') || list.latest;
    if (!period) {
      body.replaceChildren(empty('No report yet.', 'The reports schedule runs daily; an operator can run it now with dcrm schedule run reports.'));
      return undefined;
    }
    return get(`/v1/reports/${encodeURIComponent(period)}/attribution.json`).then((a) => show(body, a, params, list.reports));
  }).catch((err) => {
    body.replaceChildren(err.status === 404
      ? empty('No such report.', 'Choose another period, or run the reports schedule: dcrm schedule run reports.')
      : failure(err));
  });
}

function show(body, a, params, reports) {
  const goal = params.get('goal') || a.goals[0]?.goal;
  const g = a.goals.find((x) => x.goal === goal) || a.goals[0];
  // segment: the chosen segment's attribution ("by|segment", as on the journeys page), by channel only
  const segments = g?.segments || [];
  const segment = segments.find((s) => `${s.segmentBy}|${s.segment}` === params.get('segment'));
  const level = segment ? segment.level : g ? (g.levels.find((l) => l.by === params.get('by')) || g.levels[0]) : null;
  const who = segment || g;
  const measure = measures[params.get('measure')] ? params.get('measure') : 'conversions';
  const currency = a.currency ? ` ${a.currency}` : '';
  const pick = h('form', { class: 'inline', onchange: (e) => {
    const f = new FormData(e.currentTarget);
    const q = new URLSearchParams();
    for (const k of ['period', 'goal', 'segment', 'by', 'measure']) if (f.get(k)) q.set(k, f.get(k));
    location.hash = `#/attribution?${q}`;
  } },
  h('label', {}, 'Period', h('select', { name: 'period' }, reports.map((r) => h('option', { value: r.period, selected: r.period === a.period }, `${r.from} – ${r.to}`)))),
  g && h('label', {}, 'Goal', h('select', { name: 'goal' }, a.goals.map((x) => h('option', { value: x.goal, selected: x.goal === g.goal }, x.goal)))),
  g && segments.length > 0 && h('label', {}, 'Segment', h('select', { name: 'segment' }, h('option', { value: '' }, 'everyone'),
    segments.map((s) => {
      const key = `${s.segmentBy}|${s.segment}`;
      return h('option', { value: key, selected: s === segment }, `${s.segmentBy}: ${s.segment}`);
    }))),
  level && h('label', {}, 'By', segment
    ? h('select', { name: 'by', disabled: true, title: 'A segment is attributed by channel only' }, h('option', { value: 'channel' }, 'channel'))
    : h('select', { name: 'by' }, g.levels.map((l) => h('option', { value: l.by, selected: l.by === level.by }, l.by)))),
  level && h('label', {}, 'Measure', h('select', { name: 'measure' }, Object.entries(measures).map(([k, v]) => h('option', { value: k, selected: k === measure }, v)))));
  if (!g) {
    body.replaceChildren(h('div', { class: 'card' }, pick), empty(`No conversion in ${a.from} – ${a.to}.`,
      'Conversions are the goals the reports count (orders by default); choose another period.'), acquisition(a, currency));
    return;
  }
  const credit = (m, name) => m.credits.find((c) => c.name === name);
  const total = (name) => Math.max(...level.models.map((m) => credit(m, name)?.[measure] || 0));
  const names = [...new Set(level.models.flatMap((m) => m.credits.map((c) => c.name)))].sort((x, y) => total(y) - total(x));
  const shown = names.slice(0, 12);
  const picked = level.models.filter((m) => charted.includes(m.model));
  const chartModels = picked.length ? picked : level.models.slice(0, 5);
  const spendOf = (name) => level.models.map((m) => credit(m, name)).find((c) => c && typeof c.spend === 'number')?.spend;
  const withSpend = names.filter((n) => typeof spendOf(n) === 'number');
  const isValue = measure === 'value';
  const format = isValue ? (v) => money(v) : (v) => fixed(v, 1);
  body.replaceChildren(
    h('div', { class: 'card' }, pick, h('p', { class: 'muted' },
      `${a.from} – ${a.to}${segment ? `, ${segment.segmentBy}: ${segment.segment}` : ''}: ${fixed(who.conversions, 0)} conversions of ${who.journeys.toLocaleString()} journeys, value ${money(who.value)}${currency}; `,
      `${who.untouched.toLocaleString()} converted with no touch in the lookback. Each model shares every conversion out among the ${level.by === 'channel' ? 'channels' : `${level.by}s`} that touched it.`)),
    h('div', { class: 'card' }, h('h2', {}, `${measures[measure]} per ${level.by}, by model`),
      h('p', { class: 'muted' }, names.length > shown.length ? `The chart draws the ${shown.length} ${level.by}s credited most of ${names.length}` : `The chart draws every ${level.by}`,
        chartModels.length === level.models.length ? ' and every model.' : ` and ${chartModels.length} of the ${level.models.length} models; the table has them all.`),
      barChart(shown, chartModels.map((m) => ({ name: m.model, value: (n) => credit(m, n)?.[measure] || 0 })),
        { label: `${measures[measure]}${isValue ? currency : ''} per ${level.by}`, format }),
      table([
        { title: level.by, cell: (n) => n },
        ...level.models.map((m) => ({ title: m.model, num: true, cell: (n) => format(credit(m, n)?.[measure]) })),
      ], names)),
    h('div', { class: 'card' }, h('h2', {}, `Spend and return per ${level.by}`), segment
      ? empty('Spend is not split by segment.', 'Choose everyone to see the spend and the return on it per channel.')
      : withSpend.length === 0
      ? empty('No spend in this period.', 'Import the channels\' spend (dcrm import, a spend file) to see the cost per conversion and the return on it.')
      : [h('p', { class: 'muted' }, `Return on spend (ROAS) is the value a model credits per unit of spend; cost per acquisition (CPA) is the spend per conversion it credits. Currency: ${a.currency || 'as imported'}.`),
        table([
          { title: level.by, cell: (n) => n },
          { title: `Spend${currency}`, num: true, cell: (n) => money(spendOf(n)) },
          ...level.models.map((m) => ({ title: `ROAS, ${m.model}`, num: true, cell: (n) => fixed(credit(m, n)?.roas) })),
          ...level.models.map((m) => ({ title: `CPA, ${m.model}`, num: true, cell: (n) => money(credit(m, n)?.cpa) })),
        ], withSpend)]),
    acquisition(a, currency),
    picture(a.period));
}

// acquisition is what each channel acquired in the period: the customers who first ordered, their
// revenue and lifetime value, and, with spend, the cost of acquiring one (CAC).
function acquisition(a, currency) {
  return h('div', { class: 'card' }, h('h2', {}, 'Acquisition by channel'), !a.base?.length
    ? empty('No customer first ordered in this period.')
    : table([
      { title: 'Channel', cell: (b) => b.channel },
      { title: 'New customers', num: true, cell: (b) => b.customers.toLocaleString() },
      { title: `Revenue${currency}`, num: true, cell: (b) => money(b.revenue) },
      { title: `Lifetime value${currency}`, num: true, cell: (b) => money(b.clv) },
      { title: `Average lifetime value${currency}`, num: true, cell: (b) => money(b.averageClv) },
      { title: `Spend${currency}`, num: true, cell: (b) => money(b.spend) },
      { title: `Cost per customer (CAC)${currency}`, num: true, cell: (b) => money(b.cac) },
      { title: 'Lifetime value to CAC', num: true, cell: (b) => fixed(b.clvToCac) },
    ], a.base));
}

// picture is the report's picture (an SVG), read with the user's token and shown as an image, so
// that nothing in it runs.
function picture(period) {
  const card = h('div', { class: 'card' }, h('h2', {}, 'The report\'s picture: models, journeys and the funnel'), loading());
  call('GET', `/v1/reports/${encodeURIComponent(period)}/picture.svg`).then((svg) => {
    const img = h('img', { alt: 'The attribution report drawn: credits by model, top journeys, the funnel' });
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
    card.replaceChildren(card.firstChild, img);
  }, (err) => card.replaceChildren(card.firstChild, err.status === 404 ? empty('This report has no picture.') : failure(err)));
  return card;
}
