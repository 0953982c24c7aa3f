// Customer: find a person by any identifier and read the Single Customer View.
import { get, post } from './api.js';
import { can } from './auth.js';
import { h, empty, failure, loading, when, money, facts, table } from './dom.js';

const kinds = [['userId', 'User id'], ['profileId', 'Profile id'], ['anonymousId', 'Anonymous id (cookie)'], ['emailSha256', 'Email (SHA-256)'],
  ['phoneSha256', 'Phone (SHA-256)'], ['externalId', 'External id (type:id)'], ['deviceId', 'Device id']];

export function customerPage(main, params) {
  const kind = params.get('type') || 'userId';
  const value = params.get('id') || '';
  const form = h('form', { class: 'inline', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    location.hash = `#/customer?type=${encodeURIComponent(f.get('type'))}&id=${encodeURIComponent(f.get('id').trim())}`;
  } },
  h('label', {}, 'Identifier', h('select', { name: 'type' }, kinds.map(([k, t]) => h('option', { value: k, selected: k === kind }, t)))),
  h('label', {}, 'Value', h('input', { name: 'id', value, required: true, size: 36, 'aria-label': 'Identifier value' })),
  h('button', { type: 'submit' }, 'Find'));
  const result = h('div', { 'aria-live': 'polite' });
  main.replaceChildren(h('h1', {}, 'Customer'), h('div', { class: 'card' }, form), result);
  if (!value) {
    result.append(empty('Find a customer by any identifier.', 'A user id, the cookie id of a visit, a hashed email, an id from your CRM …'));
    return;
  }
  result.append(loading());
  // A profile id is read by itself (a merged one answers with the live profile); any other
  // identifier is looked up.
  const path = kind === 'profileId' ? `/v1/profiles/${encodeURIComponent(value)}`
    : `/v1/profiles?${encodeURIComponent(kind)}=${encodeURIComponent(value)}`;
  get(path).then((p) => show(result, p), (err) => {
    result.replaceChildren(err.status === 404 ? empty('No customer has this identifier.', 'Check the type and the value; a hashed email is 64 hex characters.') : failure(err));
  });
}

function show(result, p) {
  const s = p.score || {};
  const identities = h('div', { class: 'card' }, h('h2', {}, 'Identities'), facts([
    ['Profile', h('code', {}, p.profileId)], ['User id', p.userId], ['Devices (cookies)', (p.anonymousIds || []).join(', ') || '—'],
    ['First seen', when(p.firstSeen)], ['Last seen', when(p.lastSeen)], ['Visits', p.visits], ['Orders', p.orders],
    ['Revenue', money(p.revenue)], ['Acquired by', p.acquisition ? `${p.acquisition.channel || '—'} · ${when(p.acquisition.at)}` : '—'],
  ]));
  const consent = h('div', { class: 'card' }, h('h2', {}, 'Consent'), Object.keys(p.consent || {}).length === 0
    ? h('p', { class: 'muted' }, 'No answer recorded: dcrm sends nothing that needs consent.')
    : facts(Object.entries(p.consent).map(([purpose, c]) => [purpose, `${c.granted ? 'granted' : 'denied'} · ${when(c.at)}`])));
  const scores = h('div', { class: 'card' }, h('h2', {}, 'Scores'), p.score ? facts([
    ['RFM', s.rfm ? `${s.rfm.score} · ${s.rfm.segment}` : '—'],
    ['Lifetime value', s.value ? money(s.value.clv) : '—'],
    ['Still a customer (pAlive)', s.value ? `${Math.round(s.value.pAlive * 100)} %` : '—'],
    ['Risk of lapsing', s.lapse ? `${Math.round(s.lapse.risk * 100)} %` : '—'],
    ['Cluster', s.cluster], ['Scored', when(s.scoredAt)],
  ]) : h('p', { class: 'muted' }, 'Not scored yet: the scoring schedule runs every hour.'),
  s.nextActions && s.nextActions.length ? [h('h2', {}, 'Next best actions'),
    h('ol', {}, s.nextActions.map((a) => h('li', {}, h('strong', {}, a.kind), a.product ? ` ${a.product}` : '', a.reason ? h('div', { class: 'muted' }, a.reason) : null)))] : null);
  const audiences = h('div', { class: 'card' }, h('h2', {}, 'Audiences'), (p.audiences || []).length === 0
    ? h('p', { class: 'muted' }, 'In no audience.')
    : h('ul', { class: 'chips' }, p.audiences.map((m) => h('li', { class: 'chip', title: `since ${when(m.since)}` },
      h('a', { href: `#/audiences/${encodeURIComponent(m.audience)}` }, m.audience)))));
  const shown = (v) => (typeof v === 'object' ? JSON.stringify(v) : String(v));
  const traits = h('div', { class: 'card' }, h('h2', {}, 'Traits'), Object.keys(p.traits || {}).length === 0
    ? h('p', { class: 'muted' }, 'No traits.') : facts(Object.entries(p.traits).map(([k, v]) => [k, shown(v)])),
  p.computed ? [h('h2', {}, 'Computed traits'), facts(Object.entries(p.computed).map(([k, v]) => [k, shown(v)]))] : null);
  const timeline = h('div', { class: 'card' }, h('h2', {}, 'Timeline'), loading());
  const contacts = h('div', { class: 'card' }, h('h2', {}, 'Contacts'), loading());
  const merges = h('div', { class: 'card' }, h('h2', {}, 'Merges'), loading());
  result.replaceChildren(h('div', { class: 'grid' }, identities, scores, audiences, consent, traits), timeline, contacts, merges);
  loadTimeline(timeline, p.profileId, '');
  loadContacts(contacts, p.profileId);
  loadMerges(merges, p.profileId);
}

