package beacon

import (
	"errors"
	"maps"
	"slices"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the event's JSON to dst: the very bytes json.Marshal gives, without
// encoding/json's reflection and its slow second scan of the raw values (properties, traits,
// context, integrations), which are checked with this package's scanner and compacted in one
// more pass. Like json.Marshal, it fails on a raw value that is not valid JSON and on a time
// whose year is outside 0…9999; dst is then returned as it was.
func (e *Event) AppendJSON(dst []byte) ([]byte, error) {
	out, err := e.appendJSON(dst)
	if err != nil {
		return dst, err // what was appended is beyond len(dst)
	}
	return out, nil
}

// errRawJSON is AppendJSON's error for a raw value that is not valid JSON.
var errRawJSON = errors.New("beacon: a raw value of the event is not valid JSON")

func (e *Event) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"messageId":`...)
	b = appendString(b, e.MessageID)
	b = jsonField(b, `,"anonymousId":`, e.AnonymousID)
	b = jsonField(b, `,"userId":`, e.UserID)
	b = jsonField(b, `,"event":`, e.Event)
	b = jsonField(b, `,"name":`, e.Name)
	for _, f := range [...]struct {
		name string
		raw  []byte
	}{{`,"properties":`, e.Properties}, {`,"traits":`, e.Traits}, {`,"context":`, e.Context}, {`,"integrations":`, e.Integrations}} {
		if len(f.raw) > 0 {
			if b, err = appendRaw(append(b, f.name...), f.raw); err != nil {
				return b, err
			}
		}
	}
	if b, err = appendTime(append(b, `,"timestamp":`...), e.Timestamp); err != nil {
		return b, err
	}
	if e.OriginalTimestamp != nil {
		if b, err = appendTime(append(b, `,"originalTimestamp":`...), *e.OriginalTimestamp); err != nil {
			return b, err
		}
	}
	if e.SentAt != nil {
		if b, err = appendTime(append(b, `,"sentAt":`...), *e.SentAt); err != nil {
			return b, err
		}
	}
	if b, err = appendTime(append(b, `,"receivedAt":`...), e.ReceivedAt); err != nil {
		return b, err
	}
	b = append(b, `,"sourceId":`...)
	b = appendString(b, e.SourceID)
	if e.Trusted {
		b = append(b, `,"trusted":true`...)
	}
	if e.Pixel {
		b = append(b, `,"pixel":true`...)
	}
	b = jsonField(b, `,"previousId":`, e.PreviousID)
	b = jsonField(b, `,"groupId":`, e.GroupID)
	if n := e.Enrichment; n != nil {
		b = append(b, `,"enrichment":{`...)
		b = jsonField(b, `"ip":`, n.IP)
		if d := n.Device; d != nil {
			b = append(comma(b), `"device":{`...)
			b = member(b, `"browser":`, d.Browser)
			b = member(b, `"browserVersion":`, d.BrowserVersion)
			b = member(b, `"os":`, d.OS)
			b = member(b, `"osVersion":`, d.OSVersion)
			b = appendString(append(comma(b), `"class":`...), d.Class)
			b = append(b, '}')
		}
		b = append(comma(b), `"bot":{"isBot":`...)
		if n.Bot.IsBot {
			b = append(b, "true"...)
		} else {
			b = append(b, "false"...)
		}
		b = jsonField(b, `,"reason":`, n.Bot.Reason)
		b = append(b, '}')
		if c := n.Campaign; c != nil {
			b = append(b, `,"campaign":{`...)
			for _, f := range [...]struct{ name, v string }{
				{`"source":`, c.Source}, {`"medium":`, c.Medium}, {`"name":`, c.Name}, {`"term":`, c.Term},
				{`"content":`, c.Content}, {`"id":`, c.ID}, {`"clickId":`, c.ClickID}, {`"clickIdType":`, c.ClickIDType},
			} {
				b = member(b, f.name, f.v)
			}
			b = append(b, '}')
		}
		b = jsonField(b, `,"referrer":`, n.Referrer)
		b = jsonField(b, `,"channel":`, n.Channel)
		b = jsonField(b, `,"linkerId":`, n.LinkerID)
		b = append(b, '}')
	}
	if len(e.Hashed) > 0 {
		b = append(b, `,"hashed":{`...)
		for i, k := range slices.Sorted(maps.Keys(e.Hashed)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendString(b, k), ':')
			b = appendString(b, e.Hashed[k])
		}
		b = append(b, '}')
	}
	if e.RawPII {
		b = append(b, `,"rawPII":true`...)
	}
	return append(b, '}'), nil
}

// jsonField appends name and v unless v is empty (omitempty).
func jsonField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(append(b, name...), v)
}

// member appends an object's member name: v, with a comma unless it is the first, unless v is
// empty (omitempty).
func member(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(append(comma(b), name...), v)
}

// comma appends a comma unless b ends an object's opening.
func comma(b []byte) []byte {
	if b[len(b)-1] == '{' {
		return b
	}
	return append(b, ',')
}

// appendTime appends t as time.Time's MarshalJSON does.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b, err := t.AppendText(append(b, '"'))
	if err != nil {
		return b, err
	}
	return append(b, '"'), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string as encoding/json does, escaping for HTML: <, > and &,
// control characters, U+2028 and U+2029 as \u escapes, invalid UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// compactStop are the bytes appendRaw looks at: the others are copied as they are.
var compactStop = func() (t [256]bool) {
	for _, c := range []byte("\"\\ \t\n\r<>&\xe2") {
		t[c] = true
	}
	return t
}()

// appendRaw appends a raw JSON value as encoding/json writes a json.RawMessage: checked, white
// space outside strings dropped, and <, >, &, U+2028 and U+2029 escaped. Bytes that are not UTF-8
// pass as they are, as with encoding/json.
func appendRaw(b, raw []byte) ([]byte, error) {
	if !validJSON(raw) {
		return b, errRawJSON
	}
	start, inString := 0, false
	for i := 0; i < len(raw); i++ {
		for i < len(raw) && !compactStop[raw[i]] {
			i++
		}
		if i == len(raw) {
			break
		}
		c := raw[i]
		switch {
		case inString && c == '\\':
			i++ // the escaped byte cannot end the string
		case c == '"':
			inString = !inString
		case !inString && isSpace(c):
			b = append(b, raw[start:i]...)
			start = i + 1
		case c == '<' || c == '>' || c == '&':
			b = append(append(b, raw[start:i]...), '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		case c == 0xE2 && i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8:
			b = append(append(b, raw[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[raw[i+2]&0xF])
			i += 2
			start = i + 1
		}
	}
	return append(b, raw[start:]...), nil
}
