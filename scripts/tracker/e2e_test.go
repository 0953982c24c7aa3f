package tracker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest/browsertest"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/source"
)

// TestTrackerEndToEnd loads a shop page with the snippet of functions/collect/README.md in headless
// Chromium against the whole local stack (the real bootstraps), through a proxy that sees every
// request the browser makes: the tracker comes from GET /t.js; the page's events go together in
// one POST /v1/batch; the answer to that request is lost (collect took the events, the browser reads
// a 503) and the tracker sends them again; the events tracked just before the visitor leaves go by
// sendBeacon; and the profile then holds every event exactly once (stitch drops the repeat by its
// messageId), with the anonymous id of the browser's cookie. The pixel API and the script's
// caching are checked through the same stack.
func TestTrackerEndToEnd(t *testing.T) {
	browsertest.NeedChromium(t) // before a stack is started for nothing
	ctx := context.Background()
	st, keys := devtest.Stack(t, "trk")
	api := newLossyProxy(t, st.APIURL())

	run := localawstest.UniqueName("shopper")
	writeKey, profileKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	shop := httptest.NewServer(nil) // the handler needs the write key, which names the origin first
	t.Cleanup(shop.Close)
	require.NoError(t, keys.PutSource(ctx, writeKey, source.Source{ID: "src_" + run, Name: "tracker test shop", AllowedOrigins: []string{shop.URL}}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "tracker test"))
	// A batch goes when it holds four events (or after ten seconds, or when the page goes).
	html := page("Tracker test shop", snippet(t, writeKey, api.srv.URL), "", `<script>dcrm.config({flushAt: 4, flushInterval: 10000})</script>`)
	shop.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, html)
	})

	browser := browsertest.New(t, 90*time.Second)
	userID := "user-" + run
	require.NoError(t, chromedp.Run(browser, chromedp.Navigate(shop.URL+"/?utm_source=e2e&utm_medium=test")))
	require.NoError(t, waitLoaded(browser))
	require.NoError(t, chromedp.Run(browser,
		chromedp.Evaluate(`dcrm.cart.add({product_id: "sku-1", name: "Mug", price: 12.5, quantity: 1})`, nil),
		chromedp.Evaluate(fmt.Sprintf(`dcrm.identify(%q, {plan: "gold"})`, userID), nil),
		chromedp.Evaluate(`dcrm.track("Video Played", {length: 30})`, nil),
	))
	aid, err := cookie(browser, "dcrm_aid")
	require.NoError(t, err)
	require.NotEmpty(t, aid)

	// The page view and the three calls: one request, whose answer is lost; Retry-After: 1, then the
	// same events again.
	reqs := api.wait(t, 2)
	assert.Equal(t, http.StatusServiceUnavailable, reqs[0].status, "the first answer is lost")
	assert.Equal(t, http.StatusOK, reqs[0].upstream, "collect took the first request")
	assert.Equal(t, http.StatusOK, reqs[1].status)
	assert.Len(t, reqs[0].ids, 4, "the page's four events in one request")
	assert.Equal(t, reqs[0].ids, reqs[1].ids, "sent again with the same messageIds")
	assert.GreaterOrEqual(t, reqs[1].at.Sub(reqs[0].at), 900*time.Millisecond, "after Retry-After")
	for _, r := range reqs[:2] {
		assert.Equal(t, "cors", r.mode, "sent by fetch, whose answer the tracker reads")
	}

	// Two more calls, and the visitor leaves at once: they go by sendBeacon as the page is hidden.
	require.NoError(t, chromedp.Run(browser,
		chromedp.Evaluate(`dcrm.checkout(1, {shipping_method: "post"})`, nil),
		chromedp.Evaluate(`dcrm.track("Leaving Soon")`, nil),
		chromedp.Click("#out", chromedp.ByID),
	))
	reqs = api.wait(t, 3)
	assert.Equal(t, "no-cors", reqs[2].mode, "sent by sendBeacon")
	assert.Len(t, reqs[2].ids, 2)
	require.Eventually(t, func() bool { // the next page, with the tracker loaded
		var at string
		err := chromedp.Run(browser, chromedp.Evaluate(`location.pathname + (window.dcrm && dcrm.loaded ? " loaded" : "")`, &at))
		return err == nil && at == "/elsewhere loaded"
	}, 20*time.Second, 50*time.Millisecond)
	// The next page's view, sent now rather than in ten seconds.
	require.NoError(t, chromedp.Run(browser, chromedp.Evaluate(`dcrm.flush()`, nil, awaitPromise)))
	reqs = api.wait(t, 4)
	assert.Len(t, reqs[3].ids, 1)
	var queue string
	require.NoError(t, chromedp.Run(browser, chromedp.Evaluate(`localStorage.getItem("dcrm_q") || ""`, &queue)))
	assert.Empty(t, queue, "nothing waits to be sent again")

	// An email open for the same customer through the pixel API, and one with an unknown key.
	status, header, gif := fetch(t, st.APIURL()+"/v1/pixel/track?data="+base64.RawURLEncoding.EncodeToString(
		[]byte(fmt.Sprintf(`{"writeKey":%q,"userId":%q,"event":"Email Opened"}`, writeKey, userID))), nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "image/gif", header.Get("Content-Type"))
	assert.True(t, bytes.HasPrefix(gif, []byte("GIF89a")), "body %q", gif)
	status, header, _ = fetch(t, st.APIURL()+"/v1/pixel/track?data="+base64.StdEncoding.EncodeToString(
		[]byte(fmt.Sprintf(`{"writeKey":"wk_unknown","userId":%q,"event":"Email Opened"}`, userID))), nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "image/gif", header.Get("Content-Type"))
	assert.Equal(t, "unknown write key", header.Get("X-Dcrm-Error"))

	// The script itself: gzipped, cacheable, revalidated by its ETag.
	status, header, _ = fetch(t, st.APIURL()+"/t.js", map[string]string{"Accept-Encoding": "gzip"})
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "gzip", header.Get("Content-Encoding"))
	assert.Equal(t, "public, max-age=3600", header.Get("Cache-Control"))
	status, _, _ = fetch(t, st.APIURL()+"/t.js", map[string]string{"If-None-Match": header.Get("ETag")})
	assert.Equal(t, http.StatusNotModified, status)

	var profile struct {
		ProfileID    string         `json:"profileId"`
		UserID       string         `json:"userId"`
		AnonymousIDs []string       `json:"anonymousIds"`
		Traits       map[string]any `json:"traits"`
		Counts       struct {
			Events     int `json:"events"`
			PageViews  int `json:"pageViews"`
			Tracks     int `json:"tracks"`
			Identifies int `json:"identifies"`
		} `json:"counts"`
	}
	var last string
	require.Eventually(t, func() bool {
		body, status, err := get(ctx, st.APIURL()+"/v1/profiles?userId="+url.QueryEscape(userID), profileKey)
		if err != nil || status != http.StatusOK {
			last = fmt.Sprintf("%d %s %v", status, body, err)
			return false
		}
		last = body
		if json.Unmarshal([]byte(body), &profile) != nil {
			return false
		}
		// The second page's view went on the stream after the repeated batch (one visitor, one
		// shard, in order): once it is there, so is whatever the repeat did.
		return profile.Counts.PageViews >= 2 && profile.Counts.Tracks >= 5 && profile.Counts.Identifies >= 1
	}, 30*time.Second, 100*time.Millisecond, "the profile of %s never held every event; last answer: %s", userID, last)

	assert.Equal(t, userID, profile.UserID)
	assert.True(t, slices.Contains(profile.AnonymousIDs, aid), "profile's anonymous ids %v lack the cookie's %s", profile.AnonymousIDs, aid)
	assert.Equal(t, 2, profile.Counts.PageViews, "the two pages, each once")
	assert.Equal(t, 5, profile.Counts.Tracks, "Product Added, Video Played, Checkout Step Viewed, Leaving Soon and the pixel's Email Opened, each once")
	assert.Equal(t, 1, profile.Counts.Identifies)
	assert.Equal(t, 8, profile.Counts.Events)
	assert.Equal(t, "gold", profile.Traits["plan"])

	// The history holds every event the browser sent exactly once.
	body, status, err := get(ctx, st.APIURL()+"/v1/profiles/"+url.PathEscape(profile.ProfileID)+"/events?limit=500", profileKey)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, body)
	var hist struct {
		Touchpoints []struct {
			MessageID string `json:"messageId"`
		} `json:"touchpoints"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &hist))
	seen := map[string]int{}
	for _, tp := range hist.Touchpoints {
		seen[tp.MessageID]++
	}
	sent := 0
	for _, r := range api.requests() {
		if r.status != http.StatusOK {
			continue
		}
		for _, id := range r.ids {
			sent++
			assert.Equal(t, 1, seen[id], "event %s in the history", id)
		}
	}
	assert.Equal(t, 7, sent, "the browser's events, each taken once")
	assert.Len(t, hist.Touchpoints, 8, "the browser's seven and the pixel's")
}

// lossyProxy stands between the browser and the local endpoint and records each POST /v1/batch:
// the messageIds it carried, how it was sent, collect's status and the status the browser read.
// It loses collect's answer to the first batch: collect takes the events, the browser reads a 503
// with Retry-After: 1, as when a response is lost on the way.
type lossyProxy struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []batchRequest
}

type batchRequest struct {
	ids              []string
	mode             string // Sec-Fetch-Mode: "no-cors" for sendBeacon, "cors" for fetch
	status, upstream int
	at               time.Time
}

func newLossyProxy(t *testing.T, target string) *lossyProxy {
	u, err := url.Parse(target)
	require.NoError(t, err)
	p := &lossyProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		req := resp.Request
		if req.Method != http.MethodPost || req.URL.Path != "/v1/batch" {
			return nil
		}
		r := batchRequest{mode: req.Header.Get("Sec-Fetch-Mode"), status: resp.StatusCode, upstream: resp.StatusCode, at: time.Now()}
		if b, ok := req.Context().Value(bodyKey{}).([]byte); ok {
			var body struct {
				Batch []struct {
					MessageID string `json:"messageId"`
				} `json:"batch"`
			}
			if json.Unmarshal(b, &body) == nil {
				for _, e := range body.Batch {
					r.ids = append(r.ids, e.MessageID)
				}
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.seen) == 0 && resp.StatusCode == http.StatusOK {
			r.status = http.StatusServiceUnavailable
			resp.StatusCode, resp.Status = r.status, "503 Service Unavailable"
			resp.Header.Set("Retry-After", "1")
			resp.Header.Set("Access-Control-Expose-Headers", "Retry-After")
			lost := `{"error":"answer lost by the test"}`
			resp.Body, resp.ContentLength = io.NopCloser(strings.NewReader(lost)), int64(len(lost))
			resp.Header.Set("Content-Length", strconv.Itoa(len(lost)))
		}
		p.seen = append(p.seen, r)
		return nil
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, b))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

type bodyKey struct{}

func (p *lossyProxy) requests() []batchRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]batchRequest(nil), p.seen...)
}

// wait returns the batch requests once there are n of them.
func (p *lossyProxy) wait(t *testing.T, n int) []batchRequest {
	t.Helper()
	var got []batchRequest
	require.Eventually(t, func() bool { got = p.requests(); return len(got) >= n }, 20*time.Second, 20*time.Millisecond,
		"wanted %d batch requests, got %d: %+v", n, len(got), got)
	return got
}

// fetch GETs url without transparent decompression and returns the status, headers and body as sent.
func fetch(t *testing.T, url string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// get GETs a profile-API url with the key.
func get(ctx context.Context, u, key string) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}
