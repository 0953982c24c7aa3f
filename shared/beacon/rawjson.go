package beacon

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"unicode/utf8"
)

// Reading JSON once. A call is validated in one pass over its bytes; its fields and the members
// of objects it carries are then cut out of the validated bytes without decoding them again.
// The scanner takes exactly what encoding/json takes; a call it refuses is decoded again with
// encoding/json, so that the error messages are encoding/json's.

// maxScanDepth is the deepest nesting the scanner takes, as encoding/json.
const maxScanDepth = 10000

// Member is one member of a JSON object: its name, unescaped, and its value exactly as written.
type Member struct {
	Name  string
	Value json.RawMessage
}

// Members returns the members of a JSON object in the order written (duplicates included), and
// false when raw, white space around it aside, is not a valid JSON object. The values share raw's
// bytes.
func Members(raw []byte) ([]Member, bool) {
	// One pass: each member is checked as it is cut out (validJSON, then appendMembers, would
	// walk raw twice).
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	i := skipSpace(raw, 1)
	if i < len(raw) && raw[i] == '}' {
		return nil, i+1 == len(raw)
	}
	out := make([]Member, 0, 16)
	for {
		if i >= len(raw) || raw[i] != '"' {
			return nil, false
		}
		end, ok := validString(raw, i)
		if !ok {
			return nil, false
		}
		key := raw[i:end]
		if i = skipSpace(raw, end); i >= len(raw) || raw[i] != ':' {
			return nil, false
		}
		start := skipSpace(raw, i+1)
		if end, ok = validValue(raw, start, 1); !ok {
			return nil, false
		}
		out = append(out, Member{Name: unquote(key), Value: raw[start:end]})
		if i = skipSpace(raw, end); i >= len(raw) {
			return nil, false
		}
		switch raw[i] {
		case '}':
			if i+1 != len(raw) {
				return nil, false
			}
			return out, true
		case ',':
			i = skipSpace(raw, i+1)
		default:
			return nil, false
		}
	}
}

// MembersOfValid is Members of raw that is known to be valid JSON, as the raw fields of the events
// Payload.Split gives are, and what is written from them: the members are cut out without checking
// raw again. Raw that is not valid JSON is the caller's error.
func MembersOfValid(raw []byte) ([]Member, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' {
		return nil, false
	}
	return appendMembers(make([]Member, 0, 16), raw), true
}

// appendMembers appends the members of obj, a valid JSON object without white space around it.
func appendMembers(dst []Member, obj []byte) []Member {
	for it := (objectIter{b: obj, i: 1}); ; {
		key, value, ok := it.next()
		if !ok {
			return dst
		}
		dst = append(dst, Member{Name: unquote(key), Value: value})
	}
}

// validJSON is json.Valid.
func validJSON(b []byte) bool {
	i, ok := validValue(b, skipSpace(b, 0), 0)
	return ok && skipSpace(b, i) == len(b)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// validValue checks the JSON value that starts at b[i] and returns the index just past it.
func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{':
		if depth >= maxScanDepth {
			return i, false
		}
		if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			var ok bool
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			if i, ok = validString(b, i); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
				return i, false
			}
			if i, ok = validValue(b, skipSpace(b, i+1), depth+1); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '}':
				return i + 1, true
			case ',':
				i = skipSpace(b, i+1)
			default:
				return i, false
			}
		}
	case c == '[':
		if depth >= maxScanDepth {
			return i, false
		}
		if i = skipSpace(b, i+1); i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = validValue(b, i, depth+1); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) {
				return i, false
			}
			switch b[i] {
			case ']':
				return i + 1, true
			case ',':
				i = skipSpace(b, i+1)
			default:
				return i, false
			}
		}
	case c == '"':
		return validString(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return validNumber(b, i)
	}
	return i, false
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

// plainInString are the bytes that stand for themselves in a JSON string: all but the quote, the
// backslash and control characters.
var plainInString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// validString checks the string literal that starts at b[i] (a quote).
func validString(b []byte, i int) (int, bool) {
	for i++; i < len(b); {
		i = plainRun(b, i)
		for i < len(b) && plainInString[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		default:
			i++
		}
	}
	return i, false
}

