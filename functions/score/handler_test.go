package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/alert"
	"github.com/dcrm-project/dcrm/shared/alertqueue"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/scoring"
)

var (
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	// scheduled is the time of the golden scheduler event.
	scheduled = time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC)
)

func golden(t *testing.T) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "scheduler", "score.json"))
	require.NoError(t, err)
	return raw
}

type stack struct {
	h      *handler
	store  *profilestore.Store
	alerts *alertqueue.Queue
	n      int
}

func newStack(t *testing.T) *stack {
	t.Helper()
	e := localaws.Reachable(t)
	tables := profilestore.Tables{
		Profiles:   localaws.NewTopologyTable(t, topology.ProfileTable),
		Identities: localaws.NewTopologyTable(t, topology.IdentityTable),
	}
	st := &stack{store: profilestore.New(e.Dynamo(), tables), alerts: alertqueue.New(e.SQSClient(), localaws.NewQueue(t))}
	st.h = &handler{store: st.store, alerts: st.alerts, lapseAfter: 720 * time.Hour, now: time.Now, log: quiet}
	return st
}

// seen records n page views of a visitor (and, with a user id, one identify), the last at last.
func (st *stack) seen(t *testing.T, anon, user string, n int, last time.Time) {
	t.Helper()
	for i := range n {
		st.n++
		a := profile.Activity{MessageID: fmt.Sprintf("m%d", st.n), Type: beacon.Page, AnonymousID: anon, At: last.Add(-time.Duration(n-1-i) * time.Minute)}
		if user != "" && i == n-1 {
			a.Type, a.UserID = beacon.Identify, user
		}
		_, err := st.store.Record(context.Background(), a)
		require.NoError(t, err)
	}
}

func (st *stack) profile(t *testing.T, id identity.ID) profile.Profile {
	t.Helper()
	p, err := st.store.Lookup(context.Background(), id)
	require.NoError(t, err)
	return p
}

// drain receives every alert on the queue; it waits until at least want have arrived, then makes
// sure no more come.
func (st *stack) drain(t *testing.T, want int) []alertqueue.Delivery {
	t.Helper()
	ctx := context.Background()
	var got []alertqueue.Delivery
	receive := func(wait time.Duration) {
		ds, err := st.alerts.Receive(ctx, 10, wait)
		require.NoError(t, err)
		for _, d := range ds {
			require.NoError(t, st.alerts.Delete(ctx, d))
		}
		got = append(got, ds...)
	}
	require.Eventually(t, func() bool { receive(0); return len(got) >= want }, 15*time.Second, 20*time.Millisecond)
	receive(time.Second)
	require.Len(t, got, want)
	return got
}

func TestScoresAndOneAlertPerLapse(t *testing.T) {
	st := newStack(t)
	st.seen(t, "a-lapsed", "u-lapsed", 3, scheduled.Add(-42*24*time.Hour))
	st.seen(t, "a-active", "", 12, scheduled.Add(-50*time.Hour))
	st.seen(t, "a-desk", "u-two", 2, scheduled.Add(-10*24*time.Hour))
	st.seen(t, "a-phone", "u-two", 2, scheduled.Add(-9*24*time.Hour)) // merges into u-two's profile

	sum, err := st.h.handle(context.Background(), golden(t))
	require.NoError(t, err)
	require.Equal(t, summary{AsOf: scheduled, Scored: 3, AlertsSent: 1}, sum, "merged profiles are not scored")

	lapsed := st.profile(t, identity.UserID("u-lapsed"))
	require.Equal(t, &scoring.Score{RecencyDays: 42, Frequency: 3, RecencyScore: 3, FrequencyScore: 2, Score: 3, Segment: scoring.NeedsAttention, ScoredAt: scheduled}, lapsed.Score)
	require.Equal(t, scheduled, lapsed.LapseAlertedAt)
	active := st.profile(t, identity.AnonymousID("a-active"))
	require.Equal(t, &scoring.Score{RecencyDays: 2, Frequency: 12, RecencyScore: 5, FrequencyScore: 3, Score: 4, Segment: scoring.Promising, ScoredAt: scheduled}, active.Score)
	require.True(t, active.LapseAlertedAt.IsZero())
	two := st.profile(t, identity.UserID("u-two"))
	require.Equal(t, &scoring.Score{RecencyDays: 9, Frequency: 4, RecencyScore: 4, FrequencyScore: 2, Score: 3, Segment: scoring.Promising, ScoredAt: scheduled}, two.Score)

	// A second run, later, raises nothing new.
	st.h.now = func() time.Time { return scheduled.Add(time.Hour) }
	sum, err = st.h.handle(context.Background(), json.RawMessage(`{}`))
	require.NoError(t, err)
	require.Equal(t, summary{AsOf: scheduled.Add(time.Hour), Scored: 3, AlertsSent: 0}, sum)

	got := st.drain(t, 1)
	require.Equal(t, alert.TypeLapse, got[0].Type)
	require.Equal(t, 1, got[0].Version)
	var l alert.Lapse
	require.NoError(t, json.Unmarshal(got[0].Body, &l))
	require.Equal(t, alert.Lapse{
		Type: "lapse", Version: 1, AlertID: alert.LapseID(lapsed.ID, lapsed.LastSeen), ProfileID: lapsed.ID,
		UserID: "u-lapsed", AnonymousIDs: []string{"a-lapsed"}, LastSeen: scheduled.Add(-42 * 24 * time.Hour),
		InactiveDays: 42, RaisedAt: scheduled,
	}, l)

	c := jsonschema.NewCompiler()
	c.AssertFormat()
	schema, err := c.Compile(filepath.Join("..", "..", "events", "schemas", "alert-lapse.v1.json"))
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(got[0].Body))
	require.NoError(t, err)
	require.NoError(t, schema.Validate(doc), "the alert as sent matches its schema")

	// The customer comes back, then lapses again: that is a new lapse, with a new alert.
	st.seen(t, "a-lapsed", "", 1, scheduled.Add(2*24*time.Hour))
	st.h.now = func() time.Time { return scheduled.Add(40 * 24 * time.Hour) }
	sum, err = st.h.handle(context.Background(), json.RawMessage(`null`))
	require.NoError(t, err)
	require.Equal(t, int64(3), sum.AlertsSent, "every profile has lapsed by now")
	var again alert.Lapse
	for _, d := range st.drain(t, 3) {
		var x alert.Lapse
		require.NoError(t, json.Unmarshal(d.Body, &x))
		if x.ProfileID == lapsed.ID {
			again = x
		}
	}
	require.NotEqual(t, l.AlertID, again.AlertID)
	require.Equal(t, 38, again.InactiveDays)
}

