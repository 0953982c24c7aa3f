package audience

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Operators.
const (
	OpEq          = "=="
	OpNe          = "!="
	OpLt          = "<"
	OpLe          = "<="
	OpGt          = ">"
	OpGe          = ">="
	OpBetween     = "between"
	OpIn          = "in"
	OpNotIn       = "notIn"
	OpContains    = "contains"
	OpContainsAny = "containsAny"
	OpContainsAll = "containsAll"
	OpStartsWith  = "startsWith"
	OpSize        = "size"
	OpSizeAtLeast = "sizeAtLeast"
	OpSizeAtMost  = "sizeAtMost"
	OpBefore      = "before"
	OpAfter       = "after"
	OpWithin      = "within"
	OpExists      = "exists"
	OpMissing     = "missing"
)

// opsByType are the operators each type of field takes, in the order errors list them.
var opsByType = map[ftype][]string{
	tNumber:   {OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpBetween, OpExists, OpMissing},
	tString:   {OpEq, OpNe, OpIn, OpNotIn, OpContains, OpStartsWith, OpExists, OpMissing},
	tConsent:  {OpEq, OpNe, OpIn, OpNotIn},
	tTime:     {OpBefore, OpAfter, OpWithin, OpExists, OpMissing},
	tList:     {OpContains, OpContainsAny, OpContainsAll, OpSize, OpSizeAtLeast, OpSizeAtMost, OpExists, OpMissing},
	tPresence: {OpExists, OpMissing},
	tJSON: {OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpBetween, OpIn, OpNotIn, OpContains, OpContainsAny, OpContainsAll,
		OpStartsWith, OpSize, OpSizeAtLeast, OpSizeAtMost, OpBefore, OpAfter, OpWithin, OpExists, OpMissing},
}

// Consent states a consent field compares with.
const (
	ConsentGranted = "granted"
	ConsentDenied  = "denied"
	ConsentUnknown = "unknown"
)

var consentStates = []string{ConsentGranted, ConsentDenied, ConsentUnknown}

// program is a compiled definition.
type program struct {
	root   *node
	conds  int
	inputs Inputs
	events []Field // the event counts read, with their longest window, to check they are supplied
	refs   []ref   // audiences and lookalikes named, where
	clock  bool    // some condition changes with time alone
}

type ref struct {
	path, id  string
	lookalike bool
}

type nodeKind uint8

const (
	nAll nodeKind = iota + 1
	nAny
	nNot
	nCond
)

type node struct {
	kind nodeKind
	kids []*node
	c    *cond
}

// cond is a compiled condition.
type cond struct {
	index int // among the program's conditions, in order
	field Field
	typ   ftype
	op    string
	clock bool // its result changes with time alone

	num    float64       // number comparisons, sizes
	lo, hi float64       // between
	str    string        // string comparisons, consent
	strs   []string      // in, notIn, containsAny, containsAll on typed fields
	scalar any           // ==, !=, contains on traits: string, float64 or bool
	list   []any         // in, notIn, containsAny, containsAll on traits
	window time.Duration // op within
	abs    time.Time     // before, after: an absolute time (when !rel)
	rel    bool          // before, after: relative to now, by off
	off    time.Duration
}

type compiler struct {
	conds  int
	inputs Inputs
	events map[string]time.Duration
	refs   []ref
	clock  bool
	sets   map[string]map[string]bool // traits, computed, audiences, lookalikes named
}

func compileProgram(r Rule) (*program, error) {
	c := &compiler{events: map[string]time.Duration{}, sets: map[string]map[string]bool{}}
	root, err := c.rule(r, "rule", 1)
	if err != nil {
		return nil, err
	}
	in := c.inputs
	in.Clock = c.clock
	list := func(name string) []string {
		if len(c.sets[name]) == 0 {
			return nil
		}
		return slices.Sorted(maps.Keys(c.sets[name]))
	}
	in.Fields, in.Traits, in.Computed = list("fields"), list(KindTraits), list(KindComputed)
	in.Audiences, in.Lookalikes = list(KindAudiences), list(KindLookalike)
	if len(c.events) > 0 {
		in.Events = c.events
	}
	p := &program{root: root, conds: c.conds, inputs: in, refs: c.refs, clock: c.clock}
	for _, key := range slices.Sorted(maps.Keys(c.events)) {
		p.events = append(p.events, Field{Name: "event." + key + ".count", Kind: KindEvent, Key: key, Window: c.events[key]})
	}
	return p, nil
}

