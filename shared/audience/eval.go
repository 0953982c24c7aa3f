package audience

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/strictjson"
)

// MaxScan bounds the times NextChange tries: past that many, it returns the next time it would
// have tried, at which the caller evaluates again (and learns the next one).
const MaxScan = 64

// Inputs are what a definition reads, so that a caller knows what to supply and when to evaluate
// it again: on each event when it reads the profile, its traits or its events; after each scoring
// run when it reads scores (or a cluster or a lookalike score); at NextChange when it reads the
// clock.
type Inputs struct {
	// Fields are the fields read, sorted: fixed fields by name, families with their key
	// ("traits.plan", "consent.marketing", "event.ordercompleted.count").
	Fields   []string
	Traits   []string // top-level traits read, sorted
	Computed []string // computed traits the caller must supply, sorted
	// Events are the events counted, by profile.EventKey, with the longest window each is counted
	// over: the caller supplies, for each, the times of the person's events of that name within
	// that window before now (e.g. from the person's history). A name it does not supply makes
	// evaluation fail with ErrInput.
	Events     map[string]time.Duration
	Audiences  []string // audiences whose membership is read (the audiences field), sorted
	Lookalikes []string // seed audiences of the lookalike scores or ranks read (lookalike.<id>, lookalikeRank.<id>), sorted
	Profile    bool     // reads the profile beyond its traits: counts, orders, times, channels, basket, cases, identifiers, consent, groups
	Scores     bool     // reads the score (score.*)
	Cluster    bool     // reads the cluster
	Clock      bool     // its result may change with time alone (see NextChange)
}

// Inputs says what the definition reads (nothing, for a definition that does not compile).
func (d Definition) Inputs() Inputs {
	p, err := d.program()
	if err != nil {
		return Inputs{}
	}
	return p.inputs.clone()
}

func (in Inputs) clone() Inputs {
	in.Fields, in.Traits, in.Computed = slices.Clone(in.Fields), slices.Clone(in.Traits), slices.Clone(in.Computed)
	in.Audiences, in.Lookalikes = slices.Clone(in.Audiences), slices.Clone(in.Lookalikes)
	in.Events = maps.Clone(in.Events)
	return in
}

// merge adds o's inputs to in.
func (in Inputs) merge(o Inputs) Inputs {
	union := func(a, b []string) []string {
		out := slices.Concat(a, b)
		slices.Sort(out)
		return slices.Compact(out)
	}
	in.Fields, in.Traits, in.Computed = union(in.Fields, o.Fields), union(in.Traits, o.Traits), union(in.Computed, o.Computed)
	in.Audiences, in.Lookalikes = union(in.Audiences, o.Audiences), union(in.Lookalikes, o.Lookalikes)
	for k, w := range o.Events {
		if in.Events == nil {
			in.Events = map[string]time.Duration{}
		}
		in.Events[k] = max(in.Events[k], w)
	}
	in.Profile, in.Scores = in.Profile || o.Profile, in.Scores || o.Scores
	in.Cluster, in.Clock = in.Cluster || o.Cluster, in.Clock || o.Clock
	return in
}

func (d Definition) program() (*program, error) {
	if d.prog != nil {
		return d.prog, nil
	}
	c, err := Compile(d)
	if err != nil {
		return nil, err
	}
	return c.prog, nil
}

// Match tells whether the subject is a member of the audience at now.
func (d Definition) Match(s Subject, now time.Time) (bool, error) {
	p, err := d.program()
	if err != nil {
		return false, err
	}
	now = now.Round(0)
	if err := p.supplied(s); err != nil {
		return false, err
	}
	return p.root.eval(s, nil, now), nil
}

// NextChange is the earliest time after now at which the result of Match may differ from its
// result at now by the clock alone (the subject's values unchanged): a window expiring ("lastSeen
// within 30d" turns false at lastSeen + 30 days), an event leaving a count's window, a relative
// time passing a trait's. Match gives the same result at any time from now until just before it;
// the zero time when the result cannot change with time alone. See Evaluate.
func (d Definition) NextChange(s Subject, now time.Time) (time.Time, error) {
	_, next, err := d.Evaluate(s, now)
	return next, err
}

// Evaluate is Match and NextChange at once. Next is exact (the result differs at next) unless
// its conditions change their results more than MaxScan times before the rule's result changes:
// then next is the first of those times it did not try, and the result may be the same there.
func (d Definition) Evaluate(s Subject, now time.Time) (member bool, next time.Time, err error) {
	return d.evaluate(s, now, nil)
}

