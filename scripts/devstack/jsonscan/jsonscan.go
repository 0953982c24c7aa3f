// Package jsonscan finds one top-level member of a JSON object without decoding the rest. The local
// host reads one small member of large documents on every request (the ConsumedCapacity of a
// DynamoDB answer carrying items, the statusCode of a function's response), and encoding/json
// validates and walks every byte of the document twice for that; this steps over the other members
// by their quotes and brackets.
//
// The document must be valid JSON, as the AWS servers and the Lambda runtime write it: Member does
// not validate, it only says when the document is not an object it can walk.
package jsonscan

import (
	"bytes"
	"encoding/json"
)

// Member returns the raw value of the top-level member called name (exactly; the last one when the
// name repeats, as encoding/json decodes it). found is false when the object has no such member; ok
// is false when doc is not a JSON object it could walk, and the caller should decode it instead.
func Member(doc []byte, name string) (value []byte, found, ok bool) {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return nil, false, false
	}
	i++
	for {
		i = skipSpace(doc, i)
		if i >= len(doc) {
			return nil, false, false
		}
		switch doc[i] {
		case '}':
			return value, found, true
		case ',':
			i++
			continue
		case '"':
		default:
			return nil, false, false
		}
		end := stringEnd(doc, i)
		if end < 0 {
			return nil, false, false
		}
		key := doc[i+1 : end-1]
		i = skipSpace(doc, end)
		if i >= len(doc) || doc[i] != ':' {
			return nil, false, false
		}
		i = skipSpace(doc, i+1)
		vEnd := valueEnd(doc, i)
		if vEnd < 0 {
			return nil, false, false
		}
		if keyIs(key, name) {
			value, found = doc[i:vEnd], true
		}
		i = vEnd
	}
}

// keyIs compares a raw (still escaped) key with name.
func keyIs(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	var s string
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	return json.Unmarshal(quoted, &s) == nil && s == name
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) {
		switch doc[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd is the index just past the string that opens at doc[i] (a quote); -1 when it does not end.
func stringEnd(doc []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(doc[j:], '"')
		if k < 0 {
			return -1
		}
		q := j + k
		escapes := 0
		for p := q - 1; p > i && doc[p] == '\\'; p-- {
			escapes++
		}
		if escapes%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// valueEnd is the index just past the value that starts at doc[i]; -1 when it does not end.
func valueEnd(doc []byte, i int) int {
	if i >= len(doc) {
		return -1
	}
	switch doc[i] {
	case '"':
		return stringEnd(doc, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(doc); {
			switch doc[j] {
			case '"':
				if j = stringEnd(doc, j); j < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
			j++
		}
		return -1
	}
	j := i
	for j < len(doc) {
		switch doc[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			if j == i {
				return -1
			}
			return j
		}
		j++
	}
	return -1 // a literal ends before the object's closing brace
}
