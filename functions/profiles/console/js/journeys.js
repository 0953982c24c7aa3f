// Journeys: a report's top paths to each goal and its funnel with drop-off, for everyone or one
// segment (RFM segment, acquisition channel, device), and each goal compared across the segments
// of each kind (acquisition by channel, by RFM segment, by device). Any kept period can be chosen.
import { get } from './api.js';
import { h, empty, failure, loading, money, table } from './dom.js';

const percent = (r) => (typeof r === 'number' ? `${(r * 100).toFixed(1)} %` : '—');

export function journeysPage(main, params) {
  const body = h('div', {}, loading());
  main.replaceChildren(h('h1', {}, 'Journeys'), body);
  get('/v1/reports?limit=100').then((list) => {
    const period = params.get('period') || list.latest;
    if (!period) {
      body.replaceChildren(empty('No report yet.', 'The reports schedule runs daily; an operator can run it now with dcrm schedule run reports.'));
      return undefined;
    }
    return get(`/v1/reports/${encodeURIComponent(period)}/journeys.json`).then((j) => show(body, j, params, list.reports));
  }).catch((err) => {
    body.replaceChildren(err.status === 404
      ? empty('No such report.', 'Choose another period, or run the reports schedule: dcrm schedule run reports.')
      : failure(err));
  });
}

const kinds = { acquisition: 'acquisition channel', rfm: 'RFM segment', device: 'device' };

// compare is one goal across the segments of each kind: journeys, conversions, rate and value.
function compare(j, goal) {
  return Object.entries(kinds).map(([by, name]) => {
    const rows = j.goals.filter((g) => g.goal === goal && g.segmentBy === by).sort((x, y) => y.conversions - x.conversions);
    if (!rows.length) return null;
    return h('div', { class: 'card' }, h('h2', {}, `${goal} by ${name}`), table([
      { title: name[0].toUpperCase() + name.slice(1), cell: (g) => g.segment },
      { title: 'Journeys', num: true, cell: (g) => g.journeys.toLocaleString() },
      { title: 'Converted', num: true, cell: (g) => g.conversions.toLocaleString() },
      { title: 'Conversion rate', num: true, cell: (g) => percent(g.journeys ? g.conversions / g.journeys : null) },
      { title: 'Value', num: true, cell: (g) => money(g.value) },
      { title: 'Median hours to convert', num: true, cell: (g) => (g.conversions ? g.medianHoursToConversion.toFixed(1) : '—') },
    ], rows));
  });
}

function show(body, j, params, reports) {
  const periods = h('label', {}, 'Period', h('select', { name: 'period' },
    reports.map((r) => h('option', { value: r.period, selected: r.period === j.period }, `${r.from} – ${r.to}`))));
  if (!j.goals.length && !j.funnel.length) {
    body.replaceChildren(h('div', { class: 'card' }, h('form', { class: 'inline', onchange: (e) => {
      location.hash = `#/journeys?period=${encodeURIComponent(new FormData(e.currentTarget).get('period'))}`;
    } }, periods)), empty(`No journey in ${j.from} – ${j.to}.`, 'Journeys are read from the archived events; choose another period.'));
    return;
  }
  const segments = [...new Set(j.goals.map((g) => `${g.segmentBy}|${g.segment}`))];
  const chosen = params.get('segment') || '|(all)';
  const goals = j.goals.filter((g) => `${g.segmentBy}|${g.segment}` === chosen);
  const funnel = j.funnel.filter((f) => `${f.segmentBy}|${f.segment}` === chosen);
  const label = (key) => {
    const [by, segment] = key.split('|');
    return by ? `${by}: ${segment}` : 'everyone';
  };
  const pick = h('form', { class: 'inline', onchange: (e) => {
    const f = new FormData(e.currentTarget);
    location.hash = `#/journeys?period=${encodeURIComponent(f.get('period'))}&segment=${encodeURIComponent(f.get('segment'))}`;
  } }, periods, h('label', {}, 'Segment', h('select', { name: 'segment' },
    segments.map((s) => h('option', { value: s, selected: s === chosen }, label(s))))));
  body.replaceChildren(h('div', { class: 'card' }, pick, h('p', { class: 'muted' }, `${j.from} – ${j.to}, ${label(chosen)}.`)),
    ...goals.map((g) => h('div', { class: 'card' }, h('h2', {}, `Top paths to ${g.goal}`),
      h('p', { class: 'muted' }, `${g.journeys.toLocaleString()} journeys, ${g.conversions.toLocaleString()} converted, value ${money(g.value)}; `,
        g.conversions ? `median ${g.medianHoursToConversion.toFixed(1)} hours from the first touch to converting.` : 'none converted in the period.'),
      g.topPaths.length === 0 ? empty('No path with a touch.') : table([
        { title: 'Path (channels in order)', cell: (p) => p.path },
        { title: 'Journeys', num: true, cell: (p) => p.journeys.toLocaleString() },
        { title: 'Conversions', num: true, cell: (p) => p.conversions.toLocaleString() },
        { title: 'Rate', num: true, cell: (p) => percent(p.rate) },
        { title: 'Value', num: true, cell: (p) => money(p.value) },
      ], g.topPaths))),
    ...funnel.map((f) => h('div', { class: 'card' }, h('h2', {}, `Funnel: ${f.funnel}`), table([
      { title: 'Step', cell: (s) => s.step },
      { title: 'Reached', num: true, cell: (s) => s.reached.toLocaleString() },
      { title: 'Lost since the step before', num: true, cell: (s) => s.dropped.toLocaleString() },
      { title: 'Of the step before', num: true, cell: (s) => percent(s.rate) },
      { title: '', cell: (s) => h('meter', { min: 0, max: Math.max(1, f.steps[0].reached), value: s.reached, 'aria-label': `${s.reached} reached ${s.step}` }) },
    ], f.steps))),
    // each goal anyone reached, compared across segments (a goal no one reached compares nothing)
    ...(chosen === '|(all)' ? [...new Set(j.goals.filter((g) => g.conversions > 0).map((g) => g.goal))]
      .flatMap((goal) => compare(j, goal)).filter(Boolean) : []));
}
