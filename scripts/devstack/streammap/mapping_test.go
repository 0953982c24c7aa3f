package streammap_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/onfailure"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/lambdahost"
	"github.com/dcrm-project/dcrm/scripts/devstack/streammap"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// fixture is a fresh stream and failure queue, the test function reading them through a mapping,
// and the file where the function writes down each batch it gets.
type fixture struct {
	t        *testing.T
	stream   string
	arn      string
	queue    string
	out      string
	kinesis  *kinesis.Client
	sqs      *sqs.Client
	mapping  *streammap.Mapping
	function *lambdahost.Function
}

type batch struct {
	Seqs    []string                    `json:"seqs"`
	Data    []string                    `json:"data"`
	Failed  string                      `json:"failed"`
	Records []events.KinesisEventRecord `json:"records"`
}

func newFixture(t *testing.T, shards int, failMode string, m topology.StreamMapping) *fixture {
	t.Helper()
	return newFixtureWith(t, shards, failMode, m, func(*streammap.Config) {})
}

// newFixtureWith is newFixture with a change to the mapping's configuration.
func newFixtureWith(t *testing.T, shards int, failMode string, m topology.StreamMapping, change func(*streammap.Config)) *fixture {
	t.Helper()
	e := localawstest.Reachable(t)
	f := &fixture{t: t, stream: localawstest.NewStream(t, shards), queue: localawstest.NewQueue(t),
		out: filepath.Join(t.TempDir(), "batches.jsonl"), kinesis: e.KinesisClient(), sqs: e.SQSClient()}
	summary, err := f.kinesis.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(f.stream)})
	require.NoError(t, err)
	f.arn = aws.ToString(summary.StreamDescriptionSummary.StreamARN)

	f.function, err = lambdahost.New(lambdahost.Spec{
		Name: "stitch", Bootstrap: devtest.TestFunction(t), Timeout: 10 * time.Second,
		Env: map[string]string{"TESTFN_MODE": "stream", "TESTFN_OUT": f.out, "TESTFN_FAIL": failMode},
	})
	require.NoError(t, err)
	t.Cleanup(func() { f.function.Close() })

	m.Function = "stitch"
	cfg := streammap.Config{
		Mapping: m, StreamName: f.stream, StreamARN: f.arn, FunctionARN: f.function.ARN(),
		FailureQueueURL: f.queue, Region: localaws.Region, Kinesis: f.kinesis, SQS: f.sqs,
		Invoke: f.function.Invoke,
		IsFunctionError: func(err error) bool {
			var fe *lambdahost.FunctionError
			return errors.As(err, &fe)
		},
		PollInterval: 50 * time.Millisecond, RetryDelay: 10 * time.Millisecond,
	}
	change(&cfg)
	f.mapping, err = streammap.New(cfg)
	require.NoError(t, err)
	return f
}

func (f *fixture) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.mapping.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		assert.ErrorIs(f.t, <-done, context.Canceled)
	})
}

// put writes records in one call and returns their sequence numbers.
func (f *fixture) put(keysAndData ...[2]string) []string {
	f.t.Helper()
	var entries []kintypes.PutRecordsRequestEntry
	for _, kd := range keysAndData {
		entries = append(entries, kintypes.PutRecordsRequestEntry{PartitionKey: aws.String(kd[0]), Data: []byte(kd[1])})
	}
	out, err := f.kinesis.PutRecords(f.t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(f.stream), Records: entries})
	require.NoError(f.t, err)
	require.Zero(f.t, aws.ToInt32(out.FailedRecordCount))
	var seqs []string
	for _, r := range out.Records {
		seqs = append(seqs, aws.ToString(r.SequenceNumber))
	}
	return seqs
}

func (f *fixture) batches() []batch {
	file, err := os.Open(f.out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(f.t, err)
	defer file.Close()
	var out []batch
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var b batch
		require.NoError(f.t, json.Unmarshal(sc.Bytes(), &b))
		out = append(out, b)
	}
	return out
}

func (f *fixture) failureRecords(want int) []onfailure.Record {
	f.t.Helper()
	var got []onfailure.Record
	require.Eventually(f.t, func() bool {
		out, err := f.sqs.ReceiveMessage(f.t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(f.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"},
		})
		require.NoError(f.t, err)
		for _, m := range out.Messages {
			require.Empty(f.t, m.MessageAttributes, "Lambda sends its on-failure records without attributes")
			requireLambdaShape(f.t, aws.ToString(m.Body))
			r, err := onfailure.Parse([]byte(aws.ToString(m.Body)))
			require.NoError(f.t, err)
			got = append(got, r)
			_, err = f.sqs.DeleteMessage(f.t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(f.queue), ReceiptHandle: m.ReceiptHandle})
			require.NoError(f.t, err)
		}
		return len(got) >= want
	}, 20*time.Second, 10*time.Millisecond)
	return got
}

