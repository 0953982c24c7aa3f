package audience

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeExamples are the definitions README.md shows (its json blocks).
func readmeExamples(t testing.TB) []string {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	require.GreaterOrEqual(t, len(out), 6)
	return out
}

// benchmarkSet is testdata/benchmark.json: 50 definitions.
func benchmarkSet(t testing.TB) []json.RawMessage {
	b, err := os.ReadFile("testdata/benchmark.json")
	require.NoError(t, err)
	var docs []json.RawMessage
	require.NoError(t, json.Unmarshal(b, &docs))
	return docs
}

func TestReadmeExamplesParseAndFormASet(t *testing.T) {
	var defs []Definition
	for _, doc := range readmeExamples(t) {
		d, err := Parse([]byte(doc))
		require.NoError(t, err, doc)
		defs = append(defs, d)
	}
	require.NoError(t, ValidateSet(defs))
	var docs []Definition
	for _, raw := range benchmarkSet(t) {
		d, err := Parse(raw)
		require.NoError(t, err, string(raw))
		docs = append(docs, d)
	}
	require.Len(t, docs, 50)
	require.NoError(t, ValidateSet(docs))
}

func TestParseReadsEveryMember(t *testing.T) {
	d, err := Parse([]byte(`{"id": "a-1", "name": "A", "description": "d", "public": true,
		"rule": {"not": {"any": [{"field": "orders", "op": ">=", "value": 2, "within": "30d"}, {"field": "traits.plan", "op": "exists"}]}}}`))
	require.NoError(t, err)
	require.Equal(t, "a-1", d.ID)
	require.Equal(t, "A", d.Name)
	require.Equal(t, "d", d.Description)
	require.True(t, d.Public)
	require.Equal(t, &Condition{Field: "orders", Op: ">=", Value: 2.0, Within: "30d"}, d.Rule.Not.Any[0].Condition)
	require.Equal(t, &Condition{Field: "traits.plan", Op: "exists"}, d.Rule.Not.Any[1].Condition)
	in := d.Inputs()
	require.Equal(t, []string{"orders", "traits.plan"}, in.Fields)
	require.Equal(t, []string{"plan"}, in.Traits)
	require.True(t, in.Profile)
	require.True(t, in.Clock, "a window reads the clock")
	require.False(t, in.Scores)
}

// The README's error is the parser's, word for word.
func TestReadmeError(t *testing.T) {
	const want = `invalid audience definition: rule.all[2].any[0]: field "traits.plan": op "~": want one of ==, !=, <, <=, >, >=, between, in, notIn, contains, containsAny, containsAll, startsWith, size, sizeAtLeast, sizeAtMost, before, after, within, exists, missing (a trait field)`
	_, err := Parse([]byte(`{"id": "x", "name": "x", "rule": {"all": [{"field": "orders", "op": "exists"}, {"field": "orders", "op": "exists"},
		{"any": [{"field": "traits.plan", "op": "~", "value": "gold"}]}]}}`))
	require.EqualError(t, err, want)
	readme, _ := os.ReadFile("README.md")
	require.Contains(t, string(readme), strings.TrimPrefix(want, ""))
}

