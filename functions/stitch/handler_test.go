package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/firehose"
	"github.com/dcrm-project/dcrm/scripts/devstack/firehose/firehosetest"
	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/hashkey"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

const (
	userID = "u-1042"
	anon1  = "0b6f1c3e-8a2d-4c5e-9f10-desktop000001"
	anon2  = "9d2a7e41-3b5c-4d6e-8f70-phone00000002"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func goldenBatch(t *testing.T) events.KinesisEvent {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "kinesis", "batch.json"))
	require.NoError(t, err)
	var ev events.KinesisEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	require.Len(t, ev.Records, 7)
	return ev
}

// The golden batch is a Kinesis event as Lambda delivers it, and survives a round trip.
func TestGoldenBatchRoundTrip(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "kinesis", "batch.json"))
	require.NoError(t, err)
	var ev events.KinesisEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	var want, got map[string]any
	require.NoError(t, json.Unmarshal(raw, &want))
	require.NoError(t, json.Unmarshal(out, &got))
	require.Equal(t, want, got)
}

type stack struct {
	h       *handler
	store   *recording.Engine
	tables  profilestore.Tables
	failed  *messagequeue.Queue
	updates *messagequeue.Queue
	raw     *dynamodb.Client
	clock   *time.Time
}

// testHashKey is the deployment's secret key in these tests.
const testHashKey = "stitch-tests-hash-key-0123456789abcdef"

func newStack(t *testing.T) *stack {
	t.Helper()
	e := localawstest.Reachable(t)
	tables := profilestore.Tables{
		Profiles:    localawstest.NewTopologyTable(t, topology.ProfileTable),
		Identities:  localawstest.NewTopologyTable(t, topology.IdentityTable),
		Touchpoints: localawstest.NewTopologyTable(t, topology.TouchpointTable),
	}
	clock := time.Now().UTC().Truncate(time.Second)
	now := func() time.Time { return clock }
	st := &stack{tables: tables, raw: e.DynamoDBClient(), clock: &clock}
	// The golden events are dated in the past; long TTLs keep DynamoDB Local's TTL sweeper from
	// expiring the receipts and the history during the test.
	st.store = recording.New(profilestore.New(e.Dynamo(), tables), recording.WithClock(now),
		recording.WithRetention(100*365*24*time.Hour))
	st.failed = messagequeue.New(e.SQSClient(), localawstest.NewQueue(t))
	st.updates = messagequeue.New(e.SQSClient(), localawstest.NewQueue(t))
	key, err := hashkey.New([]byte(testHashKey))
	require.NoError(t, err)
	st.h = &handler{store: st.store, failed: st.failed, updates: st.updates, feed: &fakeFeed{}, now: now, log: quiet, hashKey: &key}
	return st
}

func (st *stack) run(t *testing.T, ev events.KinesisEvent) events.KinesisEventResponse {
	t.Helper()
	resp, err := st.h.handle(context.Background(), ev)
	require.NoError(t, err)
	return resp
}

