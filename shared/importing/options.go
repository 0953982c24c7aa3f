package importing

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// KindOfKey finds a file's kind from where it was dropped: the first element of its path that
// names a kind ("orders/2024-05-01.csv.gz", "imports/customers/crm.jsonl"). An import bucket has
// a prefix per kind.
func KindOfKey(key string) (Kind, error) {
	for _, part := range strings.Split(path.Dir(key), "/") {
		if k := Kind(part); slices.Contains(AllKinds, k) {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w: %q is under no prefix of a kind (%s)", ErrSpec, short(key), kindList())
}

// Options are the names of an import's settings beside its kind, as text: what `dcrm import`
// takes as flags and an upload can carry as metadata (each a Spec field).
var Options = []string{"map", "time-layout", "timezone", "currency", "nulls", "comma", "format"}

// SetOption sets one of an import's settings from text (see Options); the kind must be set
// first, for "map":
//
//	map          field=Column,… (ParseMapping)
//	time-layout  Go's reference-time layout, e.g. 1/2/2006 15:04 (ParseTime)
//	timezone     an IANA zone, e.g. Europe/Paris, for times written without an offset
//	currency     ISO 4217 code of amounts in rows without one
//	nulls        values that mean no value, separated by commas: NULL,(blank),N/A
//	comma        a CSV file's separator: , ; | or tab (written "tab" or "\t")
//	format       csv or jsonl (otherwise found from the file)
func (s *Spec) SetOption(name, value string) error {
	switch name {
	case "map":
		m, err := ParseMapping(s.Kind, value)
		if err != nil {
			return err
		}
		s.Mapping = m
	case "time-layout":
		s.TimeLayout = value
	case "timezone":
		loc, err := time.LoadLocation(value)
		if err != nil || value == "" || value == "Local" {
			return fmt.Errorf("%w: timezone %q is not an IANA zone (Europe/Paris, UTC)", ErrSpec, short(value))
		}
		s.Location = loc
	case "currency":
		v, reason := (&valueReader{}).read(&fields[fCurrency], value)
		if reason != "" {
			return fmt.Errorf("%w: the import's %s", ErrSpec, reason)
		}
		s.Currency = v.text
	case "nulls":
		s.Nulls = strings.Split(value, ",")
	case "comma":
		switch value {
		case "tab", `\t`:
			value = "\t"
		}
		r, n := utf8.DecodeRuneInString(value)
		if n != len(value) || !strings.ContainsRune(",;\t|", r) {
			return fmt.Errorf("%w: comma %q: one of , ; | or tab", ErrSpec, short(value))
		}
		s.Comma = r
	case "format":
		switch f := Format(strings.ToLower(value)); f {
		case CSV, JSONLines:
			s.Format = f
		default:
			return fmt.Errorf("%w: format %q: csv or jsonl", ErrSpec, short(value))
		}
	default:
		return fmt.Errorf("%w: unknown option %q (%s)", ErrSpec, short(name), strings.Join(Options, ", "))
	}
	return nil
}
