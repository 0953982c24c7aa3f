package audience

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The property test: random definitions against random subjects. Match must equal a reference
// evaluator written apart from the package (below, straight from README.md), and NextChange must be
// honest: the reference gives the same answer at every time from now until just before it, and a
// different one at it.

// genField is a field the generator uses, with its type as README.md gives it.
type genField struct {
	name, typ string
	windowed  bool
}

var genFields = []genField{
	{"orders", "number", true}, {"revenue", "number", true}, {"visits", "number", false}, {"score.clv", "number", false},
	{"lookalike.vip", "number", false}, {"lookalikeRank.vip", "number", false},
	{"event.signup.count", "event", true},
	{"lastChannel", "string", false}, {"score.rfmSegment", "string", false},
	{"consent.marketing", "consent", false},
	{"lastSeen", "time", false}, {"firstOrder", "time", false}, {"basket.updatedAt", "time", false},
	{"groups", "list", false}, {"audiences", "list", false},
	{"identifiers.email", "identifier", false},
	{"traits.a", "trait", false}, {"traits.b.c", "trait", false}, {"computed.x", "trait", false},
}

var (
	genNumbers = []float64{0, 1, 2, 3, 5, 25}
	genStrings = []string{"a", "b", "ab", "email"}
	genWindows = []string{"1h", "12h", "1d", "3d", "7d", "30d", "90m"}
	genOffsets = []string{"now", "-1h", "-1d", "-7d", "-30d", "+1d", "+12h", "+7d"}
)

type gen struct {
	r     *rand.Rand
	now   time.Time
	conds int
}

func (g *gen) pick(n int) int { return g.r.IntN(n) }

func (g *gen) rule(depth int) Rule {
	if depth < 4 && g.conds < 6 && g.pick(3) == 0 {
		switch g.pick(3) {
		case 0:
			r := g.rule(depth + 1)
			return Rule{Not: &r}
		case 1:
			return Rule{All: g.rules(depth)}
		default:
			return Rule{Any: g.rules(depth)}
		}
	}
	g.conds++
	c := g.condition()
	return Rule{Condition: &c}
}

func (g *gen) rules(depth int) []Rule {
	out := make([]Rule, 1+g.pick(3))
	for i := range out {
		out[i] = g.rule(depth + 1)
	}
	return out
}

func (g *gen) number() float64 { return genNumbers[g.pick(len(genNumbers))] }
func (g *gen) str() string     { return genStrings[g.pick(len(genStrings))] }
func (g *gen) strs() []any {
	out := make([]any, 1+g.pick(3))
	for i := range out {
		out[i] = g.str()
	}
	return out
}

func (g *gen) scalar() any {
	switch g.pick(4) {
	case 0:
		return g.str()
	case 1:
		return "2"
	case 2:
		return g.number()
	}
	return g.pick(2) == 0
}

func (g *gen) scalars() []any {
	out := make([]any, 1+g.pick(3))
	for i := range out {
		out[i] = g.scalar()
	}
	return out
}

func (g *gen) timeSpec() string {
	if g.pick(4) == 0 {
		return g.now.Add(time.Duration(g.pick(40)-30) * day).Format(time.RFC3339)
	}
	return genOffsets[g.pick(len(genOffsets))]
}

