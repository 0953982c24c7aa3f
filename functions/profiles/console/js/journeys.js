// Journeys: the latest report's top paths to each goal and its funnel with drop-off, for everyone
// or one segment (RFM segment, acquisition channel, device).
import { get } from './api.js';
import { h, empty, failure, loading, money, table } from './dom.js';

const percent = (r) => (typeof r === 'number' ? `${(r * 100).toFixed(1)} %` : '—');

export function journeysPage(main, params) {
  const body = h('div', {}, loading());
  main.replaceChildren(h('h1', {}, 'Journeys'), body);
  get('/v1/reports/latest').then((manifest) => get(`/v1/reports/${encodeURIComponent(manifest.period)}/journeys.json`)
    .then((j) => show(body, j, params)), (err) => {
    body.replaceChildren(err.status === 404
      ? empty('No report yet.', 'The reports schedule runs daily; an operator can run it now with dcrm schedule run reports.')
      : failure(err));
  });
}

function show(body, j, params) {
  if (!j.goals.length && !j.funnel.length) {
    body.replaceChildren(empty(`No journey in ${j.from} – ${j.to}.`));
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
    location.hash = `#/journeys?segment=${encodeURIComponent(new FormData(e.currentTarget).get('segment'))}`;
  } }, h('label', {}, 'Segment', h('select', { name: 'segment' },
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
    ], f.steps))));
}
