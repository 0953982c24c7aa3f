package journey

import (
	"encoding/json"
	"math"

	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// matcher finds, for an event, the goals it is a conversion of (with its value) and the funnel
// steps it is. Events are looked up by type and name first, so the properties of an event that no
// goal or step names are never parsed.
type matcher struct {
	goals []Goal
	steps []Step
	// refs lists, by "t"/"p" + EventKey of the name, the goals (index ≥ 0) and steps (-1 - index)
	// that name it.
	refs map[string][]int
}

func newMatcher(c Config) *matcher {
	m := &matcher{goals: c.Goals, refs: map[string][]int{}}
	if c.Funnel != nil {
		m.steps = c.Funnel.Steps
	}
	for i, g := range c.Goals {
		k := g.Match.key()
		m.refs[k] = append(m.refs[k], i)
	}
	for i, s := range m.steps {
		k := s.Match.key()
		m.refs[k] = append(m.refs[k], -1-i)
	}
	return m
}

func (m Match) key() string {
	if m.Event != "" {
		return "t" + profile.EventKey(m.Event)
	}
	return "p" + profile.EventKey(m.Page)
}

// conversion is one goal an event reached, and its value.
type conversion struct {
	Goal  int
	Value float64
}

// match returns the conversions an event is and the bit set of the funnel steps it is.
func (m *matcher) match(e *archive.Event) (convs []conversion, steps uint32) {
	var key string
	switch e.Type {
	case beacon.Track:
		key = "t" + profile.EventKey(e.Event)
	case beacon.Page, beacon.Screen:
		key = "p" + profile.EventKey(e.Name)
	default:
		return nil, 0
	}
	refs := m.refs[key]
	if len(refs) == 0 {
		return nil, 0
	}
	var props map[string]any
	parsed := false
	properties := func() map[string]any {
		if !parsed {
			parsed = true
			_ = json.Unmarshal([]byte(e.Properties), &props) // not an object: no properties
		}
		return props
	}
	for _, r := range refs {
		if r >= 0 {
			g := m.goals[r]
			if holds(g.Where, properties) {
				convs = append(convs, conversion{Goal: r, Value: g.Value.of(properties)})
			}
			continue
		}
		if s := m.steps[-1-r]; holds(s.Where, properties) {
			steps |= 1 << (-1 - r)
		}
	}
	return convs, steps
}

func holds(where []Condition, props func() map[string]any) bool {
	for _, c := range where {
		if !c.holds(props()) {
			return false
		}
	}
	return true
}

// lookup finds a property by its path.
func lookup(props map[string]any, name string) (any, bool) {
	var v any = props
	for _, p := range propertyPath(name) {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[p]; !ok {
			return nil, false
		}
	}
	return v, v != nil
}

func (c Condition) holds(props map[string]any) bool {
	v, ok := lookup(props, c.Property)
	if c.Op == "exists" {
		return ok
	}
	if !ok {
		return c.Op == "!="
	}
	switch want := c.Value.(type) {
	case string:
		s, isString := v.(string)
		return (isString && s == want) == (c.Op == "==")
	case bool:
		b, isBool := v.(bool)
		return (isBool && b == want) == (c.Op == "==")
	case float64:
		n, isNumber := profile.Number(v)
		if !isNumber {
			return c.Op == "!="
		}
		switch c.Op {
		case "==":
			return n == want
		case "!=":
			return n != want
		case "<":
			return n < want
		case "<=":
			return n <= want
		case ">":
			return n > want
		case ">=":
			return n >= want
		}
	}
	return false
}

// of is the value of a conversion with these properties.
func (v Value) of(props func() map[string]any) float64 {
	for _, p := range v.Property {
		if x, ok := lookup(props(), p); ok {
			if n, ok := profile.Number(x); ok {
				return math.Max(n, 0)
			}
		}
	}
	return v.Fixed
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
