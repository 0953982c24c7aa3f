// Alerts and triggers: what dcrm sent on a day (GET /v1/alerts), for whom and why, by kind, with
// the day's counts; each row links to the customer.
import { get } from './api.js';
import { h, empty, failure, loading, table } from './dom.js';

export const kindNames = {
  'abandoned-basket': 'Abandoned basket', 'abandoned-browse': 'Abandoned browse', 'abandoned-form': 'Abandoned form',
  'returning-prospect': 'Returning prospect', 'returning-lapsed': 'Returning lapsed customer', lapse: 'Lapse risk',
};

// today is the UTC day, as the log is kept by.
export const today = () => new Date().toISOString().slice(0, 10);

// time is the time of day of an entry, in UTC like the day it is filed under.
export const time = (t) => new Date(t).toISOString().slice(11, 19);

// dayForm picks the day (and, with kinds, the kind) and moves to #/<page>?day=…&kind=….
export function dayForm(page, day, kind, kinds) {
  return h('form', { class: 'inline', onsubmit: (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const q = new URLSearchParams({ day: f.get('day') || today() });
    if (f.get('kind')) q.set('kind', f.get('kind'));
    location.hash = `#/${page}?${q}`;
  } },
  h('label', {}, 'Day (UTC)', h('input', { type: 'date', name: 'day', value: day, max: today(), required: true })),
  kinds ? h('label', {}, 'Kind', h('select', { name: 'kind' }, h('option', { value: '' }, 'Every kind'),
    Object.entries(kinds).map(([k, t]) => h('option', { value: k, selected: k === kind }, t)))) : null,
  h('button', { type: 'submit' }, 'Show'));
}

export function alertsPage(main, params) {
  const day = params.get('day') || today();
  const kind = params.get('kind') || '';
  const summary = h('div', { class: 'card', 'aria-live': 'polite' }, h('h2', {}, 'By kind'), loading());
  const list = h('div', { class: 'card' }, h('h2', {}, kind ? kindNames[kind] || kind : 'Sent'), loading());
  main.replaceChildren(h('h1', {}, 'Alerts and triggers'),
    h('div', { class: 'card' }, dayForm('alerts', day, kind, kindNames),
      h('p', { class: 'muted' }, 'What dcrm sent to your tools on the day: the triggers (to the Triggers queue) and the lapse alerts (to the Alerts queue), newest first, kept 90 days.')),
    summary, list);
  load(summary, list, day, kind, '');
}

function query(day, kind, cursor) {
  const q = new URLSearchParams({ day, limit: '50' });
  if (kind) q.set('kind', kind);
  if (cursor) q.set('cursor', cursor);
  return `/v1/alerts?${q}`;
}

function load(summary, list, day, kind, cursor) {
  get(query(day, kind, cursor)).then((page) => {
    if (page.counts) showCounts(summary, page, day);
    if (!cursor) list.replaceChildren(h('h2', {}, kind ? kindNames[kind] || kind : 'Sent'));
    list.querySelector('button.more')?.remove();
    if (!cursor && page.alerts.length === 0) {
      list.append(nothing(day, kind));
      return;
    }
    list.append(table([
      { title: 'Time (UTC)', cell: (a) => h('time', { datetime: a.at }, time(a.at)) },
      { title: 'Kind', cell: (a) => h('span', { class: `chip kind-${a.kind}` }, kindNames[a.kind] || a.kind) },
      { title: 'Customer', cell: (a) => h('a', { href: `#/customer?type=profileId&id=${encodeURIComponent(a.profileId)}` }, h('code', {}, a.profileId)) },
      { title: 'Why', cell: (a) => a.reason },
      { title: 'Sent to', cell: (a) => h('span', { title: `message ${a.messageId}` }, a.channel) },
    ], page.alerts));
    if (page.next) list.append(h('button', { class: 'secondary more', type: 'button', onclick: () => load(summary, list, day, kind, page.next) }, 'More'));
  }, (err) => {
    if (!cursor) summary.replaceChildren(h('h2', {}, 'By kind'));
    list.replaceChildren(h('h2', {}, 'Sent'), failure(err));
  });
}

function showCounts(summary, page, day) {
  const total = Object.values(page.counts).reduce((a, b) => a + b, 0);
  summary.replaceChildren(h('h2', {}, `By kind: ${total.toLocaleString()}${page.countsPartial ? ' or more' : ''} on ${day}`),
    h('ul', { class: 'counts' }, ordered(page.counts).map(([k, n]) => h('li', { class: n ? null : 'muted' },
      h('a', { href: `#/alerts?day=${day}&kind=${encodeURIComponent(k)}`, 'aria-current': page.kind === k ? 'true' : null },
        h('strong', {}, n.toLocaleString()), ' ', kindNames[k] || k)))));
}

// ordered are the counts in the order of kindNames, any other kind after.
function ordered(counts) {
  const known = Object.keys(kindNames).filter((k) => k in counts);
  return [...known, ...Object.keys(counts).filter((k) => !known.includes(k))].map((k) => [k, counts[k]]);
}

function nothing(day, kind) {
  return empty(`Nothing ${kind ? `of this kind ` : ''}was sent on ${day}.`, h('div', {},
    h('p', {}, 'Triggers fire for customers with marketing consent who leave a basket, a browse or a form, or come back after a while away; ',
      'the triggers schedule runs every 5 minutes. Lapse alerts come with the hourly scoring, when a valuable customer\'s risk of lapsing crosses the threshold.'),
    h('p', {}, 'To try it now, an operator runs ', h('code', {}, 'dcrm schedule run triggers'), ' (or ', h('code', {}, 'dcrm schedule run score'), ').')));
}
