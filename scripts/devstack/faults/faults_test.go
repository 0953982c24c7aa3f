package faults_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/faults"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// upstream is a plain server standing in for any service, counting what reaches it.
func upstream(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.WriteString(w, `{"ok":true}`)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), &n
}

func proxyTo(t *testing.T, target string, in *faults.Injector) string {
	t.Helper()
	p, err := faults.StartProxy(target, faults.Middleware(in))
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p.URL()
}

func call(t *testing.T, url, target string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"TableName":"Profiles"}`))
	require.NoError(t, err)
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRulesFireOnTheRequestsTheyMatchWhenTheySay(t *testing.T) {
	target, reached := upstream(t)
	in := faults.New(nil)
	url := proxyTo(t, target, in)

	in.Add(faults.Rule{Name: "third-and-fourth-get", Service: "dynamodb", Operations: []string{"GetItem"}, After: 2, Times: 2,
		Error: faults.DynamoThrottling})
	var got []int
	for range 6 {
		status, _ := call(t, url, "DynamoDB_20120810.GetItem")
		got = append(got, status)
	}
	assert.Equal(t, []int{200, 200, 400, 400, 200, 200}, got)
	status, _ := call(t, url, "DynamoDB_20120810.PutItem")
	assert.Equal(t, 200, status, "another operation")
	status, _ = call(t, url, "Kinesis_20131202.GetItem")
	assert.Equal(t, 200, status, "another service")
	assert.Equal(t, 2, in.Fired("third-and-fourth-get"))
	assert.EqualValues(t, 6, reached.Load(), "refused requests never reach the server")

	in.Clear()
	in.Add(faults.Rule{Name: "window", BodyContains: `"Profiles"`, For: 300 * time.Millisecond, Error: faults.DynamoInternal})
	status, body := call(t, url, "DynamoDB_20120810.Query")
	assert.Equal(t, 500, status)
	assert.JSONEq(t, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}`, body)
	require.Eventually(t, func() bool { s, _ := call(t, url, "DynamoDB_20120810.Query"); return s == 200 },
		5*time.Second, 50*time.Millisecond, "the window closes")

	in.Clear()
	in.Add(faults.Rule{Name: "half", Probability: 0.5, Error: faults.DynamoThrottling})
	refused := 0
	for range 200 {
		if s, _ := call(t, url, "DynamoDB_20120810.GetItem"); s == 400 {
			refused++
		}
	}
	assert.InDelta(t, 100, refused, 30)
}

func TestDropLatencyAndHook(t *testing.T) {
	target, reached := upstream(t)
	var hooked atomic.Int32
	in := faults.New([]faults.Rule{
		{Name: "drop", Operations: []string{"SendMessage"}, Drop: true},
		{Name: "slow", Operations: []string{"GetItem"}, Latency: 200 * time.Millisecond, Hook: func(*http.Request) { hooked.Add(1) }},
	})
	url := proxyTo(t, target, in)
	status, msg := call(t, url, "AmazonSQS.SendMessage")
	assert.Equal(t, 0, status, "no answer at all")
	assert.Regexp(t, "EOF|reset", msg)
	start := time.Now()
	status, _ = call(t, url, "DynamoDB_20120810.GetItem")
	assert.Equal(t, 200, status)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	assert.EqualValues(t, 1, hooked.Load())
	assert.EqualValues(t, 1, reached.Load())
}

func TestAdminAPI(t *testing.T) {
	in := faults.New(nil)
	p, err := faults.StartProxy("http://127.0.0.1:1", func(http.Handler) http.Handler { return in.Admin() })
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	do := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, p.URL()+path, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := do("POST", "/faults", `{"name":"ddb","service":"dynamodb","operations":["TransactWriteItems"],"probability":0.2,"for":"30s","latency":"50ms","error":{"code":"ThrottlingException"}}`)
	require.Equal(t, 201, status, body)
	assert.JSONEq(t, `{"name":"ddb"}`, body)
	rules := in.Rules()
	require.Len(t, rules, 1)
	assert.Equal(t, 30*time.Second, rules[0].For)
	assert.Equal(t, 50*time.Millisecond, rules[0].Latency)
	assert.Equal(t, "ThrottlingException", rules[0].Error.Code)

	status, body = do("GET", "/faults", "")
	require.Equal(t, 200, status)
	var listed []map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &listed))
	assert.Equal(t, "30s", listed[0]["for"])
	assert.EqualValues(t, 0, listed[0]["fired"])

	for _, bad := range []string{`{"service":"s3"}`, `{"probability":2}`, `{"for":"soon"}`, `{"error":{"status":500}}`, `{"typo":1}`, `nope`} {
		status, body = do("POST", "/faults", bad)
		assert.Equal(t, 400, status, bad)
		assert.Contains(t, body, "error")
	}
	status, _ = do("DELETE", "/faults/nothing", "")
	assert.Equal(t, 404, status)
	status, _ = do("DELETE", "/faults/ddb", "")
	assert.Equal(t, 204, status)
	assert.Empty(t, in.Rules())
}

