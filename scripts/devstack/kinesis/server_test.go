package kinesis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/kinesis"
)

// clock is a settable time for the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// serve starts a server with opts and returns it, its URL and an SDK client of it.
func serve(t *testing.T, opts kinesis.Options) (*kinesis.Server, string, *sdk.Client) {
	t.Helper()
	srv := kinesis.New(opts)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return srv, hs.URL, client(hs.URL)
}

func TestIteratorsExpireAfterFiveMinutes(t *testing.T) {
	c := &clock{t: time.Now()}
	_, _, k := serve(t, kinesis.Options{Now: c.now})
	name := newStream(t, k, 1)
	it := iterator(t, k, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	c.add(kinesis.IteratorLifetime - time.Second)
	out, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: it})
	require.NoError(t, err, "still alive just before five minutes")
	c.add(kinesis.IteratorLifetime + time.Second)
	_, err = k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: it})
	assertCode(t, err, "ExpiredIteratorException")
	var expired *types.ExpiredIteratorException
	assert.ErrorAs(t, err, &expired, "the SDK reads it as its typed error, as the stream mapping checks")
	_, err = k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: out.NextShardIterator})
	assertCode(t, err, "ExpiredIteratorException")
}

func TestListShardsNextTokenExpires(t *testing.T) {
	c := &clock{t: time.Now()}
	_, _, k := serve(t, kinesis.Options{Now: c.now})
	name := newStream(t, k, 3)
	out, err := k.ListShards(t.Context(), &sdk.ListShardsInput{StreamName: aws.String(name), MaxResults: aws.Int32(1)})
	require.NoError(t, err)
	c.add(kinesis.IteratorLifetime + time.Second)
	_, err = k.ListShards(t.Context(), &sdk.ListShardsInput{NextToken: out.NextToken})
	assertCode(t, err, "ExpiredNextTokenException")
}

func TestMillisBehindLatestIsTheAgeOfTheNextRecord(t *testing.T) {
	c := &clock{t: time.Now()}
	_, _, k := serve(t, kinesis.Options{Now: c.now})
	name := newStream(t, k, 1)
	put(t, k, name, "a")
	c.add(3 * time.Second)
	put(t, k, name, "b")
	c.add(time.Second)
	it := iterator(t, k, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	out, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(1)})
	require.NoError(t, err)
	assert.Equal(t, int64(1000), aws.ToInt64(out.MillisBehindLatest), "b arrived a second ago and is not read yet")
}

func TestRetentionTrimsRecordsOlderThan24Hours(t *testing.T) {
	c := &clock{t: time.Now()}
	_, _, k := serve(t, kinesis.Options{Now: c.now})
	name := newStream(t, k, 1)
	put(t, k, name, "old")
	c.add(kinesis.DefaultRetention - time.Minute)
	put(t, k, name, "new")
	c.add(2 * time.Minute)
	assert.Equal(t, []string{"new"}, datas(readAll(t, k, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)))
}

func TestByteBudgetDropsTheOldestRecordsAndSaysSo(t *testing.T) {
	c := &clock{t: time.Now()}
	var log bytes.Buffer
	srv, _, k := serve(t, kinesis.Options{Now: c.now, StreamBytes: 10_000, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	name := newStream(t, k, 2)
	it := iterator(t, k, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	for i := range 40 {
		c.add(10 * time.Millisecond)
		_, err := k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String(fmt.Sprint(i)),
			Data: bytes.Repeat([]byte{byte('a' + i%26)}, 999)})
		require.NoError(t, err)
	}
	stats := srv.Stats()
	require.Len(t, stats, 1)
	assert.LessOrEqual(t, stats[0].Bytes, int64(10_000))
	assert.Greater(t, stats[0].Bytes, int64(8_000), "only what is over the budget goes")
	assert.Contains(t, log.String(), "stream over its byte budget")
	assert.Contains(t, log.String(), name)

	// An iterator issued before the drop reads on from the oldest record kept.
	out, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: it})
	require.NoError(t, err)
	require.NotEmpty(t, out.Records)
	kept := map[string]bool{}
	for _, sh := range []string{"shardId-000000000000", "shardId-000000000001"} {
		for _, r := range readAll(t, k, name, sh, types.ShardIteratorTypeTrimHorizon, nil) {
			kept[aws.ToString(r.PartitionKey)] = true
		}
	}
	assert.True(t, kept["39"], "the newest record is kept")
	assert.False(t, kept["0"], "the oldest record is gone")
}

