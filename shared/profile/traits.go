package profile

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Traits.
//
// Traits come from identify calls, which a browser may send with a public write key, so what a
// profile keeps of them is bounded: without bounds a few calls with large or ever new traits grow
// the profile's item to DynamoDB's 400 KB item limit, after which nothing more can be recorded on
// it. The bounds leave the traits a fraction of the item (sessions, commerce, identifiers, scores
// and the trigger state share it) and are far above what a CRM's traits hold (names, plan,
// address, preferences, a few dates):
//
//   - a trait's name is at most MaxTraitName bytes, at any depth; a trait whose name is longer is
//     refused, a nested member whose name is longer is left out;
//   - a string is at most MaxTraitString bytes: longer ones are cut (trimmed), on valid UTF-8;
//   - an array or an object holds at most MaxTraitItems elements or members: the first ones (of
//     an object, by name) are kept, the rest trimmed;
//   - a value is nested at most MaxTraitDepth levels of objects and arrays, and encoded (JSON) at
//     most MaxTraitBytes once trimmed: a trait nested deeper, or larger, is refused;
//   - a profile holds at most MaxTraits traits: a new name past that is refused, while the traits
//     it holds can still change;
//   - a profile's traits, encoded, take at most MaxTraitsBytes: a change that would take them
//     past it (and makes them larger) is refused.
//
// A refused trait leaves the profile's value as it was; the rest of the event is recorded.
// ApplyNoted says in words what it trimmed or refused (trait names only, never values), so that
// the sender can be told (stitch sends it to the failed-events queue). A fold keeps the live
// profile's traits and adds the other's, latest set first, within the same bounds.
const (
	MaxTraits      = 200
	MaxTraitName   = 128
	MaxTraitString = 2048
	MaxTraitItems  = 100
	MaxTraitDepth  = 5
	MaxTraitBytes  = 8 << 10
	MaxTraitsBytes = 64 << 10
)

// maxNotes bounds the notes of one event; the rest are counted.
const maxNotes = 10

// notes are what bounding an event's traits trimmed or refused, in words.
type notes struct {
	list []string
	more int
}

func (n *notes) add(name, format string, args ...any) {
	if n == nil {
		return
	}
	if len(n.list) >= maxNotes {
		n.more++
		return
	}
	n.list = append(n.list, fmt.Sprintf("trait %q %s", cut(name, 64), fmt.Sprintf(format, args...)))
}

func (n *notes) words() []string {
	if n.more > 0 {
		return append(n.list, fmt.Sprintf("and %d more traits trimmed or refused", n.more))
	}
	return n.list
}

// cut cuts s to at most n bytes of valid UTF-8.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// boundTrait bounds the value of trait name; ok is false when the trait is refused.
func boundTrait(name string, v any, n *notes) (any, bool) {
	if len(name) > MaxTraitName {
		n.add(name, "refused: its name is longer than %d bytes", MaxTraitName)
		return nil, false
	}
	var trims []string
	out, ok := boundValue(v, 0, &trims)
	if !ok {
		n.add(name, "refused: nested deeper than %d levels", MaxTraitDepth)
		return nil, false
	}
	if size := encodedLen(out); size > MaxTraitBytes {
		n.add(name, "refused: %d bytes encoded, more than %d", size, MaxTraitBytes)
		return nil, false
	}
	if len(trims) > 0 {
		slices.Sort(trims)
		n.add(name, "trimmed: %s", strings.Join(slices.Compact(trims), ", "))
	}
	return out, true
}

