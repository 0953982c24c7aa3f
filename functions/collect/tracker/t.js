/*! dcrm.js: first-party tracker for dcrm (plain ES2017, no dependencies). */
(function (w, d, nav) {
  'use strict';
  var VERSION = '1.0.0', DAY = 864e5, SESSION_MS = 30 * 6e4, LINK_S = 120, QMAX = 50;
  var stub = w.dcrm, queued = Array.isArray(stub) ? stub.slice() : [];
  if (stub && stub.loaded) return;
  var el = d.currentScript || d.querySelector('script[data-write-key]') || {getAttribute: function () { return null; }};
  var src = el.src || '';
  var cfg = {
    writeKey: el.getAttribute('data-write-key') || '',
    api: el.getAttribute('data-api') || src.replace(/\/t\.js(\?.*)?$/, ''),
    linkDomains: [], requireConsent: el.getAttribute('data-require-consent') === 'true', autoPage: true
  };
  var gpc = nav.globalPrivacyControl === true;
  var ls = store(w.localStorage), ss = store(w.sessionStorage);
  var aid, uid, consent, forms = {}, held = [];

  function store(s) {
    try { s.setItem('dcrm_t', '1'); s.removeItem('dcrm_t'); return s; } catch (e) { return null; }
  }
  function get(s, k) { try { return s ? s.getItem(k) : null; } catch (e) { return null; } }
  function set(s, k, v) { try { if (s) v == null ? s.removeItem(k) : s.setItem(k, v); } catch (e) { /* full or blocked */ } }
  function cookie(k, v, maxAge) {
    if (v === undefined) {
      var m = d.cookie.match(new RegExp('(?:^|; )' + k + '=([^;]*)'));
      return m ? decodeURIComponent(m[1]) : null;
    }
    d.cookie = k + '=' + encodeURIComponent(v) + '; Max-Age=' + maxAge + '; Path=/; SameSite=Lax' +
      (cfg.cookieDomain ? '; Domain=' + cfg.cookieDomain : '') + (location.protocol === 'https:' ? '; Secure' : '');
  }
  function uuid() {
    if (w.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    (w.crypto || w.msCrypto).getRandomValues(b);
    b[6] = b[6] & 15 | 64; b[8] = b[8] & 63 | 128;
    var h = Array.from(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }
  function assign(t) {
    for (var i = 1; i < arguments.length; i++) for (var k in arguments[i] || {}) t[k] = arguments[i][k];
    return t;
  }
  function json(s) { try { return JSON.parse(s); } catch (e) { return null; } }

  // Consent: without requireConsent analytics is granted; Global Privacy Control always withholds marketing.
  function allowed() { return consent.analytics === true; }
  function loadConsent() {
    var c = json(get(ls, 'dcrm_consent')) || {};
    var dflt = cfg.requireConsent ? null : true; // null: not decided yet
    consent = {
      analytics: typeof c.analytics === 'boolean' ? c.analytics : dflt,
      marketing: typeof c.marketing === 'boolean' ? c.marketing : dflt
    };
    if (gpc) consent.marketing = false;
  }

  // Identity: the anonymous id lives in a first-party cookie (2 years) with a localStorage copy. Nothing
  // is written to the device before analytics consent when consent is required.
  function persist() {
    if (!allowed()) return;
    cookie('dcrm_aid', aid, 730 * 864e2);
    set(ls, 'dcrm_aid', aid);
    set(ls, 'dcrm_uid', uid);
  }
  function session() {
    var now = Date.now(), s = (cookie('dcrm_sid') || get(ss, 'dcrm_sid') || '').split('.');
    var id = s[0] && now - +s[1] < SESSION_MS ? s[0] : uuid();
    if (allowed()) { cookie('dcrm_sid', id + '.' + now, SESSION_MS / 1e3); set(ss, 'dcrm_sid', id + '.' + now); }
    return id;
  }
  // Cross-domain linking: _dl=<anonymousId>.<expiry, unix seconds>, accepted for LINK_S seconds.
  function adoptLink() {
    var p = new URLSearchParams(location.search), v = p.get('_dl');
    if (v == null) return;
    var m = /^([\w-]{1,128})\.(\d{1,12})$/.exec(v), now = Date.now() / 1e3;
    if (m && +m[2] >= now && +m[2] <= now + 2 * LINK_S) aid = m[1];
    p.delete('_dl');
    var q = p.toString();
    try { history.replaceState(history.state, '', location.pathname + (q ? '?' + q : '') + location.hash); } catch (e) { /* sandboxed */ }
  }
  function decorate(e) {
    var a = e.target && e.target.closest && e.target.closest('a[href]');
    if (!a || !cfg.linkDomains.length || !allowed()) return;
    var u;
    try { u = new URL(a.href, location.href); } catch (x) { return; }
    if (u.host === location.host || !/^https?:$/.test(u.protocol)) return;
    var h = u.hostname;
    if (!cfg.linkDomains.some(function (dm) { return h === dm || h.slice(-dm.length - 1) === '.' + dm; })) return;
    u.searchParams.set('_dl', aid + '.' + Math.floor(Date.now() / 1e3 + LINK_S));
    a.href = u.toString();
  }

  // Context of every event: page, campaign (utm_* and click ids), library, consent.
  var CLICK_IDS = ['gclid', 'gbraid', 'wbraid', 'dclid', 'fbclid', 'msclkid', 'ttclid', 'twclid', 'li_fat_id', 'yclid', 'epik', 'rdt_cid', 'sccid'];
  function page() {
    return {url: location.href, path: location.pathname, referrer: d.referrer, title: d.title, search: location.search};
  }
  function campaign() {
    var p = new URLSearchParams(location.search), c = {}, n = 0;
    p.forEach(function (v, k) {
      if (k.indexOf('utm_') === 0) { c[k === 'utm_campaign' ? 'name' : k.slice(4)] = v; n++; }
      else if (CLICK_IDS.indexOf(k) >= 0) { c[k] = v; n++; }
    });
    return n ? c : undefined;
  }
  function context() {
    var c = {
      page: page(), userAgent: nav.userAgent, locale: nav.language,
      library: {name: 'dcrm.js', version: VERSION}, consent: assign({}, consent), sessionId: session()
    };
    try { c.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* old browser */ }
    var cp = campaign();
    if (cp) c.campaign = cp;
    if (gpc) c.gpc = true;
    return c;
  }

  // Transport: sendBeacon with a text/plain body (no CORS preflight), else fetch keepalive. Events that
  // cannot be handed over wait in a bounded localStorage queue, retried on the next load and when the
  // browser comes back online; their messageId lets the endpoint drop a duplicate.
  function queue(add) {
    var q = json(get(ls, 'dcrm_q')) || [];
    if (add) { q.push(add); set(ls, 'dcrm_q', JSON.stringify(q.slice(-QMAX))); }
    return q;
  }
  function post(ev) {
    ev.sentAt = new Date().toISOString();
    var url = cfg.api + '/v1/' + ev.type, body = JSON.stringify(ev);
    if (nav.onLine === false) return queue(ev);
    try { if (nav.sendBeacon && nav.sendBeacon(url, new Blob([body], {type: 'text/plain'}))) return; } catch (e) { /* fall back */ }
    if (!w.fetch) return queue(ev);
    fetch(url, {method: 'POST', body: body, keepalive: body.length < 6e4, credentials: 'omit', headers: {'Content-Type': 'text/plain'}})
      .then(function (r) { if (r.status >= 500 || r.status === 429) queue(ev); })
      .catch(function () { queue(ev); });
  }
  function flush() {
    if (!allowed()) return;
    var q = queue();
    set(ls, 'dcrm_q', null);
    q.forEach(post);
  }
  function send(type, fields) {
    var ev = assign({
      type: type, messageId: 'dcrm-' + uuid(), anonymousId: aid, timestamp: new Date().toISOString(),
      writeKey: cfg.writeKey, context: context()
    }, fields);
    if (uid && !ev.userId) ev.userId = uid;
    if (allowed()) post(ev);
    else if (consent.analytics == null && held.length < QMAX) held.push(ev); // sent once consent is given
    return ev.messageId;
  }

  var api = {
    loaded: true, VERSION: VERSION,
    config: function (c) {
      assign(cfg, c);
      loadConsent();
    },
    consent: function (c) {
      c = c || {};
      ['analytics', 'marketing'].forEach(function (k) { consent[k] = typeof c[k] === 'boolean' ? c[k] : consent[k] === true; });
      if (gpc) consent.marketing = false;
      set(ls, 'dcrm_consent', JSON.stringify(consent));
      if (allowed()) {
        persist();
        var h = held.splice(0);
        h.forEach(function (ev) { ev.context.consent = assign({}, consent); post(ev); });
      } else held = [];
    },
    track: function (event, props) { return send('track', {event: event, properties: props || {}}); },
    page: function (name, props) {
      var p = page();
      return send('page', assign(name ? {name: name} : {}, {properties: assign({url: p.url, path: p.path, referrer: p.referrer, title: p.title, search: p.search}, props)}));
    },
    identify: function (userId, traits) {
      if (userId && typeof userId === 'object') { traits = userId; userId = null; }
      if (userId) { uid = String(userId); persist(); }
      return send('identify', {traits: traits || {}});
    },
    alias: function (userId, previousId) {
      var prev = previousId || uid || aid;
      uid = String(userId);
      persist();
      return send('alias', {userId: uid, previousId: prev});
    },
    reset: function () {
      uid = null; aid = uuid();
      set(ls, 'dcrm_uid', null);
      persist();
    },
    user: function () { return {anonymousId: aid, userId: uid, consent: assign({}, consent)}; },
    cart: {
      add: function (product) { return api.track('Product Added', product); },
      remove: function (product) { return api.track('Product Removed', product); }
    },
    checkout: function (step, props) { return api.track('Checkout Step Viewed', assign({step: step}, props)); },
    form: {
      start: function (id) { forms[id] = 1; return api.track('Form Started', {form_id: id}); },
      submit: function (id) { delete forms[id]; return api.track('Form Submitted', {form_id: id}); }
    }
  };

  function call(c) {
    var path = String(c[0]).split('.'), f = path[1] ? api[path[0]] && api[path[0]][path[1]] : api[path[0]];
    if (typeof f === 'function') f.apply(null, c.slice(1));
  }

  // Start: configuration and consent from the snippet's queue first, then identity, the automatic page
  // view, and the rest of the queue in the order it was called.
  queued.filter(function (c) { return c[0] === 'config'; }).forEach(call);
  loadConsent();
  aid = cookie('dcrm_aid') || get(ls, 'dcrm_aid') || uuid();
  uid = get(ls, 'dcrm_uid');
  adoptLink();
  queued.filter(function (c) { return c[0] === 'consent'; }).forEach(call);
  persist();
  w.dcrm = api;
  flush();
  if (cfg.autoPage) api.page();
  queued.filter(function (c) { return c[0] !== 'config' && c[0] !== 'consent'; }).forEach(call);

  ['mousedown', 'click', 'keydown', 'touchstart'].forEach(function (t) { d.addEventListener(t, decorate, true); });
  w.addEventListener('online', flush);
  w.addEventListener('pagehide', function () {
    Object.keys(forms).forEach(function (id) { delete forms[id]; api.track('Form Abandoned', {form_id: id}); });
  });
})(window, document, navigator);
