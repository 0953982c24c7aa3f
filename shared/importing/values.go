package importing

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/pii"
)

// value is a field's value read from a row: its canonical text (what message ids hash and what
// events carry) and, by type, the number, time or truth it stands for.
type value struct {
	set  bool
	text string // canonical: trimmed; lower-cased labels and enums; times in RFC 3339 UTC; numbers in shortest form
	raw  string // as written, trimmed (emails and phones: what the endpoint's rules hash)
	num  float64
	t    time.Time
	b    bool
}

// Words a Bool is written with, in any case.
var (
	trueWords  = []string{"true", "yes", "y", "1", "granted", "opt-in", "optin", "on"}
	falseWords = []string{"false", "no", "n", "0", "withdrawn", "refused", "denied", "revoked", "opt-out", "optout", "off"}
)

// maxStringBytes bounds a custom trait or property.
const maxStringBytes = 1024

// reader of values: the import's time layout, zone and phone country code.
type valueReader struct {
	layout      string
	loc         *time.Location
	callingCode string
}

// read parses raw as field f. The reason it gives names the field and, except for personal data,
// quotes the value (short), so that a person can find and fix it.
func (vr *valueReader) read(f *Field, raw string) (value, string) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return value{}, ""
	}
	v := value{set: true, text: s, raw: s}
	bad := func(format string, args ...any) (value, string) {
		return value{}, f.Name + " " + fmt.Sprintf(format, args...)
	}
	if !utf8.ValidString(s) {
		return bad("is not UTF-8 text")
	}
	switch f.Type {
	case String, ID, Label:
		if len(s) > f.MaxLength {
			return bad("is longer than %d bytes", f.MaxLength)
		}
		if i := strings.IndexFunc(s, control); i >= 0 && (f.Type != String || !strings.ContainsRune("\t\n\r", rune(s[i]))) {
			return bad("has a control character")
		}
		if f.Type == Label {
			v.text = strings.ToLower(s)
		}
		if f.Name == "userId" || f.Name == "anonymousId" {
			if why, junk := identity.Junk(s); junk {
				return bad("%q is not an identifier (%s)", short(s), why)
			}
		}
	case Email:
		n, ok := pii.NormalizeEmail(s, pii.Standard)
		if !ok {
			return bad("is not an email address (local@domain)")
		}
		v.text = n
	case Phone:
		n, ok := pii.NormalizePhone(s, vr.callingCode, pii.Standard)
		if !ok {
			return bad("is not a phone number (7 to 15 digits, with a + and the country code unless the import gives one)")
		}
		v.text = n
	case Integer:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil { // "2.0", as spreadsheets and JSON writers put whole numbers, is 2
			whole, dot := strings.CutSuffix(strings.TrimRight(s, "0"), ".")
			if i, err = strconv.ParseInt(whole, 10, 64); !dot || err != nil || !strings.Contains(s, ".") {
				return bad("%q is not a whole number", short(s))
			}
		}
		v.num = float64(i)
		v.text = strconv.FormatInt(i, 10)
		if r := outside(f, v.num); r != "" {
			return bad("%s", r)
		}
	case Number:
		n, ok := parseNumber(s)
		if !ok {
			return bad("%q is not a number (digits with a decimal point, no thousands separators or currency signs)", short(s))
		}
		v.num = n
		v.text = strconv.FormatFloat(n, 'g', -1, 64)
		if r := outside(f, n); r != "" {
			return bad("%s", r)
		}
	case Time, Date:
		t, err := ParseTime(s, vr.layout, vr.loc)
		if err != nil && personal(f.Name) { // a birthday is not quoted
			return bad("is not an ISO 8601 date or time (or in the import's time layout)")
		}
		if err != nil {
			return bad("%v", err)
		}
		if f.Type == Date {
			y, m, d := t.In(vr.location()).Date()
			t = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
			v.text = t.Format(time.DateOnly)
		} else {
			t = t.UTC()
			v.text = t.Format(time.RFC3339Nano)
		}
		v.t = t
	case Enum:
		e := strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(s))
		found := false
		for _, want := range f.Values {
			found = found || e == want
		}
		if !found {
			return bad("%q is not one of %s", short(s), strings.Join(f.Values, ", "))
		}
		v.text = e
	case Bool:
		switch w := strings.ToLower(s); {
		case slices.Contains(trueWords, w):
			v.b, v.text = true, "true"
		case slices.Contains(falseWords, w):
			v.b, v.text = false, "false"
		default:
			return bad("%q is not true or false (yes/no, 1/0, granted/withdrawn)", short(s))
		}
	case Currency:
		if len(s) != 3 || strings.IndexFunc(s, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') }) >= 0 {
			return bad("%q is not an ISO 4217 currency code (three letters, e.g. EUR)", short(s))
		}
		v.text = strings.ToUpper(s)
	}
	return v, ""
}

func (vr *valueReader) location() *time.Location {
	if vr.loc == nil {
		return time.UTC
	}
	return vr.loc
}

