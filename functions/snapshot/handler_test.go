package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/s3server"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/fanout/fanouttest"
	"github.com/dcrm-project/dcrm/shared/hashkey"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/objectstore"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

var quiet = slog.New(slog.DiscardHandler)

// runAt is the snapshot's run: the partition is its date.
var runAt = time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)

const day = "2026-12-07"

// people are the profiles the tests snapshot, as recording left them: ann (who logged in on a
// second device, whose anonymous profile joined hers, and whose later user id an alias linked),
// bob (erased), cat (anonymous), and dan, whose profile took in profile A, which had taken in
// profile B before: a chain of two merges.
type people struct {
	ann, anon, bob, cat, a, b, dan string
	annEmail, bEmail               identity.ID
}

// recordPeople records the people through the recording engine over the store's tables.
func recordPeople(t *testing.T, store *profilestore.Store) people {
	t.Helper()
	ctx := context.Background()
	key, err := hashkey.New([]byte("snapshot tests: a key of 32 bytes or more, for the tombstones"))
	require.NoError(t, err)
	engine := recording.New(store, recording.WithTombstoneKey(key))
	at := runAt.Add(-24 * time.Hour)
	act := func(id, typ, anon, user string, m int) profile.Activity {
		tm := at.Add(time.Duration(m) * time.Minute)
		return profile.Activity{MessageID: id, Type: typ, AnonymousID: anon, UserID: user, At: tm, ClientAt: tm}
	}
	rec := func(a profile.Activity, claims ...identity.ID) string {
		t.Helper()
		r, err := engine.RecordClaims(ctx, a, recording.Claims{IDs: claims, Trusted: true})
		require.NoError(t, err, a.MessageID)
		return r.ProfileID
	}
	var p people
	p.annEmail, p.bEmail = emailID(t, "ann@example.com"), emailID(t, "b@example.com")
	p.anon = rec(act("m1", beacon.Page, "a-anon", "", 0))
	p.ann = rec(act("m2", beacon.Identify, "a-ann", "ann", 1), p.annEmail)
	rec(act("m3", beacon.Track, "a-anon", "ann", 2)) // the anonymous profile joins ann's
	alias := act("m4", beacon.Alias, "", "ann-2", 3)
	alias.PreviousID = "ann"
	rec(alias)
	p.bob = rec(act("m5", beacon.Identify, "a-bob", "bob", 4))
	p.cat = rec(act("m6", beacon.Page, "a-cat", "", 5))
	p.a = rec(act("m7", beacon.Page, "a-1", "", 6))
	p.b = rec(act("m8", beacon.Page, "a-2", "", 7), p.bEmail)
	require.Equal(t, p.a, rec(act("m9", beacon.Page, "a-1", "", 8), p.bEmail), "B, anonymous, joins A by the email a server vouches for")
	p.dan = rec(act("m10", beacon.Identify, "a-3", "dan", 9))
	require.Equal(t, p.dan, rec(act("m11", beacon.Track, "a-1", "dan", 10)), "A, anonymous, joins dan's profile")
	_, err = engine.Erase(ctx, p.bob)
	require.NoError(t, err)
	return p
}

// want are the rows of the people's snapshot.
func (p people) want() ([]archive.Profile, []archive.Identifier, []archive.Merge) {
	ids := []archive.Identifier{
		{ProfileID: p.ann, Kind: "userId", Value: "ann"},
		{ProfileID: p.ann, Kind: "userId", Value: "ann-2"}, // linked by the alias: from the Identities table
		{ProfileID: p.ann, Kind: "anonymousId", Value: "a-ann"},
		{ProfileID: p.ann, Kind: "anonymousId", Value: "a-anon"},
		{ProfileID: p.ann, Kind: "emailSha256", Value: p.annEmail.Value},
		{ProfileID: p.cat, Kind: "anonymousId", Value: "a-cat"},
		{ProfileID: p.dan, Kind: "userId", Value: "dan"},
		{ProfileID: p.dan, Kind: "anonymousId", Value: "a-1"},
		{ProfileID: p.dan, Kind: "anonymousId", Value: "a-2"},
		{ProfileID: p.dan, Kind: "anonymousId", Value: "a-3"},
		{ProfileID: p.dan, Kind: "emailSha256", Value: p.bEmail.Value},
	}
	merges := []archive.Merge{{MergedID: p.anon, ProfileID: p.ann}, {MergedID: p.a, ProfileID: p.dan}, {MergedID: p.b, ProfileID: p.dan}}
	profiles := []archive.Profile{{ProfileID: p.ann}, {ProfileID: p.cat}, {ProfileID: p.dan}}
	sortRows(profiles, ids, merges)
	return profiles, ids, merges
}

