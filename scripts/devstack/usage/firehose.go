package usage

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// FirehoseIncrement is what Data Firehose bills Direct PUT ingestion in: each record rounded up
// to a multiple of 5 KB (5,120 bytes).
const FirehoseIncrement = 5 * kb

// firehoseSizes are the sizes of the records a PutRecordBatch or PutRecord request puts: the
// "Data" members, found by scanning (see recordSizes), or by decoding the request when the scan
// cannot be trusted.
func firehoseSizes(op string, body []byte) []int64 {
	if data := members(body, []byte(`"Data":"`)); data != nil && (op == "PutRecordBatch" || len(data) == 1) {
		sizes := make([]int64, len(data))
		plain := true
		for i, d := range data {
			plain = plain && bytes.IndexByte(d, '\\') < 0
			sizes[i] = int64(decodedLen(d))
		}
		if plain {
			return sizes
		}
	}
	var req struct {
		Record  struct{ Data []byte }
		Records []struct{ Data []byte }
	}
	_ = json.Unmarshal(body, &req)
	if op == "PutRecord" {
		return []int64{int64(len(req.Record.Data))}
	}
	sizes := make([]int64, len(req.Records))
	for i, r := range req.Records {
		sizes[i] = int64(len(r.Data))
	}
	return sizes
}

func (m *Meter) firehose(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		var put []int64
		if op == "PutRecordBatch" || op == "PutRecord" {
			body, err := readBody(r)
			if err != nil {
				http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
				return
			}
			put = firehoseSizes(op, body)
		}
		rec := &recorder{ResponseWriter: w, keep: op == "PutRecordBatch"}
		next.ServeHTTP(rec, r)
		ok := rec.status == http.StatusOK

		var accepted []int64
		switch {
		case ok && op == "PutRecord":
			accepted = put
		case ok && op == "PutRecordBatch":
			accepted = acceptedSizes(put, rec.decoded(), `"FailedPutCount":0`, "RequestResponses")
		}
		m.update(func(s *Snapshot) {
			f := &s.Firehose
			f.Requests[op]++
			if !ok {
				f.Errors[op]++
				return
			}
			f.FailedRecords += int64(len(put) - len(accepted))
			for _, n := range accepted {
				f.Records++
				f.Bytes += n
				f.BilledBytes += max(1, (n+FirehoseIncrement-1)/FirehoseIncrement) * FirehoseIncrement
			}
		})
	})
}
