package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// received drains the profile-updates queue until it holds n messages, checking each against the
// schema of its type and its message attributes against its body.
func (st *stack) received(t *testing.T, n int) []messagequeue.Delivery {
	t.Helper()
	var got []messagequeue.Delivery
	require.Eventually(t, func() bool {
		ds, err := st.updates.Receive(context.Background(), 10, 0)
		require.NoError(t, err)
		for _, d := range ds {
			require.NoError(t, st.updates.Delete(context.Background(), d))
			var head struct {
				Type    string `json:"type"`
				Version int    `json:"version"`
			}
			require.NoError(t, json.Unmarshal(d.Body, &head))
			require.Equal(t, head.Type, d.Type, "type attribute")
			require.Equal(t, 1, d.Version, "version attribute")
			require.Equal(t, 1, head.Version)
			require.Contains(t, []string{message.TypeProfileUpdated, message.TypeProfileMerged}, d.Type)
			require.NoError(t, schemas.Validate(d.Type, d.Version, d.Body), "%s matches its schema: %s", d.Type, d.Body)
			got = append(got, d)
		}
		return len(got) >= n
	}, 15*time.Second, 20*time.Millisecond)
	require.Len(t, got, n)
	return got
}

func byType(t *testing.T, ds []messagequeue.Delivery) ([]message.ProfileUpdated, []message.ProfileMerged) {
	t.Helper()
	var ups []message.ProfileUpdated
	var ms []message.ProfileMerged
	for _, d := range ds {
		switch d.Type {
		case message.TypeProfileUpdated:
			var u message.ProfileUpdated
			require.NoError(t, json.Unmarshal(d.Body, &u))
			ups = append(ups, u)
		case message.TypeProfileMerged:
			var m message.ProfileMerged
			require.NoError(t, json.Unmarshal(d.Body, &m))
			ms = append(ms, m)
		}
	}
	return ups, ms
}

func TestOneUpdatePerChangedProfilePerBatch(t *testing.T) {
	st := newStack(t)
	batch := goldenBatch(t)
	require.Empty(t, st.run(t, batch).BatchItemFailures)
	p, err := st.store.Lookup(context.Background(), identity.UserID(userID))
	require.NoError(t, err)

	ups, ms := byType(t, st.received(t, 2))
	require.Len(t, ups, 1, "the merged-away profile is announced by profile.merged, not updated")
	require.Len(t, ms, 1)
	u := ups[0]
	require.Equal(t, p.ID, u.ProfileID)
	require.Equal(t, message.UpdatedID(p.ID, u.ProfileVersion), u.MessageID)
	require.Equal(t, message.Counts(p.Counts), u.Counts)
	require.Equal(t, p.LastSeen, u.LastSeen)
	require.Equal(t, p.MergedFrom, u.AllMergedFrom)
	require.Equal(t, p.MergedFrom, u.Changes.MergedFrom)
	require.Contains(t, u.Changes.IdentifiersAdded, identity.UserID(userID).String())
	require.Subset(t, u.Changes.TraitsChanged, []string{"email", "firstName", "plan"})
	require.Positive(t, u.Changes.Events)
	require.Equal(t, message.ProfileMerged{Type: message.TypeProfileMerged, Version: 1, MessageID: ms[0].MessageID,
		From: p.MergedFrom[0], Into: p.ID, MergedAt: *st.clock}, ms[0])

	// A replay changes nothing, and publishes the same version under the same messageId again
	// (at least once), with nothing in its change summary.
	require.Empty(t, st.run(t, batch).BatchItemFailures)
	again, ms := byType(t, st.received(t, 1))
	require.Empty(t, ms)
	require.Equal(t, u.MessageID, again[0].MessageID)
	require.Equal(t, u.Counts, again[0].Counts)
	require.Zero(t, again[0].Changes.Events)
}

// versionStore records every event on the profile "p-<anonymousId>", one version per event.
type versionStore struct{ versions map[string]int }

func (s *versionStore) RecordAll(_ context.Context, in []recording.Input) []recording.Outcome {
	out := make([]recording.Outcome, len(in))
	for i, x := range in {
		a := x.Activity
		id := "p-" + a.AnonymousID
		s.versions[id]++
		out[i].Result = recording.Result{ProfileID: id, Version: s.versions[id], Profile: profile.Profile{ID: id, AnonymousIDs: []string{a.AnonymousID}},
			Added: []string{identity.AnonymousID(a.AnonymousID).String()}}
	}
	return out
}

// failingFor fails to send the messages about one profile and keeps the rest.
type failingFor struct {
	profileID string
	sent      *[]message.Message
}

func (f failingFor) SendAll(_ context.Context, ms []message.Message) []error {
	errs := make([]error, len(ms))
	for i, m := range ms {
		if u, ok := m.(message.ProfileUpdated); ok && u.ProfileID == f.profileID {
			errs[i] = errors.New("queue down")
			continue
		}
		*f.sent = append(*f.sent, m)
	}
	return errs
}