func TestErrorsSayWhere(t *testing.T) {
	rule := func(r string) string { return `{"id": "x", "name": "X", "rule": ` + r + `}` }
	cond := func(c string) string { return rule(`{"all": [{"field": "orders", "op": "exists"}, ` + c + `]}`) }
	for doc, want := range map[string]string{
		``:                         "not JSON",
		`[]`:                       "want an object",
		`{"id": "x", "name": "X"}`: "no rule",
		rule(`{"field": "orders", "op": "exists"}`) + ` {}`:                                                                      "more than one JSON document",
		`{"id": "x", "name": "X", "rules": {}}`:                                                                                  `unknown member "rules": want id, name, description, public, rule`,
		`{"id": "x", "id": "y", "name": "X", "rule": {}}`:                                                                        `member "id" given twice`,
		`{"id": null, "name": "X", "rule": {"field": "orders", "op": "exists"}}`:                                                 "id: want a string",
		`{"id": "x", "name": "X", "public": "yes", "rule": {}}`:                                                                  "public: want true or false",
		rule(`{"field": "orders", "op": "exists"}`)[:0] + `{"id": "", "name": "X", "rule": {"field": "orders", "op": "exists"}}`: "id is empty",
		`{"id": "High-Value", "name": "X", "rule": {"field": "orders", "op": "exists"}}`:                                         `id "High-Value": want a lower-case slug`,
		`{"id": "-x", "name": "X", "rule": {"field": "orders", "op": "exists"}}`:                                                 "want a lower-case slug",
		`{"id": "` + strings.Repeat("a", 65) + `", "name": "X", "rule": {"field": "orders", "op": "exists"}}`:                    "id is 65 bytes: at most 64",
		`{"id": "x", "name": " ", "rule": {"field": "orders", "op": "exists"}}`:                                                  "name is empty",
		`{"id": "x", "name": "` + strings.Repeat("n", 101) + `", "rule": {"field": "orders", "op": "exists"}}`:                   "name is 101 bytes: at most 100",
		rule(`{}`):          "rule: empty: want",
		rule(`[]`):          "rule: want a rule",
		rule(`{"all": []}`): "rule.all: 0 rules: want 1 to 100",
		rule(`{"any": {}}`): "rule.any: want a list of rules",
		rule(`{"all": [{"field": "orders", "op": "exists"}], "op": "x"}`):                                                   `rule: "all" with "op"`,
		rule(`{"field": "orders", "op": "exists", "not": {}}`):                                                              `rule: "not" in a condition`,
		rule(`{"field": "orders", "op": "exists", "vaule": 1}`):                                                             `rule: unknown member "vaule"`,
		rule(`{"op": "exists"}`):                                                                                            "rule: no field",
		rule(`{"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"field": "orders", "op": "exists"}}}}}}}}}`): "rule.not.not.not.not.not.not.not.not: rules nest more than 8 levels deep",
		cond(`{"field": "trait.plan", "op": "==", "value": "gold"}`):                                                        `rule.all[1]: field "trait.plan": unknown: want one of traits.<name>, computed.<name>`,
		cond(`{"field": "traits.", "op": "exists"}`):                                                                        `field "traits.": want traits.<name>`,
		cond(`{"field": "traits.a..b", "op": "exists"}`):                                                                    "or a path into an object",
		cond(`{"field": "traits.a.b.c.d.e.f.g.h.i", "op": "exists"}`):                                                       "9 members: at most 8",
		cond(`{"field": "consent.ads", "op": "==", "value": "granted"}`):                                                    `unknown consent purpose "ads": want one of analytics, marketing`,
		cond(`{"field": "consent.marketing", "op": "==", "value": "yes"}`):                                                  `"yes": want one of granted, denied, unknown`,
		cond(`{"field": "consent.marketing", "op": "exists"}`):                                                              `op "exists": want one of ==, !=, in, notIn (a consent field)`,
		cond(`{"field": "lookalike.VIP", "op": ">", "value": 0.5}`):                                                         "want lookalike.<audience id>",
		cond(`{"field": "lookalikeRank.VIP", "op": "<=", "value": 100}`):                                                    "want lookalikeRank.<audience id>",
		cond(`{"field": "lookalikeRank.vip", "op": "==", "value": "1"}`):                                                    "want a number",
		cond(`{"field": "lookalikeRank.vip", "op": "contains", "value": "1"}`):                                              "(a number field)",
		cond(`{"field": "lookalikeRanks.vip", "op": "<=", "value": 100}`):                                                   "lookalikeRank.<audience>",
		cond(`{"field": "event.signup", "op": ">", "value": 1, "within": "7d"}`):                                            "want event.<name>.count",
		cond(`{"field": "event.---.count", "op": ">", "value": 1, "within": "7d"}`):                                         "with letters or digits",
		cond(`{"field": "event.Signed Up.count", "op": ">", "value": 1}`):                                                   `want a window, such as "within": "30d"`,
		cond(`{"field": "event.Signed Up.count", "op": ">", "value": 1, "within": "400d"}`):                                 `within: duration "400d": want whole days from "1d" to "366d"`,
		cond(`{"field": "visits", "op": ">", "value": 1, "within": "7d"}`):                                                  "only orders, revenue and event.<name>.count take a window",
		cond(`{"field": "orders", "op": "startsWith", "value": "1"}`):                                                       `op "startsWith": want one of ==, !=, <, <=, >, >=, between, exists, missing (a number field)`,
		cond(`{"field": "orders", "op": ">", "value": "1"}`):                                                                `field "orders": op ">": want a number`,
		cond(`{"field": "orders", "op": "==", "value": true}`):                                                              "want a number",
		cond(`{"field": "orders", "op": "exists", "value": 1}`):                                                             "takes no value",
		cond(`{"field": "orders", "op": ">"}`):                                                                              "want a value",
		cond(`{"field": "orders", "op": ">", "value": null}`):                                                               "value: null",
		cond(`{"field": "orders", "op": ">", "value": 1e999}`):                                                              "is not a finite number",
		cond(`{"field": "orders", "op": ">", "value": {"a": 1}}`):                                                           "value: an object",
		cond(`{"field": "orders", "op": "between", "value": [3, 1]}`):                                                       "low 3 above high 1",
		cond(`{"field": "orders", "op": "between", "value": [1]}`):                                                          "want a list of two numbers",
		cond(`{"field": "lastChannel", "op": "in", "value": []}`):                                                           "want a list of 1 to 100 values",
		cond(`{"field": "lastChannel", "op": "in", "value": ["a", 1]}`):                                                     "[1]: want a string",
		cond(`{"field": "lastChannel", "op": "in", "value": [["a"]]}`):                                                      "[0]: a list in a list",
		cond(`{"field": "lastChannel", "op": "startsWith", "value": ""}`):                                                   "not empty",
		cond(`{"field": "lastChannel", "op": "==", "value": "` + strings.Repeat("x", 257) + `"}`):                           "a string of 257 bytes: at most 256",
		cond(`{"field": "lastSeen", "op": "within", "value": 30}`):                                                          "want a duration",
		cond(`{"field": "lastSeen", "op": "within", "value": "0d"}`):                                                        `duration "0d"`,
		cond(`{"field": "lastSeen", "op": "within", "value": "-5h"}`):                                                       `duration "-5h"`,
		cond(`{"field": "lastSeen", "op": "within", "value": "4000d"}`):                                                     `want whole days from "1d" to "3660d"`,
		cond(`{"field": "lastSeen", "op": "before", "value": "yesterday"}`):                                                 `time "yesterday": want RFC 3339`,
		cond(`{"field": "lastSeen", "op": "before", "value": "-30 days"}`):                                                  `relative time "-30 days"`,
		cond(`{"field": "lastSeen", "op": ">", "value": 1}`):                                                                "(a time field)",
		cond(`{"field": "groups", "op": "size", "value": 1.5}`):                                                             "want a whole number from 0 to 1000000",
		cond(`{"field": "groups", "op": "size", "value": -1}`):                                                              "want a whole number",
		cond(`{"field": "identifiers.email", "op": "==", "value": "a@b"}`):                                                  "(a identifier field)",
		cond(`{"field": "traits.age", "op": ">", "value": "18"}`):                                                           "want a number",
		cond(`{"field": "traits.x", "op": "in", "value": [{"a": 1}]}`):                                                      "[0]: an object",
	} {
		_, err := Parse([]byte(doc))
		require.Error(t, err, doc)
		require.True(t, errors.Is(err, ErrInvalid), doc)
		require.Contains(t, err.Error(), want, doc)
	}
}