// plainRun returns the index of the first 8-byte word from b[i] on that holds a byte that is not
// plain in a string (plainInString): strings are most of a call's bytes, and testing eight bytes
// at once is several times faster than looking each up.
func plainRun(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		// A byte of w is below 0x20 when subtracting 0x20 borrows into its high bit while that
		// bit was clear; it is a quote or a backslash when its XOR with one is zero (likewise).
		below := (w - ones*0x20) &^ w & highs
		q, bs := w^(ones*'"'), w^(ones*'\\')
		if below|(q-ones)&^q&highs|(bs-ones)&^bs&highs != 0 {
			return i
		}
	}
	return i
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validNumber checks the number that starts at b[i]: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	return i, true
}

// The functions below read JSON that validJSON took: they do not check it again.

// skipValue returns the index just past the valid JSON value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && !isSpace(b[i]) {
			i++
		}
		return i
	}
}

// skipString returns the index just past the string literal that starts at b[i]: the first quote
// after it that an odd number of backslashes does not escape.
func skipString(b []byte, i int) int {
	for i++; i < len(b); {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		n := 0
		for n < i && b[i-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return i + 1
		}
		i++
	}
	return i
}

// objectIter walks the members of a valid JSON object; i starts just past its "{".
type objectIter struct {
	b []byte
	i int
}

// next returns the next member: its name as written (quotes included) and its value.
func (it *objectIter) next() (key, value []byte, ok bool) {
	i := skipSpace(it.b, it.i)
	if i < len(it.b) && it.b[i] == ',' {
		i = skipSpace(it.b, i+1)
	}
	if i >= len(it.b) || it.b[i] != '"' {
		return nil, nil, false
	}
	end := skipString(it.b, i)
	key = it.b[i:end]
	i = skipSpace(it.b, skipSpace(it.b, end)+1) // past the colon
	end = skipValue(it.b, i)
	it.i = end
	return key, it.b[i:end], true
}

// arrayIter walks the elements of a valid JSON array; i starts just past its "[".
type arrayIter struct {
	b []byte
	i int
}

func (it *arrayIter) next() ([]byte, bool) {
	i := skipSpace(it.b, it.i)
	if i < len(it.b) && it.b[i] == ',' {
		i = skipSpace(it.b, i+1)
	}
	if i >= len(it.b) || it.b[i] == ']' {
		return nil, false
	}
	end := skipValue(it.b, i)
	it.i = end
	return it.b[i:end], true
}

// unquote decodes a valid JSON string literal (quotes included) as encoding/json does: invalid
// UTF-8 becomes U+FFFD.
func unquote(lit []byte) string {
	s := lit[1 : len(lit)-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		if name, ok := commonNames[string(s)]; ok { // no allocation for the names every event repeats
			return name
		}
		return string(s)
	}
	var out string
	_ = json.Unmarshal(lit, &out) // a valid literal always decodes
	return out
}

// commonNames are member names that nearly every call or event repeats, in the HTTP API's event,
// Segment's calls and their context: unquote returns these strings rather than new ones.
var commonNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers", "queryStringParameters", "pathParameters",
		"requestContext", "body", "isBase64Encoded", "stageVariables",
		"type", "messageId", "anonymousId", "userId", "event", "name", "properties", "traits", "context", "integrations",
		"timestamp", "originalTimestamp", "sentAt", "receivedAt", "writeKey", "batch", "previousId", "groupId", "category",
		"page", "path", "referrer", "search", "title", "url", "userAgent", "userAgentData", "locale", "timezone", "library",
		"campaign", "source", "medium", "term", "content", "screen", "width", "height", "density", "ip", "app", "device",
		"os", "network", "externalIds", "instanceId", "email", "phone", "All",
	} {
		m[n] = n
	}
	return m
}()

// plainKey returns the name of a member as written when it needs no decoding, so that it can be
// compared without allocating; ok is false when it has escapes or bytes that are not ASCII.
func plainKey(lit []byte) ([]byte, bool) {
	s := lit[1 : len(lit)-1]
	for _, c := range s {
		if c == '\\' || c >= utf8.RuneSelf {
			return nil, false
		}
	}
	return s, true
}
