package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// On the real wiring: an event dated in the year 9999 goes on the stream at its receipt time with
// the sender's time kept in originalTimestamp; a browser's event from a month ago is refused.
func TestEventTimesAreClampedOnTheStream(t *testing.T) {
	e := localawstest.Reachable(t)
	h, env := wiredHandler(t, 1)
	h.now = func() time.Time { return clock }

	resp := answer(t, h, post("/v1/track", `{"anonymousId":"a1","event":"E","messageId":"m-future","timestamp":"9999-12-31T23:59:59Z"}`,
		"authorization", basic(browserKey)))
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	resp = answer(t, h, post("/v1/track", `{"anonymousId":"a1","event":"E","messageId":"m-old","timestamp":"2024-02-01T12:00:00Z"}`,
		"authorization", basic(browserKey)))
	require.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "timestamp is 29 days before receipt; a browser source's events may be at most 7 days old: send history from a server (trusted) source", errorBody(t, resp))
	resp = answer(t, h, post("/v1/track", `{"userId":"u1","event":"E","messageId":"m-import","timestamp":"2024-02-01T12:00:00Z"}`,
		"authorization", basic(serverKey)))
	require.Equal(t, 200, resp.StatusCode, "a server imports history")

	var got map[string]record
	require.Eventually(t, func() bool {
		got = readStream(t, e.KinesisClient(), env[topology.Default().EnvVar(topology.EventStream)])
		return len(got) >= 2
	}, 10*time.Second, 100*time.Millisecond)
	require.Len(t, got, 2)
	future := got["m-future"].event
	assert.Equal(t, clock, future.Timestamp)
	require.NotNil(t, future.OriginalTimestamp)
	assert.Equal(t, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), *future.OriginalTimestamp, "the sender's time is kept")
	assert.Nil(t, future.SenderTime())
	assert.Equal(t, time.Date(2024, 2, 1, 12, 0, 0, 0, time.UTC), got["m-import"].event.Timestamp)
}