func TestBounds(t *testing.T) {
	conds := make([]string, MaxConditions+1)
	for i := range conds {
		conds[i] = `{"field": "orders", "op": "exists"}`
	}
	doc := func(n int) string {
		return `{"id": "x", "name": "X", "rule": {"any": [{"all": [` + strings.Join(conds[:n], ",") + `]}]}}`
	}
	_, err := Parse([]byte(doc(MaxConditions)))
	require.NoError(t, err)
	_, err = Parse([]byte(doc(MaxConditions + 1)))
	require.ErrorContains(t, err, "rule.any[0].all[64]: more than 64 conditions")

	deep := `{"field": "orders", "op": "exists"}`
	for range MaxDepth - 1 {
		deep = `{"not": ` + deep + `}`
	}
	_, err = Parse([]byte(`{"id": "x", "name": "X", "rule": ` + deep + `}`))
	require.NoError(t, err, "8 levels")
	_, err = Parse([]byte(`{"id": "x", "name": "X", "rule": {"all": [` + deep + `]}}`))
	require.ErrorContains(t, err, "nest more than 8 levels")

	// Definitions built in Go are held to the same bounds.
	r := Rule{Condition: &Condition{Field: "orders", Op: "exists"}}
	for range MaxDepth {
		r = Rule{Not: &r}
	}
	_, err = Compile(Definition{ID: "x", Name: "X", Rule: r})
	require.ErrorContains(t, err, "nest more than 8 levels")
	_, err = Compile(Definition{ID: "x", Name: "X", Rule: Rule{All: []Rule{}}})
	require.ErrorContains(t, err, "rule.all: 0 rules: want 1 to 100")
	_, err = Compile(Definition{ID: "x", Name: "X"})
	require.ErrorContains(t, err, "rule: want {\"all\"")
	_, err = Compile(Definition{ID: "x", Name: "X", Rule: Rule{Any: []Rule{r}, Not: &r}})
	require.ErrorContains(t, err, "rule: want {\"all\"")
}

