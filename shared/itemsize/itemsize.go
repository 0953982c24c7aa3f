// Package itemsize estimates the size of a value stored as a DynamoDB item, by DynamoDB's rules,
// so that what is written can be held under the item size limit before DynamoDB refuses it: the
// profile's own budget (package profile) and the in-memory store's limit (package memstore) both
// measure with it.
package itemsize

import (
	"bytes"
	"encoding/json"
	"strings"
)

// MaxItemBytes is DynamoDB's item size limit.
const MaxItemBytes = 400 << 10

// Estimate estimates the size of v as a DynamoDB item by DynamoDB's rules: the sum of its
// attributes' names and values, a string its UTF-8 bytes, a number about one byte per two
// significant digits plus one, a boolean or a null one byte, a list or a map three bytes plus one
// per element plus its elements (and, for a map, their names). v is read through its JSON form,
// so names are the Go fields' (of a length like the stored attributes'), times are strings as
// stored, and empty values are left out as the DynamoDB adapter leaves them out. It is an
// estimate, within a few percent of DynamoDB's for items whose bulk is strings. When the item is
// surely no larger than limit it may return an upper bound instead (all a caller holding items to
// limit needs to know), which spares the closer look.
func Estimate(v any, limit int) (int, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	// The JSON form is never smaller than the estimate but by two bytes per list (and every list
	// has a '['): an item whose JSON with that allowance fits needs no closer look.
	if bound := len(raw) + 2*bytes.Count(raw, []byte("[")); bound <= limit {
		return bound, nil
	}
	return dynamoBytes(raw)
}

// dynamoBytes is the size of a JSON object as a DynamoDB item of the same attributes.
func dynamoBytes(raw []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return 0, err
	}
	return attributesBytes(v), nil
}

// attributesBytes is the size of a map's members, names and values, without the map's own overhead.
func attributesBytes(m map[string]any) int {
	n := 0
	for k, v := range m {
		if empty(v) {
			continue
		}
		n += len(k) + valueBytes(v)
	}
	return n
}

func valueBytes(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case json.Number:
		digits := strings.TrimLeft(strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, strings.SplitN(strings.ToLower(string(v)), "e", 2)[0]), "0")
		return min(len(strings.TrimRight(digits, "0"))/2+1, 21)
	case []any:
		n := 3 + len(v)
		for _, e := range v {
			n += valueBytes(e)
		}
		return n
	case map[string]any:
		return 3 + len(v) + attributesBytes(v)
	}
	return 1 // a boolean, a null
}

// empty tells whether a value is one the DynamoDB adapter does not store: nothing, an empty
// string, list or map, a zero time.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == "" || v == "0001-01-01T00:00:00Z"
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}
