package usage_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// metered puts a metering proxy in front of each local server and returns endpoints that reach
// them through it.
func metered(t *testing.T, e localaws.Endpoints, m *usage.Meter) localaws.Endpoints {
	t.Helper()
	through := func(service, endpoint string) string {
		p, err := usage.Proxy(endpoint)
		require.NoError(t, err)
		srv := httptest.NewServer(m.Middleware(service, p))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	return localaws.Endpoints{DynamoDB: through(usage.DynamoDB, e.DynamoDB), Kinesis: through(usage.Kinesis, e.Kinesis), SQS: through(usage.SQS, e.SQS)}
}

func key(v string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"keyHash": &ddbtypes.AttributeValueMemberS{Value: v}}
}

// TestMetersDynamoDBUnitsAsTheServerReportsThem drives every kind of read and write through the
// meter to DynamoDB Local, none of them asking for capacity, and checks the units it added up.
func TestMetersDynamoDBUnitsAsTheServerReportsThem(t *testing.T) {
	e := localawstest.Reachable(t)
	table := localawstest.NewTopologyTable(t, topology.KeyTable)
	m := usage.New(nil)
	db := metered(t, e, m).DynamoDBClient()
	ctx := context.Background()

	before := m.Snapshot()
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: key("a")})
	require.NoError(t, err)
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: key("a"), ConditionExpression: aws.String("attribute_not_exists(keyHash)")})
	require.Error(t, err, "the condition fails: the item is there")
	_, err = db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{table: {
		{PutRequest: &ddbtypes.PutRequest{Item: key("b")}}, {PutRequest: &ddbtypes.PutRequest{Item: key("c")}}}}})
	require.NoError(t, err)
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{{Put: &ddbtypes.Put{TableName: aws.String(table), Item: key("d")}}}})
	require.NoError(t, err)
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("a"), ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	require.NotNil(t, out.ConsumedCapacity, "the caller did not ask, but the answer carries it: the SDK reads it as any field")
	_, err = db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("a")})
	require.NoError(t, err)
	_, err = db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{table: {Keys: []map[string]ddbtypes.AttributeValue{key("b"), key("c")}, ConsistentRead: aws.Bool(true)}}})
	require.NoError(t, err)
	_, err = db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	require.NoError(t, err)

	d := m.Snapshot().Sub(before).DynamoDB
	// 1 (put) + 2 (batch of two small items) + 4 (the transactional write of one small item: DynamoDB
	// Local reports 4 where AWS documents 2; the meter adds up what the server reports).
	require.Equal(t, 7.0, d.WriteUnits[table], "%+v", d)
	require.Equal(t, map[string]float64{"PutItem": 1, "BatchWriteItem": 2, "TransactWriteItems": 4}, d.WriteUnitsByOp)
	// 1 (consistent get) + 0.5 (eventually consistent) + 2 (two consistent reads in a batch).
	require.Equal(t, 3.5, d.ReadUnits[table])
	require.Equal(t, int64(1), d.ConditionalFailure[table])
	require.Equal(t, map[string]int64{"PutItem": 2, "BatchWriteItem": 1, "TransactWriteItems": 1, "GetItem": 2, "BatchGetItem": 1, "DescribeTable": 1}, d.Requests)
	require.Equal(t, map[string]int64{"PutItem": 1}, d.Errors)
}