// Definitions built in Go, with Go values, compile and evaluate like parsed ones.
func TestCompileGoValues(t *testing.T) {
	d, err := Compile(Definition{ID: "go", Name: "Go", Rule: Rule{All: []Rule{
		{Condition: &Condition{Field: "orders", Op: ">=", Value: 2}},
		{Condition: &Condition{Field: "traits.plan", Op: "in", Value: []string{"gold", "silver"}}},
	}}})
	require.NoError(t, err)
	s := subject{"orders": {Number: 2}, "traits.plan": {JSON: "gold"}}
	ok, err := d.Match(s, time.Now())
	require.NoError(t, err)
	require.True(t, ok)
	// Not compiled: compiled on the way.
	raw := Definition{ID: "go", Name: "Go", Rule: Rule{Condition: &Condition{Field: "orders", Op: ">=", Value: 3.0}}}
	ok, err = raw.Match(s, time.Now())
	require.NoError(t, err)
	require.False(t, ok)
	_, err = Definition{ID: "go", Name: "Go", Rule: Rule{Condition: &Condition{Field: "orders", Op: "~"}}}.Match(s, time.Now())
	require.ErrorIs(t, err, ErrInvalid)
}

// A definition written back to JSON parses equal; json.Unmarshal reads as Parse does.
func TestRoundTrip(t *testing.T) {
	docs := readmeExamples(t)
	for _, raw := range benchmarkSet(t) {
		docs = append(docs, string(raw))
	}
	docs = append(docs, `{"id": "z", "name": "Z", "rule": {"any": [
		{"field": "traits.score", "op": "==", "value": 0}, {"field": "traits.flag", "op": "!=", "value": false},
		{"field": "traits.note", "op": "==", "value": ""}, {"field": "traits.t", "op": "after", "value": "2025-01-31T10:00:00+02:00"},
		{"field": "groups", "op": "size", "value": 0}, {"field": "computed.x", "op": "in", "value": ["<a>", 1e300, true]}]}}`)
	for _, doc := range docs {
		d, err := Parse([]byte(doc))
		require.NoError(t, err, doc)
		out, err := json.Marshal(d)
		require.NoError(t, err)
		back, err := Parse(out)
		require.NoError(t, err, string(out))
		require.Equal(t, d, back, string(out))
		var viaUnmarshal Definition
		require.NoError(t, json.Unmarshal([]byte(doc), &viaUnmarshal))
		require.Equal(t, d, viaUnmarshal)
	}
	require.ErrorIs(t, json.Unmarshal([]byte(`{"id": "x"}`), &Definition{}), ErrInvalid)
	var r Rule
	require.NoError(t, json.Unmarshal([]byte(`{"any": [{"field": "orders", "op": "exists"}]}`), &r))
	require.Equal(t, "orders", r.Any[0].Condition.Field)
	require.ErrorIs(t, json.Unmarshal([]byte(`{"any": 1}`), &r), ErrInvalid)
}

// FuzzParse: any input gives a definition or ErrInvalid, never a panic; one it takes writes back
// to JSON that it takes again, equal, and evaluates without a panic.
func FuzzParse(f *testing.F) {
	for _, doc := range readmeExamples(f) {
		f.Add([]byte(doc))
	}
	for _, raw := range benchmarkSet(f) {
		f.Add([]byte(raw))
	}
	f.Add([]byte(`{"id":"a","name":"b","rule":{"field":"traits.a.b","op":"between","value":[-1e308,1e308]}}`))
	f.Add([]byte(`{"id":"a","name":"b","rule":{"not":{"field":"event.x.count","op":"==","value":0,"within":"1ns"}}}`))
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s := subject{
		"traits.a.b": {JSON: []any{"x", 1.0}}, "lastSeen": {Time: now.Add(-day)}, "orders": {Number: 3, Points: []Point{{At: now}}},
		"event.x.count": {Points: []Point{{At: now.Add(-time.Hour)}}},
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := Parse(doc)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("reparse %s: %v", out, err)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(out) {
			t.Fatalf("not stable:\n%s\n%s", out, again)
		}
		if !equalDefinitions(d, back) {
			t.Fatalf("not equal after a round trip: %s", out)
		}
		_, _, err = d.Evaluate(s, now)
		if err != nil && !errors.Is(err, ErrInput) {
			t.Fatalf("evaluate: %v", err)
		}
	})
}

// equalDefinitions compares as require.Equal does, without a testing.T.
func equalDefinitions(a, b Definition) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb) && assert.ObjectsAreEqual(a, b)
}
