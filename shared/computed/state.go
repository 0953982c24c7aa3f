package computed

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/strictjson"
)

// Bounds of a state (README.md, "Bounds and precision", says what happens past them).
const (
	// MaxPoints bounds the points of a windowed state: a point is the events of one second (of
	// one value, for mostFrequent). Up to MaxPoints points the window is exact.
	MaxPoints = 64
	// keepExact points, the newest, stay exact when a state past MaxPoints is compacted; the
	// older ones merge into buckets of window/buckets.
	keepExact = 16
	buckets   = 30
	// MaxValues bounds the distinct values unique keeps and an all-time mostFrequent counts.
	MaxValues = 50
)

// Event is what is folded into a state: a track event's name as sent, its time, and its
// properties as encoding/json decodes them (numbers are float64).
type Event struct {
	Name       string
	Time       time.Time
	Properties map[string]any
}

// State is what a profile keeps of one computed trait: which members are used depends on the
// definition's aggregate and window. It is small (README.md gives its size), and written as JSON
// as it is, to be stored beside the profile. A state belongs to one definition: when the event,
// the conditions, the aggregate, the property or the window of a definition change, start again
// from the zero State.
type State struct {
	N      int64   `json:"n,omitempty"` // all time: events read (first, last and windowed last: 1 when there is one)
	X      float64 `json:"x,omitempty"` // all time: the sum, the least or the greatest value
	T      int64   `json:"t,omitempty"` // first, last: the event's time (Unix seconds)
	V      any     `json:"v,omitempty"` // first, last: its value
	Points []Point `json:"p,omitempty"` // a window: the events, sorted by time
	Values []Tally `json:"u,omitempty"` // unique, all-time mostFrequent: the distinct values
}

// Point is the events of one second in a window (or, past MaxPoints, of one bucket): T is the
// time of the latest (Unix seconds), N how many, X their sum (count, sum, average) or their least
// or greatest value (min, max), V their value (first: the earliest's; mostFrequent: theirs).
// Written as a JSON list, [T, N], [T, N, X] or [T, N, X, V], to keep states small.
type Point struct {
	T, N int64
	X    float64
	V    any
}

// Tally is one distinct value: how many events had it and the time of the latest (Unix seconds).
// Written as a JSON list [V, N, T].
type Tally struct {
	V    string
	N, T int64
}

