package computed

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

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
	require.GreaterOrEqual(t, len(out), 8)
	return out
}

func TestReadmeExamplesParseAndFormASet(t *testing.T) {
	var defs []Definition
	for _, doc := range readmeExamples(t) {
		d, err := Parse([]byte(doc))
		require.NoError(t, err, doc)
		defs = append(defs, d)
	}
	_, err := NewSet(defs)
	require.NoError(t, err)
}

func TestParseReadsEveryMember(t *testing.T) {
	d, err := Parse([]byte(`{"id": "a-1", "name": "A", "description": "d", "event": "Order Completed",
		"where": [{"property": "product.brand", "op": "in", "value": ["x", 2, true]}, {"property": "coupon", "op": "exists"}],
		"aggregate": "sum", "property": "revenue", "within": "90d"}`))
	require.NoError(t, err)
	require.Equal(t, "a-1", d.ID)
	require.Equal(t, "A", d.Name)
	require.Equal(t, "d", d.Description)
	require.Equal(t, "Order Completed", d.Event)
	require.Equal(t, "ordercompleted", d.Key())
	require.Equal(t, []Condition{{Property: "product.brand", Op: "in", Value: []any{"x", 2.0, true}}, {Property: "coupon", Op: "exists"}}, d.Where)
	require.Equal(t, Sum, d.Aggregate)
	require.Equal(t, "revenue", d.Property)
	require.Equal(t, "90d", d.Within)
	require.Equal(t, int64(90*86400), d.c.window)
	require.Equal(t, int64(3*86400), d.c.bucket)
}

// The README's error is the parser's, word for word.
func TestReadmeError(t *testing.T) {
	const want = `invalid computed trait definition: where[1]: property "price": op "~": want one of ==, !=, <, <=, >, >=, in, contains, exists`
	_, err := Parse([]byte(`{"id": "x", "name": "X", "event": "e", "aggregate": "count",
		"where": [{"property": "a", "op": "exists"}, {"property": "price", "op": "~", "value": 1}]}`))
	require.EqualError(t, err, want)
	readme, _ := os.ReadFile("README.md")
	require.Contains(t, string(readme), want)
}