func (st *stack) items(t *testing.T, name string) []map[string]types.AttributeValue {
	t.Helper()
	out, err := st.raw.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(name), ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	items := out.Items
	key := func(it map[string]types.AttributeValue) string {
		for _, k := range []string{"profileId", "identifier", "messageId"} {
			if v, ok := it[k].(*types.AttributeValueMemberS); ok {
				return v.Value
			}
		}
		return ""
	}
	sort.Slice(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	return items
}

// historyCounts counts the touchpoints the history's chunks hold and the dedup records beside them.
func (st *stack) historyCounts(t *testing.T) (touchpoints, receipts int) {
	t.Helper()
	for _, it := range st.items(t, st.tables.Touchpoints) {
		if strings.HasPrefix(it["profileId"].(*types.AttributeValueMemberS).Value, "msg#") {
			receipts++
			continue
		}
		n, err := strconv.Atoi(it["n"].(*types.AttributeValueMemberN).Value)
		require.NoError(t, err)
		touchpoints += n
	}
	return touchpoints, receipts
}

func (st *stack) failedMessages(t *testing.T, n int) []message.FailedEvent {
	t.Helper()
	var got []message.FailedEvent
	require.Eventually(t, func() bool {
		ds, err := st.failed.Receive(context.Background(), 10, 0)
		require.NoError(t, err)
		for _, d := range ds {
			require.Equal(t, message.TypeFailedEvent, d.Type)
			var f message.FailedEvent
			require.NoError(t, json.Unmarshal(d.Body, &f))
			got = append(got, f)
			require.NoError(t, st.failed.Delete(context.Background(), d))
		}
		return len(got) >= n
	}, 15*time.Second, 20*time.Millisecond)
	require.Len(t, got, n)
	sort.Slice(got, func(i, j int) bool { return got[i].SequenceNumber < got[j].SequenceNumber })
	return got
}

func TestTwoDevicesEndOnOneProfile(t *testing.T) {
	st := newStack(t)
	resp := st.run(t, goldenBatch(t))
	require.Empty(t, resp.BatchItemFailures)

	p, err := st.store.Lookup(context.Background(), identity.UserID(userID))
	require.NoError(t, err)
	require.Equal(t, userID, p.UserID)
	require.Equal(t, []string{anon1, anon2}, p.AnonymousIDs)
	require.Equal(t, profile.Counts{Events: 7, PageViews: 2, Tracks: 3, Identifies: 2}, p.Counts)
	require.Equal(t, time.Date(2025, 2, 1, 9, 0, 0, 0, time.UTC), p.FirstSeen)
	require.Equal(t, time.Date(2025, 2, 3, 20, 10, 45, 0, time.UTC), p.LastSeen)
	// The sample records carry personal data in the clear, as an endpoint that did not redact it
	// put it on the stream: stitch redacts it before keeping it.
	require.Equal(t, map[string]any{"email": "sha256:" + pii.Hash("ann@example.com"), "firstName": "[redacted]", "plan": "gold", "phone": "[redacted]"}, p.Traits)
	require.Len(t, p.MergedFrom, 1, "the phone's anonymous profile merged in")

	for _, id := range []identity.ID{identity.AnonymousID(anon1), identity.AnonymousID(anon2)} {
		q, err := st.store.Lookup(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, p.ID, q.ID)
	}
	live := 0
	for _, it := range st.items(t, st.tables.Profiles) {
		if _, merged := it["mergedInto"]; !merged {
			live++
		}
	}
	require.Equal(t, 1, live, "one live profile")
}

func TestReplayingABatchChangesNothing(t *testing.T) {
	st := newStack(t)
	batch := goldenBatch(t)
	require.Empty(t, st.run(t, batch).BatchItemFailures)
	profiles, identities := st.items(t, st.tables.Profiles), st.items(t, st.tables.Identities)
	require.Len(t, profiles, 2)
	history := st.items(t, st.tables.Touchpoints)
	touchpoints, receipts := st.historyCounts(t)
	require.Equal(t, [2]int{7, 7}, [2]int{touchpoints, receipts}, "one touchpoint per event, and a dedup record for each, as they came without a time of their own")

	*st.clock = st.clock.Add(10 * time.Minute) // the mapping retries the batch later
	require.Empty(t, st.run(t, batch).BatchItemFailures)
	require.Equal(t, profiles, st.items(t, st.tables.Profiles), "profile items changed on replay")
	require.Equal(t, identities, st.items(t, st.tables.Identities), "identity items changed on replay")
	require.ElementsMatch(t, history, st.items(t, st.tables.Touchpoints), "history changed on replay")

	// A retry from the middle of the batch (after a partial failure) changes nothing either.
	tail := events.KinesisEvent{Records: batch.Records[4:]}
	require.Empty(t, st.run(t, tail).BatchItemFailures)
	require.Equal(t, profiles, st.items(t, st.tables.Profiles))
}

func poison(seq, data string) events.KinesisEventRecord {
	return events.KinesisEventRecord{
		EventID: "shardId-000000000000:" + seq, EventSource: "aws:kinesis", EventName: "aws:kinesis:record",
		Kinesis: events.KinesisRecord{SequenceNumber: seq, PartitionKey: "pk", Data: []byte(data)},
	}
}

func TestPoisonRecordsAreSetAsideWithAReason(t *testing.T) {
	st := newStack(t)
	good := goldenBatch(t).Records
	batch := events.KinesisEvent{Records: []events.KinesisEventRecord{
		good[0], good[1],
		poison("1", "this is not JSON"),
		good[2], good[3],
		poison("2", `{"type":"track","messageId":"m-x","event":"Clicked","timestamp":"2025-02-01T09:00:00Z"}`),
		poison("3", `{"type":"merge","messageId":"m-y","userId":"u","previousId":"a","timestamp":"2025-02-01T09:00:00Z"}`),
		good[4], good[5], good[6],
	}}
	resp := st.run(t, batch)
	require.Empty(t, resp.BatchItemFailures, "poison records are not retried")

	p, err := st.store.Lookup(context.Background(), identity.UserID(userID))
	require.NoError(t, err)
	require.Equal(t, 7, p.Counts.Events, "every good record is recorded")

	got := st.failedMessages(t, 3)
	reasons := []string{"record is not a beacon event", "invalid event: neither anonymousId nor userId", `invalid event: unsupported type "merge"`}
	for i, f := range got {
		require.Contains(t, f.Reason, reasons[i])
		require.Equal(t, "stitch", f.Stage)
		require.Equal(t, batch.Records[[]int{2, 5, 6}[i]].Kinesis.Data, f.Data, "the record travels as it came")
		require.Equal(t, "shardId-000000000000:"+f.SequenceNumber, f.EventID)
		require.Equal(t, *st.clock, f.FailedAt)
		body, err := json.Marshal(f)
		require.NoError(t, err)
		require.NoError(t, schemas.Validate(message.TypeFailedEvent, message.FailedEventVersion, body))
	}
}

// record is a Kinesis record carrying the given beacon events.
func record(t *testing.T, seq string, evs ...beacon.Event) events.KinesisEventRecord {
	t.Helper()
	data, err := beacon.EncodeRecord(evs)
	require.NoError(t, err)
	return events.KinesisEventRecord{
		EventID: "shardId-000000000000:" + seq, EventSource: "aws:kinesis", EventName: "aws:kinesis:record",
		Kinesis: events.KinesisRecord{SequenceNumber: seq, PartitionKey: evs[0].Visitor(), Data: data},
	}
}

func beaconEvent(typ, id, anon, user string, minute int) beacon.Event {
	at := time.Date(2025, 2, 1, 9, minute, 0, 0, time.UTC)
	return beacon.Event{Type: typ, MessageID: id, AnonymousID: anon, UserID: user, Timestamp: at, ReceivedAt: at, SourceID: "src"}
}

func TestScreenGroupAndAliasCalls(t *testing.T) {
	st := newStack(t)
	group := beaconEvent(beacon.Group, "m3", "app-1", "", 2)
	group.GroupID, group.Traits = "acme", json.RawMessage(`{"name":"Acme Ltd"}`)
	alias := beaconEvent(beacon.Alias, "m5", "app-1", userID, 4)
	alias.PreviousID = "app-1"
	earlier := beaconEvent(beacon.Alias, "m7", "", "u-new", 6)
	earlier.PreviousID = userID
	other := beaconEvent(beacon.Alias, "m8", "", "u-other", 7)
	other.PreviousID = userID
	resp := st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{
		record(t, "1", beaconEvent(beacon.Screen, "m1", "app-1", "", 0)),
		record(t, "2", beaconEvent(beacon.Screen, "m2", "app-1", "", 1)),
		record(t, "3", group),
		record(t, "4", beaconEvent(beacon.Track, "m4", "", userID, 3)), // the user, known on another profile
		record(t, "5", alias), // the app's anonymous profile joins the user
		record(t, "6", beaconEvent(beacon.Track, "m6", "", "u-other", 5)),
		record(t, "7", earlier), // a new user id for the same customer
		record(t, "8", other),   // two known users: never merged
	}})
	require.Empty(t, resp.BatchItemFailures)

	p, err := st.store.Lookup(context.Background(), identity.AnonymousID("app-1"))
	require.NoError(t, err)
	require.Equal(t, userID, p.UserID)
	require.Equal(t, []string{"app-1"}, p.AnonymousIDs)
	require.Equal(t, []string{"acme"}, p.Groups)
	require.Equal(t, profile.Counts{Events: 6, Screens: 2, Tracks: 1}, p.Counts)
	require.Empty(t, p.Traits, "group traits describe the group, not the customer")
	require.Len(t, p.MergedFrom, 1)

	q, err := st.store.Lookup(context.Background(), identity.UserID("u-new"))
	require.NoError(t, err)
	require.Equal(t, p.ID, q.ID, "the new user id leads to the same customer")

	o, err := st.store.Lookup(context.Background(), identity.UserID("u-other"))
	require.NoError(t, err)
	require.NotEqual(t, p.ID, o.ID)
	require.Equal(t, 2, o.Counts.Events)
}

