package beaconstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// fakeKinesis answers PutRecords with refuse(call, record index) deciding which records fail.
type fakeKinesis struct {
	calls  [][]types.PutRecordsRequestEntry
	refuse func(call, i int) bool
	code   func(i int) string // error code of a refused record (default: throttled)
	err    error
}

func (f *fakeKinesis) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.calls = append(f.calls, in.Records)
	if f.err != nil {
		return nil, f.err
	}
	out := &kinesis.PutRecordsOutput{}
	for i := range in.Records {
		if f.refuse != nil && f.refuse(len(f.calls)-1, i) {
			code, msg := "ProvisionedThroughputExceededException", "Rate exceeded for shard"
			if f.code != nil {
				code, msg = f.code(i), "refused"
			}
			out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String(msg)})
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			continue
		}
		out.Records = append(out.Records, types.PutRecordsResultEntry{SequenceNumber: aws.String(fmt.Sprint(i)), ShardId: aws.String("shardId-0")})
	}
	return out, nil
}

func newFake(refuse func(call, i int) bool) *fakeKinesis {
	return &fakeKinesis{refuse: refuse}
}

// sleeps records the waits between tries and returns at once.
type sleeps []time.Duration

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	*s = append(*s, d)
	return ctx.Err()
}

func events(n int, props string) []beacon.Event {
	evs := make([]beacon.Event, n)
	for i := range evs {
		evs[i] = beacon.Event{
			Type: beacon.Track, MessageID: fmt.Sprintf("m%d", i), AnonymousID: fmt.Sprintf("a%d", i%7), Event: "E",
			Timestamp: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), SourceID: "src",
		}
		if props != "" {
			evs[i].Properties = json.RawMessage(props)
		}
	}
	return evs
}

func messageIDs(t *testing.T, recs []types.PutRecordsRequestEntry) []string {
	t.Helper()
	var ids []string
	for _, r := range recs {
		evs, err := beacon.DecodeRecord(r.Data)
		require.NoError(t, err)
		for _, e := range evs {
			require.Equal(t, PartitionKey(e), aws.ToString(r.PartitionKey), "event %s in a record of another visitor", e.MessageID)
			ids = append(ids, e.MessageID)
		}
	}
	return ids
}

// distinct gives each event a visitor of its own, so that each needs a record.
func distinct(evs []beacon.Event) []beacon.Event {
	for i := range evs {
		evs[i].AnonymousID = fmt.Sprintf("v%d", i)
	}
	return evs
}

func TestRecordsArePartitionedByVisitor(t *testing.T) {
	f := newFake(nil)
	evs := events(3, `{"sku":"X"}`)
	evs[1].AnonymousID, evs[1].UserID = "", "user-9"
	require.NoError(t, New(f, "beacons").Put(context.Background(), evs))

	require.Len(t, f.calls, 1)
	recs := f.calls[0]
	require.Len(t, recs, 3)
	assert.Equal(t, []string{"a0", "user-9", "a2"}, []string{aws.ToString(recs[0].PartitionKey), aws.ToString(recs[1].PartitionKey), aws.ToString(recs[2].PartitionKey)})
	back, err := beacon.DecodeRecord(recs[0].Data)
	require.NoError(t, err)
	require.Len(t, back, 1)
	assert.Equal(t, "m0", back[0].MessageID)
	assert.JSONEq(t, `{"sku":"X"}`, string(back[0].Properties))
}

func TestEventsOfAVisitorArePackedInOrder(t *testing.T) {
	evs := events(40, "")
	for i := range evs {
		evs[i].AnonymousID = []string{"a", "b"}[i%2]
	}
	recs, err := Records(evs)
	require.NoError(t, err)
	require.Len(t, recs, 2, "small events of two visitors fit in one record each")
	assert.Equal(t, "a", aws.ToString(recs[0].PartitionKey))
	ids := messageIDs(t, recs)
	var want []string
	for _, v := range []int{0, 1} {
		for i := v; i < 40; i += 2 {
			want = append(want, fmt.Sprintf("m%d", i))
		}
	}
	assert.Equal(t, want, ids, "each visitor's events in the order sent")
}

