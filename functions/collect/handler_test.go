package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/beaconstream"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/source"
)

var (
	clock   = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	shop    = source.Source{ID: "src_shop", Name: "shop", AllowedOrigins: []string{"https://shop.example"}}
	backend = source.Source{ID: "src_backend", Name: "backend", Trusted: true}
)

const (
	browserKey = "wk_demo_browser"
	serverKey  = "wk_demo_server"
)

type fakeKeys struct {
	sources map[string]source.Source
	err     error
}

func (f *fakeKeys) Source(_ context.Context, key string) (source.Source, error) {
	if f.err != nil {
		return source.Source{}, f.err
	}
	s, ok := f.sources[key]
	if !ok {
		return source.Source{}, keystore.ErrUnknownKey
	}
	return s, nil
}

type fakeStream struct {
	events []beacon.Event
	err    error
	stall  bool // wait for the context to end, as a put refused again and again does
}

func (f *fakeStream) Put(ctx context.Context, evs []beacon.Event) error {
	if f.stall {
		<-ctx.Done()
		return fmt.Errorf("put: %w: %w", beaconstream.ErrUnavailable, ctx.Err())
	}
	if f.err != nil {
		return f.err
	}
	f.events = append(f.events, evs...)
	return nil
}

func counter() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("dcrm-test-%d", n) }
}

func newHandler() (*handler, *fakeKeys, *fakeStream) {
	keys := &fakeKeys{sources: map[string]source.Source{browserKey: shop, serverKey: backend}}
	st := &fakeStream{}
	return &handler{
		keys: keys, stream: st, now: func() time.Time { return clock }, newID: counter(),
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, keys, st
}

// post builds a request as API Gateway hands it over; headers come as name, value pairs.
func post(path, body string, headers ...string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST " + path, RawPath: path, Body: body,
		Headers: map[string]string{"content-type": "application/json"},
	}
	req.RequestContext.HTTP.Method = "POST"
	req.RequestContext.HTTP.Path = path
	req.RequestContext.Stage = "$default"
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			delete(req.Headers, headers[i])
			continue
		}
		req.Headers[headers[i]] = headers[i+1]
	}
	return req
}

func basic(key string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
}

func gzipped(t testing.TB, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// errorBody reads {"error": reason} and fails unless the response is JSON.
func errorBody(t *testing.T, resp events.APIGatewayV2HTTPResponse) string {
	t.Helper()
	assert.Equal(t, "application/json", resp.Headers["Content-Type"])
	var body map[string]string
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &body), "body %q", resp.Body)
	require.Len(t, body, 1, "body %s", resp.Body)
	reason, ok := body["error"]
	require.True(t, ok, "body %s has no error", resp.Body)
	return reason
}

