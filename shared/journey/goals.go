package journey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// ErrConfig marks a goals document that cannot be used; the message says where and why.
var ErrConfig = errors.New("invalid goals configuration")

// Bounds of a configuration.
const (
	MaxGoals       = 32
	MaxFunnelSteps = 20
	MaxConditions  = 10
	MaxNameBytes   = 100
	MaxLookback    = 366 * 24 * time.Hour
)

// DefaultLookback is how far before a conversion its touches are looked for.
const DefaultLookback = 30 * 24 * time.Hour

// DefaultFunnelWindow is the time a funnel's steps must all fall within, from its first step.
const DefaultFunnelWindow = 7 * 24 * time.Hour

// Config is the goals document: the conversions that count, the lookback of their paths and an
// optional funnel. It is data (JSON, see ParseConfig and README.md), not code.
type Config struct {
	// Lookback is how far before a conversion (or before the window's end, for the journeys that
	// did not convert) touches count; DefaultLookback when zero.
	Lookback Duration `json:"lookback,omitzero"`
	Goals    []Goal   `json:"goals"`
	Funnel   *Funnel  `json:"funnel,omitempty"`
}

// Goal is one kind of conversion: the events that are one, and what each is worth.
type Goal struct {
	Name string `json:"name"`
	Match
	Value Value `json:"value,omitzero"`
}

// Match selects events: a track event by name (Event) or a page or screen by name (Page), exactly
// one of them, with conditions on the event's properties that must all hold (Where). Names are
// compared as profile.EventKey compares them: without regard to case, spaces, underscores or
// hyphens.
type Match struct {
	Event string      `json:"event,omitempty"`
	Page  string      `json:"page,omitempty"`
	Where []Condition `json:"where,omitempty"`
}

// Condition tests one property of an event. Property names a member of the event's properties
// ("form_id"; "properties.form_id" is the same; "order.total" reaches into an object). Op is one
// of ==, !=, <, <=, >, >=, exists. Value is a JSON string, number or boolean (none for exists):
// a string or boolean compares with == and != only, to a property of the same type; a number
// compares with every operator, to a number or a numeric string. A missing property satisfies
// only != and fails every other test.
type Condition struct {
	Property string `json:"property"`
	Op       string `json:"op"`
	Value    any    `json:"value,omitempty"`
}

// Value says what a conversion is worth: the first of the properties (Property, in order) that
// holds a number or a numeric string; else Fixed. Neither: the conversion counts, worth 0. A
// negative or non-finite value counts as 0 (a refund is not a conversion).
type Value struct {
	Property []string `json:"property,omitempty"`
	Fixed    float64  `json:"fixed,omitempty"`
}

// IsZero reports whether the rule gives no value.
func (v Value) IsZero() bool { return len(v.Property) == 0 && v.Fixed == 0 }

// Funnel is an ordered list of steps a person goes through within a window (from the first step).
type Funnel struct {
	Name   string   `json:"name"`
	Within Duration `json:"within,omitzero"`
	Steps  []Step   `json:"steps"`
}

// Step is one step of a funnel.
type Step struct {
	Name string `json:"name,omitempty"` // its label; the event's or page's name when empty
	Match
}

// Label is the step's name, or its event's or page's name.
func (s Step) Label() string {
	if s.Name != "" {
		return s.Name
	}
	if s.Event != "" {
		return s.Event
	}
	return s.Page
}

// Duration is a length of time in JSON: "30d" (whole days), or a Go duration ("12h", "90m").
type Duration time.Duration

// MarshalJSON writes whole days as "Nd", anything else as a Go duration.
func (d Duration) MarshalJSON() ([]byte, error) {
	day := 24 * time.Hour
	if t := time.Duration(d); t%day == 0 && t != 0 {
		return json.Marshal(strconv.FormatInt(int64(t/day), 10) + "d")
	}
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "Nd" or a Go duration.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"30d\" or \"12h\"")
	}
	t, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(t)
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > int64(MaxLookback/(24*time.Hour)) {
			return 0, fmt.Errorf("duration %q: want whole days such as \"30d\" (at most %d)", s, MaxLookback/(24*time.Hour))
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	t, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want \"30d\" or a duration such as \"12h\"", s)
	}
	return t, nil
}

