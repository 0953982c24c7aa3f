package profilestore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// membershipItem is a profile.Membership as stored, in the attribute audiences (a list sorted by
// audience).
type membershipItem struct {
	Audience string    `dynamo:"a"`
	Since    time.Time `dynamo:"since"`
}

func membershipItems(ms []profile.Membership) []membershipItem {
	out := make([]membershipItem, len(ms))
	for i, m := range ms {
		out[i] = membershipItem{Audience: m.Audience, Since: m.Since.UTC()}
	}
	return out
}

func memberships(items []membershipItem) []profile.Membership {
	if len(items) == 0 {
		return nil
	}
	out := make([]profile.Membership, len(items))
	for i, m := range items {
		out[i] = profile.Membership{Audience: m.Audience, Since: m.Since}
	}
	return out
}

// eventTimes is profile.EventTimes as one binary attribute, a few bytes per time (a write is billed
// by the item's size, and a counted name keeps up to profile.MaxEventTimes times): a format byte,
// the number of names, then per name (sorted) its length, its bytes, the number of times, and the
// times in milliseconds since the Unix epoch, the first as a varint and each next as the unsigned
// difference from the one before (the times are sorted). A name with no times is kept: it says
// the name is counted and had none. Times are kept to the millisecond, as events carry them.
type eventTimes map[string][]time.Time

const eventTimesFormat = 1

var errBadEventTimes = errors.New("malformed eventTimes attribute")

func (e eventTimes) MarshalDynamo() (types.AttributeValue, error) {
	if e == nil {
		return nil, nil
	}
	b := []byte{eventTimesFormat}
	b = binary.AppendUvarint(b, uint64(len(e)))
	for _, name := range slices.Sorted(maps.Keys(e)) {
		times := e[name]
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = binary.AppendUvarint(b, uint64(len(times)))
		var prev int64
		for i, t := range times {
			ms := t.UnixMilli()
			if i == 0 {
				b, prev = binary.AppendVarint(b, ms), ms
				continue
			}
			b = binary.AppendUvarint(b, uint64(max(ms-prev, 0)))
			prev = max(ms, prev)
		}
	}
	return &types.AttributeValueMemberB{Value: b}, nil
}

func (e *eventTimes) UnmarshalDynamo(av types.AttributeValue) error {
	attr, ok := av.(*types.AttributeValueMemberB)
	if !ok || len(attr.Value) == 0 || attr.Value[0] != eventTimesFormat {
		return errBadEventTimes
	}
	r := bytes.NewReader(attr.Value[1:])
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len()) {
		return errBadEventTimes
	}
	out := make(eventTimes, n)
	for range n {
		size, err := binary.ReadUvarint(r)
		if err != nil || size > uint64(r.Len()) {
			return errBadEventTimes
		}
		name := make([]byte, size)
		if _, err := io.ReadFull(r, name); err != nil {
			return errBadEventTimes
		}
		count, err := binary.ReadUvarint(r)
		if err != nil || count > uint64(r.Len()) {
			return errBadEventTimes
		}
		times := make([]time.Time, 0, count)
		var ms int64
		for i := range count {
			if i == 0 {
				ms, err = binary.ReadVarint(r)
			} else {
				var d uint64
				d, err = binary.ReadUvarint(r)
				ms += int64(d)
			}
			if err != nil {
				return errBadEventTimes
			}
			times = append(times, time.UnixMilli(ms).UTC())
		}
		out[string(name)] = times
	}
	*e = out
	return nil
}

// computedStates is profile.Computed as one binary attribute: the JSON of the map (each state is
// JSON of package recording's), compact, in one attribute rather than a map of many.
type computedStates map[string]json.RawMessage

func (c computedStates) MarshalDynamo() (types.AttributeValue, error) {
	if len(c) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(map[string]json.RawMessage(c))
	if err != nil {
		return nil, fmt.Errorf("marshal computed traits: %w", err)
	}
	return &types.AttributeValueMemberB{Value: b}, nil
}

func (c *computedStates) UnmarshalDynamo(av types.AttributeValue) error {
	b, ok := av.(*types.AttributeValueMemberB)
	if !ok {
		return fmt.Errorf("computed traits: want a binary attribute, got %T", av)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b.Value, &m); err != nil {
		return fmt.Errorf("unmarshal computed traits: %w", err)
	}
	*c = m
	return nil
}
