package main

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/source"
)

// An event dated in the year 9999 is recorded at its receipt time, as collect stamps it: the
// profile's last activity, its history and what comes after it see the receipt time, not the
// sender's claim.
func TestAnEventFromTheFarFutureIsRecordedWhenReceived(t *testing.T) {
	st := newStack(t)
	received := *st.clock
	collected := func(body string, at time.Time) beacon.Event {
		p, err := beacon.Decode(beacon.Track, []byte(body))
		require.NoError(t, err)
		evs, err := p.Events(source.Source{ID: "src_shop"}, at, nil)
		require.NoError(t, err)
		return evs[0]
	}
	future := collected(`{"anonymousId":"`+anon1+`","event":"Viewed","messageId":"m-9999","timestamp":"9999-12-31T23:59:59Z"}`, received.Add(-time.Hour))
	later := collected(`{"anonymousId":"`+anon1+`","event":"Viewed","messageId":"m-later"}`, received)
	require.Empty(t, st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{record(t, "1", future), record(t, "2", later)}}).BatchItemFailures)

	p, err := st.store.Lookup(context.Background(), identity.AnonymousID(anon1))
	require.NoError(t, err)
	require.Equal(t, received, p.LastSeen, "the latest activity is the latest received")
	require.Equal(t, received.Add(-time.Hour), p.FirstSeen)
	page, err := st.store.History(context.Background(), p.ID, history.Query{})
	require.NoError(t, err)
	require.Len(t, page.Touchpoints, 2)
	require.Equal(t, "m-later", page.Touchpoints[0].MessageID, "newest first: the far-future event is not")
	require.Equal(t, received.Add(-time.Hour), page.Touchpoints[1].At)

	// Sent again, it is still recorded once.
	require.Empty(t, st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{record(t, "3", future)}}).BatchItemFailures)
	p, err = st.store.Lookup(context.Background(), identity.AnonymousID(anon1))
	require.NoError(t, err)
	require.Equal(t, 2, p.Counts.Events)
}
