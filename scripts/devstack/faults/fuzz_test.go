package faults

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// A rule posted to the admin API is read without panicking, and a valid one reads back the same
// after being written.
func FuzzRule(f *testing.F) {
	for _, seed := range []string{
		`{"name":"ddb","service":"dynamodb","operations":["GetItem"],"probability":0.2,"for":"30s","latency":"5ms","error":{"code":"ThrottlingException"}}`,
		`{"service":"kinesis","failRecords":0.5,"recordError":"InternalFailure","after":3,"times":2}`,
		`{"drop":true,"bodyContains":"x"}`, `{"for":"-1s"}`, `{}`, `null`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Rule
		if json.Unmarshal(b, &r) != nil || r.Validate() != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Rule
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if !reflect.DeepEqual(r, back) && !(len(r.Operations) == 0 && len(back.Operations) == 0) {
			t.Fatalf("%+v became %+v", r, back)
		}
	})
}

// Any request is named without panicking.
func FuzzIdentify(f *testing.F) {
	f.Add("Kinesis_20131202.PutRecords", "application/x-amz-json-1.1", []byte(`{}`))
	f.Add("", "application/x-www-form-urlencoded", []byte("Action=SendMessage&QueueUrl=x"))
	f.Add("", "application/x-www-form-urlencoded", []byte("%zz;;&&"))
	f.Fuzz(func(t *testing.T, target, contentType string, body []byte) {
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
		if err != nil {
			t.Skip()
		}
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", contentType)
		_, _ = identify(req, body)
	})
}