func TestErrorsSayWhere(t *testing.T) {
	def := func(members string) string {
		return `{"id": "x", "name": "X", "event": "Product Viewed", ` + members + `}`
	}
	cond := func(c string) string {
		return def(`"aggregate": "count", "where": [{"property": "a", "op": "exists"}, ` + c + `]`)
	}
	for doc, want := range map[string]string{
		``:                                       "not JSON",
		`[]`:                                     "want an object",
		`{"id": "x", "name": "X", "event": "e"}`: "no aggregate",
		`{"id": "x", "name": "X", "aggregate": "count"}`:                                                                   "no event",
		`{"name": "X", "event": "e", "aggregate": "count"}`:                                                                "no id",
		def(`"aggregate": "count"`) + ` {}`:                                                                                "more than one JSON document",
		def(`"aggregate": "count", "window": "7d"`):                                                                        `unknown member "window": want id, name, description, event, where, aggregate, property, within`,
		def(`"aggregate": "count", "aggregate": "sum"`):                                                                    `member "aggregate" given twice`,
		`{"id": null, "name": "X", "event": "e", "aggregate": "count"}`:                                                    "id: want a string",
		`{"id": "X", "name": "X", "event": "e", "aggregate": "count"}`:                                                     `id "X": want a lower-case slug`,
		`{"id": "` + strings.Repeat("a", 65) + `", "name": "X", "event": "e", "aggregate": "count"}`:                       "id is 65 bytes: at most 64",
		`{"id": "x", "name": " ", "event": "e", "aggregate": "count"}`:                                                     "name is empty",
		`{"id": "x", "name": "` + strings.Repeat("n", 101) + `", "event": "e", "aggregate": "count"}`:                      "name is 101 bytes: at most 100",
		`{"id": "x", "name": "X", "description": "` + strings.Repeat("n", 1001) + `", "event": "e", "aggregate": "count"}`: "description is 1001 bytes",
		`{"id": "x", "name": "X", "event": "- _", "aggregate": "count"}`:                                                   `event "- _": want an event name`,
		`{"id": "x", "name": "X", "event": "` + strings.Repeat("e", 65) + `", "aggregate": "count"}`:                       "want an event name of 1 to 64 bytes",
		def(`"aggregate": "median", "property": "p"`):                                                                      `aggregate "median": want one of count, sum, average, min, max, mostFrequent, first, last, unique`,
		def(`"aggregate": "count", "property": "p"`):                                                                       `property "p": count takes none`,
		def(`"aggregate": "sum"`):                                                                                          "property: sum needs the property it aggregates",
		def(`"aggregate": "sum", "property": "a..b"`):                                                                      `property "a..b": an empty name`,
		def(`"aggregate": "sum", "property": ".a"`):                                                                        "an empty name",
		def(`"aggregate": "sum", "property": "a.b.c.d.e.f.g.h.i"`):                                                         "9 names: at most 8",
		def(`"aggregate": "count", "within": "0d"`):                                                                        `within: "0d": want whole days from "1d" to "366d"`,
		def(`"aggregate": "count", "within": "367d"`):                                                                      `within: "367d"`,
		def(`"aggregate": "count", "within": "59m"`):                                                                       `within: "59m"`,
		def(`"aggregate": "count", "within": "1h0.5s"`):                                                                    "whole seconds",
		def(`"aggregate": "count", "within": "-2h"`):                                                                       `within: "-2h"`,
		def(`"aggregate": "count", "within": "+2h"`):                                                                       `within: "+2h"`,
		def(`"aggregate": "count", "within": "d"`):                                                                         `within: "d"`,
		def(`"aggregate": "count", "within": 7`):                                                                           "within: want a string",
		def(`"aggregate": "count", "where": {}`):                                                                           "where: want a list of conditions",
		def(`"aggregate": "count", "where": null`):                                                                         "where: want a list of conditions",
		cond(`[]`):                "where[1]: want a condition",
		cond(`{"op": "exists"}`):  "where[1]: no property",
		cond(`{"property": "a"}`): "where[1]: no op",
		cond(`{"property": "a", "op": "exists", "vaule": 1}`):                                `where[1]: unknown member "vaule"`,
		cond(`{"property": "a", "op": "exists", "value": 1}`):                                `where[1]: property "a": op "exists" takes no value`,
		cond(`{"property": "a", "op": "exists", "value": null}`):                             "where[1]: value: null",
		cond(`{"property": "a", "op": "=="}`):                                                `where[1]: property "a": op "==": want a value`,
		cond(`{"property": "a", "op": "==", "value": {"b": 1}}`):                             "value: an object",
		cond(`{"property": "a", "op": "==", "value": [1]}`):                                  `op "==": want a string, a number or a boolean`,
		cond(`{"property": "a", "op": ">", "value": "1"}`):                                   `op ">": want a number`,
		cond(`{"property": "a", "op": ">", "value": 1e999}`):                                 "value:",
		cond(`{"property": "a", "op": "in", "value": []}`):                                   "want a list of 1 to 100 values",
		cond(`{"property": "a", "op": "in", "value": "x"}`):                                  "want a list of 1 to 100 values",
		cond(`{"property": "a", "op": "in", "value": [[1]]}`):                                "[0]: a list in a list",
		cond(`{"property": "a", "op": "in", "value": ["` + strings.Repeat("x", 257) + `"]}`): "[0]: a string of 257 bytes",
		cond(`{"property": "", "op": "exists"}`):                                             "where[1]: no property",
		cond(`{"property": "a.", "op": "exists"}`):                                           `where[1]: property "a.": an empty name`,
	} {
		_, err := Parse([]byte(doc))
		require.Error(t, err, doc)
		require.True(t, errors.Is(err, ErrInvalid), doc)
		require.Contains(t, err.Error(), want, doc)
	}
}

