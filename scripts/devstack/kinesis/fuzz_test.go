package kinesis_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/scripts/devstack/kinesis"
)

// FuzzRequest sends arbitrary bodies to every operation: each gets a JSON answer, a 4xx with a code
// and a reason when it is refused, never a 5xx or a panic.
func FuzzRequest(f *testing.F) {
	srv := kinesis.New(kinesis.Options{Limits: &kinesis.Limits{}, StreamBytes: 1 << 20, ShardLimit: 64})
	call := func(op, body string) (int, []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
		srv.ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes()
	}
	if code, body := call("CreateStream", `{"StreamName":"s","ShardCount":3}`); code != 200 {
		f.Fatalf("create stream: %d %s", code, body)
	}
	_, it := call("GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000001","ShardIteratorType":"TRIM_HORIZON"}`)
	var iterator struct{ ShardIterator string }
	_ = json.Unmarshal(it, &iterator)

	seeds := map[string][]string{
		"CreateStream":          {`{"StreamName":"t","StreamModeDetails":{"StreamMode":"ON_DEMAND"}}`, `{"StreamName":"u","ShardCount":1e9}`},
		"DeleteStream":          {`{"StreamName":"nope"}`, `{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/nope"}`},
		"ListStreams":           {`{"Limit":1}`},
		"DescribeStream":        {`{"StreamName":"s","Limit":1,"ExclusiveStartShardId":"shardId-000000000000"}`},
		"DescribeStreamSummary": {`{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s"}`},
		"ListShards":            {`{"StreamName":"s","MaxResults":1}`, `{"NextToken":"AAAA"}`, `{"StreamName":"s","ShardFilter":{"Type":"AFTER_SHARD_ID","ShardId":"1"}}`},
		"PutRecord":             {`{"StreamName":"s","PartitionKey":"k","Data":"eA==","ExplicitHashKey":"12"}`},
		"PutRecords":            {`{"StreamName":"s","Records":[{"PartitionKey":"k","Data":"eA=="},{"PartitionKey":"é","Data":""}]}`},
		"GetShardIterator": {`{"StreamName":"s","ShardId":"1","ShardIteratorType":"AT_SEQUENCE_NUMBER","StartingSequenceNumber":"49000000000100000000000000000000000000000000000000000000"}`,
			`{"StreamName":"s","ShardId":"shardId-000000000002","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1.5e9}`},
		"GetRecords": {`{"ShardIterator":"` + iterator.ShardIterator + `","Limit":2}`, `{"ShardIterator":"x"}`},
		"SplitShard": {`{}`},
	}
	for op, bodies := range seeds {
		for _, b := range bodies {
			f.Add(op, b)
		}
	}
	f.Fuzz(func(t *testing.T, op, body string) {
		code, out := call(op, body)
		if code >= 500 {
			t.Fatalf("%s %q: %d %s", op, body, code, out)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%s %q: answer is not a JSON object: %s", op, body, out)
		}
		if code != 200 && (v["__type"] == "" || v["message"] == "") {
			t.Fatalf("%s %q: %d without a code and a reason: %s", op, body, code, out)
		}
	})
}
