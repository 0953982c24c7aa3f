// Activity: the audit log, for admins (GET /v1/audit): who changed what through the API, when,
// and how it ended.
import { get } from './api.js';
import { can } from './auth.js';
import { h, empty, failure, loading, table } from './dom.js';
import { dayForm, today, time } from './alerts.js';

// What a route does, in words; a route added later shows as itself.
const actions = {
  'PUT /v1/profiles/{profileId}/consent': 'Recorded consent',
  'DELETE /v1/profiles/{profileId}': 'Erased a person',
  'POST /v1/profiles/{profileId}/split': 'Split a merge',
  'PUT /v1/audiences/{audienceId}': 'Defined or changed an audience',
  'DELETE /v1/audiences/{audienceId}': 'Removed an audience',
  'POST /v1/audiences/{audienceId}/exports': 'Started an export',
  'PUT /v1/traits/{traitId}': 'Defined or changed a computed trait',
  'DELETE /v1/traits/{traitId}': 'Removed a computed trait',
};

// The ids an action names, in words; another shows as its name.
const targetNames = { profileId: 'profile', splitId: 'split out', audienceId: 'audience', traitId: 'trait', exportId: 'export' };

// target links an id to its page where the console has one.
function target(name, id) {
  switch (name) {
    case 'profileId': case 'splitId':
      return h('a', { href: `#/customer?type=profileId&id=${encodeURIComponent(id)}` }, h('code', {}, id));
    case 'audienceId':
      return h('a', { href: `#/audiences/${encodeURIComponent(id)}` }, h('code', {}, id));
    default:
      return h('code', {}, id);
  }
}

export function activityPage(main, params) {
  const day = params.get('day') || today();
  main.replaceChildren(h('h1', {}, 'Activity'));
  if (!can('admin')) {
    main.append(empty('Only an admin reads the activity log.', 'Ask an administrator.'));
    return;
  }
  const list = h('div', { class: 'card', 'aria-live': 'polite' }, h('h2', {}, 'Changes'), loading());
  main.append(h('div', { class: 'card' }, dayForm('activity', day),
    h('p', { class: 'muted' }, 'Every change made through the API, by a console user or a key: consent, erasures, splits, audiences and traits, exports. Kept 90 days; never what a request carried.')), list);
  load(list, day, '');
}

function load(list, day, cursor) {
  const q = new URLSearchParams({ day, limit: '50' });
  if (cursor) q.set('cursor', cursor);
  get(`/v1/audit?${q}`).then((page) => {
    if (!cursor) list.replaceChildren(h('h2', {}, `Changes on ${day}`));
    list.querySelector('button.more')?.remove();
    if (!cursor && page.actions.length === 0) {
      list.append(empty(`Nothing was changed on ${day}.`, 'Changes show here as people make them: consent recorded, an audience defined, a merge split …'));
      return;
    }
    list.append(table([
      { title: 'Time (UTC)', cell: (a) => h('time', { datetime: a.at }, time(a.at)) },
      { title: 'Who', cell: (a) => h('span', { title: a.keyId }, a.keyId.startsWith('user:') ? a.keyName || a.keyId.slice(5) : `key ${a.keyName || a.keyId}`) },
      { title: 'What', cell: (a) => [actions[a.route] || a.route, h('div', { class: 'muted' }, h('code', {}, a.route))] },
      { title: 'On', cell: (a) => h('ul', { class: 'plain' }, Object.entries(a.targets).map(([k, v]) => h('li', {}, `${targetNames[k] || k} `, target(k, v)))) },
      { title: 'Outcome', cell: (a) => h('span', { class: 'ok' }, `${a.status} ${a.outcome}`) },
    ], page.actions));
    if (page.next) list.append(h('button', { class: 'secondary more', type: 'button', onclick: () => load(list, day, page.next) }, 'More'));
  }, (err) => list.replaceChildren(h('h2', {}, 'Changes'), failure(err)));
}
