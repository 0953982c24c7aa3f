package pii

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// Redaction: what is left of personal data wherever dcrm writes an event (the stream, the
// failed-events queue, a profile's traits and history, logs).
//
// A JSON document is walked member by member, to any depth up to MaxDepth:
//
//   - A member whose name announces personal data (Classify: case, separators and position in
//     the name do not matter) has its value replaced: an Email by HashedPrefix and the SHA-256 of
//     the normalised address (of the value as sent when it is not an address), anything else by
//     Redacted. Arrays and objects under such a member are walked with the member's kind (so
//     "emails": ["a@x.example", …] and "phone": {"home": …} are covered), except an Address
//     object, whose members are judged by their own names (an address's "city" and "country" are
//     kept, its "street" and "postalCode" are not). Booleans, null and empty strings are kept;
//     numbers are redacted like strings (a phone sent as a number), but not hashed (no number is
//     an address).
//   - Within a member named "traits" (an identify's traits, context.traits) a person is described,
//     and "name", "nickname", "displayName" and "initials" are the person's names too; within
//     "company", "organization", "account" or "group" there, they are the organisation's again.
//   - Any other string has every email address within it replaced by its hash (a page URL's
//     "?email=ann%40example.com", an address under an innocent name such as "contact" or "to").
//     An address here is local@domain.tld (or local%40domain.tld) with a top-level domain of
//     letters, and not a file name such as "logo@2x.png". Phone numbers, names and postal
//     addresses under innocent names are not recognised: telling "07700 900123" from an order
//     number is guesswork, and guessing wrong would corrupt data.
//   - userId, anonymousId, previousId and groupId are kept as sent (Identifier).
//   - A value already hashed or redacted is left as it is: redacting twice changes nothing.
//   - Beyond MaxDepth levels of nesting, a value is replaced by Redacted whole: a payload nested
//     deeper than any real event is not read, and what it hides is not kept. So is a document of
//     more than MaxBytes (an event is at most 32 KB, a stream record 1 MB).
//
// The document is otherwise kept byte for byte (member order, duplicates, white space, numbers):
// only the values replaced change. Work is linear in the size of the document.

// Redacted stands in for a value that was removed.
const Redacted = "[redacted]"

// HashedPrefix marks a value replaced by the SHA-256 of its normalised form.
const HashedPrefix = "sha256:"

// MaxDepth is how deeply nested a value may be and still be read; deeper values are redacted whole.
const MaxDepth = 32

// MaxBytes is the largest document read; larger ones are redacted whole.
const MaxBytes = 1 << 20

// redactedJSON is Redacted as a JSON string.
var redactedJSON = []byte(`"` + Redacted + `"`)

// RedactJSON redacts a JSON value (traits, properties, a context) and tells whether anything
// changed; inTraits says that the value is a person's traits. A value that is not valid JSON is
// returned as it is, unchanged: callers pass what the endpoint validated.
func RedactJSON(raw []byte, inTraits bool) ([]byte, bool) {
	switch {
	case len(raw) > MaxBytes:
		return redactedJSON, true
	case len(raw) == 0 || !json.Valid(raw):
		return raw, false
	}
	return redactValid(raw, inTraits)
}

// RedactValidJSON is RedactJSON for a caller that has checked that raw is valid JSON with a
// scanner of its own (package beacon's, several times faster than json.Valid, which RedactJSON
// runs): raw that is not valid JSON is the caller's error.
func RedactValidJSON(raw []byte, inTraits bool) ([]byte, bool) {
	switch {
	case len(raw) > MaxBytes:
		return redactedJSON, true
	case len(raw) == 0:
		return raw, false
	}
	return redactValid(raw, inTraits)
}

// redactValid is RedactJSON of a valid JSON value.
func redactValid(raw []byte, inTraits bool) ([]byte, bool) {
	w := walker{in: raw}
	w.value(skipSpace(raw, 0), scope{person: inTraits})
	if w.out == nil {
		return raw, false
	}
	return append(w.out, raw[w.copied:]...), true
}

// Redact returns a copy of any document about to be kept for people to read (a refused event, a
// stream record that could not be read): a JSON document as RedactJSON does; bytes that are not
// JSON (a record cut short, garbage) have every "name": value pair whose name announces personal
// data, and every email address, replaced the same way; as where a member is cannot be read, every
// "name" counts as a person's.
func Redact(doc []byte) []byte {
	if len(doc) > MaxBytes {
		return bytes.Clone(redactedJSON)
	}
	if json.Valid(doc) {
		out, _ := redactValid(doc, false)
		return bytes.Clone(out)
	}
	out := memberLike.ReplaceAllFunc(doc, func(m []byte) []byte {
		sub := memberLike.FindSubmatchIndex(m)
		name, value := m[sub[2]:sub[3]], m[sub[4]:sub[5]]
		var n string
		if json.Unmarshal(append(append([]byte{'"'}, name...), '"'), &n) != nil {
			n = string(name)
		}
		k := Classify(n, true)
		if k == NotPersonal || k == Identifier {
			return m
		}
		var v string
		if value[0] == '"' {
			if json.Unmarshal(value, &v) != nil {
				v = string(bytes.Trim(value, `"`))
			}
		} else {
			v = string(value)
		}
		r, changed := replacement(k, v, value[0] != '"')
		if !changed {
			return m
		}
		return append(m[:sub[4]:sub[4]], quote(r)...)
	})
	return []byte(RedactText(string(out)))
}