// TestMetersKinesisAndSQS puts records and messages through the meter and reads them back.
func TestMetersKinesisAndSQS(t *testing.T) {
	e := localawstest.Reachable(t)
	stream := localawstest.NewStream(t, 1)
	queue := localawstest.NewQueue(t)
	m := usage.New(nil)
	through := metered(t, e, m)
	k, q := through.KinesisClient(), through.SQSClient()
	ctx := context.Background()

	before := m.Snapshot()
	small, large := strings.Repeat("x", 1000), strings.Repeat("y", 30*1024) // with a 1-byte key: 1001 B, 30,721 B
	_, err := k.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: []kintypes.PutRecordsRequestEntry{
		{Data: []byte(small), PartitionKey: aws.String("a")}, {Data: []byte(large), PartitionKey: aws.String("b")}}})
	require.NoError(t, err)
	_, err = k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte("hi"), PartitionKey: aws.String("c")})
	require.NoError(t, err)
	shards, err := k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	require.NoError(t, err)
	it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: shards.Shards[0].ShardId, ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	var read int
	require.Eventually(t, func() bool {
		out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		require.NoError(t, err)
		read += len(out.Records)
		it.ShardIterator = out.NextShardIterator
		return read == 3
	}, 10*time.Second, 50*time.Millisecond)
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String("hello")})
	require.NoError(t, err)
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(strings.Repeat("z", 100*1024))})
	require.NoError(t, err)

	d := m.Snapshot().Sub(before)
	require.Equal(t, int64(3), d.Kinesis.Records)
	require.Equal(t, int64(1001+30721+3), d.Kinesis.Bytes)
	require.Equal(t, int64(1+31+1), d.Kinesis.BilledKB, "each record rounded up to 1 KB: 1,001 B → 1, 30,721 B (30 KB + 1 B) → 31, 3 B → 1")
	require.Equal(t, int64(1+2+1), d.Kinesis.PayloadUnits, "25 KB units: 30,721 B is two")
	require.Equal(t, int64(3), d.Kinesis.RecordsRead)
	require.Equal(t, d.Kinesis.Bytes, d.Kinesis.BytesRead)
	require.GreaterOrEqual(t, d.Kinesis.GetRecordsCalls, int64(1))
	require.Equal(t, int64(2), d.SQS.Requests["SendMessage"])
	require.Equal(t, int64(1+2), d.SQS.Billed, "a 100 KB message is two 64 KB chunks")
}

func TestAPIMiddlewareCountsRoutesBytesAndStatus(t *testing.T) {
	m := usage.New(nil)
	h := m.APIMiddleware(func(r *http.Request) string {
		if r.URL.Path == "/v1/batch" {
			return "POST /v1/batch"
		}
		return ""
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/batch" {
			w.WriteHeader(http.StatusNotFound)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	for _, path := range []string{"/v1/batch", "/v1/batch", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, path, strings.NewReader("0123456789")))
	}
	big := strings.Repeat("b", 600*1024)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/batch", strings.NewReader(big)))
	a := m.Snapshot().API
	require.Equal(t, int64(4), a.Requests)
	require.Equal(t, int64(5), a.Billed, "600 KB is two 512 KB increments")
	require.Equal(t, int64(30+600*1024), a.BytesIn)
	require.Equal(t, int64(8), a.BytesOut)
	require.Equal(t, map[string]int64{"POST /v1/batch": 3, "": 1}, a.ByRoute)
	require.Equal(t, map[string]int64{"2xx": 3, "4xx": 1}, a.ByStatus)
	// The stage's access-log line for each, as API Gateway would write it (values of the same
	// lengths; latencies under 10 ms here).
	line := func(route, status, length string) int64 {
		b, err := json.Marshal(map[string]string{"error": "-", "integrationError": "-", "integrationMs": "0", "integrationStatus": status,
			"latencyMs": "0", "protocol": "HTTP/1.1", "requestId": "JgFKqhWgoAMEbQw=", "responseLength": length, "route": route,
			"status": status, "time": "1765090000000"})
		require.NoError(t, err)
		return int64(len(b) + 1)
	}
	require.InDelta(t, 3*line("POST /v1/batch", "200", "2")+line("-", "404", "2"), a.AccessLogBytes, 16, "a digit or two of latency each")
}

func TestLambdaBilledDurationAndLogs(t *testing.T) {
	m := usage.New(func() map[string]time.Duration { return map[string]time.Duration{"devstack": 1500 * time.Millisecond} })
	before := m.Snapshot()
	m.Invocation("collect", 256, 1200*time.Microsecond) // billed 2 ms
	m.Invocation("collect", 256, 3*time.Millisecond)    // billed 3 ms
	m.LogWriter("collect")(120)
	d := m.Snapshot().Sub(before)
	f := d.Lambda["collect"]
	require.Equal(t, int64(2), f.Invocations)
	require.Equal(t, int64(5), f.BilledMS)
	require.InDelta(t, 0.005*0.25, f.GBSeconds, 1e-12, "5 ms × 256 MB = 0.00125 GB-s")
	require.Equal(t, int64(120), f.LogBytes)
	require.Empty(t, d.CPU, "no CPU used between the two snapshots")
	require.Equal(t, 1.5, m.Snapshot().CPU["devstack"])

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, usage.Path, nil))
	var s usage.Snapshot
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &s))
	require.Equal(t, int64(2), s.Lambda["collect"].Invocations)
}
