package profilestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
)

var now = recordingtest.Now

// item reads a profile's item as it is stored.
func (f fixture) item(t *testing.T, id string) map[string]types.AttributeValue {
	t.Helper()
	out, err := f.raw.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.store.ProfileTable.table.Name()),
		Key: map[string]types.AttributeValue{"profileId": &types.AttributeValueMemberS{Value: id}}, ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	return out.Item
}

func aScore(at time.Time) profile.Score {
	return profile.Score{
		ScoredAt: at, ModelVersion: 3, FirstOrderAt: recordingtest.T0,
		RFM: &profile.RFMScore{Variant: profile.VariantRFM, RecencyDays: 4, Frequency: 2, Monetary: 120.5, R: 5, F: 3, M: 4, Score: 534,
			Segment: "Potential Loyalist"},
		Value: &profile.Value{PAlive: 0.8123, PAlivePareto: 0.77, ExpectedPurchases: 1.25, ExpectedSpend: 48.1, CLV: 55.2, HorizonWeeks: 52},
		Lapse: &profile.LapseRisk{Risk: 0.1877, PAlive: 0.8123, RecentVisits: 2, ExpectedVisits: 1.5},
		NextActions: []profile.NextAction{
			{Kind: "remind-viewed", Product: "p1", Score: 0.4, Reason: "viewed twice, last 2 days ago, not bought"},
			{Kind: "explore-category", Category: "shoes", Score: 0.2, Reason: "most interested in \"shoes\""},
		},
		Cluster:        "recent frequent-buying",
		Lookalikes:     map[string]float64{"best-customers": 0.8123, "champions": 0.4},
		LookalikeRanks: map[string]int{"champions": 120_345}, // a member of best-customers: no rank there
	}
}

func TestSaveScoreChangesOnlyTheScore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r := f.Record(t, recordingtest.Identify("m1", "A", "U", 0, map[string]any{"plan": "gold"}), recordingtest.Page("m2", "A", 5))[0]
	// A profile scored by the first model carries its attributes; saving a score removes them.
	require.NoError(t, f.store.ProfileTable.table.Update("profileId", r.ProfileID).Set("segment", "champion").Set("score", 5).
		Set("scoredAt", now).Set("recencyDays", 1).Run(ctx))
	before := f.Lookup(t, identity.UserID("U"))
	require.Nil(t, before.Score)

	sc := aScore(now)
	require.NoError(t, f.store.SaveScore(ctx, r.ProfileID, sc))
	after := f.Lookup(t, identity.UserID("U"))
	require.Equal(t, &sc, after.Score)
	after.Score = nil
	require.Equal(t, before, after, "saving a score changes only the score fields")
	item := f.item(t, r.ProfileID)
	for _, legacy := range []string{"segment", "score", "scoredAt", "recencyDays"} {
		require.NotContains(t, item, legacy)
	}
	require.IsType(t, &types.AttributeValueMemberM{}, item["scores"])

	// Stitch writes after scoring keep the score; the view shows it.
	f.Record(t, recordingtest.Page("m3", "A", 6))
	p := f.Lookup(t, identity.UserID("U"))
	require.Equal(t, &sc, p.Score)

	// A visitor's score has no value and no actions.
	lean := profile.Score{ScoredAt: now, RFM: &profile.RFMScore{Variant: profile.VariantEngagement, RecencyDays: 0, Frequency: 1,
		Monetary: -12.5, R: 5, F: 1, M: 2, Score: 512, Segment: "New Visitors"}, Lapse: &profile.LapseRisk{Risk: 0, PAlive: 1}}
	require.NoError(t, f.store.SaveScore(ctx, r.ProfileID, lean))
	require.Equal(t, &lean, f.Lookup(t, identity.UserID("U")).Score)

	require.ErrorIs(t, f.store.SaveScore(ctx, "prf_nope", sc), profile.ErrNotFound)
	_, err := f.Profile(ctx, "prf_nope")
	require.ErrorIs(t, err, profile.ErrNotFound, "saving the score of a missing profile does not create it")

	// A score computed before the person was erased does not land on the tombstone.
	_, err = f.Erase(ctx, r.ProfileID)
	require.NoError(t, err)
	require.ErrorIs(t, f.store.SaveScore(ctx, r.ProfileID, sc), profile.ErrNotFound)
	require.ErrorIs(t, f.store.SaveScoreWithAlert(ctx, r.ProfileID, sc, time.Time{}, now), ErrChanged)
	require.ElementsMatch(t, []string{"profileId", "erasedAt", "erasure"}, slices.Collect(maps.Keys(f.item(t, r.ProfileID))))
}

func TestSaveScoreWithAlertRecordsOneCrossingOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := f.Record(t, recordingtest.Identify("m1", "A", "U", 0, nil))[0].ProfileID
	sc := aScore(now)
	sc.Lapse.Above = true

	require.NoError(t, f.store.SaveScoreWithAlert(ctx, id, sc, time.Time{}, now))
	p := f.Lookup(t, identity.UserID("U"))
	require.Equal(t, now, p.LapseAlertedAt)
	require.True(t, p.Score.Lapse.Above)

	// Another run that read the profile before the alert was recorded does not record it again.
	err := f.store.SaveScoreWithAlert(ctx, id, sc, time.Time{}, now.Add(time.Hour))
	require.ErrorIs(t, err, ErrChanged)
	require.Equal(t, now, f.Lookup(t, identity.UserID("U")).LapseAlertedAt)

	// The next crossing is recorded against the last alert.
	later := now.Add(40 * 24 * time.Hour)
	require.ErrorIs(t, f.store.SaveScoreWithAlert(ctx, id, sc, now.Add(-time.Hour), later), ErrChanged)
	require.NoError(t, f.store.SaveScoreWithAlert(ctx, id, sc, now, later))
	require.Equal(t, later, f.Lookup(t, identity.UserID("U")).LapseAlertedAt)
	require.ErrorIs(t, f.store.SaveScoreWithAlert(ctx, "prf_nope", sc, time.Time{}, now), ErrChanged)
}