func TestGetRecordsReturnsAtMost10MiB(t *testing.T) {
	_, _, k := serve(t, kinesis.Options{Limits: &kinesis.Limits{}})
	name := newStream(t, k, 1)
	data := bytes.Repeat([]byte("x"), 1000_000)
	for range 3 {
		var entries []types.PutRecordsRequestEntry
		for range 4 {
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: data})
		}
		out, err := k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries})
		require.NoError(t, err)
		require.Zero(t, aws.ToInt32(out.FailedRecordCount))
	}
	it := iterator(t, k, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	out, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: it})
	require.NoError(t, err)
	assert.Len(t, out.Records, 10, "ten records of 1 MB fill 10 MiB")
	rest, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: out.NextShardIterator})
	require.NoError(t, err)
	assert.Len(t, rest.Records, 2)
}

func TestReadsOverTwoMiBPerSecondAreThrottledUntilPaidBack(t *testing.T) {
	c := &clock{t: time.Now()}
	_, _, k := serve(t, kinesis.Options{Now: c.now, Limits: &kinesis.Limits{ReadBytesPerSecond: 2 << 20}})
	name := newStream(t, k, 1)
	var entries []types.PutRecordsRequestEntry
	for range 4 {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: bytes.Repeat([]byte("x"), 1<<20-1)})
	}
	_, err := k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries})
	require.NoError(t, err)
	it := iterator(t, k, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	out, err := k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: it})
	require.NoError(t, err)
	require.Len(t, out.Records, 4, "one call may read more than the allowance")
	_, err = k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: out.NextShardIterator})
	assertCode(t, err, "ProvisionedThroughputExceededException")
	c.add(900 * time.Millisecond)
	_, err = k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: out.NextShardIterator})
	assertCode(t, err, "ProvisionedThroughputExceededException")
	c.add(200 * time.Millisecond)
	_, err = k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: out.NextShardIterator})
	assert.NoError(t, err, "the 2 MiB read beyond the allowance is paid back at 2 MiB/s within a second")
}

func TestWriteAllowanceComesBackEverySecond(t *testing.T) {
	c := &clock{t: time.Now()}
	_, _, k := serve(t, kinesis.Options{Now: c.now})
	name := newStream(t, k, 1)
	putN := func(n int) int32 {
		var entries []types.PutRecordsRequestEntry
		for range n {
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("x")})
		}
		out, err := k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries})
		require.NoError(t, err)
		return aws.ToInt32(out.FailedRecordCount)
	}
	assert.Zero(t, putN(500))
	assert.Zero(t, putN(500))
	assert.Equal(t, int32(500), putN(500), "the shard's 1,000 records of this second are used up")
	_, err := k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte("x")})
	assertCode(t, err, "ProvisionedThroughputExceededException")
	c.add(500 * time.Millisecond)
	assert.Equal(t, int32(0), putN(500))
	assert.Equal(t, int32(500), putN(500))
	c.add(time.Second)
	big := bytes.Repeat([]byte("x"), 400<<10)
	var entries []types.PutRecordsRequestEntry
	for range 3 {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: big})
	}
	out, err := k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries})
	require.NoError(t, err)
	assert.Equal(t, int32(1), aws.ToInt32(out.FailedRecordCount), "1.2 MB in one second exceeds 1 MiB/s")
	assert.Equal(t, "ProvisionedThroughputExceededException", aws.ToString(out.Records[2].ErrorCode))
}

func TestShardLimit(t *testing.T) {
	_, _, k := serve(t, kinesis.Options{ShardLimit: 5})
	newStream(t, k, 4)
	_, err := k.CreateStream(t.Context(), &sdk.CreateStreamInput{StreamName: aws.String(uniqueName()), ShardCount: aws.Int32(2)})
	assertCode(t, err, "LimitExceededException")
}

