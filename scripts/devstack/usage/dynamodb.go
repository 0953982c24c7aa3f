package usage

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/dcrm-project/dcrm/scripts/devstack/jsonscan"
)

// dynamoKinds are the operations asked for their consumed capacity: reads and writes.
var dynamoKinds = map[string]byte{
	"GetItem": 'r', "BatchGetItem": 'r', "Query": 'r', "Scan": 'r', "TransactGetItems": 'r',
	"PutItem": 'w', "UpdateItem": 'w', "DeleteItem": 'w', "BatchWriteItem": 'w', "TransactWriteItems": 'w',
}

// consumed is one ConsumedCapacity entry of a DynamoDB answer.
type consumed struct {
	TableName          string
	CapacityUnits      float64
	ReadCapacityUnits  float64
	WriteCapacityUnits float64
}

func (m *Meter) dynamodb(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		kind := dynamoKinds[op]
		if kind == 0 {
			rec := &recorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			m.update(func(s *Snapshot) {
				s.DynamoDB.Requests[op]++
				if rec.status != http.StatusOK {
					s.DynamoDB.Errors[op]++
				}
			})
			return
		}
		body, err := readBody(r)
		if err != nil {
			http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
			return
		}
		setBody(r, askCapacity(body))
		rec := &recorder{ResponseWriter: w, keep: true}
		next.ServeHTTP(rec, r)
		answer := rec.decoded()
		var list []consumed
		failedCondition := false
		if rec.status == http.StatusOK {
			list = capacity(answer)
		} else if t := errorType(answer); t == "ConditionalCheckFailedException" || t == "TransactionCanceledException" {
			failedCondition = true
		}
		table := ""
		if failedCondition {
			var t struct{ TableName string }
			_ = json.Unmarshal(body, &t)
			table = t.TableName
		}
		m.update(func(s *Snapshot) {
			d := &s.DynamoDB
			d.Requests[op]++
			if rec.status != http.StatusOK {
				d.Errors[op]++
			}
			if failedCondition {
				d.ConditionalFailure[table]++
			}
			for _, c := range list {
				read, write := c.ReadCapacityUnits, c.WriteCapacityUnits
				if read == 0 && write == 0 {
					if kind == 'r' {
						read = c.CapacityUnits
					} else {
						write = c.CapacityUnits
					}
				}
				if read != 0 {
					d.ReadUnits[c.TableName] += read
					d.ReadUnitsByOp[op] += read
				}
				if write != 0 {
					d.WriteUnits[c.TableName] += write
					d.WriteUnitsByOp[op] += write
				}
			}
		})
	})
}

// askCapacity adds "ReturnConsumedCapacity":"TOTAL" to a request that does not ask for it, and
// turns NONE into TOTAL; INDEXES and TOTAL are left as they are. It splices the bytes rather than
// decoding the request.
func askCapacity(body []byte) []byte {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return body
	}
	if i := bytes.Index(body, []byte(`"ReturnConsumedCapacity"`)); i >= 0 {
		return bytes.Replace(body, []byte(`"ReturnConsumedCapacity":"NONE"`), []byte(`"ReturnConsumedCapacity":"TOTAL"`), 1)
	}
	at := len(body) - len(trimmed) + 1
	rest := bytes.TrimLeft(trimmed[1:], " \t\r\n")
	sep := ","
	if len(rest) > 0 && rest[0] == '}' {
		sep = ""
	}
	out := make([]byte, 0, len(body)+40)
	out = append(out, body[:at]...)
	out = append(out, `"ReturnConsumedCapacity":"TOTAL"`+sep...)
	return append(out, body[at:]...)
}

// capacity reads the ConsumedCapacity of an answer: one entry, or a list (batches, transactions).
// Only that member is decoded: the answer's items, often most of its bytes, are stepped over.
func capacity(answer []byte) []consumed {
	raw, found, ok := jsonscan.Member(answer, "ConsumedCapacity")
	if !ok { // not an object the scan could walk: decode it whole
		var out struct{ ConsumedCapacity json.RawMessage }
		if json.Unmarshal(answer, &out) != nil {
			return nil
		}
		raw, found = out.ConsumedCapacity, true
	}
	if !found || len(raw) == 0 {
		return nil
	}
	var list []consumed
	if raw[0] == '[' {
		_ = json.Unmarshal(raw, &list)
		return list
	}
	var one consumed
	if json.Unmarshal(raw, &one) == nil {
		list = append(list, one)
	}
	return list
}
