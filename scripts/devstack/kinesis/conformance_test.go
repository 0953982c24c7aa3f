package kinesis_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/kinesis"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// The conformance suite: every Kinesis call dcrm makes, through the SDK as dcrm makes it, against
// this package's server (in process, always) and against kinesis-mock, the reference
// implementation, when it answers at DCRM_KINESIS_REFERENCE_ENDPOINT (default
// http://127.0.0.1:4569, started by scripts/emulators/emulators.sh; not under -short). Each case
// asserts what the AWS API reference documents; where kinesis-mock departs from it, the case says
// so in departs and is skipped on kinesis-mock with that note.

type conformanceCase struct {
	name    string
	departs string // how kinesis-mock 0.6.2 departs from the documentation ("" if it does not)
	run     func(t *testing.T, k *sdk.Client)
}

var conformance = []conformanceCase{
	{name: "CreateStream provisioned: shards split the hash key space evenly", run: func(t *testing.T, k *sdk.Client) {
		name := newStream(t, k, 3)
		out, err := k.DescribeStream(t.Context(), &sdk.DescribeStreamInput{StreamName: aws.String(name)})
		require.NoError(t, err)
		d := out.StreamDescription
		assert.Equal(t, types.StreamStatusActive, d.StreamStatus)
		assert.Equal(t, types.StreamModeProvisioned, d.StreamModeDetails.StreamMode)
		assert.Equal(t, int32(24), aws.ToInt32(d.RetentionPeriodHours))
		assert.True(t, strings.HasSuffix(aws.ToString(d.StreamARN), ":stream/"+name), aws.ToString(d.StreamARN))
		assert.False(t, aws.ToBool(d.HasMoreShards))
		require.Len(t, d.Shards, 3)
		step := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(3))
		for i, sh := range d.Shards {
			assert.Equal(t, fmt.Sprintf("shardId-%012d", i), aws.ToString(sh.ShardId))
			assert.Equal(t, new(big.Int).Mul(step, big.NewInt(int64(i))).String(), aws.ToString(sh.HashKeyRange.StartingHashKey))
			assert.NotEmpty(t, aws.ToString(sh.SequenceNumberRange.StartingSequenceNumber))
		}
		assert.Equal(t, "340282366920938463463374607431768211455", aws.ToString(d.Shards[2].HashKeyRange.EndingHashKey))

		sum, err := k.DescribeStreamSummary(t.Context(), &sdk.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		require.NoError(t, err)
		assert.Equal(t, int32(3), aws.ToInt32(sum.StreamDescriptionSummary.OpenShardCount))
		assert.Equal(t, aws.ToString(d.StreamARN), aws.ToString(sum.StreamDescriptionSummary.StreamARN))
		assert.Equal(t, types.StreamStatusActive, sum.StreamDescriptionSummary.StreamStatus)
	}},
	{name: "CreateStream on demand: four shards", run: func(t *testing.T, k *sdk.Client) {
		name := uniqueName()
		_, err := k.CreateStream(t.Context(), &sdk.CreateStreamInput{StreamName: aws.String(name),
			StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
		require.NoError(t, err)
		t.Cleanup(func() { deleteStream(k, name) })
		waitActive(t, k, name)
		sum, err := k.DescribeStreamSummary(t.Context(), &sdk.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		require.NoError(t, err)
		assert.Equal(t, types.StreamModeOnDemand, sum.StreamDescriptionSummary.StreamModeDetails.StreamMode)
		assert.Equal(t, int32(kinesis.OnDemandShards), aws.ToInt32(sum.StreamDescriptionSummary.OpenShardCount))
	}},
	{name: "CreateStream of an existing stream: ResourceInUseException", run: func(t *testing.T, k *sdk.Client) {
		name := newStream(t, k, 1)
		_, err := k.CreateStream(t.Context(), &sdk.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)})
		assertCode(t, err, "ResourceInUseException")
	}},
	{name: "the stream-exists waiter and CreateStream as localaws makes it", run: func(t *testing.T, k *sdk.Client) {
		name := uniqueName()
		require.NoError(t, localaws.CreateStream(t.Context(), k, name, topology.Stream{Name: name, Shards: 2}))
		t.Cleanup(func() { deleteStream(k, name) })
		assert.Len(t, listShards(t, k, name, 0), 2)
	}},
	{name: "DeleteStream: the stream is gone", run: func(t *testing.T, k *sdk.Client) {
		name := uniqueName()
		_, err := k.CreateStream(t.Context(), &sdk.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)})
		require.NoError(t, err)
		waitActive(t, k, name)
		_, err = k.DeleteStream(t.Context(), &sdk.DeleteStreamInput{StreamName: aws.String(name), EnforceConsumerDeletion: aws.Bool(true)})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			_, err := k.DescribeStreamSummary(t.Context(), &sdk.DescribeStreamSummaryInput{StreamName: aws.String(name)})
			return errorCode(err) == "ResourceNotFoundException"
		}, 10*time.Second, 20*time.Millisecond)
	}},
	{name: "calls on a stream that does not exist: ResourceNotFoundException", run: func(t *testing.T, k *sdk.Client) {
		missing := aws.String(uniqueName())
		_, err := k.DescribeStreamSummary(t.Context(), &sdk.DescribeStreamSummaryInput{StreamName: missing})
		assertCode(t, err, "ResourceNotFoundException")
		_, err = k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: missing, PartitionKey: aws.String("k"), Data: []byte("x")})
		assertCode(t, err, "ResourceNotFoundException")
		_, err = k.ListShards(t.Context(), &sdk.ListShardsInput{StreamName: missing})
		assertCode(t, err, "ResourceNotFoundException")
		_, err = k.DeleteStream(t.Context(), &sdk.DeleteStreamInput{StreamName: missing})
		assertCode(t, err, "ResourceNotFoundException")
	}},
	{name: "ListShards pages with NextToken as the stream mapping reads it", run: func(t *testing.T, k *sdk.Client) {
		name := newStream(t, k, 5)
		ids := listShards(t, k, name, 2)
		assert.Equal(t, []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003", "shardId-000000000004"}, ids)
		first, err := k.ListShards(t.Context(), &sdk.ListShardsInput{StreamName: aws.String(name), MaxResults: aws.Int32(2)})
		require.NoError(t, err)
		require.NotNil(t, first.NextToken)
		_, err = k.ListShards(t.Context(), &sdk.ListShardsInput{StreamName: aws.String(name), NextToken: first.NextToken})
		assertCode(t, err, "InvalidArgumentException")
		after, err := k.ListShards(t.Context(), &sdk.ListShardsInput{StreamName: aws.String(name), ExclusiveStartShardId: aws.String("shardId-000000000002")})
		require.NoError(t, err)
		require.Len(t, after.Shards, 2)
		assert.Equal(t, "shardId-000000000003", aws.ToString(after.Shards[0].ShardId))
	}},
	{name: "PutRecord: MD5 of the partition key picks the shard; ExplicitHashKey overrides it", run: func(t *testing.T, k *sdk.Client) {
		name := newStream(t, k, 4)
		ranges := hashRanges(t, k, name)
		for i := range 40 {
			key := fmt.Sprintf("visitor-%d", i)
			out, err := k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String(key), Data: []byte("x")})
			require.NoError(t, err)
			assert.Equal(t, ranges.shardOf(md5Number(key)), aws.ToString(out.ShardId), key)
			assert.NotEmpty(t, aws.ToString(out.SequenceNumber))
		}
		out, err := k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("any"),
			ExplicitHashKey: aws.String(ranges[2].start.String()), Data: []byte("x")})
		require.NoError(t, err)
		assert.Equal(t, "shardId-000000000002", aws.ToString(out.ShardId))
	}},
	{name: "PutRecords: each record on its key's shard, sequence numbers increasing, order kept per shard", run: func(t *testing.T, k *sdk.Client) {
		name := newStream(t, k, 3)
		ranges := hashRanges(t, k, name)
		var entries []types.PutRecordsRequestEntry
		for i := range 300 {
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("v%d", i%17)), Data: fmt.Appendf(nil, "%d", i)})
		}
		out, err := k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries})
		require.NoError(t, err)
		require.Equal(t, int32(0), aws.ToInt32(out.FailedRecordCount))
		require.Len(t, out.Records, len(entries))
		want := map[string][]string{}
		last := map[string]*big.Int{}
		for i, r := range out.Records {
			shard := aws.ToString(r.ShardId)
			assert.Equal(t, ranges.shardOf(md5Number(aws.ToString(entries[i].PartitionKey))), shard)
			seq, ok := new(big.Int).SetString(aws.ToString(r.SequenceNumber), 10)
			require.True(t, ok, "sequence number %q is a number", aws.ToString(r.SequenceNumber))
			if prev := last[shard]; prev != nil {
				assert.Equal(t, 1, seq.Cmp(prev), "sequence numbers increase within a shard")
			}
			last[shard] = seq
			want[shard] = append(want[shard], string(entries[i].Data))
		}
		for shard, data := range want {
			got := readAll(t, k, name, shard, types.ShardIteratorTypeTrimHorizon, nil)
			assert.Equal(t, data, datas(got), shard)
		}
	}},
	{name: "GetShardIterator: TRIM_HORIZON, LATEST, AT_ and AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP", run: func(t *testing.T, k *sdk.Client) {
		name := newStream(t, k, 1)
		put(t, k, name, "a", "b", "c")
		shard := "shardId-000000000000"
		all := readAll(t, k, name, shard, types.ShardIteratorTypeTrimHorizon, nil)
		require.Equal(t, []string{"a", "b", "c"}, datas(all))

		latest := iterator(t, k, name, shard, types.ShardIteratorTypeLatest, nil)
		put(t, k, name, "d")
		got, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: latest})
		require.NoError(t, err)
		assert.Equal(t, []string{"d"}, datas(got.Records), "LATEST reads what comes after it")

		assert.Equal(t, []string{"b", "c", "d"}, datas(readAll(t, k, name, shard, types.ShardIteratorTypeAtSequenceNumber, func(in *sdk.GetShardIteratorInput) {
			in.StartingSequenceNumber = all[1].SequenceNumber
		})))
		assert.Equal(t, []string{"c", "d"}, datas(readAll(t, k, name, shard, types.ShardIteratorTypeAfterSequenceNumber, func(in *sdk.GetShardIteratorInput) {
			in.StartingSequenceNumber = all[1].SequenceNumber
		})))
		assert.Equal(t, []string{"d"}, datas(readAll(t, k, name, shard, types.ShardIteratorTypeAfterSequenceNumber, func(in *sdk.GetShardIteratorInput) {
			in.StartingSequenceNumber = all[2].SequenceNumber
		})))

		every := readAll(t, k, name, shard, types.ShardIteratorTypeTrimHorizon, nil)
		at := aws.ToTime(every[2].ApproximateArrivalTimestamp)
		var fromAt []string
		for _, r := range every {
			if !aws.ToTime(r.ApproximateArrivalTimestamp).Before(at) {
				fromAt = append(fromAt, string(r.Data))
			}
		}
		assert.Equal(t, fromAt, datas(readAll(t, k, name, shard, types.ShardIteratorTypeAtTimestamp, func(in *sdk.GetShardIteratorInput) {
			in.Timestamp = aws.Time(at)
		})), "AT_TIMESTAMP: the records that arrived at or after it")
		assert.Equal(t, []string{"a", "b", "c", "d"}, datas(readAll(t, k, name, shard, types.ShardIteratorTypeAtTimestamp, func(in *sdk.GetShardIteratorInput) {
			in.Timestamp = aws.Time(time.Now().Add(-time.Hour))
		})))
		_, err = k.GetShardIterator(t.Context(), &sdk.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String(shard),
			ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(time.Now().Add(time.Hour))})
		assertCode(t, err, "InvalidArgumentException")
	}},
	{name: "GetRecords: Limit, NextShardIterator, MillisBehindLatest, an empty shard", run: func(t *testing.T, k *sdk.Client) {
		name := newStream(t, k, 1)
		shard := "shardId-000000000000"
		it := iterator(t, k, name, shard, types.ShardIteratorTypeTrimHorizon, nil)
		empty, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: it})
		require.NoError(t, err)
		assert.Empty(t, empty.Records)
		require.NotNil(t, empty.NextShardIterator, "an open shard always gives a next iterator")
		assert.Equal(t, int64(0), aws.ToInt64(empty.MillisBehindLatest))

		put(t, k, name, "a", "b", "c")
		one, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: empty.NextShardIterator, Limit: aws.Int32(2)})
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, datas(one.Records))
		assert.GreaterOrEqual(t, aws.ToInt64(one.MillisBehindLatest), int64(0))
		two, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: one.NextShardIterator, Limit: aws.Int32(2)})
		require.NoError(t, err)
		assert.Equal(t, []string{"c"}, datas(two.Records))
		assert.Equal(t, int64(0), aws.ToInt64(two.MillisBehindLatest), "caught up")
		assert.Equal(t, "k", aws.ToString(two.Records[0].PartitionKey))
		// Set at arrival: within minutes of now, not seconds: kinesis-mock has been seen to stamp
		// records 92 s behind the machine's clock, run after run, on a machine whose clock jumps.
		assert.WithinDuration(t, time.Now(), aws.ToTime(two.Records[0].ApproximateArrivalTimestamp), 5*time.Minute)
	}},
	{name: "GetShardIterator and GetRecords refuse what is not theirs", run: func(t *testing.T, k *sdk.Client) {
		name := newStream(t, k, 2)
		_, err := k.GetShardIterator(t.Context(), &sdk.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String("shardId-000000000007"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		assertCode(t, err, "ResourceNotFoundException")
		_, err = k.GetShardIterator(t.Context(), &sdk.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String("shardId-000000000000"),
			ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber})
		assertCode(t, err, "InvalidArgumentException")
	}},
	{name: "a sequence number or an iterator that is not the shard's: InvalidArgumentException",
		departs: "kinesis-mock 0.6.2 accepts a sequence number of another shard, answers an unknown one with ResourceNotFoundException, and a malformed iterator with a 500 without a code", run: func(t *testing.T, k *sdk.Client) {
			name := newStream(t, k, 2)
			out, err := k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"),
				ExplicitHashKey: aws.String("0"), Data: []byte("x")})
			require.NoError(t, err)
			_, err = k.GetShardIterator(t.Context(), &sdk.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String("shardId-000000000001"),
				ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: out.SequenceNumber})
			assertCode(t, err, "InvalidArgumentException")
			_, err = k.GetShardIterator(t.Context(), &sdk.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String("shardId-000000000000"),
				ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String("12345")})
			assertCode(t, err, "InvalidArgumentException")
			_, err = k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: aws.String("bm90IGFuIGl0ZXJhdG9y")})
			assertCode(t, err, "InvalidArgumentException")
		}},
	{name: "PutRecord limits: 1 MiB of data, keys of 1 to 256 characters, hash keys below 2^128", run: func(t *testing.T, k *sdk.Client) {
		name := newStream(t, k, 1)
		_, err := k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: bytes.Repeat([]byte("x"), kinesis.MaxRecordBytes+1)})
		assertCode(t, err, "InvalidArgumentException")
		_, err = k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String(strings.Repeat("k", 257)), Data: []byte("x")})
		assertCode(t, err, "InvalidArgumentException")
		_, err = k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte("x"),
			ExplicitHashKey: aws.String("340282366920938463463374607431768211456")})
		assertCode(t, err, "InvalidArgumentException")
	}},
	{name: "PutRecords limits: 500 records, 1 MiB a record with its key, 5 MiB a call",
		departs: "kinesis-mock 0.6.2 accepts 501 records, records over 1 MiB in PutRecords, calls over 5 MiB, and does not count the partition key in a record's 1 MiB", run: func(t *testing.T, k *sdk.Client) {
			name := newStream(t, k, 1)
			var many []types.PutRecordsRequestEntry
			for range kinesis.MaxPutRecords + 1 {
				many = append(many, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("x")})
			}
			_, err := k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: many})
			assertCode(t, err, "ValidationException")
			_, err = k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: []types.PutRecordsRequestEntry{
				{PartitionKey: aws.String("k"), Data: bytes.Repeat([]byte("x"), kinesis.MaxRecordBytes+1)}}})
			assertCode(t, err, "InvalidArgumentException")
			_, err = k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("key"), Data: bytes.Repeat([]byte("x"), kinesis.MaxRecordBytes-2)})
			assertCode(t, err, "InvalidArgumentException")
			var six []types.PutRecordsRequestEntry
			for range 6 {
				six = append(six, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: bytes.Repeat([]byte("x"), kinesis.MaxRecordBytes-1)})
			}
			_, err = k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: six})
			assertCode(t, err, "InvalidArgumentException")
		}},
	{name: "writes over a shard's 1,000 records/s: per-record ProvisionedThroughputExceededException", departs: "kinesis-mock 0.6.2 has no per-shard throughput limits", run: func(t *testing.T, k *sdk.Client) {
		name := newStream(t, k, 1)
		var entries []types.PutRecordsRequestEntry
		for i := range kinesis.MaxPutRecords {
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(i)), Data: []byte("x")})
		}
		var ok, throttled int
		for range 4 {
			out, err := k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries})
			require.NoError(t, err)
			failed := 0
			for _, r := range out.Records {
				switch aws.ToString(r.ErrorCode) {
				case "":
					ok++
					assert.NotEmpty(t, aws.ToString(r.SequenceNumber))
				case "ProvisionedThroughputExceededException":
					failed++
					assert.Contains(t, aws.ToString(r.ErrorMessage), "Rate exceeded for shard")
				default:
					t.Errorf("unexpected error code %q", aws.ToString(r.ErrorCode))
				}
			}
			assert.Equal(t, int32(failed), aws.ToInt32(out.FailedRecordCount))
			throttled += failed
		}
		assert.Positive(t, throttled, "2,000 records in well under two seconds exceed 1,000 records/s")
		assert.GreaterOrEqual(t, ok, 1000)
		assert.Len(t, readAll(t, k, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil), ok, "exactly the records accepted are on the shard")
	}},
	{name: "reads over a shard's 5 GetRecords calls/s: ProvisionedThroughputExceededException", departs: "kinesis-mock 0.6.2 has no per-shard throughput limits", run: func(t *testing.T, k *sdk.Client) {
		name := newStream(t, k, 1)
		it := iterator(t, k, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
		var err error
		for i := 0; i < 20 && err == nil; i++ {
			var out *sdk.GetRecordsOutput
			if out, err = k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: it}); err == nil {
				it = out.NextShardIterator
			}
		}
		assertCode(t, err, "ProvisionedThroughputExceededException")
	}},
	{name: "GetRecords with the iterator of a deleted stream: ResourceNotFoundException", run: func(t *testing.T, k *sdk.Client) {
		name := uniqueName()
		_, err := k.CreateStream(t.Context(), &sdk.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)})
		require.NoError(t, err)
		waitActive(t, k, name)
		it := iterator(t, k, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
		_, err = k.DeleteStream(t.Context(), &sdk.DeleteStreamInput{StreamName: aws.String(name)})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			_, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: it})
			return errorCode(err) == "ResourceNotFoundException"
		}, 10*time.Second, 50*time.Millisecond)
	}},
}