// boundValue bounds a value at the given depth (0: the trait's own value), saying what it trimmed;
// ok is false when it is nested too deep. It returns a new value; v is not changed.
func boundValue(v any, depth int, trims *[]string) (any, bool) {
	switch v := v.(type) {
	case string:
		if len(v) > MaxTraitString {
			*trims = append(*trims, fmt.Sprintf("a string cut to %d bytes", MaxTraitString))
			return cut(v, MaxTraitString), true
		}
		return v, true
	case []any:
		if depth >= MaxTraitDepth {
			return nil, false
		}
		if len(v) > MaxTraitItems {
			*trims = append(*trims, fmt.Sprintf("an array cut to %d elements", MaxTraitItems))
			v = v[:MaxTraitItems]
		}
		out := make([]any, len(v))
		for i, e := range v {
			var ok bool
			if out[i], ok = boundValue(e, depth+1, trims); !ok {
				return nil, false
			}
		}
		return out, true
	case map[string]any:
		if depth >= MaxTraitDepth {
			return nil, false
		}
		out := make(map[string]any, min(len(v), MaxTraitItems))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			switch {
			case len(k) > MaxTraitName:
				*trims = append(*trims, fmt.Sprintf("a member whose name is longer than %d bytes left out", MaxTraitName))
				continue
			case len(out) >= MaxTraitItems:
				*trims = append(*trims, fmt.Sprintf("an object cut to %d members", MaxTraitItems))
				return out, true
			}
			e, ok := boundValue(v[k], depth+1, trims)
			if !ok {
				return nil, false
			}
			out[k] = e
		}
		return out, true
	}
	return v, true // a number, a boolean, null
}

// encodedLen is the length of v encoded as JSON, what a trait's size is measured by.
func encodedLen(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return len(fmt.Sprint(v))
	}
	return len(b)
}

// traitBytes is what trait name with value v counts toward MaxTraitsBytes: its name, its value
// encoded, and the quotes and separators of a JSON object member.
func traitBytes(name string, v any) int { return len(name) + encodedLen(v) + 4 }

// TraitsBytes is what a set of traits counts toward MaxTraitsBytes.
func TraitsBytes(traits map[string]any) int {
	n := 2
	for k, v := range traits {
		n += traitBytes(k, v)
	}
	return n
}

// traitSetter sets traits on a profile within the bounds, keeping the size of its traits as it goes.
type traitSetter struct {
	p     *Profile
	total int // TraitsBytes(p.Traits), -1 until needed
	n     *notes
}

// set sets trait name to v as set at at, unless a later value is held, or the bounds refuse it.
func (s *traitSetter) set(name string, v any, at time.Time) {
	p := s.p
	if prev, ok := p.TraitTimes[name]; ok && prev.After(at) {
		return
	}
	v, ok := boundTrait(name, v, s.n)
	if !ok {
		return
	}
	old, held := p.Traits[name]
	if !held && len(p.Traits) >= MaxTraits {
		s.n.add(name, "refused: the profile holds %d traits already", MaxTraits)
		return
	}
	if s.total < 0 {
		s.total = TraitsBytes(p.Traits)
	}
	size, was := traitBytes(name, v), 0
	if held {
		was = traitBytes(name, old)
	}
	if s.total-was+size > MaxTraitsBytes && size > was {
		s.n.add(name, "refused: the profile's traits would take more than %d bytes", MaxTraitsBytes)
		return
	}
	s.total += size - was
	p.setTrait(name, v, at)
}

// setTraits sets an event's traits, by name, and returns what it trimmed or refused.
func (p *Profile) setTraits(traits map[string]any, at time.Time) []string {
	var n notes
	s := traitSetter{p: p, total: -1, n: &n}
	for _, k := range slices.Sorted(maps.Keys(traits)) {
		s.set(k, traits[k], at)
	}
	return n.words()
}

// foldTraits adds the traits of a profile folded in, the latest set first.
func (p *Profile) foldTraits(traits map[string]any, times map[string]time.Time) {
	keys := slices.SortedFunc(maps.Keys(traits), func(a, b string) int {
		return cmp.Or(times[b].Compare(times[a]), strings.Compare(a, b))
	})
	s := traitSetter{p: p, total: -1}
	for _, k := range keys {
		s.set(k, traits[k], times[k])
	}
}

// BoundTraits returns an event's traits as a profile without traits would keep them (see
// Traits): what a touchpoint keeps of them, so that the history is bounded like the profile.
func BoundTraits(traits map[string]any) map[string]any {
	if len(traits) == 0 {
		return traits
	}
	var p Profile
	p.setTraits(traits, time.Time{})
	return p.Traits
}
