package computed

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// MaxSetSize bounds the definitions of a set.
const MaxSetSize = 100

// Set is the computed traits defined together: states are kept by definition id.
type Set struct {
	defs  []Definition
	byKey map[string][]int // event key → the definitions that read it
}

// NewSet checks definitions meant to be kept together: each is valid, their ids are unique, and
// there are at most MaxSetSize. Errors wrap ErrInvalid and say which definition.
func NewSet(defs []Definition) (*Set, error) {
	if len(defs) > MaxSetSize {
		return nil, fmt.Errorf("%w: %d definitions: at most %d", ErrInvalid, len(defs), MaxSetSize)
	}
	s := &Set{defs: make([]Definition, len(defs)), byKey: map[string][]int{}}
	seen := map[string]int{}
	for i, d := range defs {
		where := fmt.Sprintf("definitions[%d]", i)
		if d.ID != "" {
			where += fmt.Sprintf(" (%q)", d.ID)
		}
		c, err := Compile(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if j, dup := seen[d.ID]; dup {
			return nil, fmt.Errorf("%w: %s: definitions[%d] has that id too", ErrInvalid, where, j)
		}
		seen[d.ID] = i
		s.defs[i] = c
		s.byKey[c.c.key] = append(s.byKey[c.c.key], i)
	}
	return s, nil
}

// Definitions are the set's definitions, in the order given.
func (s *Set) Definitions() []Definition { return slices.Clone(s.defs) }

// Events are the event keys (profile.EventKey of the names) any definition reads, sorted: a
// caller folds only events whose key is among them.
func (s *Set) Events() []string { return slices.Sorted(maps.Keys(s.byKey)) }

// FoldAll folds one event into the states of the definitions that read it (by id; a missing
// state is the zero State). The map given is not modified: a new one is returned, or, when no
// definition reads the event, the one given.
func (s *Set) FoldAll(states map[string]State, e Event) map[string]State {
	idx := s.byKey[profile.EventKey(e.Name)]
	if len(idx) == 0 {
		return states
	}
	out := maps.Clone(states)
	if out == nil {
		out = map[string]State{}
	}
	for _, i := range idx {
		d := s.defs[i]
		before := out[d.ID]
		after := d.c.fold(d.Aggregate, before, e)
		if !isZero(after) {
			out[d.ID] = after
		}
	}
	return out
}

func isZero(s State) bool {
	return s.N == 0 && s.X == 0 && s.T == 0 && s.V == nil && s.Points == nil && s.Values == nil
}

// Values are the traits' values at now, by id, as audience rules read them (computed.<id>): a
// trait without a value (Value's ok false) is absent.
func (s *Set) Values(states map[string]State, now time.Time) map[string]any {
	out := make(map[string]any, len(s.defs))
	for _, d := range s.defs {
		if v, ok := d.c.value(d.Aggregate, states[d.ID], now); ok && v != nil {
			out[d.ID] = v
		}
	}
	return out
}

// NextChange is the earliest NextChange of the set's traits; zero when none will change by the
// clock alone.
func (s *Set) NextChange(states map[string]State, now time.Time) time.Time {
	var next time.Time
	for _, d := range s.defs {
		if d.c.window == 0 {
			continue
		}
		if t := d.c.nextChange(d.Aggregate, states[d.ID], now); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// Prune prunes every state (Definition.Prune), and drops the states that are empty or belong to
// no definition of the set (a definition removed). The map given is not modified.
func (s *Set) Prune(states map[string]State, now time.Time) map[string]State {
	out := map[string]State{}
	for _, d := range s.defs {
		st, ok := states[d.ID]
		if !ok {
			continue
		}
		if d.c.window != 0 {
			st = d.c.prune(d.Aggregate, st, now)
		}
		if !isZero(st) {
			out[d.ID] = st
		}
	}
	return out
}
