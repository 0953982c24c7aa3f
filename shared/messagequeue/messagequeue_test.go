package messagequeue

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
)

// lapseAlert is the alert the score function sends for a customer unseen for 40 days.
func lapseAlert() message.Lapse {
	lastSeen := time.Date(2025, 1, 10, 9, 30, 0, 0, time.UTC)
	clv := 35.2
	return message.NewLapse(message.Lapse{ProfileID: "prf_1", UserID: "u-1", AnonymousIDs: []string{"a-1"}, LastSeen: lastSeen,
		InactiveDays: 40, Risk: 0.88, PAlive: 0.12, Value: clv, CLV: &clv, Revenue: 120, Segment: "At Risk",
		Reason: "lapse risk 0.88: P(alive) 0.12; value 35.20", RaisedAt: lastSeen.Add(40 * calendar.Day)}, time.Time{})
}

// receiveOne waits for the one message on q.
func receiveOne(t *testing.T, q *Queue) Delivery {
	t.Helper()
	var got []Delivery
	require.Eventually(t, func() bool {
		ds, err := q.Receive(context.Background(), 10, time.Second)
		require.NoError(t, err)
		got = append(got, ds...)
		return len(got) > 0
	}, 15*time.Second, 10*time.Millisecond)
	require.Len(t, got, 1)
	return got[0]
}

func TestSendAndReceive(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	q := New(e.SQSClient(), localawstest.NewQueue(t))

	sent := lapseAlert()
	require.NoError(t, q.Send(ctx, sent))

	d := receiveOne(t, q)
	require.Equal(t, message.TypeLapse, d.Type)
	require.Equal(t, message.LapseVersion, d.Version)

	var back message.Lapse
	require.NoError(t, json.Unmarshal(d.Body, &back))
	require.Equal(t, sent, back)

	require.NoError(t, schemas.Validate(d.Type, d.Version, d.Body), "the message as received matches its schema")

	require.NoError(t, q.Delete(ctx, d))
	ds, err := q.Receive(ctx, 10, 0)
	require.NoError(t, err)
	require.Empty(t, ds, "deleted message came back")
}

func TestInvalidMessageIsNotSent(t *testing.T) {
	e := localawstest.Reachable(t)
	q := New(e.SQSClient(), localawstest.NewQueue(t))
	err := q.Send(context.Background(), message.Lapse{Type: message.TypeLapse, Version: message.LapseVersion})
	require.True(t, errors.Is(err, message.ErrInvalid), "err = %v", err)
	ds, err := q.Receive(context.Background(), 10, 0)
	require.NoError(t, err)
	require.Empty(t, ds)
}

// tagged is a message with an attribute of its own, as trigger messages carry their kind.
type tagged struct{ message.Lapse }

func (tagged) MessageAttributes() map[string]string {
	return map[string]string{"kind": "k1", "type": "not-this"}
}

func TestMessagesCarryTheirOwnAttributes(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	q := New(e.SQSClient(), localawstest.NewQueue(t))
	m := tagged{lapseAlert()}
	require.NoError(t, q.Send(ctx, m))
	d := receiveOne(t, q)
	require.Equal(t, message.TypeLapse, d.Type, "a message's own attributes never replace type")
	require.Equal(t, map[string]string{"kind": "k1"}, d.Attributes)
}
