package usage

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
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
	return int64(decodedLen(r.Data) + len(r.PartitionKey))
}

// decodedLen is the length of padded standard base64 data once decoded.
func decodedLen[T string | []byte](data T) int {
	n := base64.StdEncoding.DecodedLen(len(data))
	if l := len(data); l >= 2 && data[l-1] == '=' {
		n--
		if data[l-2] == '=' {
			n--
		}
	}
	return n
}

// recordSizes are the sizes (data and partition key) of the records of a PutRecords request or a
// GetRecords answer, found by scanning for their "Data" and "PartitionKey" members rather than
// decoding the whole document: the base64 data is most of its bytes, and decoding it with
// encoding/json cost the meter more than the rest of its work. The i-th "Data" member belongs to
// the i-th record (a quote inside a string is always escaped, so the pattern cannot occur in one);
// ok is false when the document is not as the SDK and the servers write it, and the caller decodes.
func recordSizes(doc []byte) (sizes []int64, ok bool) {
	data := members(doc, []byte(`"Data":"`))
	keys := members(doc, []byte(`"PartitionKey":"`))
	if data == nil || len(data) != len(keys) {
		return nil, false
	}
	sizes = make([]int64, len(data))
	for i := range data {
		d, k := data[i], keys[i]
		if bytes.IndexByte(d, '\\') >= 0 {
			return nil, false // base64 needs no escapes; something else wrote this
		}
		n := int64(decodedLen(d))
		if bytes.IndexByte(k, '\\') >= 0 {
			u, err := strconv.Unquote(`"` + string(k) + `"`)
			if err != nil {
				return nil, false
			}
			k = []byte(u)
		}
		sizes[i] = n + int64(len(k))
	}
	return sizes, true
}

// members returns the raw string values of every member named by prefix (`"Name":"`), in order;
// nil when a value is not terminated.
func members(doc, prefix []byte) [][]byte {
	out := [][]byte{}
	for {
		i := bytes.Index(doc, prefix)
		if i < 0 {
			return out
		}
		doc = doc[i+len(prefix):]
		end := closingQuote(doc)
		if end < 0 {
			return nil
		}
		out = append(out, doc[:end])
		doc = doc[end+1:]
	}
}

// closingQuote is the index of the first quote in s that no backslash escapes; -1 when none.
func closingQuote(s []byte) int {
	from := 0
	for {
		k := bytes.IndexByte(s[from:], '"')
		if k < 0 {
			return -1
		}
		q := from + k
		escapes := 0
		for p := q - 1; p >= 0 && s[p] == '\\'; p-- {
			escapes++
		}
		if escapes%2 == 0 {
			return q
		}
		from = q + 1
	}
}

// putSizes are the sizes of the records a PutRecord(s) request puts.
func putSizes(op string, body []byte) []int64 {
	if sizes, ok := recordSizes(body); ok && (op == "PutRecords" || len(sizes) == 1) {
		return sizes
	}
	var list []record
	if op == "PutRecord" {
		var one record
		_ = json.Unmarshal(body, &one)
		list = []record{one}
	} else {
		var req struct{ Records []record }
		_ = json.Unmarshal(body, &req)
		list = req.Records
	}
	sizes := make([]int64, len(list))
	for i, r := range list {
		sizes[i] = r.size()
	}
	return sizes
}

func (m *Meter) kinesis(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		var put []int64
		switch op {
		case "PutRecord", "PutRecords":
			body, err := readBody(r)
			if err != nil {
				http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
				return
			}
			put = putSizes(op, body)
		}
		rec := &recorder{ResponseWriter: w, keep: op == "PutRecords" || op == "GetRecords"}
		next.ServeHTTP(rec, r)
		ok := rec.status == http.StatusOK

		var accepted, read []int64
		switch {
		case ok && op == "PutRecord":
			accepted = put
		case ok && op == "PutRecords":
			accepted = acceptedSizes(put, rec.decoded(), `"FailedRecordCount":0`, "Records")
		case ok && op == "GetRecords":
			answer := rec.decoded()
			var found bool
			if read, found = recordSizes(answer); !found {
				var out struct{ Records []record }
				_ = json.Unmarshal(answer, &out)
				read = make([]int64, len(out.Records))
				for i, x := range out.Records {
					read[i] = x.size()
				}
			}
		}
		m.update(func(s *Snapshot) {
			k := &s.Kinesis
			k.Requests[op]++
			if ok {
				k.FailedRecords += int64(len(put) - len(accepted))
			}
			for _, n := range accepted {
				k.Records++
				k.Bytes += n
				k.BilledKB += max(1, (n+kb-1)/kb)
				k.PayloadUnits += max(1, (n+payloadUnit-1)/payloadUnit)
			}
			if op == "GetRecords" {
				k.GetRecordsCalls++
				k.RecordsRead += int64(len(read))
				for _, n := range read {
					k.BytesRead += n
				}
			}
		})
	})
}