// A record carries several events of one visitor; retrying it after a failure half-way records
// each event once.
func TestRecordOfSeveralEvents(t *testing.T) {
	st := newStack(t)
	bad := beaconEvent(beacon.Track, "m3", "", "", 2) // no visitor: set aside on its own
	packed := record(t, "1",
		beaconEvent(beacon.Page, "m1", "web-1", "", 0),
		beaconEvent(beacon.Track, "m2", "web-1", "", 1),
		bad,
		beaconEvent(beacon.Identify, "m4", "web-1", userID, 3),
	)
	old := poison("2", `{"type":"page","messageId":"m5","anonymousId":"web-1","timestamp":"2025-02-01T09:04:00Z"}`) // version 1
	batch := events.KinesisEvent{Records: []events.KinesisEventRecord{packed, old}}
	require.Empty(t, st.run(t, batch).BatchItemFailures)

	p, err := st.store.Lookup(context.Background(), identity.AnonymousID("web-1"))
	require.NoError(t, err)
	require.Equal(t, userID, p.UserID)
	require.Equal(t, profile.Counts{Events: 4, PageViews: 2, Tracks: 1, Identifies: 1}, p.Counts)

	got := st.failedMessages(t, 1)
	require.Contains(t, got[0].Reason, "neither anonymousId nor userId")
	data, err := json.Marshal(bad)
	require.NoError(t, err)
	require.JSONEq(t, string(data), string(got[0].Data), "the failed event alone, not its whole record")
	require.Equal(t, "1", got[0].SequenceNumber)

	// The mapping retries the record (say the function timed out after it): nothing changes.
	profiles := st.items(t, st.tables.Profiles)
	require.Empty(t, st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{packed}}).BatchItemFailures)
	require.Equal(t, profiles, st.items(t, st.tables.Profiles))
}