// loadContacts shows what dcrm sent to the shop's tools about the person: the triggers and lapse
// alerts of the last 90 days, newest first.
function loadContacts(card, id) {
  get(`/v1/profiles/${encodeURIComponent(id)}/contacts?limit=25`).then((c) => {
    card.replaceChildren(h('h2', {}, 'Contacts'), c.contacts.length === 0
      ? empty('Nothing sent about this person in the last 90 days.', 'Triggers (an abandoned basket, a return after a long absence …) and lapse alerts show here when they fire.')
      : table([
        { title: 'When', cell: (x) => when(x.at) }, { title: 'What', cell: (x) => x.kind.replace(/-/g, ' ') },
        { title: 'Why', cell: (x) => x.reason }, { title: 'Sent to', cell: (x) => x.channel },
      ], c.contacts));
  }, (err) => card.replaceChildren(h('h2', {}, 'Contacts'), failure(err)));
}

function loadTimeline(card, id, cursor) {
  get(`/v1/profiles/${encodeURIComponent(id)}/events?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`).then((page) => {
    if (!cursor) card.replaceChildren(h('h2', {}, 'Timeline'));
    card.querySelector('button.more')?.remove();
    const rows = page.touchpoints || [];
    if (!cursor && rows.length === 0) card.append(empty('No touchpoints kept.'));
    else card.append(table([
      { title: 'When', cell: (t) => when(t.timestamp) }, { title: 'What', cell: (t) => t.event || t.type },
      { title: 'Channel', cell: (t) => t.channel || t.impression || '' }, { title: 'Revenue', num: true, cell: (t) => (t.revenue ? money(t.revenue) : '') },
    ], rows));
    if (page.next) card.append(h('button', { class: 'secondary more', type: 'button', onclick: () => loadTimeline(card, id, page.next) }, 'Older events'));
  }, (err) => card.replaceChildren(h('h2', {}, 'Timeline'), failure(err)));
}

function loadMerges(card, id) {
  get(`/v1/profiles/${encodeURIComponent(id)}/merges`).then((m) => {
    card.replaceChildren(h('h2', {}, 'Merges'));
    if (!m.merges.length) {
      card.append(h('p', { class: 'muted' }, 'Nothing was merged into this profile.'));
      return;
    }
    card.append(table([
      { title: 'When', cell: (x) => when(x.at) }, { title: 'Profile merged in', cell: (x) => h('code', {}, x.from) },
      { title: 'Because both held', cell: (x) => x.via }, { title: 'Source', cell: (x) => (x.trusted ? 'server' : 'browser') },
      { title: '', cell: (x) => (can('split') ? h('button', { class: 'danger', type: 'button', onclick: (e) => split(e.target, id, x.from) }, 'Split') : '') },
    ], m.merges));
  }, (err) => card.replaceChildren(h('h2', {}, 'Merges'), failure(err)));
}

async function split(button, id, from) {
  if (!confirm(`Split ${from} out of this profile? Its events go back to it, and the two never merge again.`)) return;
  button.disabled = true;
  try {
    await post(`/v1/profiles/${encodeURIComponent(id)}/split`, { profileId: from });
    button.replaceWith(h('span', { class: 'ok', role: 'status' }, 'Split: ', h('code', {}, from), ' stands alone again, with the identifiers it joined with and its history.'));
  } catch (err) {
    button.disabled = false;
    button.after(failure(err));
  }
}