func TestBounds(t *testing.T) {
	doc := func(n int) string {
		c := strings.TrimSuffix(strings.Repeat(`{"property": "a", "op": "exists"},`, n), ",")
		return `{"id": "x", "name": "X", "event": "e", "aggregate": "count", "where": [` + c + `]}`
	}
	_, err := Parse([]byte(doc(MaxConditions)))
	require.NoError(t, err)
	_, err = Parse([]byte(doc(MaxConditions + 1)))
	require.ErrorContains(t, err, "where: 21 conditions: at most 20")
	for _, w := range []string{"1h", "60m", "3600s", "1d", "366d", "8784h", "1h30m"} {
		_, err := Parse([]byte(`{"id": "x", "name": "X", "event": "e", "aggregate": "count", "within": "` + w + `"}`))
		require.NoError(t, err, w)
	}
	_, err = Parse([]byte(`{"id": "x", "name": "X", "event": "e", "aggregate": "count", "within": "8785h"}`))
	require.Error(t, err)
}

// A definition written and parsed again is equal to itself; an empty where is none.
func TestRoundTrip(t *testing.T) {
	for _, doc := range append(readmeExamples(t),
		`{"id": "x", "name": "X", "event": "e", "aggregate": "count", "where": []}`,
		`{"id": "x", "name": "X", "event": "e", "aggregate": "first", "property": "a", "where": [{"property": "b", "op": "!=", "value": false}]}`) {
		d, err := Parse([]byte(doc))
		require.NoError(t, err)
		out, err := json.Marshal(d)
		require.NoError(t, err)
		back, err := Parse(out)
		require.NoError(t, err)
		require.Equal(t, d, back)
		var viaUnmarshal Definition
		require.NoError(t, json.Unmarshal(out, &viaUnmarshal))
		require.Equal(t, d, viaUnmarshal)
	}
}

// A definition built in Go works uncompiled, and an invalid one reads nothing.
func TestUncompiled(t *testing.T) {
	d := Definition{ID: "n", Name: "N", Event: "Order Completed", Aggregate: Count}
	require.NoError(t, d.Validate())
	s := d.Fold(State{}, Event{Name: "order_completed", Time: time.Unix(100, 0)})
	v, ok := d.Value(s, time.Unix(200, 0))
	require.True(t, ok)
	require.Equal(t, 1.0, v)
	bad := Definition{ID: "n", Name: "N", Event: "Order Completed", Aggregate: "median"}
	require.ErrorIs(t, bad.Validate(), ErrInvalid)
	require.Equal(t, State{}, bad.Fold(State{}, Event{Name: "Order Completed", Time: time.Unix(100, 0)}))
	_, ok = bad.Value(s, time.Unix(200, 0))
	require.False(t, ok)
}

func FuzzParse(f *testing.F) {
	for _, doc := range readmeExamples(f) {
		f.Add([]byte(doc))
	}
	f.Add([]byte(`{"id":"a","name":"b","event":"e","aggregate":"min","property":"a.b","within":"1h","where":[{"property":"x","op":"contains","value":-1e308}]}`))
	f.Add([]byte(`{"id":"a","name":"b","event":"e","aggregate":"unique","property":"p","where":[{"property":"x","op":"in","value":["a",1,false]}]}`))
	f.Add([]byte(`{"id":"a","name":"b","event":"e","aggregate":"count","within":"366d","where":[]}`))
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	events := []Event{
		{Name: "e", Time: now.Add(-time.Hour), Properties: map[string]any{"a": map[string]any{"b": 3.0}, "p": "v", "x": "a", "price": 60.0}},
		{Name: "Product Viewed", Time: now.Add(-40 * day), Properties: map[string]any{"category": "shoes", "brand": "b"}},
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
		if !reflect.DeepEqual(d, back) {
			t.Fatalf("not equal after a round trip: %s", out)
		}
		var s State
		for _, e := range events {
			s = d.Fold(s, e)
		}
		d.Value(s, now)
		d.NextChange(s, now)
		d.Prune(s, now)
	})
}
