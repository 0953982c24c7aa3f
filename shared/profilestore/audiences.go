package profilestore

import (
	"encoding/json"
	"fmt"
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

// eventTimes is profile.EventTimes as one binary attribute: JSON of the Unix nanoseconds by name.
// A name with no times is kept (it says the name is counted and had none), which a DynamoDB map
// of empty lists would not always keep.
type eventTimes map[string][]time.Time

func (e eventTimes) MarshalDynamo() (types.AttributeValue, error) {
	if e == nil {
		return nil, nil
	}
	m := make(map[string][]int64, len(e))
	for name, times := range e {
		ns := make([]int64, len(times))
		for i, t := range times {
			ns[i] = t.UnixNano()
		}
		m[name] = ns
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal event times: %w", err)
	}
	return &types.AttributeValueMemberB{Value: b}, nil
}

func (e *eventTimes) UnmarshalDynamo(av types.AttributeValue) error {
	b, ok := av.(*types.AttributeValueMemberB)
	if !ok {
		return fmt.Errorf("event times: want a binary attribute, got %T", av)
	}
	var m map[string][]int64
	if err := json.Unmarshal(b.Value, &m); err != nil {
		return fmt.Errorf("unmarshal event times: %w", err)
	}
	out := make(eventTimes, len(m))
	for name, ns := range m {
		times := make([]time.Time, len(ns))
		for i, n := range ns {
			times[i] = time.Unix(0, n).UTC()
		}
		out[name] = times
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
