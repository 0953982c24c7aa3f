// Package computed is computed traits: traits the marketing team defines as data (a JSON
// document: an event, conditions on its properties, an aggregate over one property and an
// optional time window), kept on a customer profile as a small State that each matching event is
// folded into, and read at a given time (Value) as the window slides. NextChange says when the
// value may next change by the clock alone (an event leaving the window), so that a caller can
// schedule a re-evaluation; Prune drops what can never matter again. A Set folds one event into
// the states of many definitions and gives the values audience rules read as computed.<id>.
// The language and its bounds are documented in README.md; the package does no I/O.
package computed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/strictjson"
)

// ErrInvalid marks a definition (or a set of definitions) that cannot be used; the message says
// where and why.
var ErrInvalid = errors.New("invalid computed trait definition")

// Bounds of a definition.
const (
	MaxIDBytes          = 64
	MaxNameBytes        = 100
	MaxDescriptionBytes = 1000
	MaxConditions       = 20  // conditions in where
	MaxPathMembers      = 8   // names in a property path ("product.brand" is 2)
	MaxPathBytes        = 256 // a property path
	MaxStringBytes      = 256 // a string value of a condition, or one item of a list value
	MaxListItems        = 100 // items of the value of in
	MinWindow           = time.Hour
	MaxWindow           = 366 * day
)

const day = 24 * time.Hour

// The aggregates.
const (
	Count        = "count"
	Sum          = "sum"
	Average      = "average"
	Min          = "min"
	Max          = "max"
	MostFrequent = "mostFrequent"
	First        = "first"
	Last         = "last"
	Unique       = "unique"
)

var aggregates = []string{Count, Sum, Average, Min, Max, MostFrequent, First, Last, Unique}

// The operators of a condition.
var ops = []string{"==", "!=", "<", "<=", ">", ">=", "in", "contains", "exists"}

// Definition is a computed trait. Build one with Parse (or json.Unmarshal), or in Go and check it
// with Compile; Fold, Value and the others compile an unchecked definition on each call, and an
// invalid one matches no event and has no value.
type Definition struct {
	// ID names the trait where it is read (computed.<id> in audience rules): a lower-case slug of
	// 1 to MaxIDBytes bytes (letters a-z, digits, hyphens inside).
	ID          string
	Name        string // for people: 1 to MaxNameBytes bytes of UTF-8
	Description string // optional, at most MaxDescriptionBytes
	// Event is the name of the events read, as sent ("Product Viewed"); names match as
	// profile.EventKey folds them ("product_viewed" is the same name).
	Event     string
	Where     []Condition // all must hold for an event to be read; at most MaxConditions
	Aggregate string      // one of count, sum, average, min, max, mostFrequent, first, last, unique
	Property  string      // the property aggregated ("price", "product.brand"); none for count
	Within    string      // the window ("30d", "12h"), "" for all time

	c *compiled // nil until Compile
}

// Condition tests one property of an event. Value is a JSON value as encoding/json reads it
// (string, float64, bool, or for in a list of them), nil for exists.
type Condition struct {
	Property string `json:"property"`
	Op       string `json:"op"`
	Value    any    `json:"value,omitempty"`
}

// compiled is what evaluation reads, derived from a valid definition.
type compiled struct {
	key    string   // profile.EventKey(Event)
	window int64    // seconds; 0 for all time
	bucket int64    // seconds: the width points merge into past MaxPoints (see compact)
	path   []string // Property, split
	where  []cond
}

type cond struct {
	path []string
	op   string
	v    any
}

// Parse reads and checks one definition (a JSON document). Unknown or repeated members, null
// where a value is wanted and a second document are errors, so that a misspelt key is not
// silently ignored; errors wrap ErrInvalid and say where the problem is.
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

// MarshalJSON writes the definition as Parse reads it: written and parsed again, a parsed
// definition is equal to itself.
func (d Definition) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID          string      `json:"id"`
		Name        string      `json:"name"`
		Description string      `json:"description,omitempty"`
		Event       string      `json:"event"`
		Where       []Condition `json:"where,omitempty"`
		Aggregate   string      `json:"aggregate"`
		Property    string      `json:"property,omitempty"`
		Within      string      `json:"within,omitempty"`
	}{d.ID, d.Name, d.Description, d.Event, d.Where, d.Aggregate, d.Property, d.Within})
}