func (g *gen) condition() Condition {
	f := genFields[g.pick(len(genFields))]
	clock := g.pick(2) == 0 // half the conditions read the clock, where the field can
	for clock && f.typ != "time" && !f.windowed && f.typ != "trait" {
		f = genFields[g.pick(len(genFields))]
	}
	c := Condition{Field: f.name}
	if f.typ == "event" || (f.windowed && (clock || g.pick(2) == 0)) {
		c.Within = genWindows[g.pick(len(genWindows))]
	}
	var ops []string
	switch f.typ {
	case "number", "event":
		ops = []string{"==", "!=", "<", "<=", ">", ">=", "between", "exists", "missing"}
	case "string":
		ops = []string{"==", "!=", "in", "notIn", "contains", "startsWith", "exists", "missing"}
	case "consent":
		ops = []string{"==", "!=", "in", "notIn"}
	case "time":
		ops = []string{"before", "after", "within", "within", "exists", "missing"}
	case "list":
		ops = []string{"contains", "containsAny", "containsAll", "size", "sizeAtLeast", "sizeAtMost", "exists", "missing"}
	case "identifier":
		ops = []string{"exists", "missing"}
	case "trait":
		ops = []string{"==", "!=", "<", ">=", "between", "in", "notIn", "contains", "containsAny", "containsAll", "startsWith",
			"size", "sizeAtLeast", "sizeAtMost", "before", "after", "within", "within", "exists", "missing"}
	}
	c.Op = ops[g.pick(len(ops))]
	if clock && (f.typ == "time" || f.typ == "trait") {
		c.Op = []string{"before", "after", "within"}[g.pick(3)]
	}
	typ := f.typ
	switch c.Op {
	case "exists", "missing":
	case "==", "!=", "contains":
		switch typ {
		case "number", "event":
			c.Value = g.number()
		case "consent":
			c.Value = []string{"granted", "denied", "unknown"}[g.pick(3)]
		case "trait":
			c.Value = g.scalar()
		default:
			c.Value = g.str()
		}
	case "<", "<=", ">", ">=":
		c.Value = g.number()
	case "between":
		lo, hi := g.number(), g.number()
		c.Value = []any{min(lo, hi), max(lo, hi)}
	case "in", "notIn", "containsAny", "containsAll":
		switch typ {
		case "consent":
			c.Value = []any{[]string{"granted", "denied", "unknown"}[g.pick(3)], "unknown"}
		case "trait":
			c.Value = g.scalars()
		default:
			c.Value = g.strs()
		}
	case "startsWith":
		c.Value = g.str()
	case "size", "sizeAtLeast", "sizeAtMost":
		c.Value = float64(g.pick(4))
	case "before", "after":
		c.Value = g.timeSpec()
	case "within":
		c.Value = genWindows[g.pick(len(genWindows))]
	}
	return c
}

// instant is a time near now: hours and minutes, sometimes with nanoseconds.
func (g *gen) instant() time.Time {
	span := 12 * 24 // mostly within ten days of now, the windows' scale
	if g.pick(4) == 0 {
		span = 50 * 24
	}
	t := g.now.Add(time.Duration(g.pick(span)-span*5/6)*time.Hour + time.Duration(g.pick(60))*time.Minute)
	if g.pick(4) == 0 {
		t = t.Add(time.Duration(g.pick(1000)))
	}
	return t
}

func (g *gen) subject() subject {
	s := subject{}
	for _, f := range genFields {
		if g.pick(5) == 0 && f.typ != "event" {
			continue // missing (an event series is always supplied: else ErrInput)
		}
		var v Value
		switch f.typ {
		case "number", "event":
			v.Number = g.number()
			if f.windowed {
				for range g.pick(4) {
					v.Points = append(v.Points, Point{At: g.instant(), Amount: g.number()})
				}
			}
		case "string":
			v.String = g.str()
		case "consent":
			v.String = []string{"granted", "denied", "other"}[g.pick(3)]
		case "time":
			v.Time = g.instant()
		case "list":
			for _, item := range []string{"a", "b", "ab"} {
				if g.pick(2) == 0 {
					v.List = append(v.List, item)
				}
			}
		case "trait":
			switch g.pick(8) {
			case 0:
				v.JSON = g.str()
			case 1:
				v.JSON = "2"
			case 2:
				v.JSON = g.number()
			case 3:
				v.JSON = g.pick(2) == 0
			case 4:
				v.JSON = g.scalars()
			case 5:
				v.JSON = g.instant().Format(time.RFC3339Nano)
			case 6:
				v.JSON = g.instant().Format(time.DateOnly)
			default:
				v.JSON = nil // null
			}
		}
		s[f.name] = v
	}
	return s
}

// The reference evaluator.

