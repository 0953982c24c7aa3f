package firehose_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	fh "github.com/dcrm-project/dcrm/scripts/devstack/firehose"
	"github.com/dcrm-project/dcrm/scripts/devstack/firehose/firehosetest"
)

// FuzzRequest sends arbitrary bodies to every operation: each gets a JSON answer, a 4xx with a code
// and a reason when it is refused, never a 5xx or a panic.
func FuzzRequest(f *testing.F) {
	w := firehosetest.Start(f, fh.Options{}, firehosetest.Feed("s"))
	seeds := map[string][]string{
		"PutRecordBatch": {`{"DeliveryStreamName":"s","Records":[{"Data":"eyJhIjoxfQo="},{"Data":""}]}`, `{"DeliveryStreamName":"s","Records":[]}`,
			`{"DeliveryStreamName":"s","Records":[null]}`, `{"DeliveryStreamName":"s","Records":{"Data":"eA=="}}`},
		"PutRecord":              {`{"DeliveryStreamName":"s","Record":{"Data":"eA=="}}`, `{"DeliveryStreamName":7}`},
		"DescribeDeliveryStream": {`{"DeliveryStreamName":"s","Limit":1,"ExclusiveStartDestinationId":"destinationId-000000000000"}`},
		"ListDeliveryStreams":    {`{"Limit":1,"DeliveryStreamType":"DirectPut","ExclusiveStartDeliveryStreamName":"r"}`, `{"Limit":1e12}`},
		"UpdateDestination":      {`{}`},
	}
	for op, bodies := range seeds {
		for _, b := range bodies {
			f.Add(op, b)
		}
	}
	f.Fuzz(func(t *testing.T, op, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "Firehose_20150804."+op)
		w.Server.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", op, body, rec.Code, rec.Body)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s %q: answer is not a JSON object: %s", op, body, rec.Body)
		}
		if rec.Code != 200 && (v["__type"] == "" || v["message"] == "") {
			t.Fatalf("%s %q: %d without a code and a reason: %s", op, body, rec.Code, rec.Body)
		}
	})
}
