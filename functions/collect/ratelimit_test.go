package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/source"
)

func TestLimiterKeepsEachSourceToItsRate(t *testing.T) {
	var l limiter
	slow, other := source.Source{ID: "slow", RateLimit: 10}, source.Source{ID: "other"}
	at := clock
	wait := func(src source.Source, at time.Time) time.Duration {
		d, _ := l.wait(src, at)
		return d
	}
	require.Zero(t, wait(slow, at))
	l.take(slow, 25, at) // a batch larger than the bucket goes through once: 10 − 25 = −15
	d, first := l.wait(slow, at)
	assert.Equal(t, 1600*time.Millisecond, d, "until one token is back")
	assert.True(t, first, "the first refusal")
	assert.Zero(t, wait(other, at), "another source is not slowed")
	d, first = l.wait(slow, at.Add(time.Second))
	assert.Equal(t, 600*time.Millisecond, d)
	assert.False(t, first, "the same flood")
	assert.Zero(t, wait(slow, at.Add(1600*time.Millisecond+time.Nanosecond)))
	l.take(slow, 30, at.Add(1600*time.Millisecond+time.Nanosecond))
	_, first = l.wait(slow, at.Add(1600*time.Millisecond+time.Nanosecond))
	assert.True(t, first, "a new flood after a call was taken")

	// An idle source gets at most one second of its rate back.
	l.take(other, 1, at)
	l.take(other, source.DefaultRateLimit, at.Add(time.Hour))
	assert.Positive(t, wait(other, at.Add(time.Hour)))

	assert.Equal(t, 1, retryAfterSeconds(time.Millisecond))
	assert.Equal(t, 2, retryAfterSeconds(1600*time.Millisecond))
}

// A source that floods is answered 429 with Retry-After, its rate read from its record in the key
// table (dcrm source add --rate), while other sources are taken as before. On the real wiring.
func TestAFloodingSourceIsThrottledAlone(t *testing.T) {
	h, env := wiredHandler(t, 1)
	var log bytes.Buffer
	h.log = slog.New(slog.NewJSONHandler(&log, nil))
	now := clock
	h.now = func() time.Time { return now }
	const floodKey = "wk_flood"
	require.NoError(t, keyStore(t, env).PutSource(context.Background(), floodKey,
		source.Source{ID: "src_flood", Name: "flood", RateLimit: 5}))

	batch := `{"batch":[` + strings.Repeat(`{"type":"track","userId":"u","event":"E"},`, 19) + `{"type":"track","userId":"u","event":"E"}]}`
	resp := answer(t, h, post("/v1/batch", batch, "authorization", basic(floodKey)))
	require.Equal(t, 200, resp.StatusCode, "the first batch goes through, and owes 15 events")

	track := `{"userId":"u","event":"E"}`
	resp = answer(t, h, post("/v1/track", track, "authorization", basic(floodKey)))
	assert.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, "4", resp.Headers["Retry-After"], "(1 + 15) / 5 = 3.2 seconds")
	assert.Equal(t, "this source is over its rate of 5 events per second; retry later", errorBody(t, resp))
	resp = answer(t, h, post("/v1/track", `{"writeKey":"`+floodKey+`","userId":"u","event":"E"}`))
	assert.Equal(t, 429, resp.StatusCode, "with the key in the body too")
	ev := `{"writeKey":"` + floodKey + `","userId":"u","event":"Email Opened"}`
	resp = answer(t, h, pixel("track", data(base64.StdEncoding, ev)))
	assert.Equal(t, 429, resp.StatusCode, "and in the pixel")
	assert.Equal(t, "4", resp.Headers["Retry-After"])
	assertGIF(t, resp)

	resp = answer(t, h, post("/v1/track", track, "authorization", basic(serverKey)))
	assert.Equal(t, 200, resp.StatusCode, "another source is taken as before")
	assert.Equal(t, 1, strings.Count(log.String(), `"msg":"source over its rate","sourceId":"src_flood"`), "a flood is logged when it starts")
	assert.Equal(t, 1, strings.Count(log.String(), `"status":429`), "not once a request: %s", log.String())

	now = now.Add(4 * time.Second)
	resp = answer(t, h, post("/v1/track", track, "authorization", basic(floodKey)))
	assert.Equal(t, 200, resp.StatusCode, "after Retry-After")
}