func TestRejections(t *testing.T) {
	track := `{"anonymousId":"a1","event":"Clicked"}`
	big := strings.Repeat("x", beacon.MaxEventBytes)
	item := `{"type":"track","userId":"u","event":"E","properties":{"p":"` + strings.Repeat("y", 20<<10) + `"}}`
	bigPage := `{"userId":"u","name":"` + big + `"}`
	bigBatch := `{"batch":[` + strings.Repeat(item+",", 25) + item + `]}`
	bomb := post("/v1/batch", b64(gzipped(t, `{"batch":[`+strings.Repeat(" ", beacon.MaxBatchBytes)+`]}`)), "authorization", basic(serverKey), "content-encoding", "gzip")
	bomb.IsBase64Encoded = true
	notGzip := post("/v1/track", b64([]byte(track)), "authorization", basic(serverKey), "content-encoding", "gzip")
	notGzip.IsBase64Encoded = true
	truncated := post("/v1/track", b64(gzipped(t, track)[:20]), "authorization", basic(serverKey), "content-encoding", "gzip")
	truncated.IsBase64Encoded = true
	notBase64 := post("/v1/track", "{not base64", "authorization", basic(serverKey))
	notBase64.IsBase64Encoded = true
	get := post("/v1/track", "")
	get.RequestContext.HTTP.Method, get.RouteKey = "GET", "$default"

	for _, tc := range []struct {
		name   string
		req    events.APIGatewayV2HTTPRequest
		status int
		reason string // the whole reason, or its start when it ends in "…"
	}{
		{"no write key", post("/v1/track", track), 401, "missing write key: send it as the basic-auth user name or as writeKey in the body"},
		{"unknown write key", post("/v1/track", track, "authorization", basic("wk_revoked")), 401, "unknown write key"},
		{"unknown write key in the body", post("/v1/track", `{"writeKey":"wk_nope","anonymousId":"a1","event":"E"}`), 401, "unknown write key"},
		{"basic auth that is not base64", post("/v1/track", track, "authorization", "Basic %%%"), 401, "authorization header is not valid basic auth: …"},
		{"origin not allowed", post("/v1/track", track, "authorization", basic(browserKey), "origin", "https://evil.example"), 403, "origin https://evil.example may not use this write key"},
		{"server key from a browser", post("/v1/track", track, "authorization", basic(serverKey), "origin", "https://shop.example"), 403,
			"a server (trusted) write key may not be used from a browser (the request has an Origin): use a browser source's key, and replace this one if it was published"},
		{"server key in a beacon's body", post("/v1/batch", `{"writeKey":"`+serverKey+`","batch":[{"type":"track","anonymousId":"a1","event":"E"}]}`,
			"content-type", "text/plain;charset=UTF-8", "origin", "https://shop.example"), 403,
			"a server (trusted) write key may not be used from a browser (the request has an Origin): use a browser source's key, and replace this one if it was published"},
		{"beacon from an origin not allowed", post("/v1/batch", `{"writeKey":"`+browserKey+`","batch":[{"type":"track","anonymousId":"a1","event":"E"}]}`,
			"content-type", "text/plain;charset=UTF-8", "origin", "https://evil.example"), 403, "origin https://evil.example may not use this write key"},
		{"malformed JSON", post("/v1/track", `{"anonymousId":"a1",`, "authorization", basic(serverKey)), 400, "body is not valid JSON: unexpected end of JSON input (at byte 20)"},
		{"not an object", post("/v1/page", `"hello"`, "authorization", basic(serverKey)), 400, "body must be a JSON object, not string"},
		{"empty body", post("/v1/page", "", "authorization", basic(serverKey)), 400, "body is empty"},
		{"missing ids", post("/v1/track", `{"event":"Clicked"}`, "authorization", basic(serverKey)), 400, "anonymousId or userId is required"},
		{"track without event", post("/v1/track", `{"userId":"u1"}`, "authorization", basic(serverKey)), 400, "track needs an event name (event)"},
		{"object as user id", post("/v1/identify", `{"userId":{"id":1}}`, "authorization", basic(serverKey)), 400, "userId must be a string"},
		{"oversized event", post("/v1/page", bigPage, "authorization", basic(serverKey)), 413, fmt.Sprintf("event is %d bytes; the limit is 32768 bytes", len(bigPage))},
		{"oversized batch", post("/v1/batch", bigBatch, "authorization", basic(serverKey)), 413, fmt.Sprintf("body is %d bytes; the limit is 512000 bytes per batch", len(bigBatch))},
		{"oversized batch, just over", post("/v1/batch", bigBatch[:512001], "authorization", basic(serverKey)), 413, "batch is 512001 bytes; the limit is 512000 bytes"},
		{"too many events", post("/v1/batch", `{"batch":[`+strings.Repeat(`{},`, beacon.MaxBatchEvents)+`{}]}`, "authorization", basic(serverKey)), 413,
			"batch has more than 2500 events: send them in several batches"},
		{"alias without previousId", post("/v1/alias", `{"userId":"u"}`, "authorization", basic(serverKey)), 400, "alias needs the earlier id (previousId)"},
		{"group without groupId", post("/v1/group", `{"userId":"u"}`, "authorization", basic(serverKey)), 400, "group needs a group id (groupId)"},
		{"not gzip", notGzip, 400, "body is not valid gzip: gzip: invalid header"},
		{"truncated gzip", truncated, 400, "body is not valid gzip: unexpected EOF"},
		{"gzip that expands past the limit", bomb, 413, "body is more than 512000 bytes decompressed"},
		{"not base64", notBase64, 400, "body is not valid base64: …"},
		{"unknown route", post("/v1/merge", track, "authorization", basic(serverKey)), 404, "no endpoint at /v1/merge: use POST /v1/track, /v1/page, /v1/screen, /v1/identify, /v1/group, /v1/alias or /v1/batch"},
		{"wrong method", get, 405, "method GET is not allowed on /v1/track: use POST"},
		{"multipart content type", post("/v1/track", track, "authorization", basic(serverKey), "content-type", "multipart/form-data; boundary=x"), 415, `content type "multipart/form-data; boundary=x" is not supported: send application/json (or text/plain)`},
		{"brotli", post("/v1/track", track, "authorization", basic(serverKey), "content-encoding", "br"), 415, `content encoding "br" is not supported: send gzip or none`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _, st := newHandler()
			resp := answer(t, h, tc.req)
			assert.Equal(t, tc.status, resp.StatusCode, "body %s", resp.Body)
			reason := errorBody(t, resp)
			if prefix, ok := strings.CutSuffix(tc.reason, "…"); ok {
				assert.True(t, strings.HasPrefix(reason, prefix), "reason %q, want it to start with %q", reason, prefix)
			} else {
				assert.Equal(t, tc.reason, reason)
			}
			assert.Empty(t, st.events, "nothing goes on the stream")
			if tc.status == 405 {
				assert.Equal(t, "POST", resp.Headers["Allow"])
			}
		})
	}
}

