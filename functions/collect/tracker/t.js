/*! dcrm.js: first-party tracker for dcrm (plain ES2017, no dependencies). */
(function (w, d, nav) {
  'use strict';
  var VERSION = '1.2.0', SESSION_MS = 30 * 6e4, LINK_S = 120, QMAX = 100, BODY_MAX = 6e4, KEEPALIVE_MAX = 32e3, WAIT_MAX = 3e5;
  var stub = w.dcrm, queued = Array.isArray(stub) ? stub.slice() : [];
  if (stub && stub.loaded) return;
  var el = d.currentScript || d.querySelector('script[data-write-key]') || {getAttribute: function () { return null; }};
  var src = el.src || '';
  var cfg = {
    writeKey: el.getAttribute('data-write-key') || '',
    api: el.getAttribute('data-api') || src.replace(/\/t\.js(\?.*)?$/, ''),
    linkDomains: [], requireConsent: el.getAttribute('data-require-consent') === 'true', autoPage: true,
    flushAt: 20, flushInterval: 1000
  };
  var gpc = nav.globalPrivacyControl === true;
  var ls = store(w.localStorage), ss = store(w.sessionStorage);
  var aid, uid, consent, forms = {}, held = [], buf = [], timer = 0, retryTimer = 0, attempt = 0, vis;

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

  // Identity: a first-party cookie (2 years) and a localStorage copy, written only with analytics consent.
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

  // Transport (README.md, Tracker): a short buffer as one POST /v1/batch (sendBeacon when the page
  // goes), text/plain with writeKey inside (no preflight), within sendBeacon's 64 KB. Failures
  // (network, 429, 5xx) wait in a bounded localStorage queue, sent again later with their messageId.
  function queue(add) {
    var q = json(get(ls, 'dcrm_q')) || [];
    if (add) { q = q.concat(add).slice(-QMAX); set(ls, 'dcrm_q', JSON.stringify(q)); }
    return q;
  }
  function size(s) { return new Blob([s]).size; }
  function body(evs) { return JSON.stringify({batch: evs, writeKey: cfg.writeKey, sentAt: new Date().toISOString()}); }
  function bodies(evs) { // the events in order, cut into batches of at most BODY_MAX bytes
    var out = [], cur = [], n = 0;
    evs.forEach(function (ev) {
      delete ev.writeKey; delete ev.sentAt; // the batch's (a queue of an earlier version held them)
      var k = size(JSON.stringify(ev)) + 1;
      if (cur.length && n + k > BODY_MAX - 300) { out.push(cur); cur = []; n = 0; }
      cur.push(ev); n += k;
    });
    if (cur.length) out.push(cur);
    return out;
  }
  function later(evs, after) {
    queue(evs);
    if (retryTimer) return;
    var wait = after > 0 ? after * 1e3 : 1e3 * Math.pow(2, attempt) * (0.5 + Math.random() / 2);
    attempt++;
    retryTimer = setTimeout(retry, Math.min(wait, WAIT_MAX));
  }
  function deliver(evs, leaving) {
    return Promise.all(bodies(evs).map(function (batch) {
      var url = cfg.api + '/v1/batch', b = body(batch);
      if (nav.onLine === false) return later(batch);
      if (leaving) {
        try { if (nav.sendBeacon && nav.sendBeacon(url, new Blob([b], {type: 'text/plain'}))) return; } catch (e) { /* fall back */ }
      }
      if (!w.fetch) return queue(batch);
      return fetch(url, {method: 'POST', body: b, keepalive: leaving || size(b) <= KEEPALIVE_MAX, credentials: 'omit', headers: {'Content-Type': 'text/plain'}})
        .then(function (r) {
          if (r.status === 429 || r.status >= 500) later(batch, +r.headers.get('Retry-After'));
          else attempt = 0; // taken, or refused for good
        }, function () { later(batch); });
    }));
  }
  function flush(leaving) {
    clearTimeout(timer); timer = 0;
    var evs = buf.splice(0);
    if (!evs.length) return Promise.resolve();
    // While the endpoint is failing, a page that goes keeps its events for the next one: a beacon
    // gets no answer.
    if (leaving && retryTimer) return Promise.resolve(queue(evs));
    return deliver(evs, leaving);
  }
  function retry() {
    clearTimeout(retryTimer); retryTimer = 0;
    if (!allowed()) return Promise.resolve();
    var q = queue();
    set(ls, 'dcrm_q', null);
    return q.length ? deliver(q) : Promise.resolve();
  }
  function enqueue(ev) {
    buf.push(ev);
    if (buf.length >= cfg.flushAt) flush();
    else if (!timer) timer = setTimeout(flush, cfg.flushInterval);
  }
  function make(type, fields) {
    var ev = assign({
      type: type, messageId: 'dcrm-' + uuid(), anonymousId: aid, timestamp: new Date().toISOString(), context: context()
    }, fields);
    if (uid && !ev.userId) ev.userId = uid;
    if (allowed()) enqueue(ev);
    else if (consent.analytics == null && held.length < QMAX) held.push(ev); // sent once consent is given
    return ev.messageId;
  }

  // POST /v1/visitor: once a page, not before consent.
  function visit() {
    var none = {audiences: [], nextAction: null};
    return allowed() && w.fetch ? fetch(cfg.api + '/v1/visitor', {method: 'POST', credentials: 'omit', body: JSON.stringify({anonymousId: aid}),
      headers: {'Content-Type': 'application/json', Authorization: 'Basic ' + btoa(cfg.writeKey + ':')}})
      .then(function (r) { if (!r.ok) throw Error(r.status); return r.json(); }).then(function (v) { return assign(none, v); }) : Promise.resolve(none);
  }

  var api = {
    loaded: true, VERSION: VERSION,
    config: function (c) {
      assign(cfg, c);
      cfg.flushAt = Math.min(Math.max(+cfg.flushAt || 1, 1), 100);
      cfg.flushInterval = Math.min(Math.max(+cfg.flushInterval || 0, 0), 1e4);
      loadConsent();
    },
    flush: function () { return Promise.all([flush(), retry()]).then(function () {}); },
    consent: function (c) {
      c = c || {};
      ['analytics', 'marketing'].forEach(function (k) { consent[k] = typeof c[k] === 'boolean' ? c[k] : consent[k] === true; });
      if (gpc) consent.marketing = false;
      set(ls, 'dcrm_consent', JSON.stringify(consent));
      vis = 0;
      if (allowed()) {
        persist();
        var h = held.splice(0);
        h.forEach(function (ev) { ev.context.consent = assign({}, consent); enqueue(ev); });
      } else held = [];
    },
    track: function (event, props) { return make('track', {event: event, properties: props || {}}); },
    page: function (name, props) {
      var p = page();
      return make('page', assign(name ? {name: name} : {}, {properties: assign({url: p.url, path: p.path, referrer: p.referrer, title: p.title, search: p.search}, props)}));
    },
    identify: function (userId, traits) {
      if (userId && typeof userId === 'object') { traits = userId; userId = null; }
      if (userId) { uid = String(userId); persist(); }
      return make('identify', {traits: traits || {}});
    },
    alias: function (userId, previousId) {
      var prev = previousId || uid || aid;
      uid = String(userId);
      persist();
      return make('alias', {userId: uid, previousId: prev});
    },
    reset: function () {
      uid = null; aid = uuid(); vis = 0;
      set(ls, 'dcrm_uid', null);
      persist();
    },
    visitor: function (cb) {
      var p = vis = vis || visit().catch(function (e) { vis = 0; throw e; });
      return cb ? p.then(cb, function () {}) : p;
    },
    push: function (c) { call(c); },
    inAudience: function (id) {
      return api.visitor().then(function (v) { return v.audiences.indexOf(id) >= 0; }, function () { return false; });
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

  // Start: config and consent from the snippet's queue, then identity, the page view, the rest in order.
  queued.filter(function (c) { return c[0] === 'config'; }).forEach(call);
  loadConsent();
  aid = cookie('dcrm_aid') || get(ls, 'dcrm_aid') || uuid();
  uid = get(ls, 'dcrm_uid');
  adoptLink();
  queued.filter(function (c) { return c[0] === 'consent'; }).forEach(call);
  persist();
  w.dcrm = api;
  retry();
  if (cfg.autoPage) api.page();
  queued.filter(function (c) { return c[0] !== 'config' && c[0] !== 'consent'; }).forEach(call);

  ['mousedown', 'click', 'keydown', 'touchstart'].forEach(function (t) { d.addEventListener(t, decorate, true); });
  w.addEventListener('online', retry);
  w.addEventListener('pagehide', function () {
    Object.keys(forms).forEach(function (id) { delete forms[id]; api.track('Form Abandoned', {form_id: id}); });
    flush(true);
  });
  d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') flush(true); });
})(window, document, navigator);
