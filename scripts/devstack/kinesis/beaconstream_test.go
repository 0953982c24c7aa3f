package kinesis_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/kinesis"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/beaconstream"
)

// The faults as a test of dcrm's own adapter uses them: collect's stream (shared/beaconstream)
// retries the records PutRecords refuses, so a partial failure loses nothing, and reports the
// stream throttled when the refusals outlast its retries.
func TestBeaconStreamThroughPartialFailures(t *testing.T) {
	srv := kinesis.New(kinesis.Options{})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	k := client(hs.URL)
	name := newStream(t, k, 2)
	noWait := beaconstream.WithSleep(func(context.Context, time.Duration) error { return nil })
	events := func(from, n int) []beacon.Event {
		var evs []beacon.Event
		for i := from; i < from+n; i++ {
			evs = append(evs, beacon.Event{Type: beacon.Track, MessageID: fmt.Sprintf("m%d", i), AnonymousID: fmt.Sprintf("a%d", i),
				Event: "E", Timestamp: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), SourceID: "src"})
		}
		return evs
	}

	_, err := srv.Inject(kinesis.Fault{PerRecord: true, Error: "ProvisionedThroughputExceededException", Count: 4})
	require.NoError(t, err)
	require.NoError(t, beaconstream.New(k, name, noWait).Put(t.Context(), events(0, 10)))

	_, err = srv.Inject(kinesis.Fault{PerRecord: true, Error: "ProvisionedThroughputExceededException", Fraction: 1})
	require.NoError(t, err)
	err = beaconstream.New(k, name, noWait).Put(t.Context(), events(10, 3))
	assert.ErrorIs(t, err, beaconstream.ErrThrottled, "refused on every try: throttled")
	srv.ClearFaults()

	seen := map[string]int{}
	for _, shard := range listShards(t, k, name, 0) {
		for _, r := range readAll(t, k, name, shard, "TRIM_HORIZON", nil) {
			evs, err := beacon.DecodeRecord(r.Data)
			require.NoError(t, err)
			for _, e := range evs {
				seen[e.MessageID]++
			}
		}
	}
	for i := range 10 {
		assert.Equal(t, 1, seen[fmt.Sprintf("m%d", i)], "m%d on the stream once", i)
	}
	assert.Len(t, seen, 10, "nothing of the refused put is on the stream")
}