func refRule(r Rule, s subject, now time.Time) bool {
	switch {
	case r.Not != nil:
		return !refRule(*r.Not, s, now)
	case r.All != nil:
		for _, k := range r.All {
			if !refRule(k, s, now) {
				return false
			}
		}
		return true
	case r.Any != nil:
		for _, k := range r.Any {
			if refRule(k, s, now) {
				return true
			}
		}
		return false
	}
	return refCond(*r.Condition, s, now)
}

func refType(field string) string {
	for _, f := range genFields {
		if f.name == field {
			return f.typ
		}
	}
	panic(field)
}

func refDuration(s string) time.Duration {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, _ := strconv.Atoi(n)
		return time.Duration(days) * 24 * time.Hour
	}
	d, _ := time.ParseDuration(s)
	return d
}

// refTime is the time a before or after compares with.
func refTime(spec string, now time.Time) time.Time {
	switch {
	case spec == "now":
		return now
	case spec[0] == '-':
		return now.Add(-refDuration(spec[1:]))
	case spec[0] == '+':
		return now.Add(refDuration(spec[1:]))
	}
	t, _ := time.Parse(time.RFC3339, spec)
	return t
}

// refWithin: in the last d, now - d < t <= now.
func refWithin(t, now time.Time, d time.Duration) bool {
	return t.Sub(now) <= 0 && now.Sub(t) < d
}

func refNumber(x any) (float64, bool) {
	switch x := x.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	return 0, false
}

func refEq(x, want any) bool {
	switch want.(type) {
	case float64:
		n, ok := refNumber(x)
		return ok && n == want.(float64)
	case string, bool:
		return x == want
	}
	return false
}

