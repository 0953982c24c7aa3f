// Sources and keys (admins): the write keys and profile-API keys, a form to make one (the key is
// shown once, with the tracker snippet for a site's write key), and revocation.
import { get, post, del } from './api.js';
import { can } from './auth.js';
import { h, empty, failure, loading, when } from './dom.js';

const SCOPES = [
  ['read', 'read profiles, histories, reports, audiences'],
  ['export', 'export a person, audience members'],
  ['erase', 'erase a person'],
  ['consent', 'record consent'],
  ['split', 'undo a merge'],
  ['audiences', 'define audiences and computed traits'],
  ['admin', 'everything, keys included'],
];

// How long function instances trust what they read of a key (shared/keystore CacheTTL).
const CACHE_SECONDS = 30;

export function keysPage(main) {
  if (!can('admin')) {
    main.replaceChildren(h('h1', {}, 'Sources and keys'),
      empty('Only an admin manages sources and keys.', 'Ask an admin for a write key or a profile-API key.'));
    return;
  }
  const list = h('div', { class: 'card' }, h('h2', {}, 'Keys'), loading());
  const made = h('div', { 'aria-live': 'polite' });
  main.replaceChildren(h('h1', {}, 'Sources and keys'),
    h('p', { class: 'muted' }, `A write key lets a site or a server send events; a profile-API key lets a tool read or change profiles. Only a hash of each key is kept: a key is shown once, when it is made. Changes take effect within ${CACHE_SECONDS} seconds.`),
    made, createForm(made, () => loadKeys(list, '')), list);
  loadKeys(list, '');
}

function loadKeys(card, cursor) {
  if (!cursor) card.replaceChildren(h('h2', {}, 'Keys'), loading());
  get(`/v1/keys?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`).then((page) => {
    if (!cursor) card.replaceChildren(h('h2', {}, 'Keys'));
    card.querySelector('p[aria-live]')?.remove();
    card.querySelector('button.more')?.remove();
    if (!cursor && page.keys.length === 0) {
      card.append(empty('No key yet.', 'Make a write key for your site above, then paste its tracker snippet into your pages.'));
      return;
    }
    let body = card.querySelector('tbody');
    if (!body) {
      body = h('tbody');
      card.append(h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {},
        ['Name', 'Kind', 'Allows', 'Key', 'Created', 'Status', ''].map((t) => h('th', { scope: 'col' }, t)))), body)));
    }
    for (const k of page.keys) body.append(keyRow(k));
    if (page.next) card.append(h('button', { class: 'secondary more', type: 'button', onclick: () => loadKeys(card, page.next) }, 'More keys'));
  }, (err) => card.replaceChildren(h('h2', {}, 'Keys'), failure(err),
    h('p', { class: 'muted' }, 'Reload the page to try again.')));
}

function allows(k) {
  if (k.kind === 'write') {
    const s = k.source || {};
    if (s.trusted) return 'server (trusted)';
    return s.allowedOrigins && s.allowedOrigins.length ? s.allowedOrigins.join(', ') : 'servers only (no origin)';
  }
  return k.legacy ? 'read (made before scopes)' : (k.scopes || []).join(', ');
}

function keyRow(k) {
  const row = h('tr', { 'data-key': k.keyId });
  const status = k.status === 'active' ? (k.expires ? `active, until ${when(k.expires)}` : 'active')
    : `${k.status} ${when(k.status === 'revoked' ? k.revoked : k.expires)}`;
  const action = h('td');
  if (k.status === 'active') action.append(revokeButton(action, k));
  row.append(
    h('td', {}, k.name),
    h('td', {}, k.kind === 'write' ? 'write' : 'profile API'),
    h('td', { class: 'wrap' }, allows(k)),
    h('td', {}, h('code', {}, k.last4 ? `…${k.last4}` : k.keyId)),
    h('td', {}, when(k.created)),
    h('td', { class: k.status === 'active' ? 'ok' : 'muted' }, status),
    action);
  return row;
}

function revokeButton(cell, k) {
  return h('button', { class: 'secondary', type: 'button', 'aria-label': `Revoke ${k.name}`, onclick: () => confirmRevoke(cell, k) }, 'Revoke');
}

// confirmRevoke asks in place (keyboard usable, no browser dialog), then revokes.
function confirmRevoke(cell, k) {
  const who = k.kind === 'write' ? 'The site or server sending with it' : 'The tool using it';
  const no = h('button', { class: 'secondary', type: 'button', onclick: () => {
    cell.replaceChildren(revokeButton(cell, k));
    cell.querySelector('button').focus();
  } }, 'Cancel');
  const yes = h('button', { class: 'danger', type: 'button', onclick: async () => {
    yes.disabled = true;
    try {
      const r = await del(`/v1/keys/${encodeURIComponent(k.keyId)}`);
      cell.closest('tr').replaceWith(keyRow(r));
    } catch (err) {
      cell.replaceChildren(failure(err));
    }
  } }, 'Revoke now');
  cell.replaceChildren(h('div', { class: 'confirm', role: 'group', 'aria-label': `Revoke ${k.name}?` },
    h('span', {}, `Revoke ${k.name}? ${who} is refused within ${CACHE_SECONDS} seconds. This cannot be undone.`), yes, no));
  yes.focus();
}