func TestEveryRecordIsDeliveredOnceInOrderPerShard(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2, "", topology.StreamMapping{BatchSize: 7, MaxBatchingWindow: 100 * time.Millisecond})
	var want []string
	put := func(round int) {
		var entries [][2]string
		for i := range 15 {
			key := fmt.Sprintf("visitor-%d", i%6)
			entries = append(entries, [2]string{key, fmt.Sprintf("%s/%02d/%02d", key, round, i)})
			want = append(want, entries[len(entries)-1][1])
		}
		f.put(entries...)
	}
	put(0)
	f.start()
	put(1)
	put(2)

	require.Eventually(t, func() bool {
		n := 0
		for _, b := range f.batches() {
			n += len(b.Data)
		}
		return n >= len(want)
	}, 20*time.Second, 20*time.Millisecond)

	var got []string
	lastSeq := map[string]string{}  // per shard
	lastData := map[string]string{} // per partition key
	shards := map[string]bool{}
	for _, b := range f.batches() {
		assert.LessOrEqual(t, len(b.Records), 7)
		assert.Empty(t, b.Failed)
		for _, r := range b.Records {
			shard, seq, ok := strings.Cut(r.EventID, ":")
			require.True(t, ok, r.EventID)
			shards[shard] = true
			assert.Equal(t, seq, r.Kinesis.SequenceNumber)
			assert.True(t, lastSeq[shard] == "" || lessSeq(lastSeq[shard], seq), "records of %s in sequence order", shard)
			lastSeq[shard] = seq
			data := string(r.Kinesis.Data)
			assert.True(t, strings.HasPrefix(data, r.Kinesis.PartitionKey+"/"))
			assert.Less(t, lastData[r.Kinesis.PartitionKey], data, "records of one partition key in the order they were put")
			lastData[r.Kinesis.PartitionKey] = data
			assert.Equal(t, "aws:kinesis:record", r.EventName)
			assert.Equal(t, "aws:kinesis", r.EventSource)
			assert.Equal(t, f.arn, r.EventSourceArn)
			assert.Equal(t, localaws.Region, r.AwsRegion)
			assert.WithinDuration(t, time.Now(), r.Kinesis.ApproximateArrivalTimestamp.Time, time.Minute)
			got = append(got, data)
		}
	}
	assert.ElementsMatch(t, want, got, "each record exactly once")
	assert.Len(t, shards, 2, "both shards are read")
	// A shard's checkpoint moves only after the function has returned, a moment after it saw the batch.
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, lastSeq, f.mapping.Checkpoints(), "each shard checkpointed at its last record")
	}, 5*time.Second, 10*time.Millisecond)
}

func TestPartialBatchResponseRetriesFromTheFailedRecord(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, "partial", topology.StreamMapping{
		BatchSize: 100, MaxBatchingWindow: 300 * time.Millisecond, ReportBatchItemFailures: true, BisectOnError: true, RetryAttempts: 3,
	})
	var entries [][2]string
	for i := range 10 {
		data := fmt.Sprintf("ok-%d", i)
		if i == 4 {
			data = "flaky-4"
		}
		entries = append(entries, [2]string{"visitor", data})
	}
	seqs := f.put(entries...)
	f.start()

	require.Eventually(t, func() bool { return f.mapping.Checkpoints()["shardId-000000000000"] == seqs[9] }, 20*time.Second, 10*time.Millisecond)
	got := f.batches()
	require.Len(t, got, 2)
	assert.Equal(t, seqs, got[0].Seqs, "first the whole batch")
	assert.Equal(t, seqs[4], got[0].Failed)
	assert.Equal(t, seqs[4:], got[1].Seqs, "then from the failed record on")
	assert.Empty(t, got[1].Failed)
}