// A transient failure in the middle of a record retries the record; the events before it are
// duplicates the second time.
func TestTransientErrorInsideARecord(t *testing.T) {
	store := &fakeStore{failAt: 2}
	h := &handler{store: store, failed: fakeQueue{}, updates: fakeQueue{}, feed: &fakeFeed{}, now: time.Now, log: quiet}
	packed := record(t, "7", beaconEvent(beacon.Page, "m1", "a", "", 0), beaconEvent(beacon.Page, "m2", "a", "", 1), beaconEvent(beacon.Page, "m3", "a", "", 2))
	resp, err := h.handle(context.Background(), events.KinesisEvent{Records: []events.KinesisEventRecord{packed}})
	require.NoError(t, err)
	require.Equal(t, []events.KinesisBatchItemFailure{{ItemIdentifier: "7"}}, resp.BatchItemFailures)
	require.Equal(t, 3, store.events)
}

// fakeStore fails the input numbered failAt (from 1), as the store does: the inputs after it are
// not attempted. It counts the inputs it was given.
type fakeStore struct {
	events, failAt int
}

func (f *fakeStore) RecordAll(_ context.Context, in []recording.Input) []recording.Outcome {
	out := make([]recording.Outcome, len(in))
	for i := range in {
		f.events++
		switch n := i + 1; {
		case n == f.failAt:
			out[i].Err = errors.New("throttled")
		case f.failAt > 0 && n > f.failAt:
			out[i].Err = recording.ErrNotAttempted
		default:
			out[i].Result = recording.Result{ProfileID: "p"}
		}
	}
	return out
}

type fakeQueue struct{ err error }

func (f fakeQueue) SendAll(_ context.Context, ms []message.Message) []error {
	errs := make([]error, len(ms))
	for i := range errs {
		errs[i] = f.err
	}
	return errs
}

func TestTransientErrorStopsTheBatchAtTheFailingRecord(t *testing.T) {
	batch := goldenBatch(t)
	store := &fakeStore{failAt: 3}
	h := &handler{store: store, failed: fakeQueue{}, updates: fakeQueue{}, feed: &fakeFeed{}, now: time.Now, log: quiet}
	resp, err := h.handle(context.Background(), batch)
	require.NoError(t, err)
	require.Equal(t, []events.KinesisBatchItemFailure{{ItemIdentifier: batch.Records[2].Kinesis.SequenceNumber}}, resp.BatchItemFailures)

	// When the failed-events queue is down, a poison record is retried rather than lost.
	h = &handler{store: &fakeStore{}, failed: fakeQueue{err: errors.New("queue down")}, updates: fakeQueue{}, feed: &fakeFeed{}, now: time.Now, log: quiet}
	batch.Records = append(batch.Records[:2], poison("9", "garbage"), batch.Records[2])
	resp, err = h.handle(context.Background(), batch)
	require.NoError(t, err)
	require.Equal(t, []events.KinesisBatchItemFailure{{ItemIdentifier: "9"}}, resp.BatchItemFailures)
}

// keptQueue keeps what is sent to it.
type keptQueue struct{ sent []message.Message }

func (k *keptQueue) SendAll(_ context.Context, ms []message.Message) []error {
	k.sent = append(k.sent, ms...)
	return make([]error, len(ms))
}

// The records from the first that must be retried are done again on the retry, their failed
// events with them: they are not set aside twice.
func TestFailedEventsOfRetriedRecordsWaitForTheRetry(t *testing.T) {
	good := goldenBatch(t).Records
	failed := &keptQueue{}
	h := &handler{store: &fakeStore{failAt: 2}, failed: failed, updates: fakeQueue{}, feed: &fakeFeed{}, now: time.Now, log: quiet}
	batch := events.KinesisEvent{Records: []events.KinesisEventRecord{poison("p1", "garbage"), good[0], good[1], poison("p2", "garbage")}}
	resp, err := h.handle(context.Background(), batch)
	require.NoError(t, err)
	require.Equal(t, []events.KinesisBatchItemFailure{{ItemIdentifier: good[1].Kinesis.SequenceNumber}}, resp.BatchItemFailures)
	require.Len(t, failed.sent, 1)
	require.Equal(t, "p1", failed.sent[0].(message.FailedEvent).SequenceNumber)
}

func TestDatabaseOutageIsRetried(t *testing.T) {
	st := newStack(t)
	e := localawstest.Reachable(t)
	missing := st.tables
	missing.Profiles = localawstest.UniqueName("no-such-table")
	st.h.store = recording.New(profilestore.New(e.Dynamo(), missing))
	batch := goldenBatch(t)
	resp := st.run(t, batch)
	require.Equal(t, []events.KinesisBatchItemFailure{{ItemIdentifier: batch.Records[0].Kinesis.SequenceNumber}}, resp.BatchItemFailures)
}

func TestEmptyBatch(t *testing.T) {
	h := &handler{store: &fakeStore{}, failed: fakeQueue{}, updates: fakeQueue{}, feed: &fakeFeed{}, now: time.Now, log: quiet}
	resp, err := h.handle(context.Background(), events.KinesisEvent{})
	require.NoError(t, err)
	out, err := json.Marshal(resp)
	require.NoError(t, err)
	require.JSONEq(t, `{"batchItemFailures":[]}`, string(out))
}