func (c *compiler) note(set, name string) {
	if c.sets[set] == nil {
		c.sets[set] = map[string]bool{}
	}
	c.sets[set][name] = true
}

func (c *compiler) rule(r Rule, path string, depth int) (*node, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%s: rules nest more than %d levels deep", path, MaxDepth)
	}
	forms := 0
	for _, set := range []bool{r.All != nil, r.Any != nil, r.Not != nil, r.Condition != nil} {
		if set {
			forms++
		}
	}
	if forms != 1 {
		return nil, fmt.Errorf("%s: %s", path, ruleForms)
	}
	switch {
	case r.Condition != nil:
		c.conds++
		if c.conds > MaxConditions {
			return nil, fmt.Errorf("%s: more than %d conditions", path, MaxConditions)
		}
		cd, err := c.condition(*r.Condition, path)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		cd.index = c.conds - 1
		return &node{kind: nCond, c: cd}, nil
	case r.Not != nil:
		kid, err := c.rule(*r.Not, path+".not", depth+1)
		if err != nil {
			return nil, err
		}
		return &node{kind: nNot, kids: []*node{kid}}, nil
	}
	kind, form, rules := nAll, "all", r.All
	if r.Any != nil {
		kind, form, rules = nAny, "any", r.Any
	}
	if len(rules) == 0 || len(rules) > MaxListItems {
		return nil, fmt.Errorf("%s.%s: %d rules: want 1 to %d", path, form, len(rules), MaxListItems)
	}
	n := &node{kind: kind, kids: make([]*node, len(rules))}
	for i, kid := range rules {
		var err error
		if n.kids[i], err = c.rule(kid, fmt.Sprintf("%s.%s[%d]", path, form, i), depth+1); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (c *compiler) condition(src Condition, path string) (*cond, error) {
	f, s, err := parseField(src.Field)
	if err != nil {
		return nil, err
	}
	cd := &cond{field: f, typ: s.typ, op: src.Op}
	fail := func(format string, args ...any) (*cond, error) {
		return nil, fmt.Errorf("field %q: op %q: "+format, append([]any{src.Field, src.Op}, args...)...)
	}
	if !slices.Contains(opsByType[s.typ], src.Op) {
		return fail("want one of %s (a %s field)", strings.Join(opsByType[s.typ], ", "), s.typ)
	}
	// The window of a count or a sum.
	switch {
	case src.Within != "" && !s.windowed:
		return nil, fmt.Errorf("field %q: within: only orders, revenue and event.<name>.count take a window (a time field takes op \"within\")", src.Field)
	case src.Within == "" && f.Kind == KindEvent:
		return nil, fmt.Errorf("field %q: want a window, such as \"within\": \"30d\"", src.Field)
	case src.Within != "":
		w, err := parseDuration(src.Within, MaxAggregateWindow)
		if err != nil {
			return nil, fmt.Errorf("field %q: within: %v", src.Field, err)
		}
		cd.field.Window = w
		cd.clock = src.Op != OpExists && src.Op != OpMissing
	}
	if err := cd.value(src.Value); err != nil {
		return fail("%v", err)
	}
	cd.clock = cd.clock || cd.op == OpWithin || cd.rel

	// What it depends on.
	c.clock = c.clock || cd.clock
	c.note("fields", fieldFamily(f))
	switch s.src {
	case srcTraits:
		c.note(KindTraits, f.Key)
	case srcComputed:
		c.note(KindComputed, f.Key)
	case srcProfile:
		c.inputs.Profile = true
	case srcScore:
		c.inputs.Scores = true
	case srcCluster:
		c.inputs.Cluster = true
	case srcLookalike: // a score or a rank: either names the seed whose model scoring trains
		c.note(KindLookalike, f.Key)
		c.refs = append(c.refs, ref{path: path, id: f.Key, lookalike: true})
	case srcAudiences:
		for _, id := range append([]string{cd.str}, cd.strs...) {
			if id != "" {
				c.note(KindAudiences, id)
				c.refs = append(c.refs, ref{path: path, id: id})
			}
		}
	case srcEvents:
		c.events[f.Key] = max(c.events[f.Key], cd.field.Window)
	}
	return cd, nil
}

// fieldFamily is the field as Inputs.Fields lists it: a family's name with its key.
func fieldFamily(f Field) string {
	switch f.Kind {
	case KindTraits, KindComputed, KindConsent, KindLookalike, KindLookalikeRank:
		return f.Kind + "." + f.Key
	case KindEvent:
		return "event." + f.Key + ".count"
	}
	return f.Kind
}

// value checks a condition's value against its op and field type.
func (cd *cond) value(v any) error {
	if cd.op == OpExists || cd.op == OpMissing {
		if v != nil {
			return errors.New("takes no value")
		}
		return nil
	}
	if v == nil {
		return errors.New("want a value")
	}
	switch cd.op {
	case OpEq, OpNe:
		return cd.scalarValue(v, false)
	case OpContains:
		return cd.scalarValue(v, cd.typ == tString)
	case OpStartsWith:
		s, err := text(v, true)
		cd.str = s
		return err
	case OpLt, OpLe, OpGt, OpGe:
		n, err := number(v)
		cd.num = n
		return err
	case OpBetween:
		items, ok := asList(v)
		if !ok || len(items) != 2 {
			return errors.New("want a list of two numbers [low, high]")
		}
		var err error
		if cd.lo, err = number(items[0]); err != nil {
			return err
		}
		if cd.hi, err = number(items[1]); err != nil {
			return err
		}
		if cd.lo > cd.hi {
			return fmt.Errorf("low %v above high %v", cd.lo, cd.hi)
		}
		return nil
	case OpIn, OpNotIn, OpContainsAny, OpContainsAll:
		items, ok := asList(v)
		if !ok || len(items) == 0 || len(items) > MaxListItems {
			return fmt.Errorf("want a list of 1 to %d values", MaxListItems)
		}
		for i, item := range items {
			if cd.typ == tJSON {
				s, err := scalar(item)
				if err != nil {
					return fmt.Errorf("[%d]: %v", i, err)
				}
				cd.list = append(cd.list, s)
				continue
			}
			s, err := text(item, false)
			if err == nil && cd.typ == tConsent && !slices.Contains(consentStates, s) {
				err = fmt.Errorf("%q: want one of %s", s, strings.Join(consentStates, ", "))
			}
			if err != nil {
				return fmt.Errorf("[%d]: %v", i, err)
			}
			cd.strs = append(cd.strs, s)
		}
		return nil
	case OpSize, OpSizeAtLeast, OpSizeAtMost:
		n, err := number(v)
		if err != nil || n < 0 || n > MaxSize || n != math.Trunc(n) {
			return fmt.Errorf("want a whole number from 0 to %d", MaxSize)
		}
		cd.num = n
		return nil
	case OpWithin:
		s, err := text(v, true)
		if err != nil {
			return fmt.Errorf("want a duration such as \"30d\" or \"12h\"")
		}
		cd.window, err = parseDuration(s, MaxWindow)
		return err
	case OpBefore, OpAfter:
		s, err := text(v, true)
		if err != nil {
			return fmt.Errorf("want a time: RFC 3339 (\"2025-01-31T00:00:00Z\"), a date (\"2025-01-31\"), \"now\", or relative to now (\"-30d\", \"+12h\")")
		}
		cd.abs, cd.rel, cd.off, err = parseTimeSpec(s)
		return err
	}
	return nil
}

// scalarValue reads the value of ==, != and contains: of the field's type, any scalar for
// traits (and a list's element).
func (cd *cond) scalarValue(v any, nonEmpty bool) error {
	switch cd.typ {
	case tNumber:
		n, err := number(v)
		cd.num = n
		return err
	case tJSON:
		s, err := scalar(v)
		cd.scalar = s
		return err
	}
	s, err := text(v, nonEmpty)
	if err == nil && cd.typ == tConsent && !slices.Contains(consentStates, s) {
		return fmt.Errorf("%q: want one of %s", s, strings.Join(consentStates, ", "))
	}
	cd.str = s
	return err
}

// asList reads a list value as parsed, or as a Go definition may hold it.
func asList(v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out, true
	case []float64:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

func text(v any, nonEmpty bool) (string, error) {
	s, ok := v.(string)
	switch {
	case !ok:
		return "", errors.New("want a string")
	case nonEmpty && s == "":
		return "", errors.New("want a string that is not empty")
	case len(s) > MaxStringBytes:
		return "", fmt.Errorf("a string of %d bytes: at most %d", len(s), MaxStringBytes)
	case !utf8.ValidString(s):
		return "", errors.New("a string that is not UTF-8")
	}
	return s, nil
}

func number(v any) (float64, error) {
	var f float64
	switch v := v.(type) {
	case float64:
		f = v
	case int:
		f = float64(v)
	default:
		return 0, errors.New("want a number")
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errors.New("want a finite number")
	}
	return f, nil
}

// scalar reads a value compared with a trait: a string, a finite number or a boolean.
func scalar(v any) (any, error) {
	switch v := v.(type) {
	case string:
		return text(v, false)
	case bool:
		return v, nil
	}
	n, err := number(v)
	if err != nil {
		return nil, errors.New("want a string, a number or a boolean")
	}
	return n, nil
}

func utfValid(s string) bool { return utf8.ValidString(s) }

// parseDuration reads "30d" (whole days) or a Go duration ("12h", "90m"): more than 0, at most
// max.
func parseDuration(s string, max time.Duration) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 1 || n > int64(max/day) || days[0] == '+' {
			return 0, fmt.Errorf("duration %q: want whole days from \"1d\" to \"%dd\", or a duration such as \"12h\"", s, max/day)
		}
		d = time.Duration(n) * day
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 || d > max || s[0] == '+' || s[0] == '-' {
			return 0, fmt.Errorf("duration %q: want whole days such as \"30d\", or a duration such as \"12h\" (more than 0, at most %dd)", s, max/day)
		}
	}
	return d, nil
}