func TestUnpublishedUpdateRetriesFromTheLastRecordOfItsProfile(t *testing.T) {
	var sent []message.Message
	h := &handler{store: &versionStore{versions: map[string]int{}}, failed: fakeQueue{}, updates: failingFor{"p-b", &sent}, feed: &fakeFeed{}, now: time.Now, log: quiet}
	batch := events.KinesisEvent{Records: []events.KinesisEventRecord{
		record(t, "1", beaconEvent(beacon.Page, "m1", "a", "", 0)),
		record(t, "2", beaconEvent(beacon.Page, "m2", "b", "", 1)),
		record(t, "3", beaconEvent(beacon.Page, "m3", "b", "", 2)),
		record(t, "4", beaconEvent(beacon.Page, "m4", "a", "", 3)),
	}}
	resp, err := h.handle(context.Background(), batch)
	require.NoError(t, err)
	require.Equal(t, []events.KinesisBatchItemFailure{{ItemIdentifier: "3"}}, resp.BatchItemFailures,
		"retried from the last record that changed p-b")
	require.Len(t, sent, 1, "one coalesced update for p-a")
	u := sent[0].(message.ProfileUpdated)
	require.Equal(t, "p-a:2", u.MessageID)
	require.Equal(t, 2, u.Changes.Events)
	require.Equal(t, []string{"anonymousId:a"}, u.Changes.IdentifiersAdded)
}

// A batch as the stream mapping hands it under load (100 records, most of them new visitors) sends
// its profile updates and its failed events ten to an SQS call, not one call each.
func TestABatchSendsItsMessagesTenToACall(t *testing.T) {
	st := newStack(t)
	proxy := localawstest.NewSQSProxy(t)
	client := proxy.Client(t)
	st.updates, st.failed = messagequeue.New(client, localawstest.NewQueue(t)), messagequeue.New(client, localawstest.NewQueue(t))
	st.h.updates, st.h.failed = st.updates, st.failed
	var batch events.KinesisEvent
	for i := range 97 {
		visitor := fmt.Sprintf("a-%d", i%95) // two visitors come back within the batch
		batch.Records = append(batch.Records, record(t, strconv.Itoa(i), beaconEvent(beacon.Page, fmt.Sprintf("m-%d", i), visitor, "", i%60)))
	}
	for i := range 3 {
		batch.Records = append(batch.Records, poison(strconv.Itoa(97+i), "not JSON"))
	}
	require.Empty(t, st.run(t, batch).BatchItemFailures)

	require.Zero(t, proxy.Calls("SendMessage"))
	require.Equal(t, []int{3, 10, 10, 10, 10, 10, 10, 10, 10, 10, 5}, proxy.BatchSizes(),
		"the 3 failed events, then the 95 profiles' updates")
	ups, _ := byType(t, st.received(t, 95))
	require.Len(t, ups, 95)
	require.Len(t, st.failedMessages(t, 3), 3)
}

// profile.updated carries the person's audiences and the latest score in brief, as its schema says.
func TestProfileUpdatedCarriesScoresAndAudiences(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := profile.Profile{ID: "prf_1", AnonymousIDs: []string{"a-1"}, UpdatedAt: at,
		Audiences: []profile.Membership{{Audience: "buyers", Since: at}, {Audience: "vip", Since: at}},
		Score: &profile.Score{ScoredAt: at, Cluster: "High-spending, frequent, recent",
			RFM:         &profile.RFMScore{Variant: profile.VariantRFM, Score: 543, Segment: "Champions", R: 5, F: 4, M: 3},
			Value:       &profile.Value{PAlive: 0.8, CLV: 120.5},
			Lapse:       &profile.LapseRisk{Risk: 0.2},
			NextActions: []profile.NextAction{{Kind: "recommend-product", Product: "tent"}}}}
	u := updated(p, 3, message.ProfileChanges{Events: 1})
	body, err := json.Marshal(u)
	require.NoError(t, err)
	require.NoError(t, schemas.Validate(u.Type, u.Version, body), string(body))
	require.Equal(t, []string{"buyers", "vip"}, u.Audiences)
	require.Equal(t, 543, u.Score.RFM)
	require.Equal(t, "Champions", u.Score.Segment)
	require.Equal(t, 120.5, *u.Score.CLV)
	require.Equal(t, 0.2, *u.Score.LapseRisk)
	require.Equal(t, "recommend-product", u.Score.NextAction)

	// Never scored, in no audience: no score, and an empty list.
	u = updated(profile.Profile{ID: "prf_2", UpdatedAt: at}, 1, message.ProfileChanges{})
	body, err = json.Marshal(u)
	require.NoError(t, err)
	require.NoError(t, schemas.Validate(u.Type, u.Version, body), string(body))
	require.Contains(t, string(body), `"audiences":[]`)
	require.NotContains(t, string(body), `"score"`)
}