// RedactUpTo is Redact of the first max bytes of doc (of all of it when shorter), and tells
// whether doc was longer: for a copy that is kept up to a size (a failed event), without spending
// time on what would be cut.
func RedactUpTo(doc []byte, max int) ([]byte, bool) {
	if len(doc) <= max {
		return Redact(doc), false
	}
	return Redact(doc[:max]), true
}

// memberLike is a "name": value pair whose value is a string (perhaps cut short) or a number.
var memberLike = regexp.MustCompile(`"((?:[^"\\]|\\.){1,256})"\s*:\s*("(?:[^"\\]|\\.)*(?:"|$)|-?[0-9][0-9.eE+-]*)`)

// RedactText replaces every email address within s by its hash (see the rules above); for text
// such as a reason that quotes a value. A run of the characters addresses are made of that holds
// one ("a@b.example@c", "x%40b.example%2C") is replaced whole, so that no part of it is left to
// be read again as another address.
func RedactText(s string) string {
	if !strings.Contains(s, "@") && !strings.Contains(s, "%40") {
		return s
	}
	return emailRun.ReplaceAllStringFunc(s, func(run string) string {
		core := strings.Trim(run, ".-'")
		head, tail := run[:strings.Index(run, core)], run[strings.Index(run, core)+len(core):]
		plain := strings.ReplaceAll(core, "%40", "@")
		for _, m := range emailLike.FindAllString(plain, -1) {
			if !fileExtensions[strings.ToLower(m[strings.LastIndexByte(m, '.')+1:])] {
				return head + hashed(plain) + tail
			}
		}
		return run
	})
}

// emailRun is a run of the characters of email addresses (URL-encoded ones too) with an "@" or a
// "%40" in it; emailLike is an address within it: local@domain.tld.
var (
	emailRun  = regexp.MustCompile(`[\p{L}\p{N}._%+'\-@]*(?:@|%40)[\p{L}\p{N}._%+'\-@]*`)
	emailLike = regexp.MustCompile(`[\p{L}\p{N}._+'\-]+@(?:[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?\.)+\p{L}{2,63}`)
)

// fileExtensions end names that look like addresses but are files ("logo@2x.png").
var fileExtensions = map[string]bool{"png": true, "jpg": true, "jpeg": true, "gif": true, "svg": true, "webp": true,
	"avif": true, "ico": true, "bmp": true, "tif": true, "tiff": true, "css": true, "js": true, "mjs": true, "json": true,
	"pdf": true, "htm": true, "html": true, "php": true, "asp": true, "aspx": true, "xml": true, "txt": true, "map": true,
	"woff": true, "woff2": true, "ttf": true, "mp4": true, "webm": true, "mp3": true}

// hashed is the stand-in for an email address (or a value under an email's name).
func hashed(raw string) string {
	if IsHashed(raw) {
		return raw
	}
	if n, ok := NormalizeEmail(raw, Standard); ok {
		return HashedPrefix + Hash(n)
	}
	return HashedPrefix + Hash(raw)
}

