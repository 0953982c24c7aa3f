package main

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
)

// A message id is the sender's choice: it tells an event sent again only within one source and one
// visitor. Events of other sources or visitors with the same id are other events.
func TestMessageIDsAreScopedBySourceAndVisitor(t *testing.T) {
	ctx := context.Background()
	run := func(st *stack, seq string, evs ...beacon.Event) {
		t.Helper()
		recs := make([]events.KinesisEventRecord, len(evs))
		for i, e := range evs {
			recs[i] = record(t, seq+string(rune('a'+i)), e)
		}
		require.Empty(t, st.run(t, events.KinesisEvent{Records: recs}).BatchItemFailures)
	}
	counted := func(st *stack, id identity.ID) int {
		t.Helper()
		p, err := st.store.Lookup(ctx, id)
		require.NoError(t, err)
		return p.Counts.Events
	}
	event := func(src, anon string, minute int, timed bool) beacon.Event {
		e := beaconEvent(beacon.Track, "1", anon, "", minute)
		e.Event, e.SourceID = "Viewed", src
		if timed {
			at := e.Timestamp
			e.OriginalTimestamp = &at
		}
		return e
	}

	for _, timed := range []bool{false, true} {
		name := map[bool]string{false: "without a time of their own", true: "with their own times"}[timed]
		t.Run(name, func(t *testing.T) {
			// Two sources, one visitor, one message id: in one batch, then in batches of their own.
			st := newStack(t)
			run(st, "1", event("src_a", anon1, 0, timed), event("src_b", anon1, 1, timed))
			require.Equal(t, 2, counted(st, identity.AnonymousID(anon1)), "two sources in one batch")
			run(st, "2", event("src_c", anon1, 2, timed))
			require.Equal(t, 3, counted(st, identity.AnonymousID(anon1)), "a third source later")

			// Two visitors, one source, one message id.
			run(st, "3", event("src_a", anon2, 3, timed))
			require.Equal(t, 1, counted(st, identity.AnonymousID(anon2)), "another visitor")

			// The same source, visitor and id again, in one batch and later: once.
			again := event("src_a", anon1, 0, timed)
			again.ReceivedAt = again.ReceivedAt.Add(time.Minute) // a retry is received later
			if !timed {
				again.Timestamp = again.ReceivedAt
			}
			run(st, "4", again, again)
			require.Equal(t, 3, counted(st, identity.AnonymousID(anon1)), "sent again")
		})
	}
}