func TestConformance(t *testing.T) {
	targets := map[string]*sdk.Client{"ours": client(httptest.NewServer(kinesis.New(kinesis.Options{})).URL)}
	reference := os.Getenv("DCRM_KINESIS_REFERENCE_ENDPOINT")
	if reference == "" {
		reference = "http://127.0.0.1:4569"
	}
	switch {
	case testing.Short():
		t.Logf("kinesis-mock (the reference) not compared under -short: `make test` starts it at %s", reference)
	case !reachable(reference):
		t.Logf("kinesis-mock (the reference) does not answer at %s: start it with scripts/emulators/emulators.sh start kinesis-reference", reference)
	default:
		targets["kinesis-mock"] = client(reference)
	}
	for name, k := range targets {
		t.Run(name, func(t *testing.T) {
			for _, c := range conformance {
				t.Run(c.name, func(t *testing.T) {
					if name == "kinesis-mock" && c.departs != "" {
						t.Skip("departs from the AWS documentation: " + c.departs)
					}
					c.run(t, k)
				})
			}
		})
	}
}

// client is an SDK client as dcrm builds one (localaws's configuration), without retries so that
// each error shows.
func client(endpoint string) *sdk.Client {
	return sdk.NewFromConfig(localaws.Endpoints{}.Config(), func(o *sdk.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.RetryMaxAttempts = 1
	})
}

