// Package audience is the audience rule language: an audience is defined as data (a JSON
// document: an id, a name and a rule over a customer's traits, computed traits, aggregates,
// scores and segments, identifiers, consent, other audiences and recent events, with time
// windows), read strictly by Parse, and evaluated against one customer (a Subject; FromProfile
// adapts a profile) at a given time. Besides whether the customer is a member (Match), a
// definition says which inputs it reads (Inputs), so that a caller knows when to evaluate it
// again, and the earliest time its result may change by the clock alone (NextChange: a window
// expiring), so that it can schedule that evaluation. A Set evaluates many definitions that refer
// to each other, in an order without cycles. The language is documented in README.md; this
// package holds no state and does no I/O.
package audience

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/dcrm-project/dcrm/shared/strictjson"
)

// ErrInvalid marks a definition (or a set of definitions) that cannot be used; the message says
// where and why.
var ErrInvalid = errors.New("invalid audience definition")

// ErrInput is returned by evaluation when the subject does not supply an input the rule needs
// (the times of the events an event count reads, see Inputs.Events).
var ErrInput = errors.New("audience input not supplied")

// Bounds of a definition. They bound the cost of evaluating one: at most MaxConditions
// conditions, each comparing with at most MaxListItems values.
const (
	MaxIDBytes          = 64
	MaxNameBytes        = 100
	MaxDescriptionBytes = 1000
	MaxDepth            = 8  // levels of rules: a condition alone is 1, {"all": [condition]} 2
	MaxConditions       = 64 // conditions in one definition
	MaxFieldBytes       = 256
	MaxStringBytes      = 256 // a string value, or one item of a list value
	MaxListItems        = 100 // items of a list value; rules in one all or any
	MaxPathMembers      = 8   // members of a traits.<path> or computed.<path>
	MaxSize             = 1_000_000
	// MaxWindow bounds a time comparison: the window of op within, a relative time of before and
	// after.
	MaxWindow = 3660 * day
	// MaxAggregateWindow bounds the within member of a count or a sum (orders, revenue and event
	// counts): its events or orders must be at hand to evaluate it.
	MaxAggregateWindow = 366 * day
)

const day = 24 * time.Hour

// Definition is an audience: who belongs to it is said by its rule. Build one with Parse (or
// json.Unmarshal), or in Go with Compile; either checks it and prepares it for evaluation.
type Definition struct {
	// ID names the audience where it is referred to (the audiences field, lookalikes, APIs): a
	// lower-case slug of 1 to MaxIDBytes bytes (letters a-z, digits, hyphens inside).
	ID string
	// Name is for people: 1 to MaxNameBytes bytes of UTF-8.
	Name        string
	Description string // optional, at most MaxDescriptionBytes
	// Public says whether membership may be shown beyond the CRM's own tools (to the site, for
	// personalisation); false by default. This package carries the flag and does not act on it.
	Public bool
	Rule   Rule

	prog *program // the compiled rule; nil until Compile
}

// Rule is one of: all of its rules hold (All), any of them holds (Any), its rule does not hold
// (Not), or a condition on one field (Condition). Exactly one is set.
type Rule struct {
	All       []Rule
	Any       []Rule
	Not       *Rule
	Condition *Condition
}

// Condition tests one field of the subject (see README.md for the fields, their types and the
// operators each takes). Value is a JSON value as encoding/json reads it (string, float64, bool,
// or a list of them), nil for exists and missing. Within is the window of a count or a sum
// ("30d"), "" for none.
type Condition struct {
	Field  string `json:"field"`
	Op     string `json:"op"`
	Value  any    `json:"value,omitempty"`
	Within string `json:"within,omitempty"`
}