func sortRows(profiles []archive.Profile, ids []archive.Identifier, merges []archive.Merge) {
	sort.Slice(profiles, func(i, j int) bool { return profiles[i].ProfileID < profiles[j].ProfileID })
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		return a.ProfileID+"\x00"+a.Kind+"\x00"+a.Value < b.ProfileID+"\x00"+b.Kind+"\x00"+b.Value
	})
	sort.Slice(merges, func(i, j int) bool { return merges[i].MergedID < merges[j].MergedID })
}

// putIdentity writes an identity item by hand, as no recording would leave one at rest: user id
// value pointing at profile id.
func putIdentity(t *testing.T, db *dynamodb.Client, table, value, profileID string) {
	t.Helper()
	_, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"identifier": &types.AttributeValueMemberS{Value: identity.UserID(value).String()},
		"profileId":  &types.AttributeValueMemberS{Value: profileID},
		"createdAt":  &types.AttributeValueMemberS{Value: runAt.Add(-time.Hour).Format(time.RFC3339Nano)},
	}})
	require.NoError(t, err)
}

// readTable reads every row of a table's partition from the bucket, and the files' names.
func readTable[T archive.Row](t *testing.T, c *s3.Client, bucket string, tb archive.Table, dt string) ([]T, []string) {
	t.Helper()
	ctx := context.Background()
	var rows []T
	var names []string
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(partition(tb, dt))})
	require.NoError(t, err)
	for _, o := range out.Contents {
		_, _, name, ok := archive.ParseKey(aws.ToString(o.Key))
		require.True(t, ok, aws.ToString(o.Key))
		names = append(names, name)
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		require.NoError(t, err)
		body, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		require.NoError(t, err)
		back, err := parquet.Read[T](bytes.NewReader(body), int64(len(body)))
		require.NoError(t, err, name)
		rows = append(rows, back...)
	}
	return rows, names
}

// readSnapshot reads the day's three tables, sorted, with the profiles rows cut to their ids and
// the files' names by table.
func readSnapshot(t *testing.T, c *s3.Client, bucket, dt string) ([]archive.Profile, []archive.Identifier, []archive.Merge, map[string][]string) {
	t.Helper()
	full, pn := readTable[archive.Profile](t, c, bucket, profilesTable, dt)
	ids, in := readTable[archive.Identifier](t, c, bucket, identifiersTable, dt)
	merges, mn := readTable[archive.Merge](t, c, bucket, mergesTable, dt)
	profiles := make([]archive.Profile, len(full))
	for i, p := range full {
		profiles[i] = archive.Profile{ProfileID: p.ProfileID}
	}
	sortRows(profiles, ids, merges)
	return profiles, ids, merges, map[string][]string{archive.ProfilesTable: pn, archive.IdentifiersTable: in, archive.MergesTable: mn}
}

type world struct {
	people
	h      *handler
	s3     *s3.Client
	bucket string
	store  *profilestore.Store
}

// newWorld records the people on fresh tables of DynamoDB Local, and gives the handler a bucket of
// an S3 server of its own.
func newWorld(t *testing.T) *world {
	t.Helper()
	e := localawstest.Reachable(t)
	tables := profilestore.Tables{
		Profiles:    localawstest.NewTopologyTable(t, topology.ProfileTable),
		Identities:  localawstest.NewTopologyTable(t, topology.IdentityTable),
		Touchpoints: localawstest.NewTopologyTable(t, topology.TouchpointTable),
	}
	store := profilestore.New(e.Dynamo(), tables)
	w := &world{people: recordPeople(t, store), store: store, bucket: "archive"}
	putIdentity(t, e.DynamoDBClient(), tables.Identities, "dan-old", w.b) // at B, merged into A, merged into dan's
	putIdentity(t, e.DynamoDBClient(), tables.Identities, "bob-old", w.bob)
	putIdentity(t, e.DynamoDBClient(), tables.Identities, "ghost", "prf_nobody")

	srv, err := s3server.New(t.TempDir(), s3server.Options{})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	w.s3 = localaws.Endpoints{S3: hs.URL}.S3Client()
	_, err = w.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(w.bucket)})
	require.NoError(t, err)
	w.h = &handler{profiles: store.ProfileTable, identities: store.IdentityTable, files: objectstore.Bucket{Client: w.s3, Name: w.bucket},
		size: sizing{PartProfiles: 3, FileRows: 1, Resolve: 2, Known: 100}, log: quiet}
	return w
}

