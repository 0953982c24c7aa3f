package beaconstream

import (
	"context"
	"encoding/json"
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
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// fakeKinesis answers PutRecords with refuse(call, record index) deciding which records fail.
type fakeKinesis struct {
	calls  [][]types.PutRecordsRequestEntry
	refuse func(call, i int) bool
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
			out.Records = append(out.Records, types.PutRecordsResultEntry{
				ErrorCode: aws.String("ProvisionedThroughputExceededException"), ErrorMessage: aws.String("Rate exceeded for shard"),
			})
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
		var e beacon.Event
		require.NoError(t, json.Unmarshal(r.Data, &e))
		ids = append(ids, e.MessageID)
	}
	return ids
}

func TestOneRecordPerEventPartitionedByVisitor(t *testing.T) {
	f := newFake(nil)
	evs := events(3, `{"sku":"X"}`)
	evs[1].AnonymousID, evs[1].UserID = "", "user-9"
	require.NoError(t, New(f, "beacons").Put(context.Background(), evs))

	require.Len(t, f.calls, 1)
	recs := f.calls[0]
	require.Len(t, recs, 3)
	assert.Equal(t, []string{"a0", "user-9", "a2"}, []string{aws.ToString(recs[0].PartitionKey), aws.ToString(recs[1].PartitionKey), aws.ToString(recs[2].PartitionKey)})
	var back beacon.Event
	require.NoError(t, json.Unmarshal(recs[0].Data, &back))
	assert.Equal(t, "m0", back.MessageID)
	assert.JSONEq(t, `{"sku":"X"}`, string(back.Properties))
}

func TestCallsStayWithinPutRecordsLimits(t *testing.T) {
	t.Run("500 records", func(t *testing.T) {
		f := newFake(nil)
		require.NoError(t, New(f, "beacons").Put(context.Background(), events(1201, "")))
		var sizes []int
		for _, c := range f.calls {
			sizes = append(sizes, len(c))
		}
		assert.Equal(t, []int{500, 500, 201}, sizes)
	})
	t.Run("5 MB", func(t *testing.T) {
		f := newFake(nil)
		props := `{"p":"` + strings.Repeat("x", 30<<10) + `"}` // about 30 KB per record
		require.NoError(t, New(f, "beacons").Put(context.Background(), events(400, props)))
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

	require.NoError(t, s.Put(context.Background(), events(5, "")))
	require.Len(t, f.calls, 3)
	assert.Equal(t, []string{"m1", "m3"}, messageIDs(t, f.calls[1]), "only refused records are sent again")
	assert.Equal(t, []string{"m1"}, messageIDs(t, f.calls[2]))
	assert.Equal(t, sleeps{50 * time.Millisecond, 100 * time.Millisecond}, waited)
}

func TestUnavailableAfterTheLastAttempt(t *testing.T) {
	f := newFake(func(call, i int) bool { return i == 0 })
	var waited sleeps
	err := New(f, "beacons", WithSleep(waited.sleep)).Put(context.Background(), events(2, ""))

	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "1 of 2 refused after 3 attempts (last: ProvisionedThroughputExceededException: Rate exceeded for shard)")
	assert.Len(t, f.calls, DefaultAttempts)
	assert.Equal(t, sleeps{DefaultBackoff, 2 * DefaultBackoff}, waited)
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

// Against kinesis-mock: records come back from the shards with the visitor as partition key.
func TestPutOnKinesis(t *testing.T) {
	ctx := context.Background()
	e := localaws.Reachable(t)
	name := localaws.NewStream(t, 2)
	k := e.KinesisClient()

	evs := events(10, `{"n":1}`)
	require.NoError(t, New(k, name).Put(ctx, evs))

	got := map[string]string{} // messageId → partition key
	require.Eventually(t, func() bool {
		for _, r := range readStream(t, k, name) {
			var e beacon.Event
			require.NoError(t, json.Unmarshal(r.Data, &e))
			got[e.MessageID] = aws.ToString(r.PartitionKey)
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
