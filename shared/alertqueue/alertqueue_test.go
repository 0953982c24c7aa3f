package alertqueue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/alert"
	"github.com/dcrm-project/dcrm/shared/lapse"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// lapseAlert is the alert the score function sends for a customer unseen for 40 days.
func lapseAlert() alert.Lapse {
	lastSeen := time.Date(2025, 1, 10, 9, 30, 0, 0, time.UTC)
	at := lastSeen.Add(40 * 24 * time.Hour)
	p := profile.Profile{ID: "prf_1", UserID: "u-1", AnonymousIDs: []string{"a-1"}, LastSeen: lastSeen, Revenue: 120}
	sc := profile.Score{Value: &profile.Value{PAlive: 0.12, CLV: 35.2}, RFM: &profile.RFMScore{Segment: "At Risk"}}
	a := lapse.Alert{ProfileID: p.ID, UserID: p.UserID, At: at, Risk: lapse.Risk{Score: 0.88, PAlive: 0.12}, Value: 35.2,
		Reason: "lapse risk 0.88: P(alive) 0.12; value 35.20"}
	return alert.NewLapse(p, sc, a, time.Time{})
}

func TestSendAndReceive(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	q := New(e.SQSClient(), localawstest.NewQueue(t))

	sent := lapseAlert()
	require.NoError(t, q.Send(ctx, sent))

	var got []Delivery
	require.Eventually(t, func() bool {
		ds, err := q.Receive(ctx, 10, time.Second)
		require.NoError(t, err)
		got = append(got, ds...)
		return len(got) > 0
	}, 15*time.Second, 10*time.Millisecond)
	require.Len(t, got, 1)
	d := got[0]
	require.Equal(t, alert.TypeLapse, d.Type)
	require.Equal(t, alert.LapseVersion, d.Version)

	var back alert.Lapse
	require.NoError(t, json.Unmarshal(d.Body, &back))
	require.Equal(t, sent, back)

	c := jsonschema.NewCompiler()
	c.AssertFormat()
	schema, err := c.Compile(filepath.Join("..", "..", "events", "schemas", "alert-lapse.v2.json"))
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(d.Body))
	require.NoError(t, err)
	require.NoError(t, schema.Validate(doc), "the message as received matches its schema")

	require.NoError(t, q.Delete(ctx, d))
	ds, err := q.Receive(ctx, 10, 0)
	require.NoError(t, err)
	require.Empty(t, ds, "deleted message came back")
}

func TestInvalidMessageIsNotSent(t *testing.T) {
	e := localawstest.Reachable(t)
	q := New(e.SQSClient(), localawstest.NewQueue(t))
	err := q.Send(context.Background(), alert.Lapse{Type: alert.TypeLapse, Version: alert.LapseVersion})
	require.True(t, errors.Is(err, alert.ErrInvalid), "err = %v", err)
	ds, err := q.Receive(context.Background(), 10, 0)
	require.NoError(t, err)
	require.Empty(t, ds)
}

// tagged is a message with an attribute of its own, as trigger messages carry their kind.
type tagged struct{ alert.Lapse }

func (tagged) MessageAttributes() map[string]string {
	return map[string]string{"kind": "k1", "type": "not-this"}
}

func TestMessagesCarryTheirOwnAttributes(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	q := New(e.SQSClient(), localawstest.NewQueue(t))
	m := tagged{lapseAlert()}
	require.NoError(t, q.Send(ctx, m))
	var got []Delivery
	require.Eventually(t, func() bool {
		ds, err := q.Receive(ctx, 10, time.Second)
		require.NoError(t, err)
		got = append(got, ds...)
		return len(got) > 0
	}, 15*time.Second, 10*time.Millisecond)
	require.Equal(t, alert.TypeLapse, got[0].Type, "a message's own attributes never replace type")
	require.Equal(t, map[string]string{"kind": "k1"}, got[0].Attributes)
}