func TestRetryLaterWhenADependencyFails(t *testing.T) {
	track := post("/v1/track", `{"anonymousId":"a1","event":"Clicked"}`, "authorization", basic(serverKey))
	for _, tc := range []struct {
		name   string
		keys   error
		stream error
		status int
		reason string
		wait   string // Retry-After, "" for none
	}{
		{"key table down", fmt.Errorf("get key: %w", errors.New("connection refused")), nil, 503, "write keys cannot be checked right now; retry later", retryAfter},
		{"stream refuses records", nil, fmt.Errorf("put records: 1 of 1 refused: %w", beaconstream.ErrUnavailable), 503, "events cannot be stored right now; retry later", retryAfter},
		{"stream throttled", nil, fmt.Errorf("put records: 1 of 1 refused: %w: %w", beaconstream.ErrThrottled, beaconstream.ErrUnavailable), 429, "too many events right now; retry later", retryAfterThrottled},
		{"event the stream cannot encode", nil, errors.New("encode event m1: boom"), 500, "internal error", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, keys, st := newHandler()
			keys.err, st.err = tc.keys, tc.stream
			resp := answer(t, h, track)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.reason, errorBody(t, resp))
			if tc.wait != "" {
				assert.Equal(t, tc.wait, resp.Headers["Retry-After"])
			} else {
				assert.NotContains(t, resp.Headers, "Retry-After")
			}
		})
	}
}

func TestAccepts(t *testing.T) {
	track := `{"anonymousId":"a1","event":"Clicked"}`
	gz := post("/v1/batch", b64(gzipped(t, `{"batch":[{"type":"track","anonymousId":"a1","event":"Clicked"}]}`)), "authorization", basic(serverKey), "content-encoding", "gzip")
	gz.IsBase64Encoded = true
	rawGzip := post("/v1/track", string(gzipped(t, track)), "authorization", basic(serverKey), "Content-Encoding", "GZIP")
	plain64 := post("/v1/track", b64([]byte(track)), "authorization", basic(serverKey))
	plain64.IsBase64Encoded = true
	staged := post("/v1/page", `{"userId":"u1"}`, "authorization", basic(serverKey))
	staged.RouteKey, staged.RawPath, staged.RequestContext.Stage = "$default", "/prod/v1/page", "prod"
	upper := post("/v1/identify", `{"userId":"u1"}`, "content-type", "", "Content-Type", "application/json; charset=utf-8", "Authorization", basic(serverKey))

	for _, tc := range []struct {
		name   string
		req    events.APIGatewayV2HTTPRequest
		source string
		kind   string
	}{
		{"basic auth", post("/v1/track", track, "authorization", basic(serverKey)), "src_backend", beacon.Track},
		{"basic auth without a colon", post("/v1/track", track, "authorization", "basic "+b64([]byte(serverKey))), "src_backend", beacon.Track},
		{"write key in the body", post("/v1/track", `{"writeKey":"wk_demo_server","anonymousId":"a1","event":"Clicked"}`), "src_backend", beacon.Track},
		{"basic auth wins over the body", post("/v1/track", `{"writeKey":"wk_other","anonymousId":"a1","event":"Clicked"}`, "authorization", basic(serverKey)), "src_backend", beacon.Track},
		{"sendBeacon text/plain from an allowed origin", post("/v1/page", `{"writeKey":"wk_demo_browser","anonymousId":"a1"}`, "content-type", "text/plain;charset=UTF-8", "origin", "https://shop.example"), "src_shop", beacon.Page},
		{"no content type", post("/v1/page", `{"anonymousId":"a1"}`, "content-type", "", "authorization", basic(serverKey)), "src_backend", beacon.Page},
		{"gzip, base64-encoded", gz, "src_backend", beacon.Track},
		{"gzip as raw bytes", rawGzip, "src_backend", beacon.Track},
		{"base64 without gzip", plain64, "src_backend", beacon.Track},
		{"path under a named stage", staged, "src_backend", beacon.Page},
		{"headers not in lower case", upper, "src_backend", beacon.Identify},
		{"screen", post("/v1/screen", `{"anonymousId":"a1","name":"Basket"}`, "authorization", basic(serverKey)), "src_backend", beacon.Screen},
		{"group", post("/v1/group", `{"userId":"u1","groupId":"acme","traits":{"name":"Acme"}}`, "authorization", basic(serverKey)), "src_backend", beacon.Group},
		{"alias", post("/v1/alias", `{"previousId":"a1","userId":"u1"}`, "authorization", basic(serverKey)), "src_backend", beacon.Alias},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _, st := newHandler()
			resp := answer(t, h, tc.req)
			require.Equal(t, 200, resp.StatusCode, "body %s", resp.Body)
			assert.JSONEq(t, `{"success":true}`, resp.Body)
			assert.Equal(t, "application/json", resp.Headers["Content-Type"])
			require.Len(t, st.events, 1)
			e := st.events[0]
			assert.Equal(t, tc.source, e.SourceID)
			assert.Equal(t, tc.kind, e.Type)
			assert.Equal(t, clock, e.ReceivedAt)
			assert.Equal(t, "dcrm-test-1", e.MessageID)
		})
	}
}