func TestSetupReadsTheEnvironment(t *testing.T) {
	top := topology.Default()
	env := map[string]string{
		top.EnvVar(topology.ProfileTable):        "p",
		top.EnvVar(topology.IdentityTable):       "i",
		top.EnvVar(topology.TouchpointTable):     "tp",
		top.EnvVar(topology.FailedQueue):         "http://127.0.0.1:9324/000000000000/failed",
		top.EnvVar(topology.ProfileUpdateQueue):  "http://127.0.0.1:9324/000000000000/updates",
		top.EnvVar(topology.ArchiveFeed):         "feed",
		top.EnvVar(topology.AudienceTable):       "a",
		top.EnvVar(topology.AudienceQueue):       "http://127.0.0.1:9324/000000000000/audiences",
		top.EnvVar(topology.AudienceMemberTable): "am",
		top.EnvVar(topology.HealthTable):         "h",
		topology.SettingTouchpointTTL:            "9480h",
		"AWS_REGION":                             localaws.Region,
		hashkey.EnvKey:                           testHashKey,
	}
	getenv := func(k string) string { return env[k] }
	h, err := setup(context.Background(), getenv, quiet)
	require.NoError(t, err)
	require.NotNil(t, h.store)
	require.NotNil(t, h.hashKey, "deduplication is scoped")

	delete(env, hashkey.EnvKey)
	_, err = setup(context.Background(), getenv, quiet)
	require.ErrorContains(t, err, hashkey.EnvSecret, "no scoped dedup, and erased identifiers not recognised, without the key")
	env[hashkey.EnvKey] = testHashKey

	env[topology.SettingTouchpointTTL] = "forever"
	_, err = setup(context.Background(), getenv, quiet)
	require.ErrorContains(t, err, "DCRM_TOUCHPOINT_TTL")

	env[topology.SettingTouchpointTTL] = ""
	delete(env, top.EnvVar(topology.IdentityTable))
	_, err = setup(context.Background(), getenv, quiet)
	require.ErrorContains(t, err, "DCRM_IDENTITIES_TABLE is not set")
}

