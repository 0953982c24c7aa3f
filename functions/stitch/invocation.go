package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// invocation is what the Lambda runtime calls with each batch: the Kinesis event's JSON in, the
// partial batch response's out. aws-lambda-go would decode the event by reflection with
// encoding/json, whose scanner walks the whole document (nearly all of it the records' data in
// base64) before decoding it again. Here beacon's scanner checks the event once and what the
// handler reads of each record is cut out of it: its event id, sequence number, partition key,
// arrival time and data. An event in any other shape is decoded by encoding/json, as before.
type invocation struct{ h *handler }

func (i invocation) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ev, ok := readKinesisEvent(payload)
	if !ok {
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, err
		}
	}
	resp, err := i.h.handle(ctx, ev)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // as aws-lambda-go encodes a response
	if err := enc.Encode(resp); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// readKinesisEvent reads the fields of the records that the handler uses as encoding/json reads
// them, and false when the event is not as Lambda writes it (names in another case or given
// twice, nulls, other types, data that is not base64), for encoding/json to read. Other fields
// are neither read nor checked.
func readKinesisEvent(payload []byte) (events.KinesisEvent, bool) {
	var ev events.KinesisEvent
	var records []byte
	members, ok := beacon.Members(payload)
	if !ok || !fields(members, map[string]*[]byte{"Records": &records}) || len(records) == 0 || records[0] != '[' {
		return ev, false
	}
	list, _ := beacon.WalkElements(records) // checked with the rest: walked, not checked again
	ev.Records = make([]events.KinesisEventRecord, len(list))
	for k, raw := range list {
		r := &ev.Records[k]
		var id, kinesis, data, seq, key, arrival []byte
		rm, ok := beacon.WalkMembers(raw)
		if !ok || !fields(rm, map[string]*[]byte{"eventID": &id, "kinesis": &kinesis}) || kinesis == nil {
			return ev, false
		}
		km, ok := beacon.WalkMembers(kinesis)
		if !ok || !fields(km, map[string]*[]byte{"data": &data, "sequenceNumber": &seq, "partitionKey": &key, "approximateArrivalTimestamp": &arrival}) {
			return ev, false
		}
		if r.EventID, ok = stringField(id); !ok {
			return ev, false
		}
		if r.Kinesis.SequenceNumber, ok = stringField(seq); !ok {
			return ev, false
		}
		if r.Kinesis.PartitionKey, ok = stringField(key); !ok {
			return ev, false
		}
		if r.Kinesis.Data, ok = base64Field(data); !ok {
			return ev, false
		}
		if r.Kinesis.ApproximateArrivalTimestamp.Time, ok = epochField(arrival); !ok {
			return ev, false
		}
	}
	return ev, true
}

// fields sets each wanted member's value from members, and returns false when encoding/json might
// read them otherwise: a wanted name given twice or in another case.
func fields(members []beacon.Member, want map[string]*[]byte) bool {
	for _, m := range members {
		for name, to := range want {
			switch {
			case m.Name == name && *to == nil:
				*to = m.Value
			case strings.EqualFold(m.Name, name):
				return false
			}
		}
	}
	return true
}

// stringField is the string of a field: "" when absent, false unless a plain string literal
// (without escapes, ASCII: what Lambda writes in these fields).
func stringField(v []byte) (string, bool) {
	if v == nil {
		return "", true
	}
	if len(v) < 2 || v[0] != '"' || !plainASCII(v[1:len(v)-1]) {
		return "", false
	}
	return string(v[1 : len(v)-1]), true
}

// base64Field decodes data as encoding/json decodes a []byte: nil when absent. An escape or a
// byte beyond ASCII in the literal is no base64: it fails to decode and is left to encoding/json.
func base64Field(v []byte) ([]byte, bool) {
	if v == nil {
		return nil, true
	}
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	return b[:n], err == nil
}

// epochField reads seconds since the epoch as events.SecondsEpochTime does: the zero time when
// absent, false unless a number.
func epochField(v []byte) (time.Time, bool) {
	if v == nil {
		return time.Time{}, true
	}
	epoch, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return time.Time{}, false
	}
	sec := int64(epoch)
	return time.Unix(sec, int64((epoch-float64(sec))*1e9)), true
}

func plainASCII(s []byte) bool {
	for _, c := range s {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}
