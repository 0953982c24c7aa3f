package tracker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest/browsertest"
)

// recorder stands in for the endpoint: it serves the tracker and records the batches it is sent,
// or answers with status (and Retry-After when retryAfter is set) while status is set.
type recorder struct {
	srv        *httptest.Server
	mu         sync.Mutex
	events     []map[string]any
	requests   []request
	status     int
	retryAfter string
	refused    []time.Time // when requests were answered with status
	visitors   []visitorAsk
	visitor    int    // the status POST /v1/visitor answers with (0: 200)
	answer200  string // its 200 answer
}

// visitorAsk is one POST /v1/visitor as the recorder took it.
type visitorAsk struct {
	authorization, contentType, cookie, mode string
	body                                     map[string]any
}

// request is one POST as the recorder took it.
type request struct {
	writeKey, sentAt, contentType string
	mode                          string // Sec-Fetch-Mode: "no-cors" for sendBeacon, "cors" for fetch
	bytes                         int
	events                        []map[string]any
	at                            time.Time
}

func newRecorder(t *testing.T) *recorder {
	js, err := os.ReadFile(filepath.Join(devtest.RepoRoot(), "functions", "collect", "tracker", "t.js"))
	require.NoError(t, err)
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Expose-Headers", "Retry-After")
		switch {
		case req.Method == http.MethodGet && req.URL.Path == "/t.js":
			w.Header().Set("Content-Type", "application/javascript")
			_, _ = w.Write(js)
		case req.Method == http.MethodOptions && req.URL.Path == "/v1/visitor": // the preflight
			w.Header().Set("Access-Control-Allow-Methods", "POST")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
			w.WriteHeader(http.StatusNoContent)
		case req.Method == http.MethodPost && req.URL.Path == "/v1/visitor":
			b, _ := io.ReadAll(req.Body)
			var body map[string]any
			_ = json.Unmarshal(b, &body)
			r.mu.Lock()
			defer r.mu.Unlock()
			r.visitors = append(r.visitors, visitorAsk{authorization: req.Header.Get("Authorization"), contentType: req.Header.Get("Content-Type"),
				cookie: req.Header.Get("Cookie"), mode: req.Header.Get("Sec-Fetch-Mode"), body: body})
			w.Header().Set("Content-Type", "application/json")
			if r.visitor != 0 {
				w.WriteHeader(r.visitor)
				_, _ = io.WriteString(w, `{"error":"refused by the test"}`)
				return
			}
			_, _ = io.WriteString(w, r.answer200)
		case req.Method == http.MethodPost && req.URL.Path == "/v1/batch":
			b, _ := io.ReadAll(req.Body)
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.status != 0 {
				r.refused = append(r.refused, time.Now())
				if r.retryAfter != "" {
					w.Header().Set("Retry-After", r.retryAfter)
				}
				http.Error(w, `{"error":"refused by the test"}`, r.status)
				return
			}
			var body struct {
				Batch    []map[string]any `json:"batch"`
				WriteKey string           `json:"writeKey"`
				SentAt   string           `json:"sentAt"`
			}
			if err := json.Unmarshal(b, &body); err != nil || len(body.Batch) == 0 {
				body.Batch = []map[string]any{{"bad": string(b)}}
			}
			r.requests = append(r.requests, request{writeKey: body.WriteKey, sentAt: body.SentAt, contentType: req.Header.Get("Content-Type"),
				mode: req.Header.Get("Sec-Fetch-Mode"), bytes: len(b), events: body.Batch, at: time.Now()})
			r.events = append(r.events, body.Batch...)
			_, _ = io.WriteString(w, `{"success":true}`)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// answer makes the recorder refuse every request with status (0: take them again).
func (r *recorder) answer(status int, retryAfter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.retryAfter = status, retryAfter
}

func (r *recorder) snapshot() ([]map[string]any, []request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.events...), append([]request(nil), r.requests...)
}

// wait returns the recorded events once there are n of them.
func (r *recorder) wait(t *testing.T, n int) []map[string]any {
	t.Helper()
	var evs []map[string]any
	require.Eventually(t, func() bool { evs, _ = r.snapshot(); return len(evs) >= n }, 15*time.Second, 20*time.Millisecond,
		"wanted %d events, got %d: %v", n, len(evs), evs)
	for _, e := range evs {
		require.Nil(t, e["bad"], "malformed batch %v", e)
	}
	return evs
}

// quiet asserts the page sent nothing more than n events: what the tracker holds is flushed, and
// the flush's requests answered, first.
func (r *recorder) quiet(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.flush()`, nil, awaitPromise)))
	evs, _ := r.snapshot()
	require.Len(t, evs, n, "events %v", evs)
}

// awaitPromise makes chromedp.Evaluate wait for the promise the expression returns.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// site serves pages by path; each is a page with the snippet pointing at the recorder.
type site struct {
	srv   *httptest.Server
	mu    sync.Mutex
	pages map[string]string
}

func newSite(t *testing.T) *site {
	s := &site{pages: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		html, ok := s.pages[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, html)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *site) add(path, html string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages[path] = html
}

// obj walks nested JSON objects: obj(ev, "context", "page") is ev.context.page.
func obj(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m, _ = m[k].(map[string]any)
	}
	return m
}

func names(evs []map[string]any) []string {
	var out []string
	for _, e := range evs {
		n, _ := e["event"].(string)
		out = append(out, e["type"].(string)+":"+n)
	}
	return out
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	var v T
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(js, &v)), "evaluate %s", js)
	return v
}

func TestTrackerBehaviour(t *testing.T) {
	browsertest.NeedChromium(t)
	api := newRecorder(t)
	shop := newSite(t)
	snip := snippet(t, "wk_test", api.srv.URL)
	open := func(t *testing.T, path string) context.Context {
		ctx := browsertest.New(t, 45*time.Second)
		require.NoError(t, chromedp.Run(ctx, chromedp.Navigate(shop.srv.URL+path)))
		require.NoError(t, waitLoaded(ctx))
		return ctx
	}
	reset := func() {
		api.mu.Lock()
		defer api.mu.Unlock()
		api.events, api.requests, api.status, api.retryAfter, api.refused = nil, nil, 0, "", nil
		api.visitors, api.visitor, api.answer200 = nil, 0, `{"audiences":["customers","vip"],"nextAction":{"kind":"remind-viewed","product":"sku-1"}}`
	}

	t.Run("page view, campaign, context, calls", func(t *testing.T) {
		reset()
		shop.add("/shop", page("Mugs", snip, "", ""))
		ctx := open(t, "/shop?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=mugs&utm_content=hero&gclid=g-1&fbclid=f-1&other=x")
		pv := api.wait(t, 1)[0]
		aid := pv["anonymousId"].(string)
		cookieAid, err := cookie(ctx, "dcrm_aid")
		require.NoError(t, err)
		assert.Equal(t, aid, cookieAid)
		assert.Equal(t, aid, eval[string](t, ctx, `localStorage.getItem("dcrm_aid")`))
		assert.Equal(t, "page", pv["type"])
		assert.Regexp(t, `^dcrm-[0-9a-f-]{36}$`, pv["messageId"])
		_, err = time.Parse(time.RFC3339, pv["timestamp"].(string))
		assert.NoError(t, err)
		_, reqs := api.snapshot()
		first := reqs[0]
		assert.Equal(t, "wk_test", first.writeKey, "the write key travels in the body")
		assert.Equal(t, "text/plain", first.contentType, "a simple request: no preflight")
		assert.Equal(t, "cors", first.mode, "sent by fetch, whose answer the tracker reads")
		sentAt, err := time.Parse(time.RFC3339, first.sentAt)
		require.NoError(t, err)
		assert.WithinDuration(t, first.at, sentAt, 2*time.Second, "sentAt is set when the batch goes")
		assert.Nil(t, pv["writeKey"], "the batch carries the key, not each event")
		assert.Nil(t, pv["sentAt"], "the batch carries sentAt, not each event")
		c := obj(pv, "context")
		assert.Equal(t, map[string]any{"source": "news", "medium": "email", "name": "spring", "term": "mugs", "content": "hero", "gclid": "g-1", "fbclid": "f-1"}, c["campaign"])
		assert.Equal(t, "/shop", obj(c, "page")["path"])
		assert.Equal(t, "Mugs", obj(c, "page")["title"])
		assert.Contains(t, obj(c, "page")["url"], shop.srv.URL+"/shop?utm_source=news")
		assert.Contains(t, obj(c, "page")["search"], "&other=x")
		assert.Equal(t, map[string]any{"name": "dcrm.js", "version": "1.2.0"}, c["library"])
		assert.Contains(t, c["userAgent"], "Chrome")
		assert.Equal(t, map[string]any{"analytics": true, "marketing": true}, c["consent"])
		assert.Nil(t, c["gpc"])
		session := c["sessionId"].(string)
		assert.NotEmpty(t, session)
		assert.Equal(t, "/shop", obj(pv, "properties")["path"])

		require.NoError(t, chromedp.Run(ctx,
			chromedp.Evaluate(`dcrm.cart.add({product_id: "sku-1", price: 12.5})`, nil),
			chromedp.Evaluate(`dcrm.cart.remove({product_id: "sku-1"})`, nil),
			chromedp.Evaluate(`dcrm.checkout(2, {shipping_method: "post"})`, nil),
			chromedp.Evaluate(`dcrm.track("Video Played", {length: 30})`, nil),
			chromedp.Evaluate(`dcrm.identify("u-42", {plan: "gold"})`, nil),
			chromedp.Evaluate(`dcrm.page("Pricing", {variant: "b"})`, nil),
			chromedp.Evaluate(`dcrm.alias("u-43")`, nil),
		))
		evs := api.wait(t, 8)
		_, reqs = api.snapshot()
		require.Len(t, reqs, 2, "the seven calls of the page went in one request")
		assert.Len(t, reqs[1].events, 7)
		assert.ElementsMatch(t, []string{"page:", "track:Product Added", "track:Product Removed", "track:Checkout Step Viewed",
			"track:Video Played", "identify:", "page:", "alias:"}, names(evs))
		ids := map[string]bool{}
		for _, e := range evs {
			ids[e["messageId"].(string)] = true
			assert.Equal(t, aid, e["anonymousId"])
			assert.Equal(t, session, obj(e, "context")["sessionId"])
			switch e["event"] {
			case "Product Added":
				assert.Equal(t, map[string]any{"product_id": "sku-1", "price": 12.5}, e["properties"])
			case "Checkout Step Viewed":
				assert.Equal(t, map[string]any{"step": 2.0, "shipping_method": "post"}, e["properties"])
			}
			switch e["type"] {
			case "identify":
				assert.Equal(t, "u-42", e["userId"])
				assert.Equal(t, map[string]any{"plan": "gold"}, e["traits"])
			case "alias":
				assert.Equal(t, "u-43", e["userId"])
				assert.Equal(t, "u-42", e["previousId"])
			}
			if e["name"] == "Pricing" {
				assert.Equal(t, "u-42", e["userId"], "the user id is kept after identify")
				assert.Equal(t, "b", obj(e, "properties")["variant"])
			}
		}
		assert.Len(t, ids, 8, "every event has its own messageId")

		// The next page of the visit: same visitor, same session, the user still known.
		require.NoError(t, chromedp.Run(ctx, chromedp.Navigate(shop.srv.URL+"/shop")))
		require.NoError(t, waitLoaded(ctx))
		next := api.wait(t, 9)[8]
		assert.Equal(t, aid, next["anonymousId"])
		assert.Equal(t, "u-43", next["userId"])
		assert.Equal(t, session, obj(next, "context")["sessionId"])
		assert.Nil(t, obj(next, "context")["campaign"], "no campaign in the URL, none on the event")
	})

	t.Run("form abandoned when the visitor leaves", func(t *testing.T) {
		reset()
		shop.add("/signup", page("Sign up", snip, "", ""))
		shop.add("/elsewhere", page("Elsewhere", snip, "", ""))
		ctx := open(t, "/signup")
		require.NoError(t, chromedp.Run(ctx,
			chromedp.Evaluate(`dcrm.form.start("signup")`, nil),
			chromedp.Evaluate(`dcrm.form.start("newsletter")`, nil),
			chromedp.Evaluate(`dcrm.form.submit("newsletter")`, nil),
			chromedp.Click("#out", chromedp.ByID),
		))
		evs := api.wait(t, 6)
		assert.ElementsMatch(t, []string{"page:", "track:Form Started", "track:Form Started", "track:Form Submitted",
			"track:Form Abandoned", "page:"}, names(evs))
		for _, e := range evs {
			if e["event"] == "Form Abandoned" {
				assert.Equal(t, map[string]any{"form_id": "signup"}, e["properties"])
			}
		}
		// The page view and the calls made just after it were still in the buffer when the visitor
		// left: they went with the page, in one beacon.
		_, reqs := api.snapshot()
		var left []request
		for _, r := range reqs {
			if r.mode == "no-cors" {
				left = append(left, r)
			}
		}
		require.Len(t, left, 1, "requests %+v", reqs)
		assert.Equal(t, []string{"page:", "track:Form Started", "track:Form Started", "track:Form Submitted", "track:Form Abandoned"}, names(left[0].events))
	})

	t.Run("nothing sent or stored before analytics consent", func(t *testing.T) {
		reset()
		shop.add("/consent", page("Consent", snip, "", `<script>dcrm.config({requireConsent: true}); dcrm.track("Before Consent")</script>`))
		ctx := open(t, "/consent")
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.track("Still Waiting")`, nil)))
		api.quiet(t, ctx, 0)
		assert.NotContains(t, eval[string](t, ctx, `document.cookie`), "dcrm_aid")
		assert.Empty(t, eval[string](t, ctx, `localStorage.getItem("dcrm_aid") || ""`))

		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.consent({analytics: true})`, nil)))
		evs := api.wait(t, 3)
		assert.ElementsMatch(t, []string{"page:", "track:Before Consent", "track:Still Waiting"}, names(evs))
		for _, e := range evs {
			assert.Equal(t, map[string]any{"analytics": true, "marketing": false}, obj(e, "context")["consent"])
		}
		aid, err := cookie(ctx, "dcrm_aid")
		require.NoError(t, err)
		assert.Equal(t, evs[0]["anonymousId"], aid)

		// The choice is remembered; withdrawing it stops the events.
		require.NoError(t, chromedp.Run(ctx, chromedp.Navigate(shop.srv.URL+"/consent")))
		require.NoError(t, waitLoaded(ctx))
		api.wait(t, 5)
		require.NoError(t, chromedp.Run(ctx,
			chromedp.Evaluate(`dcrm.consent({analytics: false})`, nil),
			chromedp.Evaluate(`dcrm.track("After Withdrawal")`, nil),
		))
		api.quiet(t, ctx, 5)
	})

	t.Run("global privacy control withholds marketing", func(t *testing.T) {
		reset()
		gpc := `<script>Object.defineProperty(Navigator.prototype, "globalPrivacyControl", {get: function () { return true; }});</script>`
		shop.add("/gpc", page("GPC", snip, gpc, ""))
		ctx := open(t, "/gpc")
		require.NoError(t, chromedp.Run(ctx,
			chromedp.Evaluate(`dcrm.consent({analytics: true, marketing: true})`, nil),
			chromedp.Evaluate(`dcrm.track("Clicked")`, nil),
		))
		for _, e := range api.wait(t, 2) {
			c := obj(e, "context")
			assert.Equal(t, true, c["gpc"])
			assert.Equal(t, map[string]any{"analytics": true, "marketing": false}, c["consent"])
		}
	})

	t.Run("cross-domain linking", func(t *testing.T) {
		reset()
		// 127.0.0.1 and localhost are two sites to the browser: separate cookies and storage.
		other := "http://localhost:" + shop.srv.URL[strings.LastIndex(shop.srv.URL, ":")+1:]
		links := fmt.Sprintf(`<a id="partner" href="%s/landing?x=1">partner</a><a id="plain" href="https://unlisted.example/">plain</a><a id="home" href="/shop">home</a>`, other)
		shop.add("/linking", page("Linking", snip, "", `<script>dcrm.config({linkDomains: ["localhost"]})</script>`+links))
		shop.add("/landing", page("Landing", snip, "", ""))
		ctx := open(t, "/linking")
		aid := api.wait(t, 1)[0]["anonymousId"].(string)

		press := `(function (id) { document.getElementById(id).dispatchEvent(new MouseEvent("mousedown", {bubbles: true})); return document.getElementById(id).href; })`
		plain := eval[string](t, ctx, press+`("plain")`)
		assert.Equal(t, "https://unlisted.example/", plain, "links to other domains are left alone")
		assert.Equal(t, shop.srv.URL+"/shop", eval[string](t, ctx, press+`("home")`))
		decorated, err := url.Parse(eval[string](t, ctx, press+`("partner")`))
		require.NoError(t, err)
		id, exp, ok := strings.Cut(decorated.Query().Get("_dl"), ".")
		require.True(t, ok, "link %s has no _dl", decorated)
		assert.Equal(t, aid, id)
		expiry, err := strconv.ParseInt(exp, 10, 64)
		require.NoError(t, err)
		assert.InDelta(t, time.Now().Add(2*time.Minute).Unix(), expiry, 10)

		require.NoError(t, chromedp.Run(ctx, chromedp.Click("#partner", chromedp.ByID)))
		evs := api.wait(t, 2) // the landing page's view: the tracker ran there
		require.NoError(t, waitLoaded(ctx))
		landing := evs[1]
		assert.Equal(t, aid, landing["anonymousId"], "the other site adopts the visitor's id")
		assert.Equal(t, other+"/landing?x=1", eval[string](t, ctx, `location.href`), "the linker parameter is removed from the address")
		assert.Equal(t, other+"/landing?x=1", obj(landing, "context", "page")["url"])
		onOther, err := cookie(ctx, "dcrm_aid")
		require.NoError(t, err)
		assert.Equal(t, aid, onOther)

		// A stale linker (older than its 2 minutes) is dropped, and still removed from the address.
		stale := fmt.Sprintf("%s/landing?_dl=stolen-id.%d&y=2", other, time.Now().Add(-10*time.Minute).Unix())
		require.NoError(t, chromedp.Run(ctx, chromedp.Navigate(stale)))
		require.NoError(t, waitLoaded(ctx))
		third := api.wait(t, 3)[2]
		assert.Equal(t, aid, third["anonymousId"], "the cookie's id stays")
		assert.Equal(t, "?y=2", eval[string](t, ctx, `location.search`))
	})

	t.Run("retry queue", func(t *testing.T) {
		reset()
		shop.add("/retry", page("Retry", snip, "", `<script>dcrm.config({flushInterval: 100})</script>`))
		api.answer(http.StatusServiceUnavailable, "1")
		ctx := open(t, "/retry")
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.track("Queued")`, nil)))
		queued := func() []map[string]any {
			var q []map[string]any
			require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`JSON.parse(localStorage.getItem("dcrm_q") || "[]")`, &q)))
			return q
		}
		refused := func() []time.Time {
			api.mu.Lock()
			defer api.mu.Unlock()
			return append([]time.Time(nil), api.refused...)
		}
		// Refused with Retry-After: 1, the events wait in the queue and are tried again a second later.
		require.Eventually(t, func() bool { return len(queued()) == 2 && len(refused()) >= 2 }, 10*time.Second, 20*time.Millisecond)
		ids := map[any]bool{}
		for _, e := range queued() {
			ids[e["messageId"]] = true
		}
		r := refused()
		assert.GreaterOrEqual(t, r[len(r)-1].Sub(r[len(r)-2]), 900*time.Millisecond, "the retry waited as Retry-After asked")

		// The endpoint is back: the next retry delivers them, with the same message ids.
		api.answer(0, "")
		evs := api.wait(t, 2)
		for _, e := range evs {
			assert.True(t, ids[e["messageId"]], "redelivered %v keeps its messageId", e["messageId"])
		}
		require.Eventually(t, func() bool { return len(queued()) == 0 }, 5*time.Second, 20*time.Millisecond)

		// A 4xx other than 429 is the events' own fault: not sent again.
		api.answer(http.StatusBadRequest, "")
		before := len(refused())
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.track("Bad")`, nil), chromedp.Evaluate(`dcrm.flush()`, nil, awaitPromise)))
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.flush()`, nil, awaitPromise)))
		assert.Len(t, refused(), before+1, "refused once, not retried")
		assert.Empty(t, queued())

		// While the endpoint is down the queue keeps the last 100 events refused; they go on the next
		// load, in batches within sendBeacon's 64 KB.
		api.answer(http.StatusServiceUnavailable, "60")
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`for (let i = 0; i < 150; i++) dcrm.track("Burst " + i)`, nil),
			chromedp.Evaluate(`dcrm.flush()`, nil, awaitPromise)))
		require.Eventually(t, func() bool { return len(queued()) == 100 }, 10*time.Second, 20*time.Millisecond)
		api.answer(0, "")
		require.NoError(t, chromedp.Run(ctx, chromedp.Reload()))
		require.NoError(t, waitLoaded(ctx))
		evs = api.wait(t, 2+100+1)
		require.Eventually(t, func() bool { return len(queued()) == 0 }, 5*time.Second, 20*time.Millisecond)
		bursts := map[string]bool{}
		for _, e := range evs[2:] {
			if name, _ := e["event"].(string); strings.HasPrefix(name, "Burst ") {
				bursts[name] = true
			}
		}
		assert.Len(t, bursts, 100, "the queue keeps 100 events")
		_, reqs := api.snapshot()
		for _, r := range reqs {
			assert.LessOrEqual(t, r.bytes, 60_000, "a body within sendBeacon's quota")
		}
	})

	t.Run("visitor: public audiences and next action", func(t *testing.T) {
		reset()
		asked := func() []visitorAsk {
			api.mu.Lock()
			defer api.mu.Unlock()
			return append([]visitorAsk(nil), api.visitors...)
		}
		// A page asks before the script has loaded (the snippet's queue) and after: one request.
		shop.add("/personal", page("Personal", snip, "", `<script>dcrm.push(["visitor", function (v) { window.early = v; }])</script>`))
		ctx := open(t, "/personal")
		require.NoError(t, chromedp.Run(ctx, chromedp.Poll(`window.early`, nil, chromedp.WithPollingTimeout(10*time.Second))))
		want := map[string]any{"audiences": []any{"customers", "vip"}, "nextAction": map[string]any{"kind": "remind-viewed", "product": "sku-1"}}
		assert.Equal(t, want, eval[map[string]any](t, ctx, `window.early`))
		var v map[string]any
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.visitor()`, &v, awaitPromise)))
		assert.Equal(t, want, v)
		var in, out bool
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.inAudience("vip")`, &in, awaitPromise),
			chromedp.Evaluate(`dcrm.inAudience("high-value")`, &out, awaitPromise)))
		assert.True(t, in)
		assert.False(t, out)
		got := asked()
		require.Len(t, got, 1, "asked once a page")
		aid := eval[string](t, ctx, `dcrm.user().anonymousId`)
		assert.Equal(t, map[string]any{"anonymousId": aid}, got[0].body, "the visitor's own id, nothing else")
		assert.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("wk_test:")), got[0].authorization)
		assert.Equal(t, "application/json", got[0].contentType)
		assert.Equal(t, "cors", got[0].mode)
		assert.Empty(t, got[0].cookie, "no credentials")

		// No next action: null. A failure rejects, inAudience says false, and the next call asks again.
		api.mu.Lock()
		api.answer200 = `{"audiences":[]}`
		api.visitor = http.StatusServiceUnavailable
		api.mu.Unlock()
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.reset()`, nil)))
		var settled string
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.visitor().then(function () { return "answered"; }, function () { return "rejected"; })`,
			&settled, awaitPromise)))
		assert.Equal(t, "rejected", settled)
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.inAudience("vip")`, &in, awaitPromise)))
		assert.False(t, in)
		api.mu.Lock()
		api.visitor = 0
		api.mu.Unlock()
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.visitor()`, &v, awaitPromise)))
		assert.Equal(t, map[string]any{"audiences": []any{}, "nextAction": nil}, v)
		got = asked()
		require.Len(t, got, 4)
		assert.NotEqual(t, aid, got[3].body["anonymousId"], "after reset, the new id")

		// Before analytics consent nothing is asked.
		shop.add("/personal-consent", page("Consent", snip, "", `<script>dcrm.config({requireConsent: true})</script>`))
		ctx = open(t, "/personal-consent")
		require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`dcrm.visitor()`, &v, awaitPromise)))
		assert.Equal(t, map[string]any{"audiences": []any{}, "nextAction": nil}, v)
		assert.Len(t, asked(), 4)
	})
}
