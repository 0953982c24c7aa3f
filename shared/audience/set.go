package audience

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// MaxSetSize bounds the definitions of a set.
const MaxSetSize = 1000

// ValidateSet checks definitions meant to be evaluated together: each is valid, their ids are
// unique, every audience a rule names (in the audiences field, or as a lookalike's seed) is one of
// them, none is a lookalike of itself, and membership does not depend on itself through the
// audiences field (a cycle: a → b → a). Errors wrap ErrInvalid and say where.
func ValidateSet(defs []Definition) error {
	_, err := NewSet(defs)
	return err
}

// Set is a set of definitions, checked by ValidateSet and ordered so that an audience comes after
// the audiences its rule reads.
type Set struct {
	defs   []Definition // in evaluation order
	inputs Inputs
}

// NewSet checks definitions as ValidateSet does and prepares them for evaluation together.
func NewSet(defs []Definition) (*Set, error) {
	if len(defs) > MaxSetSize {
		return nil, fmt.Errorf("%w: %d definitions: at most %d", ErrInvalid, len(defs), MaxSetSize)
	}
	byID := map[string]int{}
	compiled := make([]Definition, len(defs))
	for i, d := range defs {
		where := fmt.Sprintf("definitions[%d]", i)
		if d.ID != "" {
			where += fmt.Sprintf(" (%q)", d.ID)
		}
		c, err := Compile(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if j, dup := byID[d.ID]; dup {
			return nil, fmt.Errorf("%w: %s: definitions[%d] has that id too", ErrInvalid, where, j)
		}
		byID[d.ID] = i
		compiled[i] = c
	}
	deps := make([][]int, len(defs))
	for i, d := range compiled {
		for _, r := range d.prog.refs {
			j, ok := byID[r.id]
			switch {
			case !ok:
				return nil, fmt.Errorf("%w: definitions[%d] (%q): %s: audience %q is not defined", ErrInvalid, i, d.ID, r.path, r.id)
			case r.lookalike && j == i:
				return nil, fmt.Errorf("%w: definitions[%d] (%q): %s: an audience cannot hold a lookalike of itself", ErrInvalid, i, d.ID, r.path)
			case !r.lookalike && !slices.Contains(deps[i], j):
				deps[i] = append(deps[i], j)
			}
		}
	}
	// Depth-first, dependencies first; a definition met again while on the path closes a cycle.
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, len(defs))
	var order []int
	var path []int
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case done:
			return nil
		case onPath:
			at := slices.Index(path, i)
			var ids []string
			for _, j := range slices.Concat(path[at:], []int{i}) {
				ids = append(ids, compiled[j].ID)
			}
			return fmt.Errorf("%w: audiences %s form a cycle", ErrInvalid, strings.Join(ids, " → "))
		}
		state[i] = onPath
		path = append(path, i)
		for _, j := range deps[i] {
			if err := visit(j); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		order = append(order, i)
		return nil
	}
	s := &Set{}
	for i := range compiled {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	for _, i := range order {
		s.defs = append(s.defs, compiled[i])
		s.inputs = s.inputs.merge(compiled[i].prog.inputs)
	}
	return s, nil
}

// Definitions are the set's definitions in evaluation order.
func (s *Set) Definitions() []Definition { return slices.Clone(s.defs) }

// Inputs are what the set's definitions read, together.
func (s *Set) Inputs() Inputs { return s.inputs.clone() }

// Membership is a subject's membership of a set's audiences at a time.
type Membership struct {
	Audiences []string // the audiences it is a member of, sorted
	// Next is the earliest time at which that may change by the clock alone (the least of the
	// definitions' NextChange, each with the memberships it reads as they are now); zero when it
	// cannot.
	Next time.Time
}

// Evaluate evaluates every definition of the set on the subject, in order: the audiences field
// reads the memberships evaluated before (not the subject's own).
func (s *Set) Evaluate(sub Subject, now time.Time) (Membership, error) {
	in := &setSubject{Subject: sub, ids: make([]string, 0, len(s.defs))}
	var m Membership
	var x scratch
	for _, d := range s.defs {
		ok, next, err := d.evaluate(in, now, &x)
		if err != nil {
			return Membership{}, fmt.Errorf("audience %q: %w", d.ID, err)
		}
		if ok {
			in.ids = append(in.ids, d.ID)
		}
		if !next.IsZero() && (m.Next.IsZero() || next.Before(m.Next)) {
			m.Next = next
		}
	}
	slices.Sort(in.ids)
	m.Audiences = in.ids
	return m, nil
}

// setSubject is a subject whose audiences are the memberships evaluated so far.
type setSubject struct {
	Subject
	ids []string
}

func (m *setSubject) Value(f Field) (Value, bool) {
	if f.Kind == KindAudiences {
		return Value{List: m.ids}, true
	}
	return m.Subject.Value(f)
}