func (d Definition) evaluate(s Subject, now time.Time, x *scratch) (member bool, next time.Time, err error) {
	p, err := d.program()
	if err != nil {
		return false, time.Time{}, err
	}
	now = now.Round(0)
	if err := p.supplied(s); err != nil {
		return false, time.Time{}, err
	}
	member = p.root.eval(s, nil, now)
	if p.clock {
		if x == nil {
			x = &scratch{}
		}
		next = p.next(s, now, member, x)
	}
	return member, next, nil
}

// supplied checks that the subject gives every event series the rule counts.
func (p *program) supplied(s Subject) error {
	for _, f := range p.events {
		if _, ok := s.Value(f); !ok {
			return fmt.Errorf("%w: the times of the events %q", ErrInput, f.Key)
		}
	}
	return nil
}

// next finds the first time after now at which the rule's result differs from member: its result
// can only change at the times the result of one of its clock-dependent conditions changes (each
// is true over half-open intervals of time: [t, t+window) for within, and a count changes as its
// events enter and leave the window), so it tries them in order. The subject's values do not
// change meanwhile: each is read once.
func (p *program) next(s Subject, now time.Time, member bool, x *scratch) time.Time {
	sc := x.scan(s, p.conds)
	cands := x.times[:0]
	p.root.changes(sc, now, &cands)
	x.times = cands
	slices.SortFunc(cands, time.Time.Compare)
	cands = slices.CompactFunc(cands, time.Time.Equal)
	for i, c := range cands {
		if i == MaxScan || p.root.eval(s, sc, c) != member {
			return c.Round(0)
		}
	}
	return time.Time{}
}

// scratch is memory an evaluation reuses: a Set evaluates its definitions with one.
type scratch struct {
	sc    scan
	times []time.Time
}

// scan returns the scratch's scan, emptied, for a rule of n conditions.
func (x *scratch) scan(s Subject, n int) *scan {
	if cap(x.sc.vals) < n {
		x.sc.vals = make([]cached, n)
	}
	x.sc.s, x.sc.vals = s, x.sc.vals[:n]
	clear(x.sc.vals)
	return &x.sc
}

// scan holds the values of a rule's conditions while NextChange tries times.
type scan struct {
	s    Subject
	vals []cached // by condition index
}

type cached struct {
	read, ok bool
	v        Value
	// The points of a count or a sum, sorted by time, and the running sums of their amounts
	// (sums[i] of the first i points).
	points []Point
	sums   []float64
}

func (sc *scan) value(c *cond) *cached {
	cv := &sc.vals[c.index]
	if !cv.read {
		cv.read = true
		cv.v, cv.ok = sc.s.Value(c.field)
		if c.field.Window > 0 && cv.ok {
			byTime := func(a, b Point) int { return a.At.Compare(b.At) }
			cv.points = cv.v.Points
			if !slices.IsSortedFunc(cv.points, byTime) {
				cv.points = slices.Clone(cv.points)
				slices.SortFunc(cv.points, byTime)
			}
			if c.field.Kind == KindRevenue {
				cv.sums = make([]float64, len(cv.points)+1)
				for i, p := range cv.points {
					cv.sums[i+1] = cv.sums[i] + p.Amount
				}
			}
		}
	}
	return cv
}

// window counts (or sums the amounts of) the points within w before now, by binary search.
func (cv *cached) window(now time.Time, w time.Duration, sum bool) float64 {
	return cv.between(cv.upTo(now.Add(-w)), cv.upTo(now), sum)
}

// upTo is the number of points at or before t.
func (cv *cached) upTo(t time.Time) int {
	i, _ := slices.BinarySearchFunc(cv.points, t, func(p Point, t time.Time) int {
		if p.At.After(t) {
			return 1
		}
		return -1
	})
	return i
}

// between counts (or sums the amounts of) the points lo to hi-1.
func (cv *cached) between(lo, hi int, sum bool) float64 {
	if sum {
		return cv.sums[hi] - cv.sums[lo]
	}
	return float64(hi - lo)
}

func (n *node) eval(s Subject, sc *scan, now time.Time) bool {
	switch n.kind {
	case nAll:
		for _, k := range n.kids {
			if !k.eval(s, sc, now) {
				return false
			}
		}
		return true
	case nAny:
		for _, k := range n.kids {
			if k.eval(s, sc, now) {
				return true
			}
		}
		return false
	case nNot:
		return !n.kids[0].eval(s, sc, now)
	}
	if sc == nil {
		v, ok := s.Value(n.c.field)
		return n.c.test(v, ok, now, nil)
	}
	cv := sc.value(n.c)
	return n.c.test(cv.v, cv.ok, now, cv)
}