// Parse reads and checks one definition (a JSON document). Unknown or repeated members are errors,
// so that a misspelt key is not silently ignored; errors wrap ErrInvalid and say where the problem
// is (`rule.all[2].any[0]: field "traits.plan": op "~": want one of …`).
func Parse(data []byte) (Definition, error) {
	raw, err := strictjson.Document(data)
	if err != nil {
		return Definition{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	d, err := decodeDefinition(raw)
	if err != nil {
		return Definition{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return Compile(d)
}

// UnmarshalJSON reads a definition as Parse does.
func (d *Definition) UnmarshalJSON(b []byte) error {
	out, err := Parse(b)
	if err != nil {
		return err
	}
	*d = out
	return nil
}

// MarshalJSON writes the definition as Parse reads it: a parsed definition written and parsed
// again is equal to itself.
func (d Definition) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		Public      bool   `json:"public,omitempty"`
		Rule        Rule   `json:"rule"`
	}{d.ID, d.Name, d.Description, d.Public, d.Rule})
}

// MarshalJSON writes the rule in its one form.
func (r Rule) MarshalJSON() ([]byte, error) {
	switch {
	case r.Condition != nil:
		return json.Marshal(*r.Condition)
	case r.Not != nil:
		return json.Marshal(struct {
			Not *Rule `json:"not"`
		}{r.Not})
	case r.Any != nil:
		return json.Marshal(struct {
			Any []Rule `json:"any"`
		}{r.Any})
	}
	return json.Marshal(struct {
		All []Rule `json:"all"`
	}{r.All})
}

// UnmarshalJSON reads a rule strictly, as Parse does (without checking its conditions: Compile
// the definition it belongs to).
func (r *Rule) UnmarshalJSON(b []byte) error {
	out, err := decodeRule(b, "rule", 1)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	*r = out
	return nil
}

// Compile checks a definition and prepares it for evaluation; errors wrap ErrInvalid and say
// where. Parse compiles what it reads; a definition built in Go is compiled on each evaluation
// until it is compiled once.
func Compile(d Definition) (Definition, error) {
	if err := checkID(d.ID); err != nil {
		return Definition{}, fmt.Errorf("%w: id %v", ErrInvalid, err)
	}
	if err := checkText(d.Name, MaxNameBytes, true); err != nil {
		return Definition{}, fmt.Errorf("%w: name %v", ErrInvalid, err)
	}
	if err := checkText(d.Description, MaxDescriptionBytes, false); err != nil {
		return Definition{}, fmt.Errorf("%w: description %v", ErrInvalid, err)
	}
	p, err := compileProgram(d.Rule)
	if err != nil {
		return Definition{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	d.prog = p
	return d, nil
}

// Validate checks a definition as Compile does.
func (d Definition) Validate() error {
	_, err := Compile(d)
	return err
}

func checkID(id string) error { return strictjson.CheckID(id, MaxIDBytes, "high-value-lapsing") }

func checkText(s string, max int, required bool) error { return strictjson.CheckText(s, max, required) }

// Strict JSON reading: objects member by member (unknown and repeated members are errors), values
// as the language takes them.

func decodeDefinition(raw json.RawMessage) (Definition, error) {
	ms, err := strictjson.Members(raw, "an object: {\"id\", \"name\", \"rule\" …}")
	if err != nil {
		return Definition{}, err
	}
	var d Definition
	var hasRule bool
	for _, m := range ms {
		switch m.Name {
		case "id", "name", "description":
			s, err := decodeString(m)
			if err != nil {
				return Definition{}, err
			}
			switch m.Name {
			case "id":
				d.ID = s
			case "name":
				d.Name = s
			default:
				d.Description = s
			}
		case "public":
			if err := json.Unmarshal(m.Raw, &d.Public); err != nil || string(m.Raw) == "null" {
				return Definition{}, errors.New("public: want true or false")
			}
		case "rule":
			if d.Rule, err = decodeRule(m.Raw, "rule", 1); err != nil {
				return Definition{}, err
			}
			hasRule = true
		default:
			return Definition{}, fmt.Errorf("unknown member %q: want id, name, description, public, rule", m.Name)
		}
	}
	if !hasRule {
		return Definition{}, errors.New("no rule")
	}
	return d, nil
}

const ruleForms = `want {"all": [RULE …]}, {"any": [RULE …]}, {"not": RULE} or a condition {"field", "op", "value", "within"}`

func decodeRule(raw json.RawMessage, path string, depth int) (Rule, error) {
	if depth > MaxDepth {
		return Rule{}, fmt.Errorf("%s: rules nest more than %d levels deep", path, MaxDepth)
	}
	ms, err := strictjson.Members(raw, "a rule")
	if err != nil {
		return Rule{}, fmt.Errorf("%s: %v: %s", path, err, ruleForms)
	}
	if len(ms) == 0 {
		return Rule{}, fmt.Errorf("%s: empty: %s", path, ruleForms)
	}
	switch form := ms[0].Name; form {
	case "all", "any", "not":
		if len(ms) > 1 {
			return Rule{}, fmt.Errorf("%s: %q with %q: %s", path, form, ms[1].Name, ruleForms)
		}
		if form == "not" {
			r, err := decodeRule(ms[0].Raw, path+".not", depth+1)
			if err != nil {
				return Rule{}, err
			}
			return Rule{Not: &r}, nil
		}
		var items []json.RawMessage
		if err := json.Unmarshal(ms[0].Raw, &items); err != nil || items == nil {
			return Rule{}, fmt.Errorf("%s.%s: want a list of rules", path, form)
		}
		if len(items) == 0 || len(items) > MaxListItems {
			return Rule{}, fmt.Errorf("%s.%s: %d rules: want 1 to %d", path, form, len(items), MaxListItems)
		}
		rules := make([]Rule, len(items))
		for i, item := range items {
			if rules[i], err = decodeRule(item, fmt.Sprintf("%s.%s[%d]", path, form, i), depth+1); err != nil {
				return Rule{}, err
			}
		}
		if form == "all" {
			return Rule{All: rules}, nil
		}
		return Rule{Any: rules}, nil
	}
	c, err := decodeCondition(ms)
	if err != nil {
		return Rule{}, fmt.Errorf("%s: %v", path, err)
	}
	return Rule{Condition: &c}, nil
}

func decodeCondition(ms []strictjson.Member) (Condition, error) {
	var c Condition
	for _, m := range ms {
		switch m.Name {
		case "field", "op", "within":
			s, err := decodeString(m)
			if err != nil {
				return Condition{}, err
			}
			switch m.Name {
			case "field":
				c.Field = s
			case "op":
				c.Op = s
			default:
				c.Within = s
			}
		case "value":
			v, err := decodeValue(m.Raw, true)
			if err != nil {
				return Condition{}, fmt.Errorf("value: %v", err)
			}
			c.Value = v
		case "all", "any", "not":
			return Condition{}, fmt.Errorf("%q in a condition: %s", m.Name, ruleForms)
		default:
			return Condition{}, fmt.Errorf("unknown member %q: %s", m.Name, ruleForms)
		}
	}
	if c.Field == "" {
		return Condition{}, fmt.Errorf("no field: %s", ruleForms)
	}
	return c, nil
}

func decodeString(m strictjson.Member) (string, error) {
	var s string
	if err := json.Unmarshal(m.Raw, &s); err != nil || string(bytes.TrimSpace(m.Raw)) == "null" {
		return "", fmt.Errorf("%s: want a string", m.Name)
	}
	return s, nil
}

// decodeValue reads a string, a number, a boolean or (when list) a list of them.
func decodeValue(raw json.RawMessage, list bool) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("empty")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return s, nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		return b, nil
	case 'n':
		return nil, errors.New("null: want a string, a number, a boolean or a list of them (no value for exists and missing)")
	case '{':
		return nil, errors.New("an object: want a string, a number, a boolean or a list of them")
	case '[':
		if !list {
			return nil, errors.New("a list in a list: want strings, numbers or booleans")
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		if len(items) > MaxListItems {
			return nil, fmt.Errorf("%d items: at most %d", len(items), MaxListItems)
		}
		out := make([]any, len(items))
		for i, item := range items {
			v, err := decodeValue(item, false)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %v", i, err)
			}
			out[i] = v
		}
		return out, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("%s is not a finite number", raw)
	}
	return f, nil
}