// The errors reach the real SDK clients as the services' own errors, through the emulators.
func TestErrorsAreTheServicesOwn(t *testing.T) {
	e := localawstest.Reachable(t)
	ctx := context.Background()
	in := faults.New(nil, faults.WithSeed(1))
	e.DynamoDB = proxyTo(t, e.DynamoDB, in)
	e.Kinesis = proxyTo(t, e.Kinesis, in)
	e.SQS = proxyTo(t, e.SQS, in)

	table := localawstest.NewTopologyTable(t, topology.KeyTable)
	db := dynamodb.NewFromConfig(e.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(e.DynamoDB); o.RetryMaxAttempts = 1 })
	in.Add(faults.Rule{Service: "dynamodb", Operations: []string{"GetItem"}, Times: 1, Error: faults.DynamoThroughputExceeded})
	in.Add(faults.Rule{Service: "dynamodb", Operations: []string{"GetItem"}, Times: 1, Error: faults.DynamoThrottling})
	get := func() error {
		_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"keyHash": &ddbtypes.AttributeValueMemberS{Value: "k"}}})
		return err
	}
	var exceeded *ddbtypes.ProvisionedThroughputExceededException
	assert.ErrorAs(t, get(), &exceeded)
	assert.Equal(t, "ThrottlingException", code(get()))
	assert.NoError(t, get())

	queue := localawstest.NewQueue(t)
	q := sqs.NewFromConfig(e.Config(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(e.SQS); o.RetryMaxAttempts = 1 })
	in.Add(faults.Rule{Service: "sqs", Operations: []string{"SendMessage"}, Times: 1, Error: faults.SQSUnavailable})
	send := func() error {
		_, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String("m")})
		return err
	}
	assert.Equal(t, "ServiceUnavailable", code(send()))
	assert.NoError(t, send())
	// With the SDK's retries, as the functions run, a short outage is ridden out.
	retrying := sqs.NewFromConfig(e.Config(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(e.SQS); o.RetryMaxAttempts = 5 })
	in.Add(faults.Rule{Service: "sqs", Operations: []string{"SendMessage"}, Times: 2, Drop: true})
	_, err := retrying.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String("m")})
	assert.NoError(t, err)

	stream := localawstest.NewStream(t, 1)
	k := kinesis.NewFromConfig(e.Config(), func(o *kinesis.Options) { o.BaseEndpoint = aws.String(e.Kinesis); o.RetryMaxAttempts = 1 })
	in.Add(faults.Rule{Name: "throttle", Service: "kinesis", Operations: []string{"PutRecords"}, Times: 1, Error: faults.KinesisThrottled})
	in.Add(faults.Rule{Name: "some", Service: "kinesis", Operations: []string{"PutRecords"}, FailRecords: 0.5})
	var entries []kintypes.PutRecordsRequestEntry
	for i := range 40 {
		entries = append(entries, kintypes.PutRecordsRequestEntry{Data: []byte(fmt.Sprint(i)), PartitionKey: aws.String(fmt.Sprint(i))})
	}
	_, err = k.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	var throttled *kintypes.ProvisionedThroughputExceededException
	require.ErrorAs(t, err, &throttled)
	out, err := k.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	require.NoError(t, err)
	require.Len(t, out.Records, 40)
	var accepted []string
	for i, r := range out.Records {
		if r.ErrorCode != nil {
			assert.Equal(t, "ProvisionedThroughputExceededException", aws.ToString(r.ErrorCode))
			assert.Nil(t, r.SequenceNumber)
			continue
		}
		assert.NotEmpty(t, aws.ToString(r.SequenceNumber))
		accepted = append(accepted, fmt.Sprint(i))
	}
	assert.EqualValues(t, 40-len(accepted), aws.ToInt32(out.FailedRecordCount))
	assert.Greater(t, len(accepted), 5)
	assert.Less(t, len(accepted), 35)
	in.Clear()

	// On the stream are exactly the records answered as accepted, in order.
	shards, err := k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	require.NoError(t, err)
	it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: shards.Shards[0].ShardId, ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	recs, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	require.NoError(t, err)
	var onStream []string
	for _, r := range recs.Records {
		onStream = append(onStream, string(r.Data))
	}
	assert.Equal(t, accepted, onStream)
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return ""
	}
	return err.Error()
}
