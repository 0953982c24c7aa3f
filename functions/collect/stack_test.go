package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/source"
)

// The findings of the audit replayed through the whole local stack as it ships (the real
// bootstraps of collect and stitch behind the local HTTP API): a fan-out batch, a server key in a
// pixel, a flooding source, an event from the year 9999, and two senders' equal message ids.
func TestFindingsOnTheLocalStack(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	st, keys := devtest.Stack(t, "collect")
	browser, server, flood, other, profiles := keystore.NewKey("wk_"), keystore.NewKey("wk_"), keystore.NewKey("wk_"), keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, browser, source.Source{ID: "src_site", Name: "site", AllowedOrigins: []string{"https://shop.example"}}))
	require.NoError(t, keys.PutSource(ctx, server, source.Source{ID: "src_server", Name: "server", Trusted: true}))
	require.NoError(t, keys.PutSource(ctx, flood, source.Source{ID: "src_flood", Name: "flood", RateLimit: 5}))
	require.NoError(t, keys.PutSource(ctx, other, source.Source{ID: "src_other", Name: "other"}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profiles, "test"))

	send := func(method, path, key, body string, headers ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, st.APIURL()+path, strings.NewReader(body))
		require.NoError(t, err)
		if key != "" {
			req.SetBasicAuth(key, "")
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	read := func(resp *http.Response) string {
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}

	// A 500 KB batch of tiny invalid events: one small 413, nothing queued.
	resp := send("POST", "/v1/batch", browser, `{"batch":[`+strings.Repeat("1,", 255_990)+`1]}`)
	assert.Equal(t, 413, resp.StatusCode)
	assert.Less(t, len(read(resp)), 200)
	failed := messagequeue.New(e.SQSClient(), st.Resources()[topology.FailedQueue])
	ds, err := failed.Receive(ctx, 10, time.Second)
	require.NoError(t, err)
	assert.Empty(t, ds, "nothing set aside")

	// A server key in a pixel, or from a browser: 403, the key not repeated.
	ev := base64.RawURLEncoding.EncodeToString([]byte(`{"writeKey":"` + server + `","userId":"u1","event":"Email Opened"}`))
	resp = send("GET", "/v1/pixel/track?data="+ev, "", "")
	assert.Equal(t, 403, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("X-Dcrm-Error"), "trusted")
	assert.NotContains(t, resp.Header.Get("X-Dcrm-Error"), server)
	resp = send("POST", "/v1/track", server, `{"userId":"u1","event":"E"}`, "Origin", "https://shop.example")
	assert.Equal(t, 403, resp.StatusCode)
	assert.NotContains(t, read(resp), server)

	// A flooding source: 429 with Retry-After; another source is taken.
	batch := `{"batch":[` + strings.Repeat(`{"type":"track","anonymousId":"f","event":"E"},`, 19) + `{"type":"track","anonymousId":"f","event":"E"}]}`
	require.Equal(t, 200, send("POST", "/v1/batch", flood, batch).StatusCode)
	resp = send("POST", "/v1/track", flood, `{"anonymousId":"f","event":"E"}`)
	assert.Equal(t, 429, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))

	// The year 9999 and one message id from two sources, for one visitor.
	anon := localawstest.UniqueName("anon")
	sent := time.Now()
	require.Equal(t, 200, send("POST", "/v1/track", browser, `{"anonymousId":"`+anon+`","event":"E","messageId":"m-1","timestamp":"9999-12-31T23:59:59Z"}`).StatusCode)
	require.Equal(t, 200, send("POST", "/v1/track", other, `{"anonymousId":"`+anon+`","event":"E","messageId":"m-1"}`).StatusCode)
	require.Equal(t, 200, send("POST", "/v1/track", other, `{"anonymousId":"`+anon+`","event":"E","messageId":"m-1"}`).StatusCode, "sent again")

	type view struct {
		LastSeen time.Time `json:"lastSeen"`
		Counts   struct {
			Events int `json:"events"`
		} `json:"counts"`
	}
	profile := func() (view, bool) {
		var p view
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.APIURL()+"/v1/profiles?anonymousId="+url.QueryEscape(anon), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+profiles)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return p, false
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
		return p, true
	}
	require.Eventually(t, func() bool {
		p, ok := profile()
		return ok && p.Counts.Events >= 2
	}, time.Minute, 200*time.Millisecond, "the events were not stitched")
	time.Sleep(2 * time.Second) // the repeat, were it counted, would be by now
	p, _ := profile()
	assert.Equal(t, 2, p.Counts.Events, "two sources' m-1 are two events; one source's twice is one")
	assert.WithinDuration(t, sent, p.LastSeen, time.Minute, "the year 9999 is the receipt time")
}
