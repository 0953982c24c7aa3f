package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/gif"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/beaconstream"
)

func pixel(typ, rawQuery string, headers ...string) events.APIGatewayV2HTTPRequest {
	return getReq("/v1/pixel/{type}", "/v1/pixel/"+typ, rawQuery, headers...)
}

func data(enc *base64.Encoding, event string) string {
	return "data=" + url.QueryEscape(enc.EncodeToString([]byte(event)))
}

// assertGIF checks the response is the transparent 1×1 GIF, never cached.
func assertGIF(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	assert.Equal(t, "image/gif", resp.Headers["Content-Type"])
	assert.Equal(t, "no-cache, no-store, must-revalidate", resp.Headers["Cache-Control"])
	require.True(t, resp.IsBase64Encoded, "binary bodies go to API Gateway in base64")
	raw, err := base64.StdEncoding.DecodeString(resp.Body)
	require.NoError(t, err)
	img, err := gif.Decode(bytes.NewReader(raw))
	require.NoError(t, err)
	assert.Equal(t, 1, img.Bounds().Dx())
	assert.Equal(t, 1, img.Bounds().Dy())
	_, _, _, alpha := img.At(0, 0).RGBA()
	assert.Zero(t, alpha, "the pixel is transparent")
}

func TestPixelAcceptsEveryBase64Form(t *testing.T) {
	// The event's bytes are chosen so that its base64 has '+' / '/' (or '-' / '_') and padding.
	ev := `{"writeKey":"` + browserKey + `","anonymousId":"a~1?>","event":"Email Opened","properties":{"campaign":"spring>>>"}}`
	require.Contains(t, base64.StdEncoding.EncodeToString([]byte(ev)), "+")
	for name, q := range map[string]string{
		"standard, padded":         data(base64.StdEncoding, ev),
		"standard, unpadded":       data(base64.RawStdEncoding, ev),
		"URL-safe, padded":         data(base64.URLEncoding, ev),
		"URL-safe, unpadded":       data(base64.RawURLEncoding, ev),
		"standard, unescaped plus": "data=" + base64.StdEncoding.EncodeToString([]byte(ev)),
	} {
		t.Run(name, func(t *testing.T) {
			h, _, st := newHandler()
			resp := answer(t, h, pixel("track", q))
			assert.Equal(t, 200, resp.StatusCode, "X-Dcrm-Error: %s", resp.Headers["X-Dcrm-Error"])
			assert.Empty(t, resp.Headers["X-Dcrm-Error"])
			assertGIF(t, resp)
			require.Len(t, st.events, 1)
			e := st.events[0]
			assert.Equal(t, beacon.Track, e.Type)
			assert.Equal(t, "Email Opened", e.Event)
			assert.True(t, e.Pixel, "marked as loaded through the pixel: an impression downstream")
			assert.Equal(t, "a~1?>", e.AnonymousID)
			assert.Equal(t, shop.ID, e.SourceID)
			assert.Equal(t, clock, e.ReceivedAt)
			assert.NotEmpty(t, e.MessageID)
			assert.JSONEq(t, `{"campaign":"spring>>>"}`, string(e.Properties))
		})
	}
}

func TestPixelPage(t *testing.T) {
	h, _, st := newHandler()
	ev := `{"writeKey":"` + browserKey + `","userId":"u1","messageId":"m-1","name":"Banner","properties":{"placement":"feed"}}`
	resp := answer(t, h, pixel("page", data(base64.URLEncoding, ev)+"&cb=123"))
	assert.Equal(t, 200, resp.StatusCode)
	assertGIF(t, resp)
	require.Len(t, st.events, 1)
	assert.Equal(t, beacon.Page, st.events[0].Type)
	assert.Equal(t, "Banner", st.events[0].Name)
	assert.Equal(t, "m-1", st.events[0].MessageID, "the sender's messageId is kept, so a reloaded image counts once")
}