func reachable(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	c, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		return false
	}
	return c.Close() == nil
}

var names = 0

func uniqueName() string {
	names++
	return fmt.Sprintf("conformance-%d-%d", time.Now().UnixNano(), names)
}

func newStream(t *testing.T, k *sdk.Client, shards int) string {
	t.Helper()
	name := uniqueName()
	_, err := k.CreateStream(t.Context(), &sdk.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
	require.NoError(t, err)
	t.Cleanup(func() { deleteStream(k, name) })
	waitActive(t, k, name)
	return name
}

func waitActive(t *testing.T, k *sdk.Client, name string) {
	t.Helper()
	require.NoError(t, sdk.NewStreamExistsWaiter(k).Wait(t.Context(), &sdk.DescribeStreamInput{StreamName: aws.String(name)}, time.Minute,
		func(o *sdk.StreamExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 50*time.Millisecond, 500*time.Millisecond
		}))
}

func deleteStream(k *sdk.Client, name string) {
	_, _ = k.DeleteStream(context.Background(), &sdk.DeleteStreamInput{StreamName: aws.String(name)})
}

func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func assertCode(t *testing.T, err error, code string) {
	t.Helper()
	if assert.Error(t, err, "want %s", code) {
		assert.Equal(t, code, errorCode(err), err.Error())
	}
}

// listShards reads every shard id as the stream mapping does (NextToken alone after the first page).
func listShards(t *testing.T, k *sdk.Client, name string, page int32) []string {
	t.Helper()
	in := &sdk.ListShardsInput{StreamName: aws.String(name)}
	if page > 0 {
		in.MaxResults = aws.Int32(page)
	}
	var ids []string
	for {
		out, err := k.ListShards(t.Context(), in)
		require.NoError(t, err)
		for _, s := range out.Shards {
			ids = append(ids, aws.ToString(s.ShardId))
		}
		if out.NextToken == nil {
			return ids
		}
		in = &sdk.ListShardsInput{NextToken: out.NextToken}
		if page > 0 {
			in.MaxResults = aws.Int32(page)
		}
	}
}

type hashRange struct {
	id         string
	start, end *big.Int
}

type ranges []hashRange

func (rs ranges) shardOf(h *big.Int) string {
	for _, r := range rs {
		if h.Cmp(r.start) >= 0 && h.Cmp(r.end) <= 0 {
			return r.id
		}
	}
	return "none"
}

func hashRanges(t *testing.T, k *sdk.Client, name string) ranges {
	out, err := k.ListShards(t.Context(), &sdk.ListShardsInput{StreamName: aws.String(name)})
	require.NoError(t, err)
	var rs ranges
	for _, s := range out.Shards {
		start, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
		end, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
		rs = append(rs, hashRange{aws.ToString(s.ShardId), start, end})
	}
	return rs
}

func md5Number(key string) *big.Int {
	sum := md5.Sum([]byte(key))
	return new(big.Int).SetBytes(sum[:])
}

func put(t *testing.T, k *sdk.Client, name string, data ...string) {
	t.Helper()
	for _, d := range data {
		_, err := k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte(d)})
		require.NoError(t, err)
	}
}

