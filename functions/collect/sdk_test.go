package main

import (
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	analytics "github.com/segmentio/analytics-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// serve puts the handler behind HTTP the way an HTTP API does (payload format 2.0), so that real
// SDKs can call it.
func serve(t *testing.T, h *handler) *httptest.Server {
	var mu sync.Mutex // the fakes are not safe for concurrent use
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: r.URL.Path, Headers: map[string]string{}}
		req.RequestContext.HTTP.Method = r.Method
		for k := range r.Header {
			req.Headers[strings.ToLower(k)] = r.Header.Get(k)
		}
		if utf8.Valid(body) {
			req.Body = string(body)
		} else {
			req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
		mu.Lock()
		resp, err := h.handle(r.Context(), req)
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		check(t, req, resp)
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type outcomes struct {
	mu       sync.Mutex
	sent     int
	failures []error
}

func (o *outcomes) Success(analytics.Message) { o.mu.Lock(); o.sent++; o.mu.Unlock() }
func (o *outcomes) Failure(_ analytics.Message, err error) {
	o.mu.Lock()
	o.failures = append(o.failures, err)
	o.mu.Unlock()
}

// Segment's own Go SDK sends batches the endpoint accepts as they are.
func TestSegmentGoSDK(t *testing.T) {
	h, _, st := newHandler()
	srv := serve(t, h)
	var got outcomes
	client, err := analytics.NewWithConfig(serverKey, analytics.Config{
		Endpoint: srv.URL, Interval: time.Hour, BatchSize: 100, Callback: &got,
		RetryAfter: func(int) time.Duration { return time.Millisecond },
		Logger:     analytics.StdLogger(log.New(io.Discard, "", 0)),
	})
	require.NoError(t, err)
	require.NoError(t, client.Enqueue(analytics.Identify{UserId: "48213", Traits: analytics.NewTraits().SetEmail("ana@example.com")}))
	require.NoError(t, client.Enqueue(analytics.Track{UserId: "48213", Event: "Order Completed", Properties: analytics.NewProperties().SetRevenue(119.8)}))
	require.NoError(t, client.Enqueue(analytics.Page{AnonymousId: "anon-1", Name: "Home"}))
	require.NoError(t, client.Close())

	assert.Empty(t, got.failures)
	assert.Equal(t, 3, got.sent)
	require.Len(t, st.events, 3)
	types := []string{st.events[0].Type, st.events[1].Type, st.events[2].Type}
	assert.Equal(t, []string{beacon.Identify, beacon.Track, beacon.Page}, types)
	for _, e := range st.events {
		assert.Equal(t, "src_backend", e.SourceID)
		assert.True(t, e.Trusted)
		assert.NotEmpty(t, e.MessageID)
		assert.NotNil(t, e.SentAt, "the SDK's sentAt is kept")
		assert.WithinDuration(t, clock, e.Timestamp, time.Second, "skew between the SDK's clock and ours is corrected")
	}
	assert.Equal(t, "Order Completed", st.events[1].Event)
	assert.JSONEq(t, `{"revenue":119.8}`, string(st.events[1].Properties))

	// An unknown key is refused; the SDK reports it as a failure.
	var refused outcomes
	stranger, err := analytics.NewWithConfig("wk_unknown", analytics.Config{
		Endpoint: srv.URL, Interval: time.Hour, Callback: &refused,
		RetryAfter: func(int) time.Duration { return time.Millisecond },
		Logger:     analytics.StdLogger(log.New(io.Discard, "", 0)),
	})
	require.NoError(t, err)
	require.NoError(t, stranger.Enqueue(analytics.Track{UserId: "u", Event: "E"}))
	require.NoError(t, stranger.Close())
	require.NotEmpty(t, refused.failures)
	assert.Contains(t, refused.failures[0].Error(), "401")
	assert.Len(t, st.events, 3)
}
