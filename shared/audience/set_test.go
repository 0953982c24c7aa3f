package audience

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func def(t testing.TB, id, rule string) Definition {
	return mustParse(t, fmt.Sprintf(`{"id": %q, "name": %q, "rule": %s}`, id, id, rule))
}

func TestValidateSet(t *testing.T) {
	in := func(ids ...string) string {
		r := `{"any": [`
		for i, id := range ids {
			if i > 0 {
				r += ", "
			}
			r += fmt.Sprintf(`{"field": "audiences", "op": "contains", "value": %q}`, id)
		}
		return r + `]}`
	}
	base := `{"field": "orders", "op": ">", "value": 0}`
	for name, c := range map[string]struct {
		defs []Definition
		want string
	}{
		"unknown": {[]Definition{def(t, "a", base), def(t, "b", in("a", "zz"))},
			`definitions[1] ("b"): rule.any[1]: audience "zz" is not defined`},
		"unknown in a list": {[]Definition{def(t, "a", `{"field": "audiences", "op": "containsAll", "value": ["a2", "b"]}`), def(t, "b", base)},
			`definitions[0] ("a"): rule: audience "a2" is not defined`},
		"self":  {[]Definition{def(t, "a", in("a"))}, "audiences a → a form a cycle"},
		"cycle": {[]Definition{def(t, "a", in("b")), def(t, "b", in("c")), def(t, "c", in("a")), def(t, "d", base)}, "audiences a → b → c → a form a cycle"},
		"duplicate": {[]Definition{def(t, "a", base), def(t, "b", base), def(t, "a", base)},
			`definitions[2] ("a"): definitions[0] has that id too`},
		"lookalike unknown": {[]Definition{def(t, "a", `{"field": "lookalike.b", "op": ">", "value": 0.5}`)}, `audience "b" is not defined`},
		"lookalike self":    {[]Definition{def(t, "a", `{"field": "lookalike.a", "op": ">", "value": 0.5}`)}, "a lookalike of itself"},
		"rank unknown":      {[]Definition{def(t, "a", `{"field": "lookalikeRank.b", "op": "<=", "value": 100}`)}, `audience "b" is not defined`},
		"rank self":         {[]Definition{def(t, "a", `{"field": "lookalikeRank.a", "op": "<=", "value": 100}`)}, "a lookalike of itself"},
		"invalid": {[]Definition{def(t, "a", base), {ID: "b", Name: "B", Rule: Rule{Condition: &Condition{Field: "orders", Op: "~"}}}},
			`definitions[1] ("b"): invalid audience definition: rule: field "orders": op "~"`},
	} {
		err := ValidateSet(c.defs)
		require.ErrorIs(t, err, ErrInvalid, name)
		require.ErrorContains(t, err, c.want, name)
	}
	// A lookalike of another audience is not a dependency: two audiences may look like each other.
	require.NoError(t, ValidateSet([]Definition{
		def(t, "a", `{"field": "lookalike.b", "op": ">", "value": 0.5}`),
		def(t, "b", `{"all": [{"field": "lookalike.a", "op": ">", "value": 0.5}, {"field": "audiences", "op": "contains", "value": "a"}]}`),
	}))
	require.NoError(t, ValidateSet([]Definition{
		def(t, "a", `{"field": "orders", "op": ">=", "value": 3}`),
		def(t, "like-a", `{"all": [{"field": "lookalikeRank.a", "op": "<=", "value": 10000}, {"field": "audiences", "op": "contains", "value": "a"}]}`),
	}), "the top N of a seed, its members left out")
	require.NoError(t, ValidateSet(nil))
}

func TestSetEvaluate(t *testing.T) {
	// Given dependents first: the set evaluates dependencies first.
	set, err := NewSet([]Definition{
		def(t, "vip-at-risk", `{"all": [{"field": "audiences", "op": "contains", "value": "vip"}, {"field": "lastSeen", "op": "before", "value": "-30d"}]}`),
		def(t, "vip", `{"any": [{"field": "audiences", "op": "contains", "value": "big"}, {"field": "score.rfmSegment", "op": "==", "value": "Champions"}]}`),
		def(t, "big", `{"field": "revenue", "op": ">=", "value": 1000}`),
		def(t, "active", `{"field": "lastSeen", "op": "within", "value": "30d"}`),
		def(t, "not-vip", `{"not": {"field": "audiences", "op": "contains", "value": "vip"}}`),
	})
	require.NoError(t, err)
	var order []string
	for _, d := range set.Definitions() {
		order = append(order, d.ID)
	}
	require.Less(t, indexOf(order, "big"), indexOf(order, "vip"))
	require.Less(t, indexOf(order, "vip"), indexOf(order, "vip-at-risk"))
	require.Less(t, indexOf(order, "vip"), indexOf(order, "not-vip"))

	seen := t0.Add(-20 * day)
	s := subject{"revenue": {Number: 1500}, "lastSeen": {Time: seen}, "audiences": {List: []string{"not-vip", "whatever"}}}
	m, err := set.Evaluate(s, t0)
	require.NoError(t, err)
	require.Equal(t, []string{"active", "big", "vip"}, m.Audiences, "the subject's own audiences are not read")
	// The earliest change: vip-at-risk turns true just after lastSeen+30d, active false at lastSeen+30d.
	require.True(t, seen.Add(30*day).Equal(m.Next), "%v", m.Next)
	later, err := set.Evaluate(s, m.Next)
	require.NoError(t, err)
	require.Equal(t, []string{"big", "vip"}, later.Audiences)
	require.True(t, seen.Add(30*day+1).Equal(later.Next))
	latest, err := set.Evaluate(s, later.Next)
	require.NoError(t, err)
	require.Equal(t, []string{"big", "vip", "vip-at-risk"}, latest.Audiences)
	require.True(t, latest.Next.IsZero())

	in := set.Inputs()
	require.Equal(t, []string{"big", "vip"}, in.Audiences)
	require.True(t, in.Clock && in.Profile && in.Scores)

	// An input missing for one definition fails the whole evaluation, naming it.
	set2, err := NewSet([]Definition{def(t, "v", `{"field": "event.view.count", "op": ">", "value": 0, "within": "1d"}`)})
	require.NoError(t, err)
	_, err = set2.Evaluate(subject{}, t0)
	require.ErrorIs(t, err, ErrInput)
	require.ErrorContains(t, err, `audience "v"`)
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// Evaluating a set equals evaluating its definitions one by one with the memberships before.
func TestSetEqualsOneByOne(t *testing.T) {
	var defs []Definition
	for _, raw := range benchmarkSet(t) {
		defs = append(defs, mustParse(t, string(raw)))
	}
	set, err := NewSet(defs)
	require.NoError(t, err)
	s := benchSubject(t0)
	m, err := set.Evaluate(s, t0)
	require.NoError(t, err)
	require.NotEmpty(t, m.Audiences)
	require.False(t, m.Next.IsZero())
	var members []string
	var next time.Time
	for _, d := range set.Definitions() {
		s.Audiences = members
		ok, n, err := d.Evaluate(s, t0)
		require.NoError(t, err)
		if ok {
			members = append(members, d.ID)
		}
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	require.ElementsMatch(t, members, m.Audiences)
	require.True(t, next.Equal(m.Next))
}