func TestFaultsFailTheNextRecordsOfPutRecords(t *testing.T) {
	srv, _, k := serve(t, kinesis.Options{})
	name := newStream(t, k, 2)
	_, err := srv.Inject(kinesis.Fault{Operation: "PutRecords", Error: "ProvisionedThroughputExceededException", PerRecord: true, Count: 3})
	require.NoError(t, err)
	var entries []types.PutRecordsRequestEntry
	for i := range 5 {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(i)), Data: []byte("x")})
	}
	out, err := k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries})
	require.NoError(t, err)
	assert.Equal(t, int32(3), aws.ToInt32(out.FailedRecordCount))
	for i, r := range out.Records {
		if i < 3 {
			assert.Equal(t, "ProvisionedThroughputExceededException", aws.ToString(r.ErrorCode))
			assert.Nil(t, r.SequenceNumber)
		} else {
			assert.NotEmpty(t, aws.ToString(r.SequenceNumber))
		}
	}
	assert.Empty(t, srv.Faults(), "spent")
	out, err = k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries})
	require.NoError(t, err)
	assert.Zero(t, aws.ToInt32(out.FailedRecordCount))
}

func TestFaultsFailAFractionOfRecordsRepeatably(t *testing.T) {
	count := func() int32 {
		srv, _, k := serve(t, kinesis.Options{Limits: &kinesis.Limits{}})
		name := newStream(t, k, 1)
		_, err := srv.Inject(kinesis.Fault{Error: "InternalFailure", PerRecord: true, Fraction: 0.3, Seed: 7})
		require.NoError(t, err)
		var entries []types.PutRecordsRequestEntry
		for range 500 {
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("x")})
		}
		out, err := k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries})
		require.NoError(t, err)
		for _, r := range out.Records {
			if r.ErrorCode != nil {
				assert.Equal(t, "InternalFailure", aws.ToString(r.ErrorCode))
			}
		}
		return aws.ToInt32(out.FailedRecordCount)
	}
	n := count()
	assert.InDelta(t, 150, n, 50)
	assert.Equal(t, n, count(), "the same seed fails the same records")
}

func TestFaultsFailWholeCallsOfOneStream(t *testing.T) {
	srv, _, k := serve(t, kinesis.Options{})
	a, b := newStream(t, k, 1), newStream(t, k, 1)
	_, err := srv.Inject(kinesis.Fault{Operation: "GetRecords", Stream: a, Error: "ProvisionedThroughputExceededException", Count: 2})
	require.NoError(t, err)
	_, err = srv.Inject(kinesis.Fault{Operation: "PutRecord", Error: "InternalFailure", Count: 1})
	require.NoError(t, err)

	_, err = k.PutRecord(t.Context(), &sdk.PutRecordInput{StreamName: aws.String(b), PartitionKey: aws.String("k"), Data: []byte("x")})
	assertCode(t, err, "InternalFailure")
	itA := iterator(t, k, a, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	itB := iterator(t, k, b, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	_, err = k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: itB})
	assert.NoError(t, err, "another stream")
	for range 2 {
		_, err = k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: itA})
		assertCode(t, err, "ProvisionedThroughputExceededException")
	}
	_, err = k.GetRecords(t.Context(), &sdk.GetRecordsInput{ShardIterator: itA})
	assert.NoError(t, err)
}

