package usage

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// answer is a stand-in for the local server behind the meter: it returns a canned answer, so the
// benchmark measures the meter's own work per request (reading, splicing, parsing, counting).
func answer(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, body)
	})
}

func benchmark(b *testing.B, service, target, request string, next http.Handler) {
	m := New(nil)
	h := m.Middleware(service, next)
	b.ReportAllocs()
	b.SetBytes(int64(len(request)))
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(request))
		r.Header.Set("X-Amz-Target", target)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

// BenchmarkMeter is the meter's cost per request of the kinds a loaded stack sends most.
func BenchmarkMeter(b *testing.B) {
	item := `{"TableName":"dcrm-Profiles","Key":{"profileId":{"S":"prf_8b581666c07fb418831a53a5"}},"ConditionExpression":"version = :v","UpdateExpression":"SET #p = :p"}`
	b.Run("dynamodb-update-item", func(b *testing.B) {
		benchmark(b, DynamoDB, "DynamoDB_20120810.UpdateItem", item,
			answer(`{"ConsumedCapacity":{"TableName":"dcrm-Profiles","CapacityUnits":3.0,"WriteCapacityUnits":3.0}}`))
	})
	// A profile read: the item, most of the answer, and the capacity after it.
	attrs := make([]string, 40)
	for i := range attrs {
		attrs[i] = fmt.Sprintf(`"attr%d":{"S":%q}`, i, strings.Repeat("v\"", 40))
	}
	b.Run("dynamodb-get-item-4KB", func(b *testing.B) {
		benchmark(b, DynamoDB, "DynamoDB_20120810.GetItem", `{"TableName":"dcrm-Profiles","Key":{"profileId":{"S":"prf_8b581666c07fb418831a53a5"}},"ConsistentRead":true}`,
			answer(`{"Item":{`+strings.Join(attrs, ",")+`},"ConsumedCapacity":{"TableName":"dcrm-Profiles","CapacityUnits":1.0}}`))
	})
	var records []string
	data := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("e"), 1200))
	var results []string
	for i := range 20 {
		records = append(records, fmt.Sprintf(`{"Data":%q,"PartitionKey":"visitor-%d"}`, data, i))
		results = append(results, fmt.Sprintf(`{"SequenceNumber":"4963%d","ShardId":"shardId-000000000000"}`, i))
	}
	b.Run("kinesis-put-records-20x1200B", func(b *testing.B) {
		benchmark(b, Kinesis, "Kinesis_20131202.PutRecords", `{"StreamName":"dcrm-Beacons","Records":[`+strings.Join(records, ",")+`]}`,
			answer(`{"FailedRecordCount":0,"Records":[`+strings.Join(results, ",")+`]}`))
	})
	var read []string
	for i := range 500 {
		read = append(read, fmt.Sprintf(`{"SequenceNumber":"4963%d","ApproximateArrivalTimestamp":1.7e9,"Data":%q,"PartitionKey":"visitor-%d"}`, i, data, i))
	}
	b.Run("kinesis-get-records-500x1200B", func(b *testing.B) {
		benchmark(b, Kinesis, "Kinesis_20131202.GetRecords", `{"ShardIterator":"AAAA","Limit":10000}`,
			answer(`{"Records":[`+strings.Join(read, ",")+`],"NextShardIterator":"BBBB","MillisBehindLatest":0}`))
	})
	b.Run("sqs-send-message", func(b *testing.B) {
		benchmark(b, SQS, "AmazonSQS.SendMessage", `{"QueueUrl":"http://127.0.0.1:9324/q","MessageBody":"{}"}`, answer(`{"MessageId":"m"}`))
	})
}
