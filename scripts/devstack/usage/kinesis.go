package usage

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
)

const (
	kb          = 1024
	payloadUnit = 25 * kb // Kinesis provisioned mode bills PUTs in 25 KB payload units
)

type record struct {
	Data         string // base64
	PartitionKey string
}

// size is the record's bytes as Kinesis counts them: its data and its partition key.
func (r record) size() int64 {
	n := base64.StdEncoding.DecodedLen(len(r.Data))
	if l := len(r.Data); l >= 2 && r.Data[l-1] == '=' {
		n--
		if r.Data[l-2] == '=' {
			n--
		}
	}
	return int64(n + len(r.PartitionKey))
}

func (m *Meter) kinesis(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		var put []record
		switch op {
		case "PutRecord", "PutRecords":
			body, err := readBody(r)
			if err != nil {
				http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
				return
			}
			if op == "PutRecord" {
				var one record
				_ = json.Unmarshal(body, &one)
				put = []record{one}
			} else {
				var req struct{ Records []record }
				_ = json.Unmarshal(body, &req)
				put = req.Records
			}
		}
		rec := &recorder{ResponseWriter: w, keep: op == "PutRecords" || op == "GetRecords"}
		next.ServeHTTP(rec, r)
		ok := rec.status == http.StatusOK

		var accepted []record
		var read []record
		switch {
		case ok && op == "PutRecord":
			accepted = put
		case ok && op == "PutRecords":
			var out struct{ Records []struct{ ErrorCode string } }
			_ = json.Unmarshal(rec.decoded(), &out)
			for i, p := range put {
				if i < len(out.Records) && out.Records[i].ErrorCode == "" {
					accepted = append(accepted, p)
				}
			}
		case ok && op == "GetRecords":
			var out struct{ Records []record }
			_ = json.Unmarshal(rec.decoded(), &out)
			read = out.Records
		}
		m.update(func(s *Snapshot) {
			k := &s.Kinesis
			k.Requests[op]++
			if ok {
				k.FailedRecords += int64(len(put) - len(accepted))
			}
			for _, a := range accepted {
				n := a.size()
				k.Records++
				k.Bytes += n
				k.BilledKB += max(1, (n+kb-1)/kb)
				k.PayloadUnits += max(1, (n+payloadUnit-1)/payloadUnit)
			}
			if op == "GetRecords" {
				k.GetRecordsCalls++
				k.RecordsRead += int64(len(read))
				for _, x := range read {
					k.BytesRead += x.size()
				}
			}
		})
	})
}