// parseTimeSpec reads the value of before and after: "now", a signed duration relative to now
// ("-30d", "+12h"), an RFC 3339 time or a date (midnight UTC).
func parseTimeSpec(s string) (abs time.Time, rel bool, off time.Duration, err error) {
	if s == "now" {
		return time.Time{}, true, 0, nil
	}
	if s != "" && (s[0] == '-' || s[0] == '+') {
		d, err := parseDuration(s[1:], MaxWindow)
		if err != nil {
			return time.Time{}, false, 0, fmt.Errorf("relative time %q: want a sign and a duration such as \"-30d\" or \"+12h\" (at most %dd)", s, MaxWindow/day)
		}
		if s[0] == '-' {
			d = -d
		}
		return time.Time{}, true, d, nil
	}
	t, ok := parseTime(s)
	if !ok {
		return time.Time{}, false, 0, fmt.Errorf("time %q: want RFC 3339 (\"2025-01-31T00:00:00Z\"), a date (\"2025-01-31\"), \"now\", or relative to now (\"-30d\", \"+12h\")", s)
	}
	return t, false, 0, nil
}

// parseTime reads an RFC 3339 time or a date (midnight UTC), in UTC.
func parseTime(s string) (time.Time, bool) {
	if len(s) == len(time.DateOnly) {
		t, err := time.Parse(time.DateOnly, s)
		return t, err == nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}