func TestPixelRefusals(t *testing.T) {
	enc := func(ev string) string { return data(base64.StdEncoding, ev) }
	good := `{"writeKey":"` + browserKey + `","anonymousId":"a1","event":"Opened"}`
	big := `{"writeKey":"` + browserKey + `","anonymousId":"a1","event":"Opened","properties":{"p":"` + strings.Repeat("x", beacon.MaxEventBytes) + `"}}`
	for _, tc := range []struct {
		name   string
		req    events.APIGatewayV2HTTPRequest
		status int
		reason string // the whole reason, or its start when it ends in "…"
	}{
		{"no data", pixel("track", ""), 400, "data is missing: send ?data=<base64 JSON of one event, with writeKey>"},
		{"empty data", pixel("track", "data="), 400, "data is missing: …"},
		{"not base64", pixel("track", "data=%25%25%25"), 400, "data is not valid base64: …"},
		{"not JSON", pixel("track", "data="+base64.StdEncoding.EncodeToString([]byte("hello"))), 400, "body is not valid JSON: …"},
		{"malformed query", pixel("track", "data=%zz"), 400, "query string is malformed: …"},
		{"no write key", pixel("track", enc(`{"anonymousId":"a1","event":"Opened"}`)), 401, "missing write key: put writeKey in the event"},
		{"unknown write key", pixel("track", enc(`{"writeKey":"wk_nope","anonymousId":"a1","event":"Opened"}`)), 401, "unknown write key"},
		{"origin not allowed", pixel("track", enc(good), "origin", "https://evil.example"), 403, "origin https://evil.example may not use this write key"},
		{"track without event", pixel("track", enc(`{"writeKey":"`+browserKey+`","anonymousId":"a1"}`)), 400, "track needs an event name (event)"},
		{"no ids", pixel("page", enc(`{"writeKey":"`+browserKey+`","name":"x"}`)), 400, "anonymousId or userId is required"},
		{"too big", pixel("track", enc(big)), 400, "data is … characters; an event may be 32768 bytes …"},
		{"unknown type", pixel("identify", enc(good)), 404, `no pixel for type "identify": use /v1/pixel/track or /v1/pixel/page`},
		{"batch", pixel("batch", enc(good)), 404, `no pixel for type "batch": …`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _, st := newHandler()
			resp := answer(t, h, tc.req)
			assert.Equal(t, tc.status, resp.StatusCode)
			assertGIF(t, resp)
			// "…" stands for any text.
			parts := strings.Split(tc.reason, "…")
			for i := range parts {
				parts[i] = regexp.QuoteMeta(parts[i])
			}
			assert.Regexp(t, "^"+strings.Join(parts, ".*")+"$", resp.Headers["X-Dcrm-Error"])
			assert.Empty(t, st.events, "nothing goes on the stream")
		})
	}
}

func TestPixelWhenTheStreamIsDown(t *testing.T) {
	h, _, st := newHandler()
	st.err = errors.Join(beaconstream.ErrUnavailable, errors.New("kinesis is down"))
	ev := `{"writeKey":"` + browserKey + `","anonymousId":"a1","event":"Opened"}`
	resp := answer(t, h, pixel("track", data(base64.StdEncoding, ev)))
	assert.Equal(t, 503, resp.StatusCode)
	assertGIF(t, resp)
	assert.NotEmpty(t, resp.Headers["Retry-After"])
	assert.Equal(t, "events cannot be stored right now; retry later", resp.Headers["X-Dcrm-Error"])
}

func TestPixelIsNotAPost(t *testing.T) {
	// The POST endpoints still answer JSON; a GET elsewhere than the pixel is still refused.
	h, _, _ := newHandler()
	resp := answer(t, h, getReq("/v1/track", "/v1/track", ""))
	assert.Equal(t, 405, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Headers["Content-Type"])
	var body map[string]string
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &body))
	assert.NotEmpty(t, body["error"])
}

func TestHeaderValue(t *testing.T) {
	assert.Equal(t, "a?b?c", headerValue("a\nb\rc"))
	assert.Len(t, headerValue(strings.Repeat("x", 2000)), 512)
	assert.Equal(t, "caf??", headerValue("café"))
}