// The data of a golden record is a beacon event, base64-encoded.
func TestGoldenRecordsAreBeaconEvents(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "kinesis", "batch.json"))
	require.NoError(t, err)
	var doc struct {
		Records []struct {
			Kinesis struct {
				Data string `json:"data"`
			} `json:"kinesis"`
		} `json:"Records"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	for _, r := range doc.Records {
		data, err := base64.StdEncoding.DecodeString(r.Kinesis.Data)
		require.NoError(t, err)
		var e struct {
			Type      string `json:"type"`
			MessageID string `json:"messageId"`
		}
		require.NoError(t, json.Unmarshal(data, &e))
		require.NotEmpty(t, e.MessageID)
	}
}

// The wiring in main: a handler built by setup from the environment alone (the SDK's standard
// variables included) stitches the golden batch.
func TestSetupWiresTheLocalServers(t *testing.T) {
	e := localawstest.Reachable(t)
	for k, v := range e.Environment() {
		t.Setenv(k, v)
	}
	feed := firehosetest.Feed("feed")
	feed.BufferInterval = 0 // delivered at once
	world := firehosetest.Start(t, firehose.Options{}, feed)
	t.Setenv("AWS_ENDPOINT_URL_FIREHOSE", world.URL)
	top := topology.Default()
	audiences := localawstest.NewTopologyTable(t, topology.AudienceTable)
	identified, err := audience.Parse([]byte(`{"id": "identified", "name": "Logged in", "rule": {"field": "identifiers.userId", "op": "exists"}}`))
	require.NoError(t, err)
	_, err = audiencestore.New(e.Dynamo(), audiences).Put(context.Background(), identified, "key_test")
	require.NoError(t, err)
	audienceQueue := localawstest.NewQueue(t)
	members := localawstest.NewTopologyTable(t, topology.AudienceMemberTable)
	env := map[string]string{
		top.EnvVar(topology.AudienceTable):       audiences,
		top.EnvVar(topology.AudienceQueue):       audienceQueue,
		top.EnvVar(topology.AudienceMemberTable): members,
		top.EnvVar(topology.ProfileTable):        localawstest.NewTopologyTable(t, topology.ProfileTable),
		top.EnvVar(topology.IdentityTable):       localawstest.NewTopologyTable(t, topology.IdentityTable),
		top.EnvVar(topology.TouchpointTable):     localawstest.NewTopologyTable(t, topology.TouchpointTable),
		top.EnvVar(topology.FailedQueue):         localawstest.NewQueue(t),
		top.EnvVar(topology.ProfileUpdateQueue):  localawstest.NewQueue(t),
		top.EnvVar(topology.ArchiveFeed):         feed.Name,
		top.EnvVar(topology.HealthTable):         localawstest.NewTopologyTable(t, topology.HealthTable),
		// The golden events are older than the default history: a long one keeps DynamoDB Local's
		// TTL sweeper from deleting their touchpoints during the test.
		topology.SettingTouchpointTTL: "876000h",
		hashkey.EnvKey:                testHashKey,
	}
	h, err := setup(context.Background(), func(k string) string { return env[k] }, quiet)
	require.NoError(t, err)
	resp, err := h.handle(context.Background(), goldenBatch(t))
	require.NoError(t, err)
	require.Empty(t, resp.BatchItemFailures)
	delivered := world.Objects(t, 1)
	require.Equal(t, 7, strings.Count(world.Content(t, delivered[0]), "\n"), "the seven events handed to the archive feed")
	p, err := h.store.(*recording.Engine).Lookup(context.Background(), identity.UserID(userID))
	require.NoError(t, err)
	require.Equal(t, 7, p.Counts.Events)
	history, err := h.store.(*recording.Engine).History(context.Background(), p.ID, history.Query{})
	require.NoError(t, err)
	require.Len(t, history.Touchpoints, 7)

	// The audience defined in the table: the person entered it as the batch was recorded, and the
	// audiences queue says so.
	require.Equal(t, []string{"identified"}, p.AudienceIDs())
	q := messagequeue.New(e.SQSClient(), audienceQueue)
	got, err := q.Receive(context.Background(), 10, 0)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, message.TypeAudienceEntered, got[0].Type)
	require.NoError(t, schemas.Validate(got[0].Type, got[0].Version, got[0].Body))
	require.Contains(t, string(got[0].Body), `"profileId":"`+p.ID+`"`)
	// And the members index has them.
	page, _, err := profilestore.New(e.Dynamo(), profilestore.Tables{AudienceMembers: members}).Members(context.Background(), "identified", "", 10)
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, p.ID, page[0].ProfileID)
}

// Placeholder identifiers ("null", all-zero ids …) join nobody: an event that has nothing else is
// set aside with the reason; beside a good identifier they are ignored.
func TestJunkIdentifiers(t *testing.T) {
	st := newStack(t)
	onlyJunk := beaconEvent(beacon.Track, "m1", "00000000-0000-0000-0000-000000000000", "null", 0)
	otherJunk := beaconEvent(beacon.Page, "m2", "undefined", "", 1)
	junkUser := beaconEvent(beacon.Track, "m3", anon1, "[object Object]", 2)
	junkAnon := beaconEvent(beacon.Identify, "m4", "0", userID, 3)
	resp := st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{
		record(t, "1", onlyJunk), record(t, "2", otherJunk), record(t, "3", junkUser), record(t, "4", junkAnon),
	}})
	require.Empty(t, resp.BatchItemFailures)

	got := st.failedMessages(t, 2)
	require.Contains(t, got[0].Reason, "no usable identifier")
	require.Contains(t, got[0].Reason, `anonymousId "00000000-0000-0000-0000-000000000000" is junk (all-zero id)`)
	require.Contains(t, got[0].Reason, `userId "null" is junk`)
	require.Contains(t, got[1].Reason, `anonymousId "undefined" is junk`)

	a, err := st.store.Lookup(context.Background(), identity.AnonymousID(anon1))
	require.NoError(t, err)
	require.Empty(t, a.UserID, "the junk user id is not attached")
	require.Equal(t, 1, a.Counts.Events)
	u, err := st.store.Lookup(context.Background(), identity.UserID(userID))
	require.NoError(t, err)
	require.NotEqual(t, a.ID, u.ID)
	require.Empty(t, u.AnonymousIDs, "the junk anonymous id is not attached")
	require.Equal(t, 1, u.Counts.Events)

	for _, junk := range []identity.ID{identity.UserID("null"), identity.UserID("[object Object]"),
		identity.AnonymousID("0"), identity.AnonymousID("undefined"), identity.AnonymousID("00000000-0000-0000-0000-000000000000")} {
		_, err := st.store.Lookup(context.Background(), junk)
		require.ErrorIs(t, err, profile.ErrNotFound, "%s joins nobody", junk)
	}
	require.Len(t, st.items(t, st.tables.Profiles), 2, "no profile for the junk-only events")
	touchpoints, receipts := st.historyCounts(t)
	require.Equal(t, [2]int{2, 2}, [2]int{touchpoints, receipts}, "two events, each with its touchpoint and its dedup record")
}

// An identify carrying traits.email arrives with the email hashed by collect. From the browser it
// attaches to the visitor only while nobody has it and never joins customers; from a server source
// it joins the anonymous visitor to the customer.
func TestHashedEmailJoinsOnlyFromTrustedSources(t *testing.T) {
	st := newStack(t)
	mail := strings.Repeat("5e", 32)
	hashed := map[string]string{"email_sha256": mail, "email_sha256_google": strings.Repeat("a1", 32)}

	form := beaconEvent(beacon.Identify, "m1", anon1, "", 0) // a browser form: email only
	form.Traits, form.Hashed = json.RawMessage(`{"firstName":"Ada"}`), hashed
	login := beaconEvent(beacon.Track, "m2", "", userID, 1)
	login.Trusted = true
	spoof := beaconEvent(beacon.Identify, "m3", anon2, "u-other", 2) // another customer's browser
	spoof.Hashed = hashed
	crm := beaconEvent(beacon.Identify, "m4", "", userID, 3) // the CRM, server side
	crm.Traits, crm.Hashed, crm.Trusted = json.RawMessage(`{"plan":"gold"}`), hashed, true
	resp := st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{
		record(t, "1", form), record(t, "2", login), record(t, "3", spoof), record(t, "4", crm),
	}})
	require.Empty(t, resp.BatchItemFailures)

	ctx := context.Background()
	p, err := st.store.Lookup(ctx, identity.ID{Kind: identity.EmailSHA256, Value: mail})
	require.NoError(t, err)
	require.Equal(t, userID, p.UserID)
	require.Equal(t, []string{anon1}, p.AnonymousIDs, "the visitor joined the customer")
	require.Equal(t, map[string]any{"firstName": "[redacted]", "plan": "gold"}, p.Traits)
	require.Equal(t, 3, p.Counts.Events)
	require.Len(t, p.MergedFrom, 1)

	o, err := st.store.Lookup(ctx, identity.UserID("u-other"))
	require.NoError(t, err)
	require.NotEqual(t, p.ID, o.ID, "a browser sending someone else's hashed email joins nobody")
	require.Equal(t, []string{anon2}, o.AnonymousIDs)
	_, err = st.store.Lookup(ctx, identity.ID{Kind: identity.EmailSHA256, Value: strings.Repeat("a1", 32)})
	require.ErrorIs(t, err, profile.ErrNotFound, "per-destination hashes are not identifiers")
}

// Each event lands in its profile's history with its name, channel and properties.
func TestEventsLandInTheHistory(t *testing.T) {
	st := newStack(t)
	e := beaconEvent(beacon.Track, "m1", anon1, "", 0)
	e.Event, e.Properties = "Order Completed", json.RawMessage(`{"order_id":"o-1","revenue":42.5}`)
	e.Enrichment = &beacon.Enrichment{Channel: "email"}
	require.Empty(t, st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{record(t, "1", e)}}).BatchItemFailures)
	p, err := st.store.Lookup(context.Background(), identity.AnonymousID(anon1))
	require.NoError(t, err)
	page, err := st.store.History(context.Background(), p.ID, history.Query{})
	require.NoError(t, err)
	require.Len(t, page.Touchpoints, 1)
	tp := page.Touchpoints[0]
	require.Equal(t, "Order Completed", tp.Event)
	require.Equal(t, "email", tp.Channel)
	require.True(t, tp.Purchase)
	require.Equal(t, 42.5, tp.Revenue)
	require.JSONEq(t, `{"order_id":"o-1","revenue":42.5}`, string(tp.Properties))
}

// After a person is erased, a later event carrying one of their identifiers is dropped: it goes to
// the failed-events queue with the reason "identifier erased" (and without its identifiers), and
// no profile is re-created.
func TestEventsOfAnErasedPersonAreDropped(t *testing.T) {
	st := newStack(t)
	first := beaconEvent(beacon.Identify, "m1", anon1, userID, 0)
	require.Empty(t, st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{record(t, "1", first)}}).BatchItemFailures)
	p, err := st.store.Lookup(context.Background(), identity.AnonymousID(anon1))
	require.NoError(t, err)
	_, err = st.store.Erase(context.Background(), p.ID)
	require.NoError(t, err)

	later := beaconEvent(beacon.Page, "m2", anon1, "", 5)
	other := beaconEvent(beacon.Page, "m3", anon2, "", 6)
	resp := st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{record(t, "2", later), record(t, "3", other)}})
	require.Empty(t, resp.BatchItemFailures)
	got := st.failedMessages(t, 1)
	require.Equal(t, "identifier erased", got[0].Reason)
	require.Equal(t, stage, got[0].Stage)
	require.Equal(t, "2", got[0].SequenceNumber)
	require.JSONEq(t, `{"messageId":"m2","type":"page"}`, string(got[0].Data))
	require.NotContains(t, string(got[0].Data), anon1)

	_, err = st.store.Lookup(context.Background(), identity.AnonymousID(anon1))
	require.ErrorIs(t, err, profile.ErrNotFound)
	live := 0
	for _, it := range st.items(t, st.tables.Profiles) {
		if it["profileId"].(*types.AttributeValueMemberS).Value == p.ID {
			require.ElementsMatch(t, []string{"profileId", "erasedAt", "erasure"}, slices.Collect(maps.Keys(it)), "the erased profile is a tombstone")
			continue
		}
		live++
	}
	require.Equal(t, 1, live, "only the other visitor has a profile")
}

// An identify call whose traits break their bounds is recorded with what fits; the failed-events
// queue says which traits were trimmed or refused (names, never values), once: the same batch
// again says nothing more.
func TestTraitsPastTheirBoundsAreReported(t *testing.T) {
	st := newStack(t)
	id := beaconEvent(beacon.Identify, "m1", anon1, userID, 0)
	id.Traits = json.RawMessage(fmt.Sprintf(`{"plan":"gold","interests":%q,%q:"x"}`, strings.Repeat("b", 5000), strings.Repeat("k", 200)))
	batch := events.KinesisEvent{Records: []events.KinesisEventRecord{record(t, "1", id), record(t, "2", beaconEvent(beacon.Page, "m2", anon1, "", 1))}}
	require.Empty(t, st.run(t, batch).BatchItemFailures)

	p, err := st.store.Lookup(context.Background(), identity.UserID(userID))
	require.NoError(t, err)
	require.Equal(t, profile.Counts{Events: 2, PageViews: 1, Identifies: 1}, p.Counts, "the event is recorded")
	require.Equal(t, "gold", p.Traits["plan"])
	require.Len(t, p.Traits["interests"], profile.MaxTraitString)
	require.Len(t, p.Traits, 2)

	got := st.failedMessages(t, 1)
	require.Equal(t, stage, got[0].Stage)
	require.Equal(t, "1", got[0].SequenceNumber)
	require.Equal(t, `recorded without some of its traits: trait "interests" trimmed: a string cut to 2048 bytes; trait "`+
		strings.Repeat("k", 64)+`" refused: its name is longer than 128 bytes`, got[0].Reason)
	var sent beacon.Event
	require.NoError(t, json.Unmarshal(got[0].Data, &sent))
	require.Equal(t, "m1", sent.MessageID, "the event as received, to correct and send again")
	require.NoError(t, schemas.Validate(message.TypeFailedEvent, message.FailedEventVersion, mustJSON(t, got[0])))

	require.Empty(t, st.run(t, batch).BatchItemFailures)
	ds, err := st.failed.Receive(context.Background(), 10, time.Second)
	require.NoError(t, err)
	require.Empty(t, ds, "a duplicate has nothing to report")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// bigOrder is an Order Completed event of 40 products with long ids and categories: under 32 KB,