// UnmarshalJSON takes "property" as one name or a list of names.
func (v *Value) UnmarshalJSON(b []byte) error {
	var raw struct {
		Property json.RawMessage `json:"property"`
		Fixed    *float64        `json:"fixed"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("value: want {\"property\": NAME or [NAMES]} or {\"fixed\": NUMBER}: %w", err)
	}
	*v = Value{}
	if len(raw.Property) > 0 && string(raw.Property) != "null" {
		var one string
		if json.Unmarshal(raw.Property, &one) == nil {
			v.Property = []string{one}
		} else if err := json.Unmarshal(raw.Property, &v.Property); err != nil {
			return errors.New("value: property is a name or a list of names")
		}
	}
	if raw.Fixed != nil {
		v.Fixed = *raw.Fixed
	}
	return nil
}

// ParseConfig reads and validates a goals document (JSON). Unknown members are errors, so that a
// misspelt key is not silently ignored.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if dec.More() {
		return Config{}, fmt.Errorf("%w: more than one JSON document", ErrConfig)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// DefaultConfig is the goals of a shop: an order (worth properties.revenue, else total), a
// sign-up, a newsletter form (Form Submitted with form_id "newsletter") and a content download
// (File Downloaded); the e-commerce funnel Product Viewed → Product Added → Checkout Started →
// Order Completed within 7 days.
func DefaultConfig() Config {
	return Config{
		Lookback: Duration(DefaultLookback),
		Goals: []Goal{
			{Name: "order", Match: Match{Event: "Order Completed"}, Value: Value{Property: []string{"revenue", "total"}}},
			{Name: "sign-up", Match: Match{Event: "Signed Up"}},
			{Name: "newsletter", Match: Match{Event: "Form Submitted", Where: []Condition{{Property: "form_id", Op: "==", Value: "newsletter"}}}},
			{Name: "download", Match: Match{Event: "File Downloaded"}},
		},
		Funnel: &Funnel{Name: "checkout", Within: Duration(DefaultFunnelWindow), Steps: []Step{
			{Match: Match{Event: "Product Viewed"}}, {Match: Match{Event: "Product Added"}},
			{Match: Match{Event: "Checkout Started"}}, {Match: Match{Event: "Order Completed"}},
		}},
	}
}

// LookbackOrDefault is the configured lookback, or DefaultLookback.
func (c Config) LookbackOrDefault() time.Duration {
	if c.Lookback == 0 {
		return DefaultLookback
	}
	return time.Duration(c.Lookback)
}

// Validate checks a configuration, saying where the first problem is.
func (c Config) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	if c.Lookback < 0 || time.Duration(c.Lookback) > MaxLookback {
		return fail("lookback %v: want more than 0 and at most %v", time.Duration(c.Lookback), MaxLookback)
	}
	if len(c.Goals) == 0 {
		return fail("no goals: want at least one")
	}
	if len(c.Goals) > MaxGoals {
		return fail("%d goals: at most %d", len(c.Goals), MaxGoals)
	}
	seen := map[string]bool{}
	for i, g := range c.Goals {
		where := fmt.Sprintf("goals[%d]", i)
		if err := checkName(g.Name); err != nil {
			return fail("%s: name %v", where, err)
		}
		where = fmt.Sprintf("goals[%d] (%q)", i, g.Name)
		if seen[g.Name] {
			return fail("%s: a goal of that name comes before", where)
		}
		seen[g.Name] = true
		if err := g.Match.validate(); err != nil {
			return fail("%s: %v", where, err)
		}
		if err := g.Value.validate(); err != nil {
			return fail("%s: %v", where, err)
		}
	}
	if f := c.Funnel; f != nil {
		if err := checkName(f.Name); err != nil {
			return fail("funnel: name %v", err)
		}
		if f.Within < 0 || time.Duration(f.Within) > MaxLookback {
			return fail("funnel: within %v: want more than 0 and at most %v", time.Duration(f.Within), MaxLookback)
		}
		if len(f.Steps) < 2 || len(f.Steps) > MaxFunnelSteps {
			return fail("funnel: %d steps: want 2 to %d", len(f.Steps), MaxFunnelSteps)
		}
		for i, s := range f.Steps {
			if s.Name != "" {
				if err := checkName(s.Name); err != nil {
					return fail("funnel: steps[%d]: name %v", i, err)
				}
			}
			if err := s.Match.validate(); err != nil {
				return fail("funnel: steps[%d]: %v", i, err)
			}
		}
	}
	return nil
}

func checkName(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return errors.New("is empty")
	case len(s) > MaxNameBytes:
		return fmt.Errorf("is %d bytes: at most %d", len(s), MaxNameBytes)
	case !utf8.ValidString(s):
		return errors.New("is not UTF-8")
	}
	return nil
}

func (m Match) validate() error {
	if (m.Event == "") == (m.Page == "") {
		return errors.New("want exactly one of event (a track event's name) and page (a page or screen's name)")
	}
	name := m.Event + m.Page
	if err := checkName(name); err != nil {
		return fmt.Errorf("event name %v", err)
	}
	if profile.EventKey(name) == "" {
		return fmt.Errorf("event name %q has no letters or digits", name)
	}
	if len(m.Where) > MaxConditions {
		return fmt.Errorf("%d conditions: at most %d", len(m.Where), MaxConditions)
	}
	for i, c := range m.Where {
		if err := c.validate(); err != nil {
			return fmt.Errorf("where[%d]: %v", i, err)
		}
	}
	return nil
}

var ops = []string{"==", "!=", "<", "<=", ">", ">=", "exists"}

func (c Condition) validate() error {
	if err := checkName(c.Property); err != nil {
		return fmt.Errorf("property %v", err)
	}
	if p := propertyPath(c.Property); len(p) == 0 || strings.Contains(strings.Join(p, "\x00"), "\x00\x00") || p[0] == "" || p[len(p)-1] == "" {
		return fmt.Errorf("property %q: want a name such as form_id or order.total", c.Property)
	}
	switch c.Op {
	case "exists":
		if c.Value != nil {
			return errors.New("op exists takes no value")
		}
		return nil
	case "==", "!=":
		switch v := c.Value.(type) {
		case string, bool:
			return nil
		case float64:
			return finite(v)
		}
		return fmt.Errorf("op %s: value must be a string, a number or a boolean", c.Op)
	case "<", "<=", ">", ">=":
		if v, ok := c.Value.(float64); ok {
			return finite(v)
		}
		return fmt.Errorf("op %s: value must be a number", c.Op)
	}
	return fmt.Errorf("op %q: want one of %s", c.Op, strings.Join(ops, ", "))
}

func finite(v float64) error {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return errors.New("value is not a finite number")
	}
	return nil
}

func (v Value) validate() error {
	if len(v.Property) > 0 && v.Fixed != 0 {
		return errors.New("value: give property or fixed, not both")
	}
	if len(v.Property) > MaxConditions {
		return fmt.Errorf("value: %d properties: at most %d", len(v.Property), MaxConditions)
	}
	for _, p := range v.Property {
		if err := checkName(p); err != nil {
			return fmt.Errorf("value: property %v", err)
		}
	}
	if math.IsInf(v.Fixed, 0) || math.IsNaN(v.Fixed) || v.Fixed < 0 {
		return fmt.Errorf("value: fixed %v: want a finite number, 0 or more", v.Fixed)
	}
	return nil
}

// propertyPath splits a property name into the members it goes through, without a leading
// "properties.".
func propertyPath(name string) []string {
	return strings.Split(strings.TrimPrefix(name, "properties."), ".")
}