func refTimeOf(x any) (time.Time, bool) {
	s, ok := x.(string)
	if !ok {
		return time.Time{}, false
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func refCond(c Condition, s subject, now time.Time) bool {
	typ := refType(c.Field)
	v, ok := s[c.Field]
	present := ok && !(typ == "trait" && v.JSON == nil)
	switch c.Op {
	case "exists":
		return present
	case "missing":
		return !present
	case "!=":
		c.Op = "=="
		return !refCond(c, s, now)
	case "notIn":
		c.Op = "in"
		return !refCond(c, s, now)
	}
	if typ == "consent" {
		state := "unknown"
		if ok && (v.String == "granted" || v.String == "denied") {
			state = v.String
		}
		v, typ, present = Value{String: state}, "string", true
	}
	if !present {
		return false
	}
	var list []any
	switch typ {
	case "number", "event":
		x := v.Number
		if c.Within != "" {
			x = 0
			for _, p := range v.Points {
				if refWithin(p.At, now, refDuration(c.Within)) {
					if c.Field == "revenue" {
						x += p.Amount
					} else {
						x++
					}
				}
			}
		}
		v, typ = Value{JSON: x}, "trait"
	case "string":
		v, typ = Value{JSON: v.String}, "trait"
	case "time":
		v, typ = Value{JSON: v.Time.Format(time.RFC3339Nano)}, "trait"
	case "list":
		for _, item := range v.List {
			list = append(list, item)
		}
		v, typ = Value{JSON: list}, "trait"
	}
	// Every type is now a trait's value.
	x := v.JSON
	items, isList := x.([]any)
	str, isString := x.(string)
	switch c.Op {
	case "==":
		return refEq(x, c.Value)
	case "in":
		return slices.ContainsFunc(c.Value.([]any), func(w any) bool { return refEq(x, w) })
	case "<", "<=", ">", ">=":
		n, ok := refNumber(x)
		w := c.Value.(float64)
		return ok && map[string]bool{"<": n < w, "<=": n <= w, ">": n > w, ">=": n >= w}[c.Op]
	case "between":
		n, ok := refNumber(x)
		b := c.Value.([]any)
		return ok && b[0].(float64) <= n && n <= b[1].(float64)
	case "contains":
		if isString {
			w, ok := c.Value.(string)
			return ok && strings.Contains(str, w)
		}
		return isList && slices.ContainsFunc(items, func(item any) bool { return refEq(item, c.Value) })
	case "containsAny", "containsAll":
		if !isList {
			return false
		}
		n := 0
		for _, w := range c.Value.([]any) {
			if slices.ContainsFunc(items, func(item any) bool { return refEq(item, w) }) {
				n++
			}
		}
		if c.Op == "containsAny" {
			return n > 0
		}
		return n == len(c.Value.([]any))
	case "startsWith":
		return isString && strings.HasPrefix(str, c.Value.(string))
	case "size", "sizeAtLeast", "sizeAtMost":
		n := float64(len(items))
		w := c.Value.(float64)
		return isList && map[string]bool{"size": n == w, "sizeAtLeast": n >= w, "sizeAtMost": n <= w}[c.Op]
	case "before", "after", "within":
		t, ok := refTimeOf(x)
		if !ok {
			return false
		}
		switch c.Op {
		case "before":
			return t.Before(refTime(c.Value.(string), now))
		case "after":
			return t.After(refTime(c.Value.(string), now))
		}
		return refWithin(t, now, refDuration(c.Value.(string)))
	}
	panic(c.Op)
}

// critical are the times at which a rule's result could change, and around them: every time the
// subject holds, moved by every duration the generator uses, one nanosecond either side.
func critical(s subject, now time.Time) []time.Time {
	var times []time.Time
	for _, v := range s {
		times = append(times, v.Time)
		for _, p := range v.Points {
			times = append(times, p.At)
		}
		if t, ok := refTimeOf(v.JSON); ok {
			times = append(times, t)
		}
	}
	var durs []time.Duration
	for _, w := range slices.Concat(genWindows, genOffsets) {
		if w == "now" {
			durs = append(durs, 0)
			continue
		}
		d := refDuration(strings.TrimLeft(w, "+-"))
		durs = append(durs, d, -d)
	}
	var out []time.Time
	for _, t := range times {
		for _, d := range durs {
			for _, eps := range []time.Duration{-1, 0, 1} {
				if c := t.Add(d + eps); !c.Before(now) {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

func TestMatchEqualsReferenceAndNextChangeIsHonest(t *testing.T) {
	const runs = 4000
	changed, clocked := 0, 0
	defer func() { t.Logf("clock read %d, result changes %d of %d", clocked, changed, runs) }()
	for seed := range uint64(runs) {
		g := &gen{r: rand.New(rand.NewPCG(seed, 7)), now: t0.Add(time.Duration(seed%97) * time.Minute)}
		d := Definition{ID: fmt.Sprintf("r%d", seed), Name: "Random", Rule: g.rule(1)}
		doc, err := json.Marshal(d)
		require.NoError(t, err)
		parsed, err := Parse(doc)
		require.NoError(t, err, string(doc))
		if seed%10 == 0 {
			require.NoError(t, validateSchema(t, doc), string(doc))
		}
		s := g.subject()
		now := g.now
		member, next, err := parsed.Evaluate(s, now)
		require.NoError(t, err, string(doc))
		require.Equal(t, refRule(parsed.Rule, s, now), member, "seed %d: %s\n%+v", seed, doc, s)

		// Honest: the same answer at every critical time before next, a different one at next.
		for _, c := range append(critical(s, now), now, now.Add(time.Duration(g.pick(1_000_000))*time.Second)) {
			if !next.IsZero() && !c.Before(next) {
				continue
			}
			require.Equal(t, member, refRule(parsed.Rule, s, c), "seed %d: at %v, before next %v: %s", seed, c, next, doc)
		}
		if parsed.Inputs().Clock {
			clocked++
		}
		if !next.IsZero() {
			changed++
			require.True(t, next.After(now))
			require.NotEqual(t, member, refRule(parsed.Rule, s, next), "seed %d: at next %v: %s", seed, next, doc)
		}
		// Match agrees with the reference at other times too.
		for range 3 {
			at := g.instant()
			ok, err := parsed.Match(s, at)
			require.NoError(t, err)
			require.Equal(t, refRule(parsed.Rule, s, at), ok, "seed %d at %v: %s", seed, at, doc)
		}
	}
	require.Greater(t, changed, runs/16, "enough cases where the clock changes the result")
}