// changes adds the times after now at which a clock-dependent condition under n changes its
// result: its value changes at a few times (the ends of its spans), and of those it keeps the ones
// at which the condition's result differs from its result just before.
func (n *node) changes(sc *scan, now time.Time, out *[]time.Time) {
	if n.kind != nCond {
		for _, k := range n.kids {
			k.changes(sc, now, out)
		}
		return
	}
	c := n.c
	if !c.clock {
		return
	}
	cv := sc.value(c)
	if !cv.ok {
		return
	}
	was := c.test(cv.v, cv.ok, now, cv)
	if w := c.field.Window; w > 0 {
		// A count or a sum changes as a point enters the window (at its time) or leaves it (at its
		// time + w): both sequences are sorted as the points are, so they merge in order, and the
		// window's ends only move forward.
		sum, pts := c.field.Kind == KindRevenue, cv.points
		lo, hi := cv.upTo(now.Add(-w)), cv.upTo(now)
		enter, leave := hi, lo
		var last time.Time
		for enter < len(pts) || leave < len(pts) {
			var t time.Time
			if leave == len(pts) || (enter < len(pts) && !pts[enter].At.After(pts[leave].At.Add(w))) {
				t = pts[enter].At
				enter++
			} else {
				t = pts[leave].At.Add(w)
				leave++
			}
			if !t.After(now) || t.Equal(last) {
				continue
			}
			last = t
			for ; hi < len(pts) && !pts[hi].At.After(t); hi++ {
			}
			for from := t.Add(-w); lo < len(pts) && !pts[lo].At.After(from); lo++ {
			}
			if is := c.numberTest(cv.between(lo, hi, sum)); is != was {
				*out = append(*out, t)
				was = is
			}
		}
		return
	}
	t := cv.v.Time
	if c.typ == tJSON {
		var ok bool
		if t, ok = jsonTime(cv.v.JSON); !ok {
			return
		}
	}
	var times [2]time.Time // in order
	switch {
	case c.op == OpWithin: // now-window < t <= now: from t until t+window
		times = [2]time.Time{t, t.Add(c.window)}
	case c.op == OpBefore && c.rel: // t < now+off: from t-off+1ns on
		times[0] = t.Add(-c.off).Add(time.Nanosecond)
	case c.op == OpAfter && c.rel: // t > now+off: until t-off
		times[0] = t.Add(-c.off)
	}
	for _, t := range times {
		if !t.After(now) {
			continue
		}
		if is := c.test(cv.v, cv.ok, t, cv); is != was {
			*out = append(*out, t)
			was = is
		}
	}
}

// test is a condition's result on a value (ok false: the field is missing); cv, when not nil,
// holds the points of a count or a sum sorted.
func (c *cond) test(v Value, ok bool, now time.Time, cv *cached) bool {
	switch c.op {
	case OpExists:
		return ok && (c.typ != tJSON || v.JSON != nil)
	case OpMissing:
		return !ok || (c.typ == tJSON && v.JSON == nil)
	}
	if c.typ == tConsent {
		state := ConsentUnknown
		if ok && (v.String == ConsentGranted || v.String == ConsentDenied) {
			state = v.String
		}
		return c.stringTest(state)
	}
	if !ok || (c.typ == tJSON && v.JSON == nil) {
		return c.op == OpNe || c.op == OpNotIn // the missing-value rule
	}
	switch c.typ {
	case tNumber:
		x := v.Number
		if w := c.field.Window; w > 0 && cv != nil {
			x = cv.window(now, w, c.field.Kind == KindRevenue)
		} else if w > 0 {
			x = 0
			from := now.Add(-w)
			for _, p := range v.Points {
				if !p.At.After(now) && p.At.After(from) { // inWindow
					if c.field.Kind == KindRevenue {
						x += p.Amount
					} else {
						x++
					}
				}
			}
		}
		return c.numberTest(x)
	case tString:
		return c.stringTest(v.String)
	case tTime:
		return c.timeTest(v.Time, now)
	case tList:
		return c.listTest(v.List)
	}
	return c.jsonTest(v.JSON, now)
}

// inWindow tells whether t is within w before now: now-w < t <= now.
func inWindow(t, now time.Time, w time.Duration) bool {
	return !t.After(now) && t.After(now.Add(-w))
}

func (c *cond) numberTest(x float64) bool {
	switch c.op {
	case OpEq:
		return x == c.num
	case OpNe:
		return x != c.num
	case OpLt:
		return x < c.num
	case OpLe:
		return x <= c.num
	case OpGt:
		return x > c.num
	case OpGe:
		return x >= c.num
	case OpBetween:
		return c.lo <= x && x <= c.hi
	}
	return false
}

