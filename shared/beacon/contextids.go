package beacon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ContextIDs are the identifiers an event's context claims beside its anonymousId and userId, as
// the Segment spec places them:
//
//	"context": {
//	  "device": {"id": "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB", "advertisingId": "7A3CBEA0-BDF5-11E4-8DFC-AA07A5B093DB",
//	             "adTrackingEnabled": true, …},
//	  "externalIds": [{"id": "123", "type": "crm_id", "collection": "users", "encoding": "none"}, …]
//	}
//
// They are read as sent, without judging them (package identity does): the mobile SDKs set
// device.id to the app's id for the device (iOS identifierForVendor, Android's ANDROID_ID or an id
// of the SDK's own) and device.advertisingId to the advertising id (IDFA, Google's advertising id).
type ContextIDs struct {
	DeviceID      string // context.device.id
	AdvertisingID string // context.device.advertisingId
	// AdTrackingDisabled is set when context.device.adTrackingEnabled is false: the person has
	// asked apps not to track them with the advertising id.
	AdTrackingDisabled bool
	ExternalIDs        []ExternalID // context.externalIds
	// Malformed says which of these fields could not be read, and why
	// ("context.device.id: not a string").
	Malformed []string
}

// ExternalID is one element of context.externalIds: an id the person has in another system.
type ExternalID struct {
	ID   string `json:"id"`
	Type string `json:"type"` // what system, e.g. "crm_id", "braze_id", "ios.idfa"
	// Collection is what the id identifies: "users" (a person) or "accounts" (a company, a group).
	Collection string `json:"collection,omitempty"`
	Encoding   string `json:"encoding,omitempty"` // "none" as the spec sends it
}

// ContextIDs reads the identifiers the event's context claims, as encoding/json would decode the
// context into structs with these fields: member names match without regard to case, the last of
// a name wins, a null member changes nothing (but a null externalIds means none), and a device
// sent twice adds up. An id sent as a JSON integer becomes its decimal string. A context that is
// not an object claims nothing.
func (e Event) ContextIDs() ContextIDs {
	var out ContextIDs
	members, ok := Members(e.Context)
	if !ok {
		return out
	}
	var device []Member
	var external json.RawMessage
	for _, m := range members {
		switch {
		case strings.EqualFold(m.Name, "device"):
			if isNull(m.Value) {
				continue
			}
			d, ok := Members(m.Value)
			if !ok {
				out.Malformed = append(out.Malformed, "context.device: not an object")
				continue
			}
			device = append(device, d...)
		case strings.EqualFold(m.Name, "externalIds"):
			external = m.Value
		}
	}
	out.readDevice(device)
	if external != nil && !isNull(external) {
		out.readExternal(external)
	}
	return out
}

// readDevice reads the members of context.device.
func (c *ContextIDs) readDevice(members []Member) {
	var id, ad, tracking json.RawMessage
	for _, m := range members {
		if isNull(m.Value) {
			continue
		}
		switch {
		case strings.EqualFold(m.Name, "id"):
			id = m.Value
		case strings.EqualFold(m.Name, "advertisingId"):
			ad = m.Value
		case strings.EqualFold(m.Name, "adTrackingEnabled"):
			tracking = m.Value
		}
	}
	var err error
	if c.DeviceID, err = scalarID(id); err != nil {
		c.Malformed = append(c.Malformed, "context.device.id: "+err.Error())
	}
	if c.AdvertisingID, err = scalarID(ad); err != nil {
		c.Malformed = append(c.Malformed, "context.device.advertisingId: "+err.Error())
	}
	c.AdTrackingDisabled = string(bytes.TrimSpace(tracking)) == "false"
}

func (c *ContextIDs) readExternal(raw json.RawMessage) {
	list, ok := Elements(raw)
	if !ok {
		c.Malformed = append(c.Malformed, "context.externalIds: not an array")
		return
	}
	for i, el := range list {
		if isNull(el) {
			continue
		}
		x, err := ReadExternalID(el)
		if err != nil {
			c.Malformed = append(c.Malformed, fmt.Sprintf("context.externalIds[%d]: %s", i, err.Error()))
			continue
		}
		c.ExternalIDs = append(c.ExternalIDs, x)
	}
}

// ReadExternalID reads one element of context.externalIds: an object whose id is a string or a
// JSON integer and whose type, collection and encoding are strings (or absent or null). Names
// match without regard to case; the last of a name wins, a null one changes nothing.
func ReadExternalID(raw json.RawMessage) (ExternalID, error) {
	members, ok := Members(raw)
	if !ok {
		return ExternalID{}, errors.New("not an object")
	}
	var id, typ, collection, encoding json.RawMessage
	for _, m := range members {
		if isNull(m.Value) {
			continue
		}
		switch {
		case strings.EqualFold(m.Name, "id"):
			id = m.Value
		case strings.EqualFold(m.Name, "type"):
			typ = m.Value
		case strings.EqualFold(m.Name, "collection"):
			collection = m.Value
		case strings.EqualFold(m.Name, "encoding"):
			encoding = m.Value
		}
	}
	var x ExternalID
	var err error
	if x.ID, err = scalarID(id); err != nil {
		return ExternalID{}, fmt.Errorf("id: %w", err)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		to   *string
	}{{"type", typ, &x.Type}, {"collection", collection, &x.Collection}, {"encoding", encoding, &x.Encoding}} {
		v := bytes.TrimSpace(f.raw)
		if len(v) == 0 || string(v) == "null" {
			continue
		}
		if v[0] != '"' {
			return ExternalID{}, fmt.Errorf("%s: not a string", f.name)
		}
		*f.to = unquote(v)
	}
	return x, nil
}

// Elements returns the elements of a JSON array in order, and false when raw, white space around
// it aside, is not a valid JSON array. The elements share raw's bytes.
func Elements(raw []byte) ([]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' || !validJSON(raw) {
		return nil, false
	}
	return WalkElements(raw)
}

// scalarID reads an identifier sent as a JSON string or integer; "" when it is absent or null.
func scalarID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch c := raw[0]; {
	case c == '"':
		return unquote(raw), nil
	case c == '-' || c >= '0' && c <= '9':
		if id, ok := integer(string(raw)); ok {
			return id, nil
		}
		return "", errors.New("not a string or an integer")
	default:
		return "", errors.New("not a string")
	}
}