func TestRecordsStayWithinAPayloadUnit(t *testing.T) {
	props := `{"p":"` + strings.Repeat("x", 3000) + `"}` // events of about 3.2 KB
	evs := events(100, props)
	for i := range evs {
		evs[i].AnonymousID = "same-visitor"
	}
	big := events(1, `{"p":"`+strings.Repeat("y", 200<<10)+`"}`)[0] // 200 KB: a record of its own
	big.AnonymousID, big.MessageID = "same-visitor", "big"
	evs = append(evs[:50], append([]beacon.Event{big}, evs[50:]...)...)

	recs, err := Records(evs)
	require.NoError(t, err)
	var ids []string
	partial := 0
	for i, r := range recs {
		n := len(r.Data) + len(aws.ToString(r.PartitionKey))
		got := messageIDs(t, []types.PutRecordsRequestEntry{r})
		if len(got) > 1 {
			assert.LessOrEqual(t, n, TargetRecordBytes, "record %d", i)
		}
		if n < TargetRecordBytes-3400 {
			partial++ // the one before the big event, and the last
		}
		assert.LessOrEqual(t, n, MaxRecordBytes)
		ids = append(ids, got...)
	}
	assert.Equal(t, 2, partial, "every other record is full")
	assert.Contains(t, messageIDs(t, recs), "big")
	var want []string
	for _, e := range evs {
		want = append(want, e.MessageID)
	}
	assert.Equal(t, want, ids, "order kept across records")
	assert.Less(t, len(recs), 20, "101 events in few records, not 101")

	tooBig := events(1, `{"p":"`+strings.Repeat("z", MaxRecordBytes)+`"}`)
	_, err = Records(tooBig)
	assert.ErrorContains(t, err, "more than 1048576")
}

func TestCallsStayWithinPutRecordsLimits(t *testing.T) {
	t.Run("500 records", func(t *testing.T) {
		f := newFake(nil)
		require.NoError(t, New(f, "beacons").Put(context.Background(), distinct(events(1201, ""))))
		var sizes []int
		for _, c := range f.calls {
			sizes = append(sizes, len(c))
		}
		assert.Equal(t, []int{500, 500, 201}, sizes)
	})
	t.Run("5 MB", func(t *testing.T) {
		f := newFake(nil)
		props := `{"p":"` + strings.Repeat("x", 30<<10) + `"}` // about 30 KB per record
		require.NoError(t, New(f, "beacons").Put(context.Background(), distinct(events(400, props))))
		require.Greater(t, len(f.calls), 2, "400 records of 30 KB need at least 3 calls")
		total := 0
		for i, c := range f.calls {
			n := 0
			for _, r := range c {
				n += len(r.Data) + len(aws.ToString(r.PartitionKey))
			}
			assert.LessOrEqual(t, n, MaxBytesPerCall, "call %d", i)
			total += len(c)
		}
		assert.Equal(t, 400, total)
	})
	t.Run("nothing to put", func(t *testing.T) {
		f := newFake(nil)
		require.NoError(t, New(f, "beacons").Put(context.Background(), nil))
		assert.Empty(t, f.calls)
	})
}

func TestRefusedRecordsAreRetriedWithBackoff(t *testing.T) {
	// The first call refuses records 1 and 3, the second refuses the first of those again.
	f := newFake(func(call, i int) bool { return (call == 0 && (i == 1 || i == 3)) || (call == 1 && i == 0) })
	var waited sleeps
	s := New(f, "beacons", WithRetry(3, 50*time.Millisecond), WithSleep(waited.sleep))

	require.NoError(t, s.Put(context.Background(), distinct(events(5, ""))))
	require.Len(t, f.calls, 3)
	assert.Equal(t, []string{"m1", "m3"}, messageIDs(t, f.calls[1]), "only refused records are sent again")
	assert.Equal(t, []string{"m1"}, messageIDs(t, f.calls[2]))
	assert.Equal(t, sleeps{50 * time.Millisecond, 100 * time.Millisecond}, waited)
}

func TestUnavailableAfterTheLastAttempt(t *testing.T) {
	f := newFake(func(call, i int) bool { return i == 0 })
	var waited sleeps
	err := New(f, "beacons", WithSleep(waited.sleep)).Put(context.Background(), distinct(events(2, "")))

	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "1 of 2 refused after 3 attempts (last: ProvisionedThroughputExceededException: Rate exceeded for shard)")
	assert.Len(t, f.calls, DefaultAttempts)
	assert.Equal(t, sleeps{DefaultBackoff, 2 * DefaultBackoff}, waited)
}

func TestThrottledOrUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name      string
		f         *fakeKinesis
		throttled bool
	}{
		{"records throttled to the last attempt", newFake(func(_, i int) bool { return true }), true},
		{"records refused by an internal failure", &fakeKinesis{refuse: func(_, i int) bool { return true },
			code: func(int) string { return "InternalFailure" }}, false},
		{"some throttled, some failed", &fakeKinesis{refuse: func(_, i int) bool { return true },
			code: func(i int) string { return []string{"ProvisionedThroughputExceededException", "InternalFailure"}[i%2] }}, false},
		{"KMS throttling", &fakeKinesis{refuse: func(_, i int) bool { return true },
			code: func(int) string { return "KMSThrottlingException" }}, true},
		{"call throttled", &fakeKinesis{err: &types.ProvisionedThroughputExceededException{Message: aws.String("Rate exceeded")}}, true},
		{"stream missing", &fakeKinesis{err: &types.ResourceNotFoundException{Message: aws.String("Stream beacons not found")}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var waited sleeps
			err := New(tc.f, "beacons", WithSleep(waited.sleep)).Put(context.Background(), distinct(events(2, "")))
			require.ErrorIs(t, err, ErrUnavailable)
			assert.Equal(t, tc.throttled, errors.Is(err, ErrThrottled), "throttled: %v", err)
		})
	}
}

func TestFailedCallIsUnavailable(t *testing.T) {
	f := &fakeKinesis{err: &types.ResourceNotFoundException{Message: aws.String("Stream beacons not found")}}
	err := New(f, "beacons").Put(context.Background(), events(1, ""))
	require.ErrorIs(t, err, ErrUnavailable)
	var nf *types.ResourceNotFoundException
	assert.ErrorAs(t, err, &nf, "the cause stays inspectable")
}

func TestContextEndsTheWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFake(func(call, i int) bool { cancel(); return true })
	err := New(f, "beacons", WithRetry(5, time.Hour)).Put(ctx, events(1, ""))
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, f.calls, 1, "no retry once the context is done")
}

func TestEventsThatCannotBeRecords(t *testing.T) {
	f := newFake(nil)
	noVisitor := events(1, "")
	noVisitor[0].AnonymousID = ""
	err := New(f, "beacons").Put(context.Background(), noVisitor)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrUnavailable, "a bad event is not the stream's fault")
	assert.Contains(t, err.Error(), "encode event m0: it has neither anonymousId nor userId")

	badJSON := events(1, `{"unterminated`)
	err = New(f, "beacons").Put(context.Background(), badJSON)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrUnavailable)
	assert.Empty(t, f.calls, "nothing is put when an event cannot be encoded")
}

func TestLongVisitorIDsAreHashed(t *testing.T) {
	e := events(1, "")[0]
	e.AnonymousID = strings.Repeat("é", 256)
	assert.Equal(t, e.AnonymousID, PartitionKey(e), "256 characters fit")
	e.AnonymousID += "x"
	key := PartitionKey(e)
	assert.True(t, strings.HasPrefix(key, "sha256:") && len(key) == len("sha256:")+64, "key %q", key)
	assert.Equal(t, key, PartitionKey(e), "the same visitor gets the same key")
}

// Against the local Kinesis server: records come back from the shards with the visitor as partition key.
func TestPutOnKinesis(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	name := localawstest.NewStream(t, 2)
	k := e.KinesisClient()

	evs := events(10, `{"n":1}`)
	require.NoError(t, New(k, name).Put(ctx, evs))

	got := map[string]string{} // messageId → partition key
	require.Eventually(t, func() bool {
		for _, r := range readStream(t, k, name) {
			evs, err := beacon.DecodeRecord(r.Data)
			require.NoError(t, err)
			for _, e := range evs {
				got[e.MessageID] = aws.ToString(r.PartitionKey)
			}
		}
		return len(got) == len(evs)
	}, 10*time.Second, 100*time.Millisecond, "records on the stream: %v", got)
	for _, e := range evs {
		assert.Equal(t, e.Visitor(), got[e.MessageID], "partition key of %s", e.MessageID)
	}
}

// readStream reads every record on every shard from the start.
func readStream(t *testing.T, k *kinesis.Client, stream string) []types.Record {
	t.Helper()
	ctx := context.Background()
	shards, err := k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	require.NoError(t, err)
	var recs []types.Record
	for _, sh := range shards.Shards {
		it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		require.NoError(t, err)
		iter := it.ShardIterator
		for iter != nil {
			out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			require.NoError(t, err)
			recs = append(recs, out.Records...)
			if len(out.Records) == 0 || aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return recs
}