func iterator(t *testing.T, k *sdk.Client, name, shard string, typ types.ShardIteratorType, change func(*sdk.GetShardIteratorInput)) *string {
	t.Helper()
	in := &sdk.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String(shard), ShardIteratorType: typ}
	if change != nil {
		change(in)
	}
	out, err := k.GetShardIterator(t.Context(), in)
	require.NoError(t, err)
	require.NotNil(t, out.ShardIterator)
	return out.ShardIterator
}

// readAll reads the shard from the iterator until it is caught up, waiting out read throttling.
func readAll(t *testing.T, k *sdk.Client, name, shard string, typ types.ShardIteratorType, change func(*sdk.GetShardIteratorInput)) []types.Record {
	t.Helper()
	it := iterator(t, k, name, shard, typ, change)
	var recs []types.Record
	for {
		out, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: it})
		if errorCode(err) == "ProvisionedThroughputExceededException" {
			time.Sleep(200 * time.Millisecond) // the shard's read allowance comes back within a second
			continue
		}
		require.NoError(t, err)
		recs = append(recs, out.Records...)
		if len(out.Records) == 0 || aws.ToInt64(out.MillisBehindLatest) == 0 {
			return recs
		}
		it = out.NextShardIterator
	}
}

func datas(recs []types.Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, string(r.Data))
	}
	return out
}
