// Package itemsize estimates the size of a value stored as a DynamoDB item, by DynamoDB's rules,
// so that what is written can be held under the item size limit before DynamoDB refuses it: the
// profile's own budget (package profile) and the in-memory store's limit (package memstore) both
// measure with it.
package itemsize

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
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

// dynamoBytes is the size of a JSON object as a DynamoDB item of the same attributes. It reads
// the JSON in one pass, without decoding it: an estimate runs on every change of a profile.
func dynamoBytes(raw []byte) (int, error) {
	r := reader{b: raw}
	r.space()
	if r.i >= len(r.b) || r.b[r.i] != '{' {
		return 0, errors.New("not a JSON object")
	}
	v := r.value()
	r.space()
	if r.err != nil || r.i != len(r.b) {
		return 0, cmp.Or(r.err, errors.New("not one JSON object"))
	}
	return v.size - 3 - v.members, nil // an item's attributes, without a map's own overhead
}

// measured is a JSON value's size by DynamoDB's rules; empty when the DynamoDB adapter does not
// store it as a map's member (nothing, an empty string, list or map, a zero time); members are a
// map's or a list's elements.
type measured struct {
	size    int
	empty   bool
	members int
}

// reader reads JSON as encoding/json writes it.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) space() {
	for r.i < len(r.b) && (r.b[r.i] == ' ' || r.b[r.i] == '\t' || r.b[r.i] == '\n' || r.b[r.i] == '\r') {
		r.i++
	}
}

func (r *reader) fail() measured {
	if r.err == nil {
		r.err = fmt.Errorf("invalid JSON at byte %d", r.i)
	}
	r.i = len(r.b)
	return measured{}
}

func (r *reader) value() measured {
	r.space()
	if r.i >= len(r.b) {
		return r.fail()
	}
	switch c := r.b[r.i]; {
	case c == '"':
		n, zeroTime := r.string()
		return measured{size: n, empty: n == 0 || zeroTime}
	case c == '{' || c == '[':
		return r.collection(c)
	case c == 't' || c == 'f':
		return r.literal(measured{size: 1})
	case c == 'n':
		return r.literal(measured{size: 1, empty: true})
	case c == '-' || (c >= '0' && c <= '9'):
		start := r.i
		for r.i < len(r.b) && strings.IndexByte("+-.eE0123456789", r.b[r.i]) >= 0 {
			r.i++
		}
		return measured{size: numberBytes(string(r.b[start:r.i]))}
	}
	return r.fail()
}

func (r *reader) literal(m measured) measured {
	for r.i < len(r.b) && r.b[r.i] >= 'a' && r.b[r.i] <= 'z' {
		r.i++
	}
	return m
}

// collection reads a map or a list: three bytes, one per element, its elements and (of a map)
// the names of its members that are stored.
func (r *reader) collection(open byte) measured {
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	r.i++
	m := measured{size: 3}
	for {
		r.space()
		if r.i < len(r.b) && r.b[r.i] == closing && m.members == 0 {
			r.i++
			break
		}
		name := 0
		if open == '{' {
			if r.i >= len(r.b) || r.b[r.i] != '"' {
				return r.fail()
			}
			name, _ = r.string()
			r.space()
			if r.i >= len(r.b) || r.b[r.i] != ':' {
				return r.fail()
			}
			r.i++
		}
		v := r.value()
		m.members++
		if open == '[' || !v.empty {
			m.size += name + v.size
		}
		r.space()
		if r.i >= len(r.b) {
			return r.fail()
		}
		if r.b[r.i] == ',' {
			r.i++
			continue
		}
		if r.b[r.i] != closing {
			return r.fail()
		}
		r.i++
		break
	}
	m.size += m.members
	m.empty = m.members == 0
	return m
}

// string reads a string and returns its length once unescaped (UTF-8), and whether it is the
// zero time.
func (r *reader) string() (n int, zeroTime bool) {
	r.i++
	start := r.i
	for r.i < len(r.b) {
		switch c := r.b[r.i]; c {
		case '"':
			zeroTime = string(r.b[start:r.i]) == "0001-01-01T00:00:00Z"
			r.i++
			return n, zeroTime
		case '\\':
			if r.i+1 < len(r.b) && r.b[r.i+1] == 'u' && r.i+6 <= len(r.b) {
				code, err := strconv.ParseUint(string(r.b[r.i+2:r.i+6]), 16, 32)
				if err != nil {
					r.fail()
					return 0, false
				}
				switch {
				case code >= 0xD800 && code < 0xDC00: // a surrogate pair: four bytes for both
					n += 4
				case code >= 0xDC00 && code < 0xE000:
				default:
					n += utf8.RuneLen(rune(code))
				}
				r.i += 6
				continue
			}
			n++
			r.i += 2
		default:
			n++
			r.i++
		}
	}
	r.fail()
	return 0, false
}

// numberBytes is a number's size: about one byte per two significant digits, plus one.
func numberBytes(v string) int {
	digits := strings.TrimLeft(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.SplitN(strings.ToLower(v), "e", 2)[0]), "0")
	return min(len(strings.TrimRight(digits, "0"))/2+1, 21)
}
