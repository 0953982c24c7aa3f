package beacon

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// DecodeEvent reads an event from its JSON exactly as json.Unmarshal into an Event does, error
// included, without encoding/json's reflection and its second scan of the raw values: the event
// is checked once by this package's scanner and its members cut out of it. What this reader does
// not take as written (a name in another case or given twice, a null, a value of the wrong type),
// it leaves to encoding/json. The raw values (properties, traits, context, integrations) share
// data's bytes, without room to grow into them.
func DecodeEvent(data []byte) (Event, error) {
	if e, ok := decodeEvent(data); ok {
		return e, nil
	}
	var e Event
	err := json.Unmarshal(data, &e)
	return e, err
}

// eventFields are the JSON names of Event's fields.
var eventFields = []string{"type", "messageId", "anonymousId", "userId", "event", "name", "properties", "traits",
	"context", "integrations", "timestamp", "originalTimestamp", "sentAt", "receivedAt", "sourceId", "trusted", "pixel",
	"previousId", "groupId", "enrichment", "hashed", "rawPII"}

func decodeEvent(data []byte) (Event, bool) {
	var e Event
	members, ok := Members(data)
	if !ok {
		return e, false
	}
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		v := m.Value
		if !slices.Contains(eventFields, m.Name) {
			if slices.ContainsFunc(eventFields, func(f string) bool { return strings.EqualFold(f, m.Name) }) {
				return e, false // encoding/json would take it for that field
			}
			continue // a member Event does not have: ignored, as encoding/json does
		}
		if seen[m.Name] || bytes.Equal(v, []byte("null")) {
			return e, false
		}
		seen[m.Name] = true
		ok := true
		switch m.Name {
		case "type":
			e.Type, ok = stringValue(v)
		case "messageId":
			e.MessageID, ok = stringValue(v)
		case "anonymousId":
			e.AnonymousID, ok = stringValue(v)
		case "userId":
			e.UserID, ok = stringValue(v)
		case "event":
			e.Event, ok = stringValue(v)
		case "name":
			e.Name, ok = stringValue(v)
		case "sourceId":
			e.SourceID, ok = stringValue(v)
		case "previousId":
			e.PreviousID, ok = stringValue(v)
		case "groupId":
			e.GroupID, ok = stringValue(v)
		case "properties":
			e.Properties = slices.Clip(v)
		case "traits":
			e.Traits = slices.Clip(v)
		case "context":
			e.Context = slices.Clip(v)
		case "integrations":
			e.Integrations = slices.Clip(v)
		case "timestamp":
			ok = v[0] == '"' && e.Timestamp.UnmarshalJSON(v) == nil
		case "receivedAt":
			ok = v[0] == '"' && e.ReceivedAt.UnmarshalJSON(v) == nil
		case "originalTimestamp":
			e.OriginalTimestamp, ok = timeValue(v)
		case "sentAt":
			e.SentAt, ok = timeValue(v)
		case "trusted":
			e.Trusted, ok = boolValue(v)
		case "pixel":
			e.Pixel, ok = boolValue(v)
		case "rawPII":
			e.RawPII, ok = boolValue(v)
		case "enrichment":
			ok = v[0] == '{' && json.Unmarshal(v, &e.Enrichment) == nil
		case "hashed":
			ok = v[0] == '{' && json.Unmarshal(v, &e.Hashed) == nil
		}
		if !ok {
			return e, false
		}
	}
	return e, true
}

// stringValue is the string of a valid JSON value that is a string literal.
func stringValue(v []byte) (string, bool) {
	if v[0] != '"' {
		return "", false
	}
	return unquote(v), true
}

func timeValue(v []byte) (*time.Time, bool) {
	t := new(time.Time)
	return t, v[0] == '"' && t.UnmarshalJSON(v) == nil
}

func boolValue(v []byte) (bool, bool) {
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// splitRecord is SplitRecord's reading of a version 2 record as written (recordVersion 2, then
// events, an array of objects), checked once by this package's scanner; the events share data's
// bytes. It returns false for anything else, which encoding/json reads (or refuses) instead.
func splitRecord(data []byte) ([]json.RawMessage, bool) {
	members, ok := Members(data)
	if !ok {
		return nil, false
	}
	var version, events []byte
	for _, m := range members {
		switch {
		case m.Name == "recordVersion" && version == nil:
			version = m.Value
		case m.Name == "events" && events == nil:
			events = m.Value
		case strings.EqualFold(m.Name, "recordVersion"), strings.EqualFold(m.Name, "events"):
			return nil, false
		}
	}
	if string(version) != "2" || len(events) == 0 || events[0] != '[' {
		return nil, false
	}
	var out []json.RawMessage
	for it := (arrayIter{b: events, i: 1}); ; {
		e, ok := it.next()
		if !ok {
			break
		}
		if e[0] != '{' {
			return nil, false
		}
		out = append(out, slices.Clip(e))
	}
	return out, len(out) > 0
}