// Compile checks a definition and prepares it for evaluation; errors wrap ErrInvalid and say
// where.
func Compile(d Definition) (Definition, error) {
	c, err := compile(d)
	if err != nil {
		return Definition{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	d.c = c
	return d, nil
}

// Validate checks a definition as Compile does.
func (d Definition) Validate() error {
	_, err := compile(d)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// Key is the event key the definition reads (profile.EventKey of Event).
func (d Definition) Key() string {
	if c := d.prog(); c != nil {
		return c.key
	}
	return ""
}

// prog is the compiled definition, compiling it when it was built in Go; nil when invalid.
func (d Definition) prog() *compiled {
	if d.c != nil {
		return d.c
	}
	c, _ := compile(d)
	return c
}

func compile(d Definition) (*compiled, error) {
	if err := checkID(d.ID); err != nil {
		return nil, fmt.Errorf("id %v", err)
	}
	if err := checkText(d.Name, MaxNameBytes, true); err != nil {
		return nil, fmt.Errorf("name %v", err)
	}
	if err := checkText(d.Description, MaxDescriptionBytes, false); err != nil {
		return nil, fmt.Errorf("description %v", err)
	}
	c := &compiled{key: profile.EventKey(d.Event)}
	if !utf8.ValidString(d.Event) || c.key == "" {
		return nil, fmt.Errorf("event %q: want an event name of 1 to 64 bytes, with letters or digits (such as \"Product Viewed\")", d.Event)
	}
	if len(d.Where) > MaxConditions {
		return nil, fmt.Errorf("where: %d conditions: at most %d", len(d.Where), MaxConditions)
	}
	for i, w := range d.Where {
		cd, err := compileCondition(w)
		if err != nil {
			return nil, fmt.Errorf("where[%d]: %v", i, err)
		}
		c.where = append(c.where, cd)
	}
	if !contains(aggregates, d.Aggregate) {
		return nil, fmt.Errorf("aggregate %q: want one of %s", d.Aggregate, strings.Join(aggregates, ", "))
	}
	switch {
	case d.Aggregate == Count && d.Property != "":
		return nil, fmt.Errorf(`property %q: count takes none (to count the events that have it, add {"property": %q, "op": "exists"} to where)`, d.Property, d.Property)
	case d.Aggregate != Count && d.Property == "":
		return nil, fmt.Errorf("property: %s needs the property it aggregates, such as \"price\"", d.Aggregate)
	case d.Property != "":
		p, err := parsePath(d.Property)
		if err != nil {
			return nil, fmt.Errorf("property %v", err)
		}
		c.path = p
	}
	if d.Within != "" {
		w, err := parseWindow(d.Within)
		if err != nil {
			return nil, fmt.Errorf("within: %v", err)
		}
		c.window = int64(w / time.Second)
		c.bucket = max(c.window/buckets, 1)
	}
	return c, nil
}

func compileCondition(w Condition) (cond, error) {
	p, err := parsePath(w.Property)
	if err != nil {
		return cond{}, fmt.Errorf("property %v", err)
	}
	c := cond{path: p, op: w.Op, v: w.Value}
	what := fmt.Sprintf("property %q: op %q", w.Property, w.Op)
	switch w.Op {
	case "exists":
		if w.Value != nil {
			return cond{}, fmt.Errorf("%s takes no value", what)
		}
		return c, nil
	case "==", "!=", "contains":
		err = checkScalar(w.Value)
	case "<", "<=", ">", ">=":
		if _, ok := w.Value.(float64); !ok {
			err = errors.New("want a number")
		}
	case "in":
		list, ok := w.Value.([]any)
		if !ok || len(list) == 0 || len(list) > MaxListItems {
			return cond{}, fmt.Errorf("%s: want a list of 1 to %d values", what, MaxListItems)
		}
		for i, v := range list {
			if err := checkScalar(v); err != nil {
				return cond{}, fmt.Errorf("%s: [%d]: %v", what, i, err)
			}
		}
	default:
		return cond{}, fmt.Errorf("%s: want one of %s", what, strings.Join(ops, ", "))
	}
	if err != nil {
		return cond{}, fmt.Errorf("%s: %v", what, err)
	}
	return c, nil
}

// checkScalar accepts a string (at most MaxStringBytes), a finite number or a boolean.
func checkScalar(v any) error {
	switch v := v.(type) {
	case string:
		if len(v) > MaxStringBytes || !utf8.ValidString(v) {
			return fmt.Errorf("a string of %d bytes: want UTF-8, at most %d", len(v), MaxStringBytes)
		}
		return nil
	case float64, bool:
		return nil
	case nil:
		return errors.New("want a value")
	}
	return errors.New("want a string, a number or a boolean")
}

var pathName = regexp.MustCompile(`^[^.]+$`)

func checkID(id string) error { return strictjson.CheckID(id, MaxIDBytes, "categories-viewed") }

func checkText(s string, max int, required bool) error { return strictjson.CheckText(s, max, required) }

// parsePath splits a property path: names separated by dots, each not empty.
func parsePath(p string) ([]string, error) {
	if p == "" || len(p) > MaxPathBytes || !utf8.ValidString(p) {
		return nil, fmt.Errorf("%q: want a property name, or a path into an object such as \"product.brand\" (at most %d bytes)", p, MaxPathBytes)
	}
	names := strings.Split(p, ".")
	if len(names) > MaxPathMembers {
		return nil, fmt.Errorf("%q: %d names: at most %d", p, len(names), MaxPathMembers)
	}
	for _, n := range names {
		if !pathName.MatchString(n) {
			return nil, fmt.Errorf("%q: an empty name: want a property name, or a path into an object such as \"product.brand\"", p)
		}
	}
	return names, nil
}

// parseWindow reads a window: whole days ("30d") or a Go duration ("12h"), MinWindow to
// MaxWindow, in whole seconds (times are kept to the second).
func parseWindow(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q: want whole days from \"1d\" to \"366d\", or a duration such as \"12h\" (whole seconds, at least 1h)", s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 1 || n > int64(MaxWindow/day) || days == "" || days[0] == '+' {
			return 0, bad
		}
		return time.Duration(n) * day, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinWindow || d > MaxWindow || d%time.Second != 0 || s[0] == '+' {
		return 0, bad
	}
	return d, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Strict JSON reading: objects member by member (unknown and repeated members are errors).

const definitionMembers = "id, name, description, event, where, aggregate, property, within"

func decodeDefinition(raw json.RawMessage) (Definition, error) {
	ms, err := strictjson.Members(raw, `an object: {"id", "name", "event", "aggregate" …}`)
	if err != nil {
		return Definition{}, err
	}
	var d Definition
	seen := map[string]bool{}
	for _, m := range ms {
		seen[m.Name] = true
		switch m.Name {
		case "id", "name", "description", "event", "aggregate", "property", "within":
			s, err := decodeString(m.Raw, m.Name)
			if err != nil {
				return Definition{}, err
			}
			*map[string]*string{"id": &d.ID, "name": &d.Name, "description": &d.Description, "event": &d.Event,
				"aggregate": &d.Aggregate, "property": &d.Property, "within": &d.Within}[m.Name] = s
		case "where":
			var items []json.RawMessage
			if err := json.Unmarshal(m.Raw, &items); err != nil || items == nil {
				return Definition{}, errors.New("where: want a list of conditions")
			}
			if len(items) > MaxConditions {
				return Definition{}, fmt.Errorf("where: %d conditions: at most %d", len(items), MaxConditions)
			}
			d.Where = make([]Condition, len(items))
			for i, item := range items {
				if d.Where[i], err = decodeCondition(item); err != nil {
					return Definition{}, fmt.Errorf("where[%d]: %v", i, err)
				}
			}
		default:
			return Definition{}, fmt.Errorf("unknown member %q: want %s", m.Name, definitionMembers)
		}
	}
	for _, req := range []string{"id", "name", "event", "aggregate"} {
		if !seen[req] {
			return Definition{}, fmt.Errorf("no %s", req)
		}
	}
	if len(d.Where) == 0 {
		d.Where = nil // an empty list is no condition, and writes back as none
	}
	return d, nil
}

const conditionForm = `want {"property", "op", "value"}`

func decodeCondition(raw json.RawMessage) (Condition, error) {
	ms, err := strictjson.Members(raw, "a condition: "+conditionForm[5:])
	if err != nil {
		return Condition{}, err
	}
	var c Condition
	var hasValue bool
	for _, m := range ms {
		switch m.Name {
		case "property", "op":
			s, err := decodeString(m.Raw, m.Name)
			if err != nil {
				return Condition{}, err
			}
			if m.Name == "op" {
				c.Op = s
			} else {
				c.Property = s
			}
		case "value":
			if c.Value, err = decodeValue(m.Raw, true); err != nil {
				return Condition{}, fmt.Errorf("value: %v", err)
			}
			hasValue = true
		default:
			return Condition{}, fmt.Errorf("unknown member %q: %s", m.Name, conditionForm)
		}
	}
	switch {
	case c.Property == "":
		return Condition{}, fmt.Errorf("no property: %s", conditionForm)
	case c.Op == "":
		return Condition{}, fmt.Errorf("no op: %s", conditionForm)
	case c.Op != "exists" && !hasValue && contains(ops, c.Op):
		return Condition{}, fmt.Errorf("property %q: op %q: want a value", c.Property, c.Op)
	}
	return c, nil
}

func decodeString(raw json.RawMessage, name string) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || string(bytes.TrimSpace(raw)) == "null" {
		return "", fmt.Errorf("%s: want a string", name)
	}
	return s, nil
}

// decodeValue reads a string, a number, a boolean or (when list) a list of them.
func decodeValue(raw json.RawMessage, list bool) (any, error) {
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case 'n':
		return nil, errors.New("null: want a string, a number, a boolean or a list of them (no value for exists)")
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
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err // a number out of float64's range among them
	}
	return v, nil
}