func TestFaultsThroughTheAdminRoutes(t *testing.T) {
	srv, url, k := serve(t, kinesis.Options{})
	name := newStream(t, k, 1)
	ctx := t.Context()
	_, err := kinesis.InjectFault(ctx, url, kinesis.Fault{Operation: "PutRecords", Delay: kinesis.Duration(150 * time.Millisecond), Count: 1})
	require.NoError(t, err)
	id, err := kinesis.InjectFault(ctx, url, kinesis.Fault{Operation: "DescribeStreamSummary", Error: "LimitExceededException"})
	require.NoError(t, err)
	faults, err := kinesis.ListFaults(ctx, url)
	require.NoError(t, err)
	require.Len(t, faults, 2)
	assert.Equal(t, id, faults[1].ID)

	start := time.Now()
	_, err = k.PutRecords(ctx, &sdk.PutRecordsInput{StreamName: aws.String(name), Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("x")}}})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "delayed")
	_, err = k.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	assertCode(t, err, "LimitExceededException")

	require.NoError(t, kinesis.ClearFaults(ctx, url))
	assert.Empty(t, srv.Faults())
	_, err = k.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	assert.NoError(t, err)

	_, err = kinesis.InjectFault(ctx, url, kinesis.Fault{Operation: "GetRecords", Error: "NoSuchCode"})
	assert.ErrorContains(t, err, "400")
	_, err = kinesis.InjectFault(ctx, url, kinesis.Fault{Operation: "GetRecords", Error: "InternalFailure", PerRecord: true})
	assert.ErrorContains(t, err, "PutRecords")

	resp, err := http.Post(url+"/dcrm/faults", "application/json", strings.NewReader(`{"operation":"GetRecords","eror":"InternalFailure"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "a misspelt field is refused, not ignored")

	resp, err = http.Get(url + "/dcrm/streams")
	require.NoError(t, err)
	defer resp.Body.Close()
	var stats []kinesis.StreamStats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&stats))
	require.Len(t, stats, 1)
	assert.Equal(t, 1, stats[0].Records)
}

func TestUsageCountsWhatAWSBills(t *testing.T) {
	srv, _, k := serve(t, kinesis.Options{})
	name := newStream(t, k, 1)
	var entries []types.PutRecordsRequestEntry
	for _, size := range []int{10, 25 << 10, 25<<10 + 1} {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: bytes.Repeat([]byte("x"), size-1)})
	}
	_, err := k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries})
	require.NoError(t, err)
	got := readAll(t, k, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	require.Len(t, got, 3)
	var many []types.PutRecordsRequestEntry
	for range 500 {
		many = append(many, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("x")})
	}
	for range 3 {
		_, err := k.PutRecords(t.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: many})
		require.NoError(t, err)
	}
	u := srv.Stats()[0].Usage
	assert.Equal(t, int64(1+1+2), u.PutPayloadUnits-int64(u.PutRecords-3), "a record of 25 KB and a byte is two units")
	assert.Equal(t, int64(10+25<<10+25<<10+1), u.PutBytes-2*(u.PutRecords-3))
	assert.Equal(t, int64(1503), u.PutRecords+u.ThrottledRecords)
	assert.Positive(t, u.ThrottledRecords)
	assert.Equal(t, int64(1), u.GetRecordsCalls)
	assert.Equal(t, int64(3), u.GetRecordsRecords)
}

// TestBadRequestsGetA4xxWithAReason sends what the SDK never would.
func TestBadRequestsGetA4xxWithAReason(t *testing.T) {
	_, url, _ := serve(t, kinesis.Options{})
	for _, c := range []struct {
		target, body, code string
		status             int
	}{
		{"", `{}`, "UnknownOperationException", 400},
		{"Kinesis_20131202.SplitShard", `{}`, "UnknownOperationException", 400},
		{"Kinesis_20131202.PutRecords", `{"StreamName":`, "SerializationException", 400},
		{"Kinesis_20131202.PutRecords", `{"StreamName":"s","Records":[{"Data":"not base64!","PartitionKey":"k"}]}`, "SerializationException", 400},
		{"Kinesis_20131202.CreateStream", `{"StreamName":"bad name","ShardCount":1}`, "ValidationException", 400},
		{"Kinesis_20131202.CreateStream", `{"StreamName":"s","ShardCount":0}`, "ValidationException", 400},
		{"Kinesis_20131202.CreateStream", `{"StreamName":"s","StreamModeDetails":{"StreamMode":"FAST"}}`, "ValidationException", 400},
		{"Kinesis_20131202.GetRecords", `{"ShardIterator":""}`, "ValidationException", 400},
		{"Kinesis_20131202.DescribeStream", `{}`, "InvalidArgumentException", 400},
	} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if c.target != "" {
			req.Header.Set("X-Amz-Target", c.target)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var body struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		resp.Body.Close()
		assert.Equal(t, c.status, resp.StatusCode, c.target+" "+c.body)
		assert.Equal(t, c.code, body.Type, c.target+" "+c.body)
		assert.Equal(t, c.code, resp.Header.Get("X-Amzn-ErrorType"))
		assert.NotEmpty(t, body.Message)
	}
}