function createForm(made, refresh) {
  const out = h('div', { 'aria-live': 'polite' });
  const kind = (value, label, checked) => h('label', { class: 'choice' },
    h('input', { type: 'radio', name: 'kind', value, checked, onchange: show }), label);
  const writeFields = h('fieldset', {},
    h('legend', {}, 'Source'),
    h('label', {}, 'Allowed origins, one a line: the sites whose pages send (scheme://host[:port], or * for any)',
      h('textarea', { name: 'origins', rows: 3, placeholder: 'https://shop.example' })),
    h('label', { class: 'choice' }, h('input', { type: 'checkbox', name: 'trusted' }),
      'Server (trusted): a back end whose identify calls may join known customers; never used from a browser, so no origins'));
  const apiFields = h('fieldset', { hidden: true },
    h('legend', {}, 'Scopes'),
    h('div', { class: 'checks' }, SCOPES.map(([s, what]) => h('label', { class: 'choice' },
      h('input', { type: 'checkbox', name: 'scopes', value: s, checked: s === 'read' }), h('span', {}, h('strong', {}, s), ` — ${what}`)))),
    h('label', {}, 'Expires (optional; the start of the day, UTC)', h('input', { type: 'date', name: 'expires' })));
  const form = h('form', { class: 'card', onsubmit: submit },
    h('h2', {}, 'Make a key'),
    h('div', { class: 'choices', role: 'radiogroup', 'aria-label': 'Kind of key' },
      kind('write', 'Write key, for a site or a server', true), kind('profile-api', 'Profile-API key, for a tool')),
    h('label', {}, 'Name (the site, server or tool: 1 to 100 characters)', h('input', { name: 'name', required: true, maxlength: 100, autocomplete: 'off' })),
    writeFields, apiFields, out, h('button', { type: 'submit' }, 'Make the key'));

  function show() {
    const write = new FormData(form).get('kind') === 'write';
    writeFields.hidden = !write;
    apiFields.hidden = write;
  }

  async function submit(e) {
    e.preventDefault();
    out.replaceChildren();
    const f = new FormData(form);
    const body = { kind: f.get('kind'), name: f.get('name') };
    if (body.kind === 'write') {
      const origins = String(f.get('origins') || '').split(/\s+/).filter(Boolean);
      if (origins.length) body.allowedOrigins = origins;
      if (f.get('trusted')) body.trusted = true;
    } else {
      body.scopes = f.getAll('scopes');
      if (body.scopes.length === 0) {
        out.append(failure(new Error('Choose at least one scope.')));
        return;
      }
      if (f.get('expires')) body.expires = `${f.get('expires')}T00:00:00Z`;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const k = await post('/v1/keys', body);
      made.replaceChildren(newKeyCard(k));
      form.reset();
      show();
      refresh();
      made.querySelector('button').focus();
    } catch (err) {
      out.append(failure(err));
    } finally {
      button.disabled = false;
    }
  }
  return form;
}

// newKeyCard shows the key made, this once, and for a site's write key the tracker snippet.
function newKeyCard(k) {
  const browser = k.kind === 'write' && !(k.source && k.source.trusted);
  return h('div', { class: 'card notice', id: 'new-key' },
    h('h2', {}, `New ${k.kind === 'write' ? 'write' : 'profile-API'} key: ${k.name}`),
    h('p', { class: 'warn', role: 'alert' }, 'Copy the key now: it is not shown again. Only its hash is kept; a key lost is revoked and replaced.'),
    copyable('key', k.key, 'Copy the key'),
    browser ? [
      h('h3', {}, 'Tracker snippet'),
      h('p', { class: 'muted' }, 'Paste it into every page of the site, before </head>. It loads the tracker from this API and sends the events there. If your deployment sends beacons to collect\'s function URL (beaconFunctionUrl), put that address (the stack\'s BeaconUrl output) in place of ',
        h('code', {}, location.origin), '.'),
      copyable('snippet', snippet(k.key, location.origin), 'Copy the snippet'),
    ] : null,
    h('p', { class: 'muted' }, `It works within ${k.takesEffectWithinSeconds ?? CACHE_SECONDS} seconds.`));
}

// snippet is the tracker snippet of functions/collect/README.md (a test holds the two together).
export function snippet(writeKey, endpoint) {
  return `<script>
!function(w,d,k,u){var a=w.dcrm=w.dcrm||[];if(a.loaded||a.stub)return;a.stub=1;
"config consent track page identify alias checkout reset cart.add cart.remove form.start form.submit".split(" ").forEach(function(m){
var p=m.split("."),o=p[1]?a[p[0]]=a[p[0]]||{}:a;o[p[1]||m]=function(){a.push([m].concat([].slice.call(arguments)))}});
var s=d.createElement("script");s.async=1;s.src=u+"/t.js";s.setAttribute("data-write-key",k);d.head.appendChild(s)
}(window,document,${JSON.stringify(writeKey)},${JSON.stringify(endpoint)});
</script>`;
}

// copyable is text to copy, with a button that copies it (the Clipboard API; where it is refused,
// the text is selected for the reader to copy).
function copyable(name, text, label) {
  const pre = h('pre', { class: 'copy', 'data-copy': name, tabindex: 0 }, text);
  const said = h('span', { class: 'muted', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    try {
      await navigator.clipboard.writeText(text);
      said.textContent = ' Copied.';
    } catch {
      const range = document.createRange();
      range.selectNodeContents(pre);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      said.textContent = ' Selected: press Ctrl+C (⌘C) to copy.';
    }
  } }, label);
  return h('div', { class: 'copyable' }, pre, h('div', { class: 'inline' }, button, said));
}