// MarshalJSON writes a point as a list.
func (p Point) MarshalJSON() ([]byte, error) {
	switch {
	case p.V != nil:
		return json.Marshal([]any{p.T, p.N, p.X, p.V})
	case math.IsInf(p.X, 0) || math.IsNaN(p.X):
		return nil, fmt.Errorf("computed state: point value %v is not a JSON number", p.X)
	}
	// The common points, [t, n] and [t, n, x], written directly: a profile's states are encoded
	// at every write that touches them.
	b := make([]byte, 0, 40)
	b = append(b, '[')
	b = strconv.AppendInt(b, p.T, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, p.N, 10)
	if p.X != 0 {
		b = append(b, ',')
		b = strconv.AppendFloat(b, p.X, 'g', -1, 64)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads a point as MarshalJSON writes it.
func (p *Point) UnmarshalJSON(b []byte) error {
	if q, ok := quickPoint(b); ok {
		*p = q
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || len(raw) < 2 || len(raw) > 4 {
		return fmt.Errorf("computed state: point %s: want [t, n], [t, n, x] or [t, n, x, v]", b)
	}
	*p = Point{}
	targets := []any{&p.T, &p.N, &p.X, &p.V}
	for i, r := range raw {
		if err := json.Unmarshal(r, targets[i]); err != nil {
			return fmt.Errorf("computed state: point %s: %v", b, err)
		}
	}
	return nil
}

// quickPoint reads [t, n] or [t, n, x] of plain numbers without the reflection of encoding/json;
// false for anything else, which the general path reads (or refuses).
func quickPoint(b []byte) (Point, bool) {
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return Point{}, false
	}
	parts := bytes.Split(b[1:len(b)-1], []byte{','})
	if len(parts) < 2 || len(parts) > 3 {
		return Point{}, false
	}
	var p Point
	var err error
	if p.T, err = strconv.ParseInt(string(bytes.TrimSpace(parts[0])), 10, 64); err != nil {
		return Point{}, false
	}
	if p.N, err = strconv.ParseInt(string(bytes.TrimSpace(parts[1])), 10, 64); err != nil {
		return Point{}, false
	}
	if len(parts) == 3 {
		if p.X, err = strconv.ParseFloat(string(bytes.TrimSpace(parts[2])), 64); err != nil || math.IsInf(p.X, 0) || math.IsNaN(p.X) {
			return Point{}, false
		}
	}
	return p, true
}

// MarshalJSON writes a tally as a list.
func (t Tally) MarshalJSON() ([]byte, error) { return json.Marshal([]any{t.V, t.N, t.T}) }

// UnmarshalJSON reads a tally as MarshalJSON writes it.
func (t *Tally) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || len(raw) != 3 {
		return fmt.Errorf("computed state: value %s: want [v, n, t]", b)
	}
	for i, target := range []any{&t.V, &t.N, &t.T} {
		if err := json.Unmarshal(raw[i], target); err != nil {
			return fmt.Errorf("computed state: value %s: %v", b, err)
		}
	}
	return nil
}

// Fold reads one event into the state. An event of another name, failing a condition, without
// a time, or without a usable value of the property (see README.md) leaves the state as it is.
// The value does not depend on the order events are folded in (within the bounds of README.md);
// folding an event twice counts it twice (the caller deduplicates). s is not modified.
func (d Definition) Fold(s State, e Event) State {
	c := d.prog()
	if c == nil || profile.EventKey(e.Name) != c.key {
		return s
	}
	return c.fold(d.Aggregate, s, e)
}

func (c *compiled) fold(agg string, s State, e Event) State {
	if e.Time.IsZero() {
		return s
	}
	for _, w := range c.where {
		if !w.holds(e.Properties) {
			return s
		}
	}
	t := e.Time.Unix()
	var raw any
	if c.path != nil {
		var ok bool
		if raw, ok = lookup(e.Properties, c.path); !ok {
			return s
		}
	}
	switch agg {
	case Count:
		if c.window == 0 {
			s.N++
			return s
		}
		return c.add(agg, s, Point{T: t, N: 1})
	case Sum, Average, Min, Max:
		x, ok := strictjson.Number(raw)
		if !ok {
			return s
		}
		if c.window != 0 {
			return c.add(agg, s, Point{T: t, N: 1, X: x})
		}
		switch {
		case agg == Sum || agg == Average:
			s.X += x
		case s.N == 0, agg == Min && x < s.X, agg == Max && x > s.X:
			s.X = x
		}
		s.N++
		return s
	case First, Last:
		v, ok := scalar(raw)
		if !ok {
			return s
		}
		if agg == First && c.window != 0 {
			return c.add(agg, s, Point{T: t, N: 1, V: v})
		}
		// Last in a window needs only the latest event: once it leaves, every other has.
		if s.N == 0 || (agg == First) == (order(t, v, s.T, s.V) < 0) {
			s.N, s.T, s.V = 1, t, v
		}
		return s
	}
	k, ok := text(raw)
	if !ok {
		return s
	}
	if agg == MostFrequent && c.window != 0 {
		return c.add(agg, s, Point{T: t, N: 1, V: k})
	}
	s.Values = tally(agg, s.Values, k, t)
	return s
}

// order compares two (time, value) pairs: by time, then values as compareValues does. First
// keeps the least, last the greatest, whatever the order events arrive in.
func order(t1 int64, v1 any, t2 int64, v2 any) int {
	if c := cmp.Compare(t1, t2); c != 0 {
		return c
	}
	return compareValues(v1, v2)
}

// compareValues orders values: numbers (by value), then false, true, then strings (byte-wise).
func compareValues(a, b any) int {
	rank := func(v any) int {
		switch v.(type) {
		case float64:
			return 0
		case bool:
			return 1
		case string:
			return 2
		}
		return 3
	}
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	switch a := a.(type) {
	case float64:
		return cmp.Compare(a, b.(float64))
	case bool:
		if a == b.(bool) {
			return 0
		} else if a {
			return 1
		}
		return -1
	case string:
		return strings.Compare(a, b.(string))
	}
	return 0
}

// tally counts one more event of value k at time t (unique, all-time mostFrequent). A new value
// past MaxValues: unique keeps the MaxValues values seen latest (dropping the one least recently
// seen, which is order-independent: a value's latest time only grows); mostFrequent replaces the
// least counted value and takes over its count plus one (the Space-Saving algorithm), so that a
// value more frequent than one event in MaxValues is never lost.
func tally(agg string, values []Tally, k string, t int64) []Tally {
	out := slices.Clone(values)
	if i := slices.IndexFunc(out, func(v Tally) bool { return v.V == k }); i >= 0 {
		out[i].N++
		out[i].T = max(out[i].T, t)
		return out
	}
	if len(out) < MaxValues {
		out = append(out, Tally{V: k, N: 1, T: t})
		slices.SortFunc(out, func(a, b Tally) int { return strings.Compare(a.V, b.V) })
		return out
	}
	if agg == Unique {
		out = append(out, Tally{V: k, N: 1, T: t})
		least := slices.MinFunc(out, byRecency)
		out = slices.DeleteFunc(out, func(v Tally) bool { return v.V == least.V })
		slices.SortFunc(out, func(a, b Tally) int { return strings.Compare(a.V, b.V) })
		return out
	}
	i := 0
	for j, v := range out {
		if rankMostFrequent(v, out[i]) < 0 {
			i = j
		}
	}
	out[i] = Tally{V: k, N: out[i].N + 1, T: t}
	slices.SortFunc(out, func(a, b Tally) int { return strings.Compare(a.V, b.V) })
	return out
}

// byRecency orders values from least to most recently seen; at the same time, the greater
// string is the less recent (so that the lesser is kept).
func byRecency(a, b Tally) int {
	if c := cmp.Compare(a.T, b.T); c != 0 {
		return c
	}
	return strings.Compare(b.V, a.V)
}

// rankMostFrequent orders values from least to most frequent: by count, then by latest time,
// then the greater string first (so that, all else equal, the lesser string wins).
func rankMostFrequent(a, b Tally) int {
	if c := cmp.Compare(a.N, b.N); c != 0 {
		return c
	}
	return byRecency(a, b)
}

// add puts a point into a windowed state, merging it with a point of the same second (and value,
// for mostFrequent), and compacts the state past MaxPoints.
func (c *compiled) add(agg string, s State, p Point) State {
	i, found := slices.BinarySearchFunc(s.Points, p, func(a, b Point) int { return pointOrder(agg, a, b) })
	pts := make([]Point, 0, len(s.Points)+1)
	pts = append(pts, s.Points[:i]...)
	if found {
		pts = append(pts, merge(agg, s.Points[i], p))
		i++
	} else {
		pts = append(pts, p)
	}
	pts = append(pts, s.Points[i:]...)
	if len(pts) > MaxPoints {
		pts = c.compact(agg, pts)
	}
	s.Points = pts
	return s
}

// pointOrder sorts points by time; at one time, mostFrequent's by value. Points equal in this
// order merge.
func pointOrder(agg string, a, b Point) int {
	if c := cmp.Compare(a.T, b.T); c != 0 || agg != MostFrequent {
		return c
	}
	return strings.Compare(str(a.V), str(b.V))
}

// merge joins two points into one that carries the later time: a is the earlier, or at the
// same time either.
func merge(agg string, a, b Point) Point {
	out := Point{T: max(a.T, b.T), N: a.N + b.N, X: a.X + b.X, V: a.V}
	switch agg {
	case Min:
		out.X = min(a.X, b.X)
	case Max:
		out.X = max(a.X, b.X)
	case First:
		if a.T == b.T && compareValues(b.V, a.V) < 0 {
			out.V = b.V
		}
	}
	return out
}

// compact brings a windowed state past MaxPoints back within it: first it drops the points out
// of the window as seen from the latest (they count at no time after it); then it merges every
// point but the newest keepExact into buckets of window/buckets aligned on Unix time 0 (by value
// for mostFrequent), each merged point carrying its latest time; and if that is not enough
// (mostFrequent with many values), it drops the oldest points, down to MaxPoints - keepExact.
func (c *compiled) compact(agg string, pts []Point) []Point {
	latest := pts[len(pts)-1].T
	pts = slices.DeleteFunc(pts, func(p Point) bool { return p.T+c.window <= latest })
	if len(pts) <= MaxPoints {
		return pts
	}
	old, exact := pts[:len(pts)-keepExact], pts[len(pts)-keepExact:]
	type key struct {
		bucket int64
		v      any
	}
	at := map[key]int{}
	var merged []Point
	for _, p := range old {
		k := key{bucket: floorDiv(p.T, c.bucket)}
		if agg == MostFrequent {
			k.v = p.V
		}
		if i, ok := at[k]; ok {
			merged[i] = merge(agg, merged[i], p)
			continue
		}
		at[k] = len(merged)
		merged = append(merged, p)
	}
	out := append(merged, exact...)
	slices.SortStableFunc(out, func(a, b Point) int { return pointOrder(agg, a, b) })
	if len(out) > MaxPoints {
		// Down to MaxPoints - keepExact, so that the next folds do not compact again at once.
		out = slices.Clone(out[len(out)-(MaxPoints-keepExact):])
	}
	return out
}

// str reads a mostFrequent point's value (a string; "" in a state not written by this package).
func str(v any) string {
	s, _ := v.(string)
	return s
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// Value is the trait's value at now: float64 for count, sum, average, min and max; a string,
// float64 or bool for first and last (as the event had it); a string for mostFrequent; a sorted
// []string for unique. ok is false when there is none: no event (in the window) for average, min,
// max, first, last and mostFrequent. Count and sum of no event are 0, unique's an empty list.
func (d Definition) Value(s State, now time.Time) (any, bool) {
	c := d.prog()
	if c == nil {
		return nil, false
	}
	if v, ok := c.value(d.Aggregate, s, now); ok {
		return v, true
	}
	return nil, false
}

func (c *compiled) value(agg string, s State, now time.Time) (any, bool) {
	if c.window == 0 || agg == Last || agg == Unique {
		in := func(t int64) bool { return c.window == 0 || c.in(t, now) }
		switch agg {
		case Count:
			return float64(s.N), true
		case Sum:
			return s.X, true
		case Average:
			return s.X / float64(s.N), s.N > 0
		case Min, Max:
			return s.X, s.N > 0
		case First, Last:
			return s.V, s.N > 0 && in(s.T)
		case MostFrequent:
			return best(s.Values)
		}
		list := []string{}
		for _, v := range s.Values {
			if in(v.T) {
				list = append(list, v.V)
			}
		}
		return list, true // sorted: tally keeps values in order
	}
	var n int64
	var x float64
	var first Point
	counts := map[string]Tally{}
	for _, p := range s.Points {
		if !c.in(p.T, now) {
			continue
		}
		switch {
		case n == 0:
			x, first = p.X, p
		case agg == Min:
			x = min(x, p.X)
		case agg == Max:
			x = max(x, p.X)
		default:
			x += p.X
		}
		n += p.N
		if agg == MostFrequent {
			k := str(p.V)
			t := counts[k]
			counts[k] = Tally{V: k, N: t.N + p.N, T: max(t.T, p.T)}
		}
	}
	switch agg {
	case Count:
		return float64(n), true
	case Sum:
		return x, true
	case Average:
		return x / float64(n), n > 0
	case Min, Max:
		return x, n > 0
	case First:
		return first.V, n > 0
	}
	var list []Tally
	for _, t := range counts {
		list = append(list, t)
	}
	return best(list)
}

// best is the most frequent value: the greatest count, then the latest seen, then the lesser
// string.
func best(values []Tally) (any, bool) {
	if len(values) == 0 {
		return nil, false
	}
	return slices.MaxFunc(values, rankMostFrequent).V, true
}

// in tells whether an event at t (Unix seconds) counts in the window at now: now − window < t,
// that is now < t + window, which for whole seconds is now.Unix() < t + window.
func (c *compiled) in(t int64, now time.Time) bool { return t+c.window > now.Unix() }

// NextChange is the earliest time after now at which Value may change with no new event folded:
// when the first event in the window leaves it. Zero means never (no window, or nothing in it).
func (d Definition) NextChange(s State, now time.Time) time.Time {
	c := d.prog()
	if c == nil || c.window == 0 {
		return time.Time{}
	}
	return c.nextChange(d.Aggregate, s, now)
}

func (c *compiled) nextChange(agg string, s State, now time.Time) time.Time {
	next := int64(0)
	see := func(t int64) {
		if c.in(t, now) && (next == 0 || t+c.window < next) {
			next = t + c.window
		}
	}
	switch agg {
	case Last:
		if s.N > 0 {
			see(s.T)
		}
	case Unique:
		for _, v := range s.Values {
			see(v.T)
		}
	default:
		for _, p := range s.Points {
			see(p.T)
		}
	}
	if next == 0 {
		return time.Time{}
	}
	return time.Unix(next, 0).UTC()
}

// Prune drops what can no longer count at now or later: the events that have left the window.
// Values at now and later are unchanged.
func (d Definition) Prune(s State, now time.Time) State {
	c := d.prog()
	if c == nil || c.window == 0 {
		return s
	}
	return c.prune(d.Aggregate, s, now)
}

func (c *compiled) prune(agg string, s State, now time.Time) State {
	switch agg {
	case Last:
		if s.N > 0 && !c.in(s.T, now) {
			return State{}
		}
	case Unique:
		s.Values = slices.DeleteFunc(slices.Clone(s.Values), func(v Tally) bool { return !c.in(v.T, now) })
		if len(s.Values) == 0 {
			s.Values = nil
		}
	default:
		s.Points = slices.DeleteFunc(slices.Clone(s.Points), func(p Point) bool { return !c.in(p.T, now) })
		if len(s.Points) == 0 {
			s.Points = nil
		}
	}
	return s
}