func TestScanSegmentsCoverTheLiveProfilesOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for i := range 30 {
		f.Record(t, recordingtest.Page(fmt.Sprintf("m%d", i), fmt.Sprintf("A%d", i), i))
	}
	f.Record(t, recordingtest.Identify("i1", "A1", "U", 40, nil), recordingtest.Identify("i2", "A2", "U", 41, nil)) // A2's profile joins A1's
	live := f.LiveProfiles(t)
	require.Len(t, live, 29)

	const total = 7
	seen := map[string]int{}
	for seg := range total {
		require.NoError(t, f.store.ScanSegment(ctx, seg, total, func(_ context.Context, p profile.Profile) (bool, error) {
			seen[p.ID]++
			return true, nil
		}, nil))
	}
	require.Len(t, seen, len(live))
	for _, p := range live {
		require.Equal(t, 1, seen[p.ID], p.ID)
	}

	n := 0
	require.NoError(t, f.store.ScanSegment(ctx, 0, 1, func(context.Context, profile.Profile) (bool, error) { n++; return n < 5, nil }, nil))
	require.Equal(t, 5, n, "the scan stops when told")
	boom := errors.New("boom")
	require.ErrorIs(t, f.store.ScanSegment(ctx, 0, 1, func(context.Context, profile.Profile) (bool, error) { return true, boom }, nil), boom)

	count, err := f.store.CountProfiles(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(30), count, "merged profiles are counted: it is the table's item count")
}

type doc struct {
	Version int    `json:"version"`
	Blob    string `json:"blob"`
}

// randomText does not compress, so that the document needs several parts.
func randomText(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func TestModelStoreKeepsVersionedDocuments(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	table := localawstest.NewTopologyTable(t, topology.ModelTable)
	ms := NewModelStore(e.Dynamo(), table)

	var got doc
	_, err := ms.Load(ctx, "scoring", &got)
	require.ErrorIs(t, err, ErrNoModels)
	v, err := ms.Version(ctx, "scoring")
	require.NoError(t, err)
	require.Zero(t, v)

	fitted := time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	small := doc{Version: 1, Blob: "small"}
	require.NoError(t, ms.Save(ctx, "scoring", small, ModelInfo{Version: 1, FittedAt: fitted, Sample: 10}))
	info, err := ms.Load(ctx, "scoring", &got)
	require.NoError(t, err)
	require.Equal(t, small, got)
	require.Equal(t, 1, info.Version)
	require.Equal(t, fitted, info.FittedAt)
	require.Equal(t, 10, info.Sample)

	// A second fit that read version 0 loses.
	require.ErrorIs(t, ms.Save(ctx, "scoring", small, ModelInfo{Version: 1}), ErrChanged)

	big := doc{Version: 2, Blob: randomText(900 << 10)} // hex compresses to half: two parts
	require.NoError(t, ms.Save(ctx, "scoring", big, ModelInfo{Version: 2}))
	got = doc{}
	info, err = ms.Load(ctx, "scoring", &got)
	require.NoError(t, err)
	require.Equal(t, big, got)
	require.Equal(t, 2, info.Version)

	third := doc{Version: 3, Blob: "third"}
	require.NoError(t, ms.Save(ctx, "scoring", third, ModelInfo{Version: 3}))
	got = doc{}
	_, err = ms.Load(ctx, "scoring", &got)
	require.NoError(t, err)
	require.Equal(t, third, got)

	names := map[string]bool{}
	out, err := e.DynamoDBClient().Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	require.NoError(t, err)
	for _, it := range out.Items {
		names[it["name"].(*types.AttributeValueMemberS).Value] = true
	}
	require.Equal(t, map[string]bool{
		"scoring": true, "scoring#v2#0": true, "scoring#v2#1": true, "scoring#v3#0": true,
	}, names, "version 1 is gone once version 3 is saved; version 2 stays for readers that read the pointer before")
}

// An item that does not read as a profile (its counts are text) is reported by id and skipped;
// the scan reads the others.
func TestScanSkipsAnUnreadableProfile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.Record(t, recordingtest.Page("m1", "A", 0), recordingtest.Page("m2", "B", 1))
	_, err := f.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.store.ProfileTable.table.Name()), Item: map[string]types.AttributeValue{
		"profileId": &types.AttributeValueMemberS{Value: "prf_bad"}, "counts": &types.AttributeValueMemberS{Value: "many"},
	}})
	require.NoError(t, err)
	var read, bad []string
	require.NoError(t, f.store.ScanSegment(ctx, 0, 1, func(_ context.Context, p profile.Profile) (bool, error) {
		read = append(read, p.ID)
		return true, nil
	}, func(id string, err error) {
		bad = append(bad, id)
		require.ErrorContains(t, err, "read profile item")
	}))
	require.Len(t, read, 2)
	require.Equal(t, []string{"prf_bad"}, bad)
}