func TestAlwaysFailingRecordEndsOnTheFailureQueueAfterItsRetries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, "error", topology.StreamMapping{
		BatchSize: 100, MaxBatchingWindow: 300 * time.Millisecond, BisectOnError: true, RetryAttempts: 2, ReportBatchItemFailures: true,
	})
	var entries [][2]string
	for i := range 8 {
		data := fmt.Sprintf("ok-%d", i)
		if i == 5 {
			data = "poison-5"
		}
		entries = append(entries, [2]string{"visitor", data})
	}
	seqs := f.put(entries...)
	f.start()

	failures := f.failureRecords(1)
	require.Len(t, failures, 1)
	r := failures[0]
	assert.Equal(t, &onfailure.KinesisBatchInfo{
		ShardID: "shardId-000000000000", StartSequenceNumber: seqs[5], EndSequenceNumber: seqs[5], BatchSize: 1, StreamARN: f.arn,
		ApproximateArrivalOfFirstRecord: r.KinesisBatchInfo.ApproximateArrivalOfFirstRecord,
		ApproximateArrivalOfLastRecord:  r.KinesisBatchInfo.ApproximateArrivalOfLastRecord,
	}, r.KinesisBatchInfo)
	assert.NotEmpty(t, r.KinesisBatchInfo.ApproximateArrivalOfFirstRecord)
	assert.Equal(t, "RetryAttemptsExhausted", r.RequestContext.Condition)
	assert.Equal(t, 3, r.RequestContext.ApproximateInvokeCount)
	assert.Equal(t, f.function.ARN(), r.RequestContext.FunctionARN)
	assert.Equal(t, "Unhandled", r.ResponseContext.FunctionError)
	assert.Equal(t, "1.0", r.Version)

	require.Eventually(t, func() bool { return f.mapping.Checkpoints()["shardId-000000000000"] == seqs[7] }, 20*time.Second, 10*time.Millisecond)
	var delivered []string
	alone := 0
	for _, b := range f.batches() {
		if b.Failed == "" {
			delivered = append(delivered, b.Seqs...)
		}
		if slices.Equal(b.Seqs, []string{seqs[5]}) {
			alone++
		}
	}
	assert.Equal(t, append(slices.Clone(seqs[:5]), seqs[6:]...), delivered, "the rest get through, once each, in order")
	assert.Equal(t, 3, alone, "the bad record alone: one try and two retries")

	// The mapping has moved on: later records still flow.
	later := f.put([2]string{"visitor", "ok-later"})
	require.Eventually(t, func() bool { return f.mapping.Checkpoints()["shardId-000000000000"] == later[0] }, 20*time.Second, 10*time.Millisecond)
}

// A record retried for ever is given up on once it is older than the maximum record age, with
// the condition RecordAgeExceeded, and the mapping moves on.
func TestRecordsOlderThanTheMaximumAgeAreGivenUpOn(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, 1, "error", topology.StreamMapping{
		BatchSize: 100, MaxBatchingWindow: 100 * time.Millisecond, BisectOnError: true, RetryAttempts: -1, ReportBatchItemFailures: true,
		MaxRecordAge: 3 * time.Second,
	}, func(c *streammap.Config) { c.RetryDelay = 50 * time.Millisecond })
	poison := f.put([2]string{"v", "poison-0"})
	f.start()

	failures := f.failureRecords(1)
	require.Len(t, failures, 1)
	r := failures[0]
	assert.Equal(t, onfailure.RecordAgeExceeded, r.RequestContext.Condition)
	assert.Equal(t, poison[0], r.KinesisBatchInfo.StartSequenceNumber)
	assert.Equal(t, poison[0], r.KinesisBatchInfo.EndSequenceNumber)
	assert.Greater(t, r.RequestContext.ApproximateInvokeCount, 1, "retried until it was too old")
	assert.Equal(t, "Unhandled", r.ResponseContext.FunctionError, "the last invocation failed")

	later := f.put([2]string{"v", "ok-1"})
	require.Eventually(t, func() bool { return f.mapping.Checkpoints()["shardId-000000000000"] == later[0] }, 20*time.Second, 10*time.Millisecond)
	var delivered []string
	for _, b := range f.batches() {
		if b.Failed == "" {
			delivered = append(delivered, b.Seqs...)
		}
	}
	assert.Equal(t, later, delivered)
}

func TestPartialFailureWithoutBisectGivesUpOnTheRestOfTheBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, "partial", topology.StreamMapping{
		BatchSize: 100, MaxBatchingWindow: 300 * time.Millisecond, RetryAttempts: 1, ReportBatchItemFailures: true,
	})
	seqs := f.put([2]string{"v", "ok-0"}, [2]string{"v", "ok-1"}, [2]string{"v", "poison-2"}, [2]string{"v", "ok-3"})
	f.start()

	failures := f.failureRecords(1)
	info := failures[0].KinesisBatchInfo
	assert.Equal(t, seqs[2], info.StartSequenceNumber)
	assert.Equal(t, seqs[3], info.EndSequenceNumber)
	assert.Equal(t, 2, info.BatchSize)
	assert.Empty(t, failures[0].ResponseContext.FunctionError, "the function answered; it reported failures")
	got := f.batches()
	require.Len(t, got, 2)
	assert.Equal(t, seqs, got[0].Seqs)
	assert.Equal(t, seqs[2:], got[1].Seqs)
}

