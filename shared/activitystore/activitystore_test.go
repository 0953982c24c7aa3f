package activitystore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activity"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
)

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

// newStore is a store over a fresh table, keeping entries a century: t0 is in the past, and
// DynamoDB Local's time-to-live sweeps what expired.
func newStore(t *testing.T) *Store {
	t.Helper()
	return New(localawstest.Reachable(t).Dynamo(), localawstest.NewTopologyTable(t, topology.ActivityTable)).WithRetention(100 * 365 * 24 * time.Hour)
}

// On DynamoDB Local: entries written are read back as they were, newest first, a kind's day one
// query; the same message written again (a retried run) is one entry; counts by kind; an
// invalid entry is refused before it is written.
func TestWriteAndRead(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	basket := activity.Entry{At: t0, Kind: message.KindAbandonedBasket, MessageID: "m-basket", ProfileID: "prf_1", Channel: "Triggers",
		Reason: "1 item worth 199.00 left in the basket", Facts: map[string]float64{"items": 1, "value": 199}}
	lapse := activity.Entry{At: t0.Add(time.Minute), Kind: activity.KindLapse, MessageID: "m-lapse", ProfileID: "prf_2", Channel: "Alerts",
		Reason: "lapse risk 0.91", Facts: map[string]float64{"risk": 0.91, "threshold": 0.8}}
	action := activity.Entry{At: t0.Add(2 * time.Minute), Kind: activity.KindAudit, MessageID: "req-1", Route: "POST /v1/profiles/{profileId}/split",
		Targets: map[string]string{"profileId": "prf_1", "splitId": "prf_3"}, KeyID: "user:ada", KeyName: "ada", Status: 200, Outcome: "OK"}
	for _, e := range []activity.Entry{basket, lapse, action, basket} {
		require.NoError(t, s.Write(ctx, e))
	}
	for i := range 3 {
		require.NoError(t, s.Write(ctx, activity.Entry{At: t0.Add(-time.Duration(i+1) * time.Hour), Kind: message.KindAbandonedBasket,
			MessageID: fmt.Sprintf("older-%d", i), ProfileID: "prf_9", Reason: "r"}))
	}
	require.ErrorIs(t, s.Write(ctx, activity.Entry{At: t0, Kind: "birthday", MessageID: "x", ProfileID: "p", Reason: "r"}), activity.ErrInvalid)

	page, err := s.Page(ctx, activity.Query{Day: "2026-03-01", Kinds: activity.AlertKinds, Limit: 2})
	require.NoError(t, err)
	require.Len(t, page.Entries, 2)
	require.Equal(t, lapse, page.Entries[0])
	require.Equal(t, basket, page.Entries[1])
	require.NotEmpty(t, page.Next)
	rest, err := s.Page(ctx, activity.Query{Day: "2026-03-01", Kinds: activity.AlertKinds, Limit: 50, Cursor: page.Next})
	require.NoError(t, err)
	require.Len(t, rest.Entries, 3)
	require.Equal(t, "older-0", rest.Entries[0].MessageID)
	require.Empty(t, rest.Next)

	audit, err := s.Page(ctx, activity.Query{Day: "2026-03-01", Kinds: []string{activity.KindAudit}, Limit: 50})
	require.NoError(t, err)
	require.Equal(t, []activity.Entry{action}, audit.Entries)
	none, err := s.Page(ctx, activity.Query{Day: "2026-03-02", Kinds: activity.AlertKinds, Limit: 50})
	require.NoError(t, err)
	require.Empty(t, none.Entries)
	require.Empty(t, none.Next)

	counts, complete, err := s.Counts(ctx, "2026-03-01", activity.AlertKinds)
	require.NoError(t, err)
	require.True(t, complete)
	require.Equal(t, map[string]int64{message.KindAbandonedBasket: 4, message.KindAbandonedBrowse: 0, message.KindAbandonedForm: 0,
		message.KindReturningProspect: 0, message.KindReturningLapsed: 0, activity.KindLapse: 1}, counts)

	// The item: its keys, and its time-to-live in epoch seconds, 90 days on.
	kept := New(s.db, s.name)
	recent := basket
	recent.At = time.Now().UTC().Truncate(time.Second)
	require.NoError(t, kept.Write(ctx, recent))
	out, err := s.db.Client().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.name), Key: map[string]typesAV{
		"log": str("abandoned-basket#" + activity.Day(recent.At)), "at": str(recent.At.Format("2006-01-02T15:04:05") + ".000000000Z#m-basket")}})
	require.NoError(t, err)
	require.NotNil(t, out.Item)
	require.Equal(t, fmt.Sprint(recent.At.Add(90*24*time.Hour).Unix()), number(out.Item["expiresAt"]))
	require.NotContains(t, out.Item, "route", "an alert has no audit fields")
}

type typesAV = types.AttributeValue

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func number(v types.AttributeValue) string {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return fmt.Sprintf("not a number: %T", v)
}

// An erasure forgets the person: their alerts are deleted; an action on them stays, with their
// ids pseudonymous and nothing to find it by; the others' entries are untouched. Again: nothing.
func TestForget(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mine := []activity.Entry{
		{At: t0, Kind: message.KindAbandonedBasket, MessageID: "m1", ProfileID: "prf_gone", Reason: "r"},
		{At: t0.AddDate(0, 0, -30), Kind: activity.KindLapse, MessageID: "m2", ProfileID: "prf_merged", Reason: "r"},
	}
	action := activity.Entry{At: t0, Kind: activity.KindAudit, MessageID: "req-1", Route: "POST /v1/profiles/{profileId}/split", ProfileID: "prf_gone",
		Targets: map[string]string{"profileId": "prf_gone", "splitId": "prf_other"}, KeyID: "user:ada", Status: 200, Outcome: "OK"}
	other := activity.Entry{At: t0, Kind: message.KindAbandonedBasket, MessageID: "m3", ProfileID: "prf_other", Reason: "r"}
	for _, e := range append(mine, action, other) {
		require.NoError(t, s.Write(ctx, e))
	}
	pseudonym := func(id string) string { return "erased:" + id[len(id)-2:] }
	deleted, rewritten, err := s.Forget(ctx, []string{"prf_gone", "prf_merged"}, pseudonym)
	require.NoError(t, err)
	require.Equal(t, [2]int{2, 1}, [2]int{deleted, rewritten})

	page, err := s.Page(ctx, activity.Query{Day: "2026-03-01", Kinds: activity.AlertKinds, Limit: 50})
	require.NoError(t, err)
	require.Equal(t, []activity.Entry{other}, page.Entries)
	old, err := s.Page(ctx, activity.Query{Day: activity.Day(t0.AddDate(0, 0, -30)), Kinds: activity.AlertKinds, Limit: 50})
	require.NoError(t, err)
	require.Empty(t, old.Entries)
	audit, err := s.Page(ctx, activity.Query{Day: "2026-03-01", Kinds: []string{activity.KindAudit}, Limit: 50})
	require.NoError(t, err)
	want := action
	want.ProfileID, want.Targets = "", map[string]string{"profileId": "erased:ne", "splitId": "prf_other"}
	require.Equal(t, []activity.Entry{want}, audit.Entries)

	deleted, rewritten, err = s.Forget(ctx, []string{"prf_gone", "prf_merged"}, pseudonym)
	require.NoError(t, err)
	require.Zero(t, deleted+rewritten)
}
