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
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/source"
)

// TestTrackerEndToEnd loads a shop page with the snippet of functions/collect/README.md in headless Chromium against the
// whole local stack (the real bootstraps): the tracker comes from GET /t.js, its beacons go through
// collect, the stream and stitch, and the profile API then shows one customer holding the page
// view, the basket event and the anonymous id of the browser's cookie. The pixel API and the
// script's caching are checked through the same stack.
func TestTrackerEndToEnd(t *testing.T) {
	needChromium(t) // before a stack is started for nothing
	ctx := context.Background()
	st, keys := devtest.Stack(t, "trk")

	run := localawstest.UniqueName("shopper")
	writeKey, profileKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	shop := httptest.NewServer(nil) // the handler needs the write key, which names the origin first
	t.Cleanup(shop.Close)
	require.NoError(t, keys.PutSource(ctx, writeKey, source.Source{ID: "src_" + run, Name: "tracker test shop", AllowedOrigins: []string{shop.URL}}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "tracker test"))
	html := page("Tracker test shop", snippet(t, writeKey, st.APIURL()), "", "")
	shop.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, html)
	})

	browser := newBrowser(t, 60*time.Second)
	userID := "user-" + run
	var queue string
	require.NoError(t, chromedp.Run(browser, chromedp.Navigate(shop.URL+"/?utm_source=e2e&utm_medium=test")))
	require.NoError(t, waitLoaded(browser))
	require.NoError(t, chromedp.Run(browser,
		chromedp.Evaluate(`dcrm.cart.add({product_id: "sku-1", name: "Mug", price: 12.5, quantity: 1})`, nil),
		chromedp.Evaluate(fmt.Sprintf(`dcrm.identify(%q, {plan: "gold"})`, userID), nil),
		chromedp.Evaluate(`localStorage.getItem("dcrm_q") || ""`, &queue),
	))
	assert.Empty(t, queue, "every event was handed to the browser")
	aid, err := cookie(browser, "dcrm_aid")
	require.NoError(t, err)
	require.NotEmpty(t, aid)

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
			PageViews  int `json:"pageViews"`
			Tracks     int `json:"tracks"`
			Identifies int `json:"identifies"`
		} `json:"counts"`
	}
	var last string
	require.Eventually(t, func() bool {
		body, status, err := getProfile(ctx, st.APIURL(), profileKey, userID)
		if err != nil || status != http.StatusOK {
			last = fmt.Sprintf("%d %s %v", status, body, err)
			return false
		}
		last = body
		if json.Unmarshal([]byte(body), &profile) != nil {
			return false
		}
		return profile.Counts.PageViews >= 1 && profile.Counts.Tracks >= 2 && profile.Counts.Identifies >= 1
	}, 30*time.Second, 100*time.Millisecond, "the profile of %s never held the page view, the tracks and the identify; last answer: %s", userID, last)

	assert.Equal(t, userID, profile.UserID)
	assert.True(t, slices.Contains(profile.AnonymousIDs, aid), "profile's anonymous ids %v lack the cookie's %s", profile.AnonymousIDs, aid)
	assert.Equal(t, 1, profile.Counts.PageViews)
	assert.Equal(t, 2, profile.Counts.Tracks, "Product Added and the pixel's Email Opened")
	assert.Equal(t, 1, profile.Counts.Identifies)
	assert.Equal(t, "gold", profile.Traits["plan"])
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

func getProfile(ctx context.Context, api, key, userID string) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v1/profiles?userId="+url.QueryEscape(userID), nil)
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