// as collect takes it, and about 18 KB of lines on the profile.
func bigOrder(t *testing.T, id, anon, user string, minute int) beacon.Event {
	t.Helper()
	e := beaconEvent(beacon.Track, id, anon, user, minute)
	e.Event = "Order Completed"
	var products []map[string]any
	for j := range 40 {
		products = append(products, map[string]any{"product_id": fmt.Sprintf("%s-%02d-%s", id, j, strings.Repeat("p", 200)),
			"category": fmt.Sprintf("%02d-%s", j, strings.Repeat("c", 200)), "price": 1, "quantity": 1})
	}
	e.Properties = mustJSON(t, map[string]any{"order_id": "o-" + id, "revenue": 40, "products": products})
	return e
}

// A login that would merge two profiles whose merged profile DynamoDB refuses (past its 400 KB item
// limit) leaves both as they were: the event goes to the failed-events queue saying so, the batch
// is not retried, and each visitor's next events land on their own profile.
func TestMergeRefusedByTheDatabaseIsReported(t *testing.T) {
	st := newStack(t)
	known := beaconEvent(beacon.Identify, "u0", "", userID, 0)
	known.Traits = json.RawMessage(`{"plan":"gold"}`)
	recs := []events.KinesisEventRecord{record(t, "000", known)}
	for i := range 8 {
		recs = append(recs, record(t, fmt.Sprintf("%03d", i+1), bigOrder(t, fmt.Sprintf("a%02d", i), anon1, "", i)))
	}
	// Groups are never shed by the profile's budget: with them, the merged profile cannot be made
	// to fit by shedding old orders.
	for i := range profile.MaxGroups {
		g := beaconEvent(beacon.Group, fmt.Sprintf("g%02d", i), anon1, "", 10+i)
		g.GroupID = fmt.Sprintf("g%02d-%s", i, strings.Repeat("g", profile.MaxIDLength-4))
		recs = append(recs, record(t, fmt.Sprintf("%03d", 10+i), g))
	}
	for _, r := range recs {
		require.Empty(t, st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{r}}).BatchItemFailures)
	}
	ctx := context.Background()
	anon, err := st.store.Lookup(ctx, identity.AnonymousID(anon1))
	require.NoError(t, err)
	user, err := st.store.Lookup(ctx, identity.UserID(userID))
	require.NoError(t, err)
	// The customer's profile holds a 380 KB trait, stored before traits were bounded: with the
	// visitor's groups, the merged profile would not fit in an item.
	_, err = st.raw.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(st.tables.Profiles),
		Key:                       map[string]types.AttributeValue{"profileId": &types.AttributeValueMemberS{Value: user.ID}},
		UpdateExpression:          aws.String("SET traits.legacy = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: strings.Repeat("x", 380<<10)}}})
	require.NoError(t, err)

	login := beaconEvent(beacon.Identify, "login", anon1, userID, 80)
	resp := st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{record(t, "100", login), record(t, "101", beaconEvent(beacon.Page, "after", anon1, "", 81))}})
	require.Empty(t, resp.BatchItemFailures, "nothing to retry: the database would refuse it again")
	got := st.failedMessages(t, 1)
	require.Equal(t, "100", got[0].SequenceNumber)
	require.Contains(t, got[0].Reason, "refused by storage, merge undone")

	for want, id := range map[string]identity.ID{anon.ID: identity.AnonymousID(anon1), user.ID: identity.UserID(userID)} {
		p, err := st.store.Lookup(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want, p.ID, "%s stays on its own profile", id)
	}
	p, err := st.store.Lookup(ctx, identity.AnonymousID(anon1))
	require.NoError(t, err)
	require.Equal(t, 9+profile.MaxGroups, p.Counts.Events, "the next page view is recorded")
	require.NoError(t, st.store.CheckInvariants(ctx))
}
