// Health: is the pipeline keeping up? The stream's lag per shard, the schedules' last runs, the
// failed events by reason per day and the queues' depths (GET /v1/health), each bad state with
// what to do about it.
import { get } from './api.js';
import { h, canvas, empty, failure, loading, table, when } from './dom.js';

// ago says how long ago, from seconds.
export function ago(s) {
  if (typeof s !== 'number') return '—';
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

// period says a schedule's period in words.
export function period(s) {
  if (s % 86400 === 0) return s === 86400 ? 'daily' : `every ${s / 86400} days`;
  if (s % 3600 === 0) return s === 3600 ? 'hourly' : `every ${s / 3600} h`;
  return `every ${Math.round(s / 60)} min`;
}

const seconds = (s) => `${s.toFixed(s < 10 ? 1 : 0)} s`;
const cmd = (text) => h('code', {}, text);
const badge = (verdict, text) => h('span', { class: `badge ${verdict}` }, text || verdict);

export function healthPage(main) {
  const body = h('div', {}, loading());
  const refresh = h('button', { type: 'button', class: 'secondary', onclick: () => load(body) }, 'Refresh');
  main.replaceChildren(h('div', { class: 'inline heading' }, h('h1', {}, 'Health'), refresh), body);
  load(body);
}

function load(body) {
  get('/v1/health').then((hl) => show(body, hl), (err) => body.replaceChildren(failure(err),
    h('p', { class: 'muted' }, 'The Health table could not be read: try again in a moment (Refresh).')));
}

function show(body, hl) {
  body.replaceChildren(
    h('p', { class: 'muted' }, `As of ${when(hl.at)}.`),
    streamCard(hl.stream),
    schedulesCard(hl.schedules),
    failuresCard(hl.failures),
    queuesCard(hl.queues, hl.queueError));
}

function streamCard(stream) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'h-stream' },
    h('h2', { id: 'h-stream' }, 'Stream lag ', badge(stream.verdict)));
  if (!stream.shards.length) {
    card.append(empty('No batch recorded yet.',
      'stitch keeps each shard\'s lag as it records events (at most once a minute). Send an event (the tracker, or any SDK) and refresh.'));
    return card;
  }
  const advice = {
    behind: ['stitch is 5 s or more behind the stream. Look at stitch\'s errors and throttling (its log; on AWS its IteratorAge metric and reserved concurrency); batches it gave up on are in the failed-events queue: ', cmd('dcrm replay --dry-run'), ' lists them, ', cmd('dcrm replay'), ' replays them.'],
    unknown: ['No batch in the last 10 minutes: either no traffic, or stitch is not reading the stream. Send a test event and refresh; if the lag stays unknown, look at stitch\'s log and the stream mapping.'],
    ok: ['stitch is keeping up: under 5 s behind.'],
  };
  card.append(h('p', { class: stream.verdict === 'ok' ? 'ok' : 'advice' }, advice[stream.verdict] || ''),
    table([
      { title: 'Shard', cell: (s) => s.shard },
      { title: 'Lag (seconds behind)', num: true, cell: (s) => seconds(s.lagSeconds) },
      { title: 'Last batch', cell: (s) => h('span', { title: when(s.at) }, ago(s.ageSeconds)) },
      { title: 'Records in it', num: true, cell: (s) => s.records.toLocaleString() },
      { title: 'Verdict', cell: (s) => badge(s.verdict) },
    ], stream.shards));
  return card;
}

function schedulesCard(schedules) {
  const outcome = (s) => {
    if (s.outcome === 'never') return badge('unknown', 'never ran');
    if (s.outcome === 'failed') return [badge('behind', 'failed'), s.reason ? h('div', { class: 'small' }, s.reason) : null];
    if (s.outcome === 'running') return badge(s.late ? 'behind' : 'unknown', s.late ? 'running too long' : 'running');
    return badge('ok', 'ok');
  };
  const todo = (s) => (s.outcome === 'failed' || s.late ? cmd(`dcrm schedule run ${s.schedule}`) : '');
  const bad = schedules.filter((s) => s.outcome === 'failed' || s.late);
  return h('section', { class: 'card', 'aria-labelledby': 'h-runs' },
    h('h2', { id: 'h-runs' }, 'Schedules'),
    bad.length
      ? h('p', { class: 'advice' }, `${bad.length} of ${schedules.length} schedules failed or are late. Read the function's log for the reason, then run it now with `,
        cmd('dcrm schedule run <name>'), '; a run that never happened locally is normal until its first period passes.')
      : h('p', { class: 'ok' }, 'Every schedule ran on time.'),
    table([
      { title: 'Schedule', cell: (s) => s.schedule },
      { title: 'Runs', cell: (s) => period(s.everySeconds) },
      { title: 'Last run started', cell: (s) => (s.ran ? h('span', { title: when(s.started) }, ago(s.ageSeconds)) : '—') },
      { title: 'Outcome', cell: outcome },
      { title: 'Did', cell: (s) => (typeof s.count === 'number' ? `${s.count.toLocaleString()} ${s.unit}` : '—') },
      { title: 'Next expected', cell: (s) => (s.nextExpected ? when(s.nextExpected) : 'on its period') },
      { title: 'To do', cell: todo },
    ], schedules));
}

