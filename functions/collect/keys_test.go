package main

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/source"
)

// A trusted (server) write key may join known customers: it is refused wherever it would be seen
// by others, in a pixel's URL and in a browser, whatever origins its source allows, and the
// refusal does not repeat it. Replayed on the real wiring: the key store on DynamoDB Local, the
// stream on the local Kinesis server.
func TestTrustedKeysStayOnServers(t *testing.T) {
	h, env := wiredHandler(t, 1)
	const anyOrigin = "wk_server_any_origin"
	keys := keyStore(t, env)
	require.NoError(t, keys.PutSource(context.Background(), anyOrigin,
		source.Source{ID: "src_lax", Name: "lax", Trusted: true, AllowedOrigins: []string{"*"}}))

	for _, key := range []string{serverKey, anyOrigin} {
		ev := `{"writeKey":"` + key + `","userId":"u1","event":"Email Opened"}`
		resp := answer(t, h, pixel("track", data(base64.RawURLEncoding, ev)))
		assert.Equal(t, 403, resp.StatusCode)
		assertGIF(t, resp)
		reason := resp.Headers["X-Dcrm-Error"]
		assert.Contains(t, reason, "a server (trusted) write key may not be used in a pixel")
		assert.NotContains(t, reason, key)

		resp = answer(t, h, post("/v1/track", `{"userId":"u1","event":"E"}`, "authorization", basic(key), "origin", "https://shop.example"))
		assert.Equal(t, 403, resp.StatusCode)
		reason = errorBody(t, resp)
		assert.Contains(t, reason, "a server (trusted) write key may not be used from a browser")
		assert.NotContains(t, reason, key)

		// The body's key, sent by a browser (sendBeacon), is refused the same way.
		resp = answer(t, h, post("/v1/track", `{"writeKey":"`+key+`","userId":"u1","event":"E"}`, "origin", "https://shop.example", "content-type", "text/plain"))
		assert.Equal(t, 403, resp.StatusCode)

		// From a server (no Origin) the key works.
		resp = answer(t, h, post("/v1/track", `{"userId":"u1","event":"E"}`, "authorization", basic(key)))
		assert.Equal(t, 200, resp.StatusCode, resp.Body)
	}

	// A browser key still works in the pixel and from its origin.
	ev := `{"writeKey":"` + browserKey + `","anonymousId":"a1","event":"Email Opened"}`
	resp := answer(t, h, pixel("track", data(base64.StdEncoding, ev)))
	assert.Equal(t, 200, resp.StatusCode, resp.Headers["X-Dcrm-Error"])
	resp = answer(t, h, post("/v1/track", `{"anonymousId":"a1","event":"E"}`, "authorization", basic(browserKey), "origin", "https://shop.example"))
	assert.Equal(t, 200, resp.StatusCode, resp.Body)
}

// countingKeys counts look-ups.
type countingKeys struct {
	sources
	lookups int
}

func (c *countingKeys) Source(ctx context.Context, key string) (source.Source, error) {
	c.lookups++
	return c.sources.Source(ctx, key)
}

// A key in the Authorization header is checked before the body is read: an unknown key is a 401
// whatever the body, and a large body is not decoded for it.
func TestTheKeyIsCheckedBeforeTheBody(t *testing.T) {
	h, _, st := newHandler()
	big := `{"batch":[` + strings.Repeat(`{"type":"track","userId":"u"},`, 2000) + `{]}` // 60 KB, not JSON
	for _, body := range []string{big, `{`} {
		resp := answer(t, h, post("/v1/batch", body, "authorization", basic("wk_revoked")))
		assert.Equal(t, 401, resp.StatusCode)
		assert.Equal(t, "unknown write key", errorBody(t, resp))
	}
	// A known key reads on to the body and its reason.
	resp := answer(t, h, post("/v1/batch", big, "authorization", basic(serverKey)))
	assert.Equal(t, 400, resp.StatusCode)
	assert.Empty(t, st.events)

	// One look-up per call, whether the key came in the header or in the body.
	k := &countingKeys{sources: h.keys}
	h.keys = k
	answer(t, h, post("/v1/track", `{"userId":"u","event":"E"}`, "authorization", basic(serverKey)))
	answer(t, h, post("/v1/track", `{"writeKey":"`+serverKey+`","userId":"u","event":"E"}`))
	assert.Equal(t, 2, k.lookups)
}