func TestAllowedOriginMayReadTheResponse(t *testing.T) {
	h, _, _ := newHandler()
	resp := answer(t, h, post("/v1/track", `{"anonymousId":"a1","event":"E"}`, "authorization", basic(browserKey), "origin", "https://shop.example"))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "https://shop.example", resp.Headers["Access-Control-Allow-Origin"])
	assert.Equal(t, "Origin", resp.Headers["Vary"])

	assert.NotContains(t, resp.Headers, "Access-Control-Expose-Headers")

	resp = answer(t, h, post("/v1/track", `{"anonymousId":"a1","event":"E"}`, "authorization", basic(browserKey), "origin", "https://evil.example"))
	assert.Equal(t, 403, resp.StatusCode)
	assert.NotContains(t, resp.Headers, "Access-Control-Allow-Origin")
}

// A browser's script reads Retry-After only when the answer exposes it: the tracker waits as asked.
func TestRetryAfterIsExposedToBrowsers(t *testing.T) {
	h, _, st := newHandler()
	st.err = fmt.Errorf("put: %w", beaconstream.ErrUnavailable)
	resp := answer(t, h, post("/v1/batch", `{"writeKey":"`+browserKey+`","batch":[{"type":"track","anonymousId":"a1","event":"E"}]}`,
		"content-type", "text/plain;charset=UTF-8", "origin", "https://shop.example"))
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "5", resp.Headers["Retry-After"])
	assert.Equal(t, "https://shop.example", resp.Headers["Access-Control-Allow-Origin"])
	assert.Equal(t, "Retry-After", resp.Headers["Access-Control-Expose-Headers"])
}

func TestSetupFailsFastWithoutItsEnvironment(t *testing.T) {
	for missing, env := range map[string]map[string]string{
		"DCRM_BEACONS_STREAM":          {"DCRM_KEYS_TABLE": "keys", "DCRM_FAILED_EVENTS_QUEUE_URL": "q"},
		"DCRM_KEYS_TABLE":              {"DCRM_BEACONS_STREAM": "beacons", "DCRM_FAILED_EVENTS_QUEUE_URL": "q"},
		"DCRM_FAILED_EVENTS_QUEUE_URL": {"DCRM_BEACONS_STREAM": "beacons", "DCRM_KEYS_TABLE": "keys"},
	} {
		_, err := setup(context.Background(), func(k string) string { return env[k] }, slog.Default())
		require.Error(t, err, "env %v", env)
		assert.Contains(t, err.Error(), missing+" is not set")
	}
}

// A put that the stream keeps refusing ends a second before the invocation's deadline with 503 and
// Retry-After, which senders retry; not as a timed-out invocation (a 500).
func TestStreamPutEndsBeforeTheInvocationsDeadline(t *testing.T) {
	h, _, st := newHandler()
	st.stall = true
	ctx, cancel := context.WithTimeout(context.Background(), putMargin+300*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp, err := h.handle(ctx, post("/v1/track", `{"type":"track","event":"x","anonymousId":"a-1"}`, "authorization", basic(serverKey)))
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode, resp.Body)
	assert.Equal(t, retryAfter, resp.Headers["Retry-After"])
	assert.Less(t, time.Since(start), putMargin, "it gave up before the deadline")
}