// personal tells whether a field's values are personal data, which reasons never quote.
func personal(name string) bool {
	k := pii.Classify(name, true)
	return k != pii.NotPersonal && k != pii.Identifier
}

func control(r rune) bool { return unicode.IsControl(r) }

// outside says how n is out of f's bounds, or "".
func outside(f *Field, n float64) string {
	switch {
	case f.Min != nil && n < *f.Min:
		return fmt.Sprintf("%s is less than %s", fmtNum(n), fmtNum(*f.Min))
	case f.Max != nil && n > *f.Max:
		return fmt.Sprintf("%s is more than %s", fmtNum(n), fmtNum(*f.Max))
	}
	return ""
}

func fmtNum(n float64) string { return strconv.FormatFloat(n, 'g', -1, 64) }

// parseNumber reads a decimal number: digits, one point, a sign, an exponent. Hexadecimal,
// underscores, NaN and infinities, which strconv also reads, are not numbers in a file.
func parseNumber(s string) (float64, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, false
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, false
	}
	return n, true
}

// ParseTime reads a time as files write them: in layout first (Go's reference-time notation, e.g.
// "1/2/2006 15:04" for "12/1/2010 8:26"; "" for none), then as ISO 8601 in its extended form,
// which is always read:
//
//	2024-05-01                      a day (its midnight)
//	2024-05-01T13:45                to the minute
//	2024-05-01T13:45:30             to the second
//	2024-05-01T13:45:30.123456789   with a fraction of a second (1 to 9 digits)
//	… Z, +02:00, +0200 or +02       with the offset from UTC (RFC 3339's is Z or +02:00)
//
// A space may stand for the T. A time written without an offset (and a day) is in loc (UTC when
// nil), as is a layout's without a zone.
func ParseTime(s, layout string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	if layout != "" {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if t, ok := parseISO(s, loc); ok {
		return t, nil
	}
	if layout != "" {
		return time.Time{}, fmt.Errorf("%q is neither in the layout %q nor an ISO 8601 time", short(s), layout)
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time (2024-05-01T13:45:00Z, 2024-05-01): give the import a time layout for other forms", short(s))
}

// parseISO reads ISO 8601's extended calendar form (see ParseTime).
func parseISO(s string, loc *time.Location) (time.Time, bool) {
	p := isoParser{s: s}
	year, ok1 := p.digits(4)
	ok2 := p.lit('-')
	month, ok3 := p.digits(2)
	ok4 := p.lit('-')
	day, ok5 := p.digits(2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return time.Time{}, false
	}
	var hour, min, sec, nsec int
	zone := loc
	if !p.end() {
		if !p.lit('T') && !p.lit('t') && !p.lit(' ') {
			return time.Time{}, false
		}
		var ok bool
		if hour, ok = p.digits(2); !ok || !p.lit(':') {
			return time.Time{}, false
		}
		if min, ok = p.digits(2); !ok {
			return time.Time{}, false
		}
		if p.lit(':') {
			if sec, ok = p.digits(2); !ok {
				return time.Time{}, false
			}
			if p.lit('.') || p.lit(',') {
				start := p.i
				frac := 0
				for p.i < len(p.s) && p.i-start < 9 && isDigit(p.s[p.i]) {
					frac = frac*10 + int(p.s[p.i]-'0')
					p.i++
				}
				n := p.i - start
				if n == 0 || (p.i < len(p.s) && isDigit(p.s[p.i])) {
					return time.Time{}, false
				}
				for ; n < 9; n++ {
					frac *= 10
				}
				nsec = frac
			}
		}
		switch {
		case p.end():
		case p.lit('Z') || p.lit('z'):
			zone = time.UTC
		case p.peek('+') || p.peek('-'):
			sign := 1
			if p.s[p.i] == '-' {
				sign = -1
			}
			p.i++
			oh, ok := p.digits(2)
			if !ok {
				return time.Time{}, false
			}
			om := 0
			if p.lit(':') {
				if om, ok = p.digits(2); !ok {
					return time.Time{}, false
				}
			} else if !p.end() {
				if om, ok = p.digits(2); !ok {
					return time.Time{}, false
				}
			}
			if oh > 23 || om > 59 {
				return time.Time{}, false
			}
			zone = time.FixedZone("", sign*(oh*3600+om*60))
		default:
			return time.Time{}, false
		}
		if !p.end() || hour > 23 || min > 59 || sec > 59 {
			return time.Time{}, false
		}
	}
	if month < 1 || month > 12 || day < 1 || day > 31 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, nsec, zone)
	if t.Day() != day { // 2024-02-30 is not a day
		return time.Time{}, false
	}
	return t, true
}

type isoParser struct {
	s string
	i int
}

func (p *isoParser) end() bool { return p.i == len(p.s) }

func (p *isoParser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *isoParser) lit(c byte) bool {
	if p.peek(c) {
		p.i++
		return true
	}
	return false
}

func (p *isoParser) digits(n int) (int, bool) {
	if p.i+n > len(p.s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(p.s[p.i : p.i+n]) {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	p.i += n
	return v, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
