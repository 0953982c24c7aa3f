package beacon

import (
	"bytes"
	"encoding/json"
)

// WalkMembers is Members for an object cut out of a document that Members or Elements has already
// checked: it is walked, not checked again (a large document is scanned once, not once per level).
// It returns false when raw is not an object; given bytes that are not valid JSON, it returns
// what it returns, without failing.
func WalkMembers(raw []byte) ([]Member, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' {
		return nil, false
	}
	return appendMembers(make([]Member, 0, 8), raw), true
}

// WalkElements is Elements for an array cut out of a document already checked, as WalkMembers.
func WalkElements(raw []byte) ([]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '[' {
		return nil, false
	}
	var list []json.RawMessage
	for it := (arrayIter{b: raw, i: 1}); ; {
		e, ok := it.next()
		if !ok {
			return list, true
		}
		list = append(list, e)
	}
}