func (c *cond) stringTest(x string) bool {
	switch c.op {
	case OpEq:
		return x == c.str
	case OpNe:
		return x != c.str
	case OpIn:
		return slices.Contains(c.strs, x)
	case OpNotIn:
		return !slices.Contains(c.strs, x)
	case OpContains:
		return strings.Contains(x, c.str)
	case OpStartsWith:
		return strings.HasPrefix(x, c.str)
	}
	return false
}

func (c *cond) timeTest(t, now time.Time) bool {
	switch c.op {
	case OpWithin:
		return inWindow(t, now, c.window)
	case OpBefore:
		return t.Before(c.ref(now))
	case OpAfter:
		return t.After(c.ref(now))
	}
	return false
}

// ref is the time before and after compare with.
func (c *cond) ref(now time.Time) time.Time {
	if c.rel {
		return now.Add(c.off)
	}
	return c.abs
}

func (c *cond) listTest(list []string) bool {
	switch c.op {
	case OpContains:
		return slices.Contains(list, c.str)
	case OpContainsAny:
		for _, s := range c.strs {
			if slices.Contains(list, s) {
				return true
			}
		}
		return false
	case OpContainsAll:
		for _, s := range c.strs {
			if !slices.Contains(list, s) {
				return false
			}
		}
		return true
	}
	return c.sizeTest(len(list))
}

func (c *cond) sizeTest(n int) bool {
	switch c.op {
	case OpSize:
		return float64(n) == c.num
	case OpSizeAtLeast:
		return float64(n) >= c.num
	case OpSizeAtMost:
		return float64(n) <= c.num
	}
	return false
}

// jsonTest is a condition on a trait or computed trait: its type is read from the value, and a
// value of another type than the op compares fails the test (so != and notIn hold).
func (c *cond) jsonTest(x any, now time.Time) bool {
	switch c.op {
	case OpEq:
		return strictjson.Equal(x, c.scalar)
	case OpNe:
		return !strictjson.Equal(x, c.scalar)
	case OpIn, OpNotIn:
		in := false
		for _, want := range c.list {
			if strictjson.Equal(x, want) {
				in = true
				break
			}
		}
		return in == (c.op == OpIn)
	case OpLt, OpLe, OpGt, OpGe, OpBetween:
		n, ok := strictjson.Number(x)
		return ok && c.numberTest(n)
	case OpStartsWith:
		s, ok := x.(string)
		return ok && strings.HasPrefix(s, c.str)
	case OpBefore, OpAfter, OpWithin:
		t, ok := jsonTime(x)
		return ok && c.timeTest(t, now)
	case OpContains:
		if s, ok := x.(string); ok {
			sub, ok := c.scalar.(string)
			return ok && strings.Contains(s, sub)
		}
		return jsonAny(x, func(item any) bool { return strictjson.Equal(item, c.scalar) })
	case OpContainsAny:
		return jsonAny(x, func(item any) bool {
			return slices.ContainsFunc(c.list, func(w any) bool { return strictjson.Equal(item, w) })
		})
	case OpContainsAll:
		if jsonLen(x) < 0 {
			return false
		}
		for _, w := range c.list {
			if !jsonAny(x, func(item any) bool { return strictjson.Equal(item, w) }) {
				return false
			}
		}
		return true
	case OpSize, OpSizeAtLeast, OpSizeAtMost:
		n := jsonLen(x)
		return n >= 0 && c.sizeTest(n)
	}
	return false
}

// jsonTime reads an RFC 3339 time or a date (midnight UTC) from a string, or a time.Time.
func jsonTime(x any) (time.Time, bool) {
	switch x := x.(type) {
	case string:
		return parseTime(x)
	case time.Time:
		return x, !x.IsZero()
	}
	return time.Time{}, false
}

// jsonLen is the length of a list, -1 for anything else.
func jsonLen(x any) int {
	switch x := x.(type) {
	case []any:
		return len(x)
	case []string:
		return len(x)
	case []float64:
		return len(x)
	}
	return -1
}

// jsonAny tells whether some item of a list satisfies f (false for anything but a list).
func jsonAny(x any, f func(any) bool) bool {
	switch x := x.(type) {
	case []any:
		return slices.ContainsFunc(x, f)
	case []string:
		for _, s := range x {
			if f(s) {
				return true
			}
		}
	case []float64:
		for _, n := range x {
			if f(n) {
				return true
			}
		}
	}
	return false
}