// IsHashed tells whether s is a value Redact hashed: HashedPrefix and 64 lower-case hex digits.
func IsHashed(s string) bool {
	h, ok := strings.CutPrefix(s, HashedPrefix)
	if !ok || len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// replacement is what stands in for a scalar v (a string, or a number's literal) of kind k, and
// whether it differs from v.
func replacement(k Kind, v string, number bool) (string, bool) {
	switch {
	case v == "" && !number:
		return v, false
	case k == Email && number:
		return v, false
	case k == Email:
		r := hashed(v)
		return r, r != v
	case k == Identifier:
		return v, false
	case k == NotPersonal:
		if number {
			return v, false
		}
		r := RedactText(v)
		return r, r != v
	case v == Redacted && !number:
		return v, false
	}
	return Redacted, true
}

// scope is what a value's position says about it.
type scope struct {
	kind   Kind // of the member that holds it (or of the array that holds it)
	person bool // within a person's traits
	depth  int  // levels of nesting above it
}

// member is the scope of the value of a member within an object in scope s; lit is the member's
// name as written (a string literal).
func (s scope) member(lit []byte) scope {
	n := scope{depth: s.depth + 1, person: s.person}
	var buf [maxKeyBytes]byte
	var k []byte
	if bytes.IndexByte(lit, '\\') < 0 {
		k = key(&buf, lit[1:len(lit)-1])
	} else {
		k = key(&buf, []byte(unquote(lit)))
	}
	switch {
	case string(k) == traitsName:
		n.person = true
		return n
	case s.person && matches(k, organisationNamesB, nil):
		n.person = false
		return n
	}
	n.kind = classify(k, s.person)
	if n.kind == NotPersonal && s.kind != Address && s.kind != Identifier {
		n.kind = s.kind // what an email's or a phone's object holds is theirs
	}
	return n
}

// walker finds the values to replace in a valid JSON document and writes the document again
// around them: out is nil until the first replacement; copied is how much of in was written.
type walker struct {
	in     []byte
	out    []byte
	copied int
}

// replace writes in[copied:from] and then r, standing in for in[from:to].
func (w *walker) replace(from, to int, r string) {
	if w.out == nil {
		w.out = make([]byte, 0, len(w.in)+64)
	}
	w.out = append(w.out, w.in[w.copied:from]...)
	w.out = appendQuoted(w.out, r)
	w.copied = to
}

// appendQuoted appends quote(s), without its encoder for the usual stand-ins (Redacted, a hash):
// printable ASCII without a quote or a backslash stands as it is.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return append(b, quote(s)...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// value walks the value at in[i] and returns the index just past it.
func (w *walker) value(i int, s scope) int {
	b := w.in
	switch c := b[i]; {
	case (c == '{' || c == '[') && s.depth >= MaxDepth:
		end := skipContainer(b, i)
		w.replace(i, end, Redacted)
		return end
	case c == '{':
		i = skipSpace(b, i+1)
		if b[i] == '}' {
			return i + 1
		}
		for {
			end := stringEnd(b, i)
			name := b[i:end]
			i = skipSpace(b, skipSpace(b, end)+1) // past the ':'
			i = skipSpace(b, w.value(i, s.member(name)))
			if b[i] == '}' {
				return i + 1
			}
			i = skipSpace(b, i+1) // past the ','
		}
	case c == '[':
		el := scope{kind: s.kind, person: s.person, depth: s.depth + 1}
		i = skipSpace(b, i+1)
		if b[i] == ']' {
			return i + 1
		}
		for {
			i = skipSpace(b, w.value(i, el))
			if b[i] == ']' {
				return i + 1
			}
			i = skipSpace(b, i+1)
		}
	case c == '"':
		end := stringEnd(b, i)
		if s.kind == NotPersonal && !mayHoldAddress(b[i:end]) {
			return end // the usual case, decided without decoding the string
		}
		if r, changed := replacement(s.kind, unquote(b[i:end]), false); changed {
			w.replace(i, end, r)
		}
		return end
	case c == 't' || c == 'n':
		return i + 4
	case c == 'f':
		return i + 5
	default: // a number
		end := i + 1
		for end < len(b) && strings.IndexByte("+-.eE0123456789", b[end]) >= 0 {
			end++
		}
		if s.kind == NotPersonal || s.kind == Email || s.kind == Identifier {
			return end // numbers are kept, except where a phone or the like is expected
		}
		if r, changed := replacement(s.kind, string(b[i:end]), true); changed {
			w.replace(i, end, r)
		}
		return end
	}
}

// mayHoldAddress tells whether a string literal may hold an email address once decoded: an "@", a
// "%40", or a \u escape of one of their characters (other escapes, such as the \u0026 of an "&"
// in a URL, cannot spell them).
func mayHoldAddress(lit []byte) bool {
	if bytes.IndexByte(lit, '@') >= 0 || bytes.Contains(lit, []byte("%40")) {
		return true
	}
	for i := 0; ; i++ {
		n := bytes.Index(lit[i:], []byte(`\u`))
		if n < 0 {
			return false
		}
		i += n
		if len(lit)-i < 6 {
			return true // not a valid literal: let the caller decode it
		}
		switch strings.ToLower(string(lit[i+2 : i+6])) {
		case "0040", "0025", "0034", "0030": // @ % 4 0
			return true
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string literal that starts at b[i]: the first quote
// after it that an odd number of backslashes does not escape.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		n := 0
		for b[i-1-n] == '\\' { // the opening quote stops the count
			n++
		}
		if n%2 == 0 {
			return i + 1
		}
		i++
	}
	return len(b)
}

// skipContainer returns the index just past the object or array that starts at b[i], without
// recursion.
func skipContainer(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i) - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return len(b)
}

// unquote decodes a valid string literal.
func unquote(lit []byte) string {
	if bytes.IndexByte(lit, '\\') < 0 {
		return string(lit[1 : len(lit)-1])
	}
	var s string
	_ = json.Unmarshal(lit, &s) // valid: the document was checked
	return s
}

// quote encodes s as a JSON string, without escaping HTML.
func quote(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // strings always encode
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}