function failuresCard(f) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'h-failed' }, h('h2', { id: 'h-failed' }, 'Failed events, last 7 days (UTC)'));
  const total = f.totals.reduce((a, b) => a + b, 0);
  if (!total) {
    card.append(empty('No failed event in the last 7 days.',
      'Events dcrm refuses or cannot record are counted here by reason; Lambda\'s own records of batches it gave up on show in the queues below.'));
    return card;
  }
  const short = (d) => d.slice(5); // MM-DD
  card.append(
    h('p', { class: 'advice' }, `${total.toLocaleString()} events set aside in the failed-events queue. Each has its reason and the event (personal data redacted): `,
      cmd('dcrm replay --dry-run'), ' lists them; fix the cause (a source\'s events, a rule), then ', cmd('dcrm replay'), ' records what can be.'),
    dailyBars(f.days.map((d, i) => ({ label: short(d), value: f.totals[i] })), 'Failed events per day (UTC), every reason', 'events'),
    table([
      { title: 'Reason (stage: reason)', cell: (r) => r.reason },
      ...f.days.map((d, i) => ({ title: short(d), num: true, cell: (r) => (r.counts[i] ? r.counts[i].toLocaleString() : '·') })),
      { title: 'Events, 7 days', num: true, cell: (r) => r.total.toLocaleString() },
    ], f.reasons));
  return card;
}

function queuesCard(queues, error) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'h-queues' }, h('h2', { id: 'h-queues' }, 'Queue depths'));
  if (error) {
    card.append(failure(new Error(error)));
    return card;
  }
  if (!queues.length) {
    card.append(empty('No queue to show.', 'This deployment gives the console no queue to read.'));
    return card;
  }
  const advice = (q) => {
    if (!q.messages) return '';
    if (q.deadLetter) return ['A consumer failed on these five times: fix it, then move them back (', cmd('aws sqs start-message-move-task'), ').'];
    if (q.queue === 'FailedEvents') return [cmd('dcrm replay --dry-run'), ' lists them; ', cmd('dcrm replay'), ' replays them.'];
    if (q.queue === 'FailedRuns') return ['Runs the scheduler could not deliver: ', cmd('dcrm schedule run <name>'), ' runs one now.'];
    return 'Waiting for its consumer.';
  };
  card.append(table([
    { title: 'Queue', cell: (q) => (q.deadLetter ? `${q.queue} (dead-letter)` : q.queue) },
    { title: 'Waiting (messages)', num: true, cell: (q) => (q.messages ? badge(q.deadLetter || q.queue.startsWith('Failed') ? 'behind' : 'unknown', q.messages.toLocaleString()) : '0') },
    { title: 'In flight (messages)', num: true, cell: (q) => q.inFlight.toLocaleString() },
    { title: 'To do', cell: advice },
  ], queues));
  return card;
}

// dailyBars draws one bar per item ({label, value}) with a labelled value axis, as an SVG.
function dailyBars(items, label, unit) {
  const W = 420, H = 180, L = 40, R = 8, T = 20, B = 24;
  const { svg, add, tip } = canvas(W, H, `${label}: ${items.map((i) => `${i.label} ${i.value}`).join(', ')} ${unit}`, 'chart bars');
  const top = Math.max(1, ...items.map((i) => i.value));
  const y = (v) => H - B - (v / top) * (H - T - B);
  const step = (W - L - R) / items.length;
  for (const v of new Set([0, Math.ceil(top / 2), top])) { // whole events only
    add('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#e1e5ec' });
    add('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, v.toLocaleString());
  }
  add('text', { x: 4, y: T - 8 }, `${unit} per day`);
  items.forEach((it, i) => {
    const x = L + i * step + step * 0.2;
    tip(add('rect', { x, y: y(it.value), width: step * 0.6, height: H - B - y(it.value), fill: '#b3261e' }), `${it.label}: ${it.value.toLocaleString()} ${unit}`);
    add('text', { x: x + step * 0.3, y: H - 8, 'text-anchor': 'middle' }, it.label);
  });
  return svg;
}
