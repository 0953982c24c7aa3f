package importing

import (
	"strconv"
	"unicode/utf8"

	"github.com/dcrm-project/dcrm/shared/enrich"
)

// jsonObject writes a JSON object member by member, in the order given, so that the same row
// always makes the same bytes.
type jsonObject struct{ b []byte }

func newObject() *jsonObject {
	b := make([]byte, 1, 128) // most of an import's objects fit
	b[0] = '{'
	return &jsonObject{b: b}
}

func (o *jsonObject) key(name string) {
	if len(o.b) > 1 {
		o.b = append(o.b, ',')
	}
	o.b = appendString(o.b, name)
	o.b = append(o.b, ':')
}

func (o *jsonObject) str(name, v string) {
	o.key(name)
	o.b = appendString(o.b, v)
}

func (o *jsonObject) strIf(name, v string, ok bool) {
	if ok {
		o.str(name, v)
	}
}

// set writes a value in its canonical text, when it has one.
func (o *jsonObject) set(name string, v value) {
	if v.set {
		o.str(name, v.text)
	}
}

// num writes a number value, when it has one.
func (o *jsonObject) num(name string, v value) {
	if v.set {
		o.float(name, v.num)
	}
}

func (o *jsonObject) float(name string, x float64) {
	o.key(name)
	o.b = strconv.AppendFloat(o.b, x, 'g', -1, 64)
}

func (o *jsonObject) boolean(name string, v bool) {
	o.key(name)
	o.b = strconv.AppendBool(o.b, v)
}

func (o *jsonObject) raw(name string, v []byte) {
	o.key(name)
	o.b = append(o.b, v...)
}

func (o *jsonObject) bytes() []byte { return append(o.b, '}') }

// appendString appends s as a JSON string; s is valid UTF-8.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '\u2028' || r == '\u2029' {
				b = append(b, `\u202`...)
				b = append(b, hex[r&0xf])
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}

// enricher is the request enrich reads for the import's events: a trusted source, without an
// address or a user agent (the events come from a file, not a browser).
func enricher(spec Spec) enrich.Request { return enrich.Request{Source: spec.Source} }