// The snapshot of the people, fanned out to a part per segment: the live profiles; a merges row
// for every profile merged away, to the live one at the end of its chain; the identifiers of live
// profiles only (ann's linked user id among them, and dan's old one followed through two merges);
// nothing of bob, whom erasure left as tombstones, nor of a user id that names no profile. Run
// again the same day with another number of segments, it replaces the first run's files; a part
// run again removes the files its earlier attempt wrote past its own.
func TestSnapshotOfThePeople(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t)
	// Each part on a handler of its own, as in another execution environment.
	parts := &fanouttest.Local[summary]{Handle: func(ctx context.Context, payload json.RawMessage) (summary, error) {
		h := *w.h
		h.parts = nil
		return h.handle(ctx, payload)
	}}
	w.h.parts = parts

	sum, err := w.h.handle(ctx, schedule.Payload(topology.SnapshotSchedule, runAt))
	require.NoError(t, err)
	require.Equal(t, "snapshot", sum.Mode)
	require.Equal(t, day, sum.Date)
	require.Equal(t, 3, sum.Parts, "7 items (merged and erased ones included), 3 a part")
	require.Zero(t, sum.Profiles, "the planner writes nothing itself")
	_, results, errs := parts.Wait()
	require.Len(t, results, 3)
	var total summary
	for i, r := range results {
		require.NoError(t, errs[i])
		require.Equal(t, "part", r.Mode)
		require.Equal(t, day, r.Date)
		total.add(r)
	}
	wantP, wantI, wantM := w.want()
	require.Equal(t, int64(len(wantP)), total.Profiles)
	require.Equal(t, int64(len(wantI)+1), total.Identifiers, "with dan's old user id")
	require.Equal(t, int64(len(wantM)), total.Merges)
	require.Equal(t, map[string]int64{"erased": 1, "dangling": 1}, total.LeftOut)

	check := func(total int) {
		t.Helper()
		profiles, ids, merges, names := readSnapshot(t, w.s3, w.bucket, day)
		require.Equal(t, wantP, profiles)
		require.Equal(t, wantM, merges)
		wantIDs := append(slices.Clone(wantI), archive.Identifier{ProfileID: w.dan, Kind: "userId", Value: "dan-old"})
		sortRows(nil, wantIDs, nil)
		require.Equal(t, wantIDs, ids)
		for _, id := range ids {
			require.NotEqual(t, w.bob, id.ProfileID)
			require.NotContains(t, []string{"bob", "bob-old", "ghost", "a-bob"}, id.Value)
		}
		for table, ns := range names {
			for _, n := range ns {
				_, tot, _, ok := parsePartName(n)
				require.True(t, ok && tot == total, "%s %s: a file of a run of %d segments", table, n, total)
			}
		}
	}
	check(3)
	profiles, _ := readTable[archive.Profile](t, w.s3, w.bucket, profilesTable, day)
	for _, p := range profiles {
		if p.ProfileID == w.ann {
			require.Equal(t, "ann", p.UserID)
			require.Equal(t, int64(4), p.Events, "her anonymous profile's page view, her identify, the track that joined them and the alias")
		}
	}

	// Again that day, in one part: the three-segment files go, the day holds the same rows.
	w.h.parts, w.h.size.PartProfiles = nil, 100
	again, err := w.h.handle(ctx, schedule.Payload(topology.SnapshotSchedule, runAt.Add(5*time.Hour)))
	require.NoError(t, err)
	require.Equal(t, 1, again.Parts)
	require.Equal(t, total.Files, again.Removed, "every file of the first run")
	require.Equal(t, total.Profiles, again.Profiles)
	check(1)

	// A part run again with fewer rows a file than its first attempt put: the extra files go.
	w.h.size.FileRows = 100
	p := json.RawMessage(`{"part":{"index":0,"parts":1,"segments":1,"asOf":"2026-12-07T02:00:00Z"}}`)
	retried, err := w.h.handle(ctx, p)
	require.NoError(t, err)
	require.Equal(t, "part", retried.Mode)
	require.Equal(t, 3, retried.Files, "a file a table")
	require.Equal(t, again.Files-3, retried.Removed)
	check(1)
	_, _, _, names := readSnapshot(t, w.s3, w.bucket, day)
	require.Equal(t, []string{"part-00000-of-00001-0000.parquet"}, names[archive.ProfilesTable])

	// Another day is another partition; this one is left as it is.
	next, err := w.h.handle(ctx, schedule.Payload(topology.SnapshotSchedule, runAt.Add(24*time.Hour)))
	require.NoError(t, err)
	require.Equal(t, "2026-12-08", next.Date)
	require.Zero(t, next.Removed)
	check(1)
}

