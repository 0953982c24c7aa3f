// Audiences: the definitions, each audience's size over time and its members, an export, and a
// form to define one in the rule language.
import { get, put, post, del } from './api.js';
import { can } from './auth.js';
import { h, empty, failure, loading, when, table, lineChart } from './dom.js';

export function audiencesPage(main) {
  const list = h('div', {}, loading());
  main.replaceChildren(h('h1', {}, 'Audiences'), list, can('audiences') ? defineForm() : null);
  get('/v1/audiences').then(({ audiences }) => {
    list.replaceChildren(audiences.length === 0
      ? empty('No audience is defined yet.', can('audiences') ? 'Define one below, in the rule language.' : 'A marketer defines them.')
      : h('div', { class: 'card' }, table([
        { title: 'Audience', cell: (a) => h('a', { href: `#/audiences/${encodeURIComponent(a.id)}` }, a.name) },
        { title: 'Id', cell: (a) => h('code', {}, a.id) },
        { title: 'On the site', cell: (a) => (a.public ? 'public' : '—') },
        { title: 'Changed', cell: (a) => when(a.updatedAt) },
      ], audiences)));
  }, (err) => list.replaceChildren(failure(err)));
}

function defineForm(existing) {
  const example = existing || JSON.stringify({ id: 'high-value-lapsing', name: 'High value, lapsing', public: false,
    rule: { all: [{ field: 'score.clv', op: '>=', value: 500 }, { field: 'score.lapseRisk', op: '>=', value: 0.6 }] } }, null, 2);
  const out = h('div', { 'aria-live': 'polite' });
  const area = h('textarea', { name: 'definition', rows: 10, 'aria-label': 'Definition (JSON)' }, example);
  return h('form', { class: 'card', onsubmit: async (e) => {
    e.preventDefault();
    out.replaceChildren();
    let def;
    try {
      def = JSON.parse(area.value);
    } catch (err) {
      out.append(failure(new Error(`Not JSON: ${err.message}`)));
      return;
    }
    try {
      await put(`/v1/audiences/${encodeURIComponent(def.id || '')}`, def);
      location.hash = `#/audiences/${encodeURIComponent(def.id)}`;
    } catch (err) {
      out.append(failure(err));
    }
  } }, h('h2', {}, existing ? 'Change the definition' : 'Define an audience'),
  h('p', { class: 'muted' }, 'Rules over traits, computed traits, scores, events with windows, consent and other audiences: shared/audience/README.md has the language. Members are back-filled within the hour.'),
  area, out, h('button', { type: 'submit' }, 'Save'));
}

export function audiencePage(main, id) {
  const head = h('div', {}, loading());
  const sizes = h('div', { class: 'card' }, h('h2', {}, 'Size'), loading());
  const members = h('div', { class: 'card' }, h('h2', {}, 'Members'), loading());
  const change = h('div');
  main.replaceChildren(h('p', {}, h('a', { href: '#/audiences' }, '← Audiences')), head, sizes, members, change);
  get(`/v1/audiences/${encodeURIComponent(id)}`).then((a) => {
    head.replaceChildren(h('h1', {}, a.name), h('div', { class: 'card' },
      a.description ? h('p', {}, a.description) : null,
      h('p', { class: 'muted' }, `${a.public ? 'Public: the site may show it. ' : ''}Version ${a.version}, changed ${when(a.updatedAt)}.`),
      typeof a.size === 'number' ? h('p', {}, h('strong', {}, a.size.toLocaleString()), ' members at the latest scoring run') : null,
      h('pre', {}, JSON.stringify(a.definition, null, 2)),
      h('div', { class: 'inline' }, can('export') ? exportButton(id) : null,
        can('audiences') ? h('button', { class: 'danger', type: 'button', onclick: () => remove(id) }, 'Remove') : null)));
    if (can('audiences')) change.replaceChildren(defineForm(JSON.stringify(a.definition, null, 2)));
  }, (err) => head.replaceChildren(err.status === 404 ? empty(`No audience ${id}.`, h('a', { href: '#/audiences' }, 'See the audiences')) : failure(err)));
  get(`/v1/audiences/${encodeURIComponent(id)}/sizes?days=30`).then((s) => {
    sizes.replaceChildren(h('h2', {}, 'Size, last 30 days'), s.sizes.length === 0
      ? empty('Not counted yet.', 'Every hourly scoring run counts the members.')
      : lineChart(s.sizes.map((x) => ({ at: x.at, value: x.members })), { label: `Members of ${id} by scoring run` }));
  }, (err) => sizes.replaceChildren(h('h2', {}, 'Size'), failure(err)));
  loadMembers(members, id, '');
}

function loadMembers(card, id, cursor) {
  get(`/v1/audiences/${encodeURIComponent(id)}/members?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`).then((page) => {
    if (!cursor) card.replaceChildren(h('h2', {}, 'Members'));
    card.querySelector('button.more')?.remove();
    if (!cursor && page.members.length === 0) card.append(empty('No member yet.', 'Members enter as their events arrive, or at the next scoring run.'));
    else card.append(table([
      { title: 'Profile', cell: (m) => h('a', { href: `#/customer?type=profileId&id=${encodeURIComponent(m.profileId)}` }, m.userId || m.profileId) },
      { title: 'Since', cell: (m) => when(m.since) },
    ], page.members));
    if (page.next) card.append(h('button', { class: 'secondary more', type: 'button', onclick: () => loadMembers(card, id, page.next) }, 'More members'));
  }, (err) => card.replaceChildren(h('h2', {}, 'Members'), failure(err)));
}

function exportButton(id) {
  const out = h('span', { 'aria-live': 'polite' });
  return h('span', {}, h('button', { type: 'button', onclick: async (e) => {
    e.target.disabled = true;
    out.replaceChildren(' Exporting…');
    try {
      const m = await post(`/v1/audiences/${encodeURIComponent(id)}/exports`, { purpose: 'seed' });
      out.replaceChildren(' ', h('span', { class: 'ok' }, `Export ${m.exportId}: ${m.state || 'done'}`));
    } catch (err) {
      out.replaceChildren(failure(err));
    } finally {
      e.target.disabled = false;
    }
  } }, 'Export members'), out);
}

async function remove(id) {
  if (!confirm(`Remove the audience ${id}? Its members leave it.`)) return;
  try {
    await del(`/v1/audiences/${encodeURIComponent(id)}`);
    location.hash = '#/audiences';
  } catch (err) {
    alert(err.message);
  }
}