// requireLambdaShape checks that an on-failure record has exactly the fields of Lambda's record for a
// Kinesis batch, each of the JSON type Lambda writes.
func requireLambdaShape(t *testing.T, body string) {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	types := func(v any) map[string]string {
		out := map[string]string{}
		for k, x := range v.(map[string]any) {
			out[k] = fmt.Sprintf("%T", x)
		}
		return out
	}
	require.Equal(t, map[string]string{"requestContext": "map[string]interface {}", "responseContext": "map[string]interface {}",
		"version": "string", "timestamp": "string", "KinesisBatchInfo": "map[string]interface {}"}, types(doc))
	require.Equal(t, map[string]string{"requestId": "string", "functionArn": "string", "condition": "string", "approximateInvokeCount": "float64"},
		types(doc["requestContext"]))
	response := types(doc["responseContext"])
	delete(response, "functionError") // present when the function failed, absent when it answered with failures
	require.Equal(t, map[string]string{"statusCode": "float64", "executedVersion": "string"}, response)
	require.Equal(t, map[string]string{"shardId": "string", "startSequenceNumber": "string", "endSequenceNumber": "string",
		"approximateArrivalOfFirstRecord": "string", "approximateArrivalOfLastRecord": "string", "batchSize": "float64", "streamArn": "string"},
		types(doc["KinesisBatchInfo"]))
	_, err := time.Parse(onfailure.TimeLayout, doc["timestamp"].(string))
	require.NoError(t, err, "timestamp in Lambda's layout")
}

// lessSeq compares Kinesis sequence numbers (decimal strings of varying length).
func lessSeq(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// countingReads counts GetRecords calls.
type countingReads struct {
	*kinesis.Client
	calls atomic.Int32
}

func (c *countingReads) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	c.calls.Add(1)
	return c.Client.GetRecords(ctx, in, opts...)
}

// A shard allows five GetRecords calls a second: reading one batch a call would cap the mapping at
// five batches a second per shard. Like Lambda's poller, one read feeds several batches.
func TestOneReadFeedsSeveralBatches(t *testing.T) {
	t.Parallel()
	var reads *countingReads
	f := newFixtureWith(t, 1, "", topology.StreamMapping{BatchSize: 10, MaxBatchingWindow: 50 * time.Millisecond}, func(cfg *streammap.Config) {
		reads = &countingReads{Client: cfg.Kinesis.(*kinesis.Client)}
		cfg.Kinesis = reads
		cfg.PollInterval = time.Second
	})
	var entries [][2]string
	for i := range 100 {
		entries = append(entries, [2]string{"visitor", fmt.Sprint(i)})
	}
	f.put(entries...)
	f.start()
	require.Eventually(t, func() bool { return len(f.batches()) >= 10 }, 20*time.Second, 20*time.Millisecond)
	assert.LessOrEqual(t, reads.calls.Load(), int32(3), "100 records waiting are read in one call, then the shard is polled")
}

// A mapping started again with the checkpoints of its earlier run (Config.Resume) goes on after
// them, as Lambda's mapping does when its pollers restart: nothing is delivered twice. A
// checkpoint beyond the shard's end (of a stream made again under the same name, which the local
// host also tells by the stream's creation time) is dropped, and the shard is read from its trim
// horizon.
func TestAResumedMappingGoesOnAfterItsCheckpoints(t *testing.T) {
	t.Parallel()
	var cfg streammap.Config
	f := newFixtureWith(t, 1, "", topology.StreamMapping{BatchSize: 10, MaxBatchingWindow: 50 * time.Millisecond},
		func(c *streammap.Config) { cfg = *c })
	delivered := func() []string {
		var data []string
		for _, b := range f.batches() {
			data = append(data, b.Data...)
		}
		return data
	}
	first := f.put([2]string{"a", "a/1"}, [2]string{"a", "a/2"}, [2]string{"a", "a/3"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.mapping.Run(ctx) }()
	require.Eventually(t, func() bool { return slices.Contains(slices.Collect(maps.Values(f.mapping.Checkpoints())), first[2]) }, 20*time.Second, 10*time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	checkpoints := f.mapping.Checkpoints()

	f.put([2]string{"a", "a/4"}, [2]string{"a", "a/5"})
	cfg.Resume = checkpoints
	var err error
	f.mapping, err = streammap.New(cfg)
	require.NoError(t, err)
	require.Equal(t, checkpoints, f.mapping.Checkpoints(), "carried over until it moves")
	f.start()
	require.Eventually(t, func() bool { return len(delivered()) >= 5 }, 20*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // nothing more comes
	require.Equal(t, []string{"a/1", "a/2", "a/3", "a/4", "a/5"}, delivered(), "each record once, in order")

	// The checkpoints of the stream above, as a stream made again under its name would find them.
	foreign := f.mapping.Checkpoints()
	again := newFixtureWith(t, 1, "", topology.StreamMapping{BatchSize: 10, MaxBatchingWindow: 50 * time.Millisecond},
		func(c *streammap.Config) { c.Resume = foreign })
	again.put([2]string{"c", "c/1"}, [2]string{"c", "c/2"})
	again.start()
	require.Eventually(t, func() bool { return len(again.batches()) > 0 }, 20*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"c/1", "c/2"}, again.batches()[0].Data, "read from the trim horizon")
}
