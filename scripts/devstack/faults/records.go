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

// batchCall is how a call that puts many records answers for each: Kinesis's PutRecords and
// Data Firehose's PutRecordBatch. Both take the records as "Records" and answer, in their order,
// one entry each under list, an entry refused with ErrorCode and ErrorMessage, and how many were
// refused under count.
type batchCall struct {
	count, list string
	// defaultCode is the code records are refused with when the rule names none; messages are
	// the service's words for each code it gives a record.
	defaultCode string
	messages    map[string]string
}

// batchCalls are the calls FailRecords applies to, by operation.
var batchCalls = map[string]batchCall{
	"PutRecords": {count: "FailedRecordCount", list: "Records", defaultCode: "ProvisionedThroughputExceededException", messages: map[string]string{
		"ProvisionedThroughputExceededException": "Rate exceeded for shard shardId-000000000000 in stream under account 000000000000.",
		"InternalFailure":                        "Internal service failure.",
	}},
	"PutRecordBatch": {count: "FailedPutCount", list: "RequestResponses", defaultCode: "ServiceUnavailableException", messages: map[string]string{
		"ServiceUnavailableException": "The service is unavailable. Back off and retry the operation.",
		"InternalFailure":             "Internal service failure.",
	}},
}

// failRecords answers a batch call with some of its records refused, as Kinesis does when some
// shards are over their limits and Firehose when it is busy: the refused records are taken out of
// the call before it goes on, so that they are not on the stream, and put back into the answer in
// their places with an error code. When the call goes on and fails, its answer is passed back as
// it is.
func (in *Injector) failRecords(w http.ResponseWriter, req *http.Request, next http.Handler, body []byte, r *Rule, bc batchCall) {
	var call map[string]json.RawMessage
	var records []json.RawMessage
	if json.Unmarshal(body, &call) != nil || json.Unmarshal(call["Records"], &records) != nil {
		next.ServeHTTP(w, req) // not a call this rule understands: the server answers it
		return
	}
	code := r.RecordError
	if code == "" {
		code = bc.defaultCode
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

	type result struct{ ErrorCode string }
	answer := map[string]json.RawMessage{}
	var forwarded []json.RawMessage
	if len(kept) > 0 {
		call["Records"], _ = json.Marshal(kept)
		sent, _ := json.Marshal(call)
		out := forward(next, req, sent)
		if out.Code != http.StatusOK || json.Unmarshal(out.Body.Bytes(), &answer) != nil ||
			json.Unmarshal(answer[bc.list], &forwarded) != nil || len(forwarded) != len(kept) {
			copyResponse(w, out)
			return
		}
	}
	entries := make([]json.RawMessage, len(records))
	failed := 0
	for i := range records {
		if refused[i] {
			entries[i], _ = json.Marshal(map[string]string{"ErrorCode": code, "ErrorMessage": bc.messages[code]})
			failed++
			continue
		}
		entries[i], forwarded = forwarded[0], forwarded[1:]
		var res result
		if json.Unmarshal(entries[i], &res) == nil && res.ErrorCode != "" {
			failed++
		}
	}
	answer[bc.list], _ = json.Marshal(entries)
	answer[bc.count], _ = json.Marshal(failed)
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