// untouched fails every call: input that is not the function's must read, write and send nothing.
type untouched struct{ calls atomic.Int64 }

var errUntouched = errors.New("not to be called")

func (u *untouched) call() error                                  { u.calls.Add(1); return errUntouched }
func (u *untouched) CountProfiles(context.Context) (int64, error) { return 0, u.call() }
func (u *untouched) ScanRecords(context.Context, int, int, func(context.Context, recording.Record) (bool, error), func(string, error)) error {
	return u.call()
}
func (u *untouched) Links(context.Context, []string) (map[string]profilestore.Link, error) {
	return nil, u.call()
}
func (u *untouched) ScanEntries(context.Context, int, int, identity.Kind, func(context.Context, recording.Entry) (bool, error)) error {
	return u.call()
}
func (u *untouched) Put(context.Context, string, []byte) error      { return u.call() }
func (u *untouched) List(context.Context, string) ([]string, error) { return nil, u.call() }
func (u *untouched) Delete(context.Context, string) error           { return u.call() }
func (u *untouched) InvokeAsync(context.Context, []byte) error      { return u.call() }

func TestHandleRefusesWhatIsNotItsInput(t *testing.T) {
	t.Parallel()
	u := &untouched{}
	h := &handler{profiles: u, identities: u, files: u, parts: u, size: defaultSizing, log: quiet}
	const at = `"2026-12-07T02:00:00Z"`
	for _, tc := range []struct{ raw, why string }{
		{`not json`, "not a scheduled run"},
		{`{}`, "no schedule"},
		{`{"schedule":"score","time":` + at + `}`, `schedule "score" is not one this function runs (snapshot)`},
		{`{"schedule":"snapshot"}`, "no time"},
		{`{"schedule":"snapshot","time":` + at + `,"dt":"2026-12-07"}`, `unknown field "dt"`},
		{`{"part":{}}`, "not a part of a run"},
		{`{"part":{"index":2,"parts":2,"segments":1,"asOf":` + at + `}}`, "not a part of a run"},
		{`{"part":{"index":0,"parts":2,"segments":1,"asOf":` + at + `},"time":` + at + `}`, `unknown field "time"`},
	} {
		_, err := h.handle(context.Background(), json.RawMessage(tc.raw))
		require.ErrorContains(t, err, tc.why, tc.raw)
		require.NotErrorIs(t, err, errUntouched, tc.raw)
	}
	require.Zero(t, u.calls.Load(), "nothing read, written or invoked")
}

func TestSetupReadsTheEnvironment(t *testing.T) {
	t.Parallel()
	top := topology.Default()
	env := map[string]string{
		top.EnvVar(topology.ProfileTable): "p", top.EnvVar(topology.IdentityTable): "i", top.EnvVar(topology.ArchiveBucket): "archive",
		"AWS_REGION": localaws.Region,
	}
	getenv := func(k string) string { return env[k] }
	h, err := setup(context.Background(), getenv, quiet)
	require.NoError(t, err)
	require.Nil(t, h.parts, "outside Lambda there is no function to fan out to")
	require.Equal(t, defaultSizing, h.size)
	require.Equal(t, "archive", h.files.(objectstore.Bucket).Name)

	env["AWS_LAMBDA_FUNCTION_NAME"], env[settingPart] = "dcrm-snapshot", "5000"
	h, err = setup(context.Background(), getenv, quiet)
	require.NoError(t, err)
	require.NotNil(t, h.parts)
	require.Equal(t, 5000, h.size.PartProfiles)

	env[settingPart] = "0"
	_, err = setup(context.Background(), getenv, quiet)
	require.ErrorContains(t, err, settingPart)
	env[settingPart] = ""
	delete(env, top.EnvVar(topology.ArchiveBucket))
	_, err = setup(context.Background(), getenv, quiet)
	require.ErrorContains(t, err, top.EnvVar(topology.ArchiveBucket))
}
