package faults

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
)

// recordMessages are Kinesis's messages for a record it refused.
var recordMessages = map[string]string{
	"ProvisionedThroughputExceededException": "Rate exceeded for shard shardId-000000000000 in stream under account 000000000000.",
	"InternalFailure":                        "Internal service failure.",
}

// failRecords answers a PutRecords call with some of its records refused, as Kinesis does when some
// shards are over their limits: the refused records are taken out of the call before it goes on,
// so that they are not on the stream, and put back into the answer in their places with an error
// code. When the call goes on and fails, its answer is passed back as it is.
func (in *Injector) failRecords(w http.ResponseWriter, req *http.Request, next http.Handler, body []byte, r *Rule) {
	var call map[string]json.RawMessage
	var records []json.RawMessage
	if json.Unmarshal(body, &call) != nil || json.Unmarshal(call["Records"], &records) != nil {
		next.ServeHTTP(w, req) // not a call this rule understands: the server answers it
		return
	}
	code := r.RecordError
	if code == "" {
		code = "ProvisionedThroughputExceededException"
	}
	refused := make([]bool, len(records))
	var kept []json.RawMessage
	in.mu.Lock()
	for i := range records {
		refused[i] = in.rand.Float64() < r.FailRecords
		if !refused[i] {
			kept = append(kept, records[i])
		}
	}
	in.mu.Unlock()

	type result struct {
		SequenceNumber string `json:"SequenceNumber,omitempty"`
		ShardID        string `json:"ShardId,omitempty"`
		ErrorCode      string `json:"ErrorCode,omitempty"`
		ErrorMessage   string `json:"ErrorMessage,omitempty"`
	}
	var answer struct {
		FailedRecordCount int      `json:"FailedRecordCount"`
		Records           []result `json:"Records"`
		EncryptionType    string   `json:"EncryptionType,omitempty"`
	}
	var forwarded []result
	if len(kept) > 0 {
		call["Records"], _ = json.Marshal(kept)
		sent, _ := json.Marshal(call)
		out := forward(next, req, sent)
		if out.Code != http.StatusOK || json.Unmarshal(out.Body.Bytes(), &answer) != nil || len(answer.Records) != len(kept) {
			copyResponse(w, out)
			return
		}
		forwarded = answer.Records
	}
	answer.Records = make([]result, len(records))
	answer.FailedRecordCount = 0
	for i := range records {
		if refused[i] {
			answer.Records[i] = result{ErrorCode: code, ErrorMessage: recordMessages[code]}
			answer.FailedRecordCount++
			continue
		}
		answer.Records[i], forwarded = forwarded[0], forwarded[1:]
		if answer.Records[i].ErrorCode != "" {
			answer.FailedRecordCount++
		}
	}
	b, _ := json.Marshal(answer)
	w.Header().Set("Content-Type", req.Header.Get("Content-Type"))
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// forward sends req with another body to next and returns its answer.
func forward(next http.Handler, req *http.Request, body []byte) *httptest.ResponseRecorder {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	return rec
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
