package beacon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// A record is the data of one Kinesis record on the beacon stream. It carries several events of one
// visitor, so that a few small events cost one PUT payload unit instead of one each:
//
//	{"recordVersion":2,"events":[{event},{event},…]}
//
// Each event is the JSON of Event. recordVersion says how to read the rest, so the format can
// evolve; readers refuse versions they do not know. Version 1 is the form written before events
// were packed: the JSON of a single Event, without a wrapper. DecodeRecord still reads it.
const RecordVersion = 2

// ErrRecord is what every record that cannot be read matches with errors.Is.
var ErrRecord = errors.New("not a beacon record")

const (
	recordHead = `{"recordVersion":2,"events":[`
	recordTail = `]}`
)

// RecordOverhead is the size of a record without its events and the commas between them: a
// record of events e1 … en is RecordOverhead + len(e1) + … + len(en) + n − 1 bytes.
const RecordOverhead = len(recordHead) + len(recordTail)

// EncodeRecord makes the record that carries events, in order.
func EncodeRecord(events []Event) ([]byte, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("encode record: %w: no events", ErrRecord)
	}
	raw := make([]json.RawMessage, len(events))
	for i, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", e.MessageID, err)
		}
		raw[i] = b
	}
	return JoinRecord(raw), nil
}

// JoinRecord makes the record that carries events already encoded as JSON (json.Marshal of an
// Event), in order.
func JoinRecord(events []json.RawMessage) []byte {
	n := RecordOverhead + max(len(events)-1, 0)
	for _, e := range events {
		n += len(e)
	}
	b := make([]byte, 0, n)
	b = append(b, recordHead...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, recordTail...)
}

// DecodeRecord reads the events of a record, of either version.
func DecodeRecord(data []byte) ([]Event, error) {
	raw, err := SplitRecord(data)
	if err != nil {
		return nil, err
	}
	evs := make([]Event, len(raw))
	for i, r := range raw {
		if evs[i], err = DecodeEvent(r); err != nil {
			return nil, fmt.Errorf("%w: event %d: %s", ErrRecord, i, err.Error())
		}
	}
	return evs, nil
}

// SplitRecord returns the JSON of each event of a record, in order, without decoding the events:
// for a version 1 record, the record itself. The events may share data's bytes.
func SplitRecord(data []byte) ([]json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrRecord)
	}
	if events, ok := splitRecord(data); ok {
		return events, nil
	}
	return splitRecordJSON(data)
}

// splitRecordJSON is SplitRecord by encoding/json, for a record of any form.
func splitRecordJSON(data []byte) ([]json.RawMessage, error) {
	var r struct {
		Version *int              `json:"recordVersion"`
		Events  []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrRecord, err.Error())
	}
	switch {
	case r.Version == nil:
		return []json.RawMessage{data}, nil // version 1: one event
	case *r.Version != RecordVersion:
		return nil, fmt.Errorf("%w: record version %d is not supported (this reader knows %d)", ErrRecord, *r.Version, RecordVersion)
	case len(r.Events) == 0:
		return nil, fmt.Errorf("%w: no events", ErrRecord)
	}
	for i, e := range r.Events {
		if t := bytes.TrimSpace(e); len(t) == 0 || t[0] != '{' {
			return nil, fmt.Errorf("%w: event %d is not a JSON object", ErrRecord, i)
		}
	}
	return r.Events, nil
}