// failingMark makes the first MarkLapseAlerted fail, as a crash after sending would.
type failingMark struct {
	*profilestore.Store
	failed bool
}

func (f *failingMark) MarkLapseAlerted(ctx context.Context, id string, lastSeen, previous, at time.Time) error {
	if !f.failed {
		f.failed = true
		return errors.New("connection reset")
	}
	return f.Store.MarkLapseAlerted(ctx, id, lastSeen, previous, at)
}

func TestAlertIsResentNotLostAfterACrash(t *testing.T) {
	st := newStack(t)
	st.seen(t, "a-lapsed", "", 2, scheduled.Add(-60*24*time.Hour))
	st.h.store = &failingMark{Store: st.store}

	_, err := st.h.handle(context.Background(), golden(t))
	require.ErrorContains(t, err, "connection reset")
	sum, err := st.h.handle(context.Background(), golden(t))
	require.NoError(t, err)
	require.Equal(t, int64(1), sum.AlertsSent)
	sum, err = st.h.handle(context.Background(), golden(t))
	require.NoError(t, err)
	require.Equal(t, int64(0), sum.AlertsSent)

	got := st.drain(t, 2)
	var first, second alert.Lapse
	require.NoError(t, json.Unmarshal(got[0].Body, &first))
	require.NoError(t, json.Unmarshal(got[1].Body, &second))
	require.Equal(t, first.AlertID, second.AlertID, "a re-sent alert carries the same alertId")
}

func TestAnyJSONEvent(t *testing.T) {
	clock := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	for _, ev := range []string{`{}`, `null`, `"run now"`, `[1,2]`, `{"time":"not a time"}`} {
		require.Equal(t, clock, asOf(json.RawMessage(ev), now), ev)
	}
	require.Equal(t, time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC), asOf(golden(t), now))
}

func TestSetupReadsTheEnvironment(t *testing.T) {
	top := topology.Default()
	env := map[string]string{
		top.EnvVar(topology.ProfileTable): "p",
		top.EnvVar(topology.AlertQueue):   "http://127.0.0.1:9324/000000000000/alerts",
		topology.SettingLapseAfter:        "720h",
		"AWS_REGION":                      localaws.Region,
	}
	getenv := func(k string) string { return env[k] }
	h, err := setup(context.Background(), getenv, quiet)
	require.NoError(t, err)
	require.Equal(t, 720*time.Hour, h.lapseAfter)

	for _, bad := range []string{"", "30 days", "-1h"} {
		env[topology.SettingLapseAfter] = bad
		_, err = setup(context.Background(), getenv, quiet)
		require.ErrorContains(t, err, "DCRM_LAPSE_AFTER")
	}
	env[topology.SettingLapseAfter] = "720h"
	delete(env, top.EnvVar(topology.AlertQueue))
	_, err = setup(context.Background(), getenv, quiet)
	require.ErrorContains(t, err, "DCRM_ALERTS_QUEUE_URL")
}
