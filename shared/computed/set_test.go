package computed

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSet(t *testing.T) {
	views := def(t, Count, "", "7d", "")
	views.ID = "views-7d"
	brand := mustParse(t, `{"id": "favourite-brand", "name": "F", "event": "product_viewed", "aggregate": "mostFrequent", "property": "brand"}`)
	orders := mustParse(t, `{"id": "orders", "name": "O", "event": "Order Completed", "aggregate": "sum", "property": "revenue", "within": "30d"}`)
	set, err := NewSet([]Definition{views, brand, orders})
	require.NoError(t, err)
	require.Equal(t, []string{"ordercompleted", "productviewed"}, set.Events())
	require.Len(t, set.Definitions(), 3)

	var states map[string]State
	require.Equal(t, map[string]any{"views-7d": 0.0, "orders": 0.0}, set.Values(states, now), "count and sum of nothing are 0")
	require.True(t, set.NextChange(states, now).IsZero())

	given := map[string]State{}
	states = set.FoldAll(given, Event{Name: "Product Viewed", Time: now.Add(-2 * day), Properties: map[string]any{"brand": "Acme"}})
	require.Empty(t, given, "the map given is not modified")
	states = set.FoldAll(states, Event{Name: "Order Completed", Time: now.Add(-10 * day), Properties: map[string]any{"revenue": 99.5}})
	same := set.FoldAll(states, Event{Name: "Signed Up", Time: now})
	require.Equal(t, states, same)
	require.Equal(t, map[string]any{"views-7d": 1.0, "favourite-brand": "Acme", "orders": 99.5}, set.Values(states, now))
	require.Equal(t, now.Add(5*day), set.NextChange(states, now))
	require.Equal(t, now.Add(20*day), set.NextChange(states, now.Add(5*day)))

	states["removed"] = State{N: 3}
	pruned := set.Prune(states, now.Add(6*day))
	require.Equal(t, []string{"favourite-brand", "orders"}, sortedKeys(pruned))
	require.Equal(t, set.Values(states, now.Add(6*day)), set.Values(pruned, now.Add(6*day)))
}

func sortedKeys(m map[string]State) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	if len(out) == 2 && out[0] > out[1] {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

func TestNewSetRefuses(t *testing.T) {
	a := def(t, Count, "", "", "")
	_, err := NewSet([]Definition{a, a})
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, `definitions[1] ("t"): definitions[0] has that id too`)
	_, err = NewSet([]Definition{{ID: "x", Name: "X", Event: "e", Aggregate: "median"}})
	require.ErrorContains(t, err, `definitions[0] ("x"): invalid computed trait definition: aggregate "median"`)
	many := make([]Definition, MaxSetSize+1)
	for i := range many {
		many[i] = a
		many[i].ID = fmt.Sprintf("t%d", i)
	}
	_, err = NewSet(many[:MaxSetSize])
	require.NoError(t, err)
	_, err = NewSet(many)
	require.ErrorContains(t, err, "101 definitions: at most 100")
}

// benchSet is 20 definitions: every aggregate, with and without windows and conditions, over four
// event names.
func benchSet(b testing.TB) *Set {
	var defs []Definition
	for i, doc := range []string{
		`"event": "Product Viewed", "aggregate": "count"`,
		`"event": "Product Viewed", "aggregate": "count", "within": "7d"`,
		`"event": "Product Viewed", "aggregate": "unique", "property": "category", "within": "30d"`,
		`"event": "Product Viewed", "aggregate": "mostFrequent", "property": "brand"`,
		`"event": "Product Viewed", "aggregate": "mostFrequent", "property": "category", "within": "30d"`,
		`"event": "Product Viewed", "aggregate": "max", "property": "price", "within": "30d", "where": [{"property": "category", "op": "in", "value": ["shoes", "bags"]}]`,
		`"event": "Product Viewed", "aggregate": "first", "property": "category"`,
		`"event": "Product Viewed", "aggregate": "last", "property": "sku", "within": "30d"`,
		`"event": "Product Viewed", "aggregate": "average", "property": "price", "within": "90d"`,
		`"event": "Product Viewed", "aggregate": "unique", "property": "brand"`,
		`"event": "Product Viewed", "aggregate": "count", "within": "1d", "where": [{"property": "price", "op": ">", "value": 100}]`,
		`"event": "Product Viewed", "aggregate": "first", "property": "sku", "within": "7d"`,
		`"event": "Order Completed", "aggregate": "count", "within": "90d", "where": [{"property": "revenue", "op": ">", "value": 50}]`,
		`"event": "Order Completed", "aggregate": "sum", "property": "revenue", "within": "366d"`,
		`"event": "Order Completed", "aggregate": "average", "property": "revenue"`,
		`"event": "Order Completed", "aggregate": "last", "property": "coupon", "where": [{"property": "coupon", "op": "exists"}]`,
		`"event": "Product Added", "aggregate": "count", "within": "30d"`,
		`"event": "Product Added", "aggregate": "min", "property": "price"`,
		`"event": "Products Searched", "aggregate": "unique", "property": "query", "within": "7d"`,
		`"event": "Products Searched", "aggregate": "count", "within": "12h", "where": [{"property": "query", "op": "contains", "value": "gift"}]`,
	} {
		defs = append(defs, mustParse(b, fmt.Sprintf(`{"id": "d%d", "name": "D", %s}`, i, doc)))
	}
	set, err := NewSet(defs)
	require.NoError(b, err)
	return set
}

// BenchmarkFoldAll folds one event into the states of a set of 20 definitions (12 of which read
// it), states already holding 500 earlier events: ns per event. go test -bench FoldAll ./shared/computed
func BenchmarkFoldAll(b *testing.B) {
	set := benchSet(b)
	categories := []string{"shoes", "bags", "hats", "coats", "socks", "belts"}
	event := func(i int) Event {
		return Event{Name: "Product Viewed", Time: now.Add(time.Duration(i) * 17 * time.Minute), Properties: map[string]any{
			"category": categories[i%len(categories)], "brand": fmt.Sprintf("brand-%d", i%40), "price": float64(20 + i%150),
			"sku": fmt.Sprintf("sku-%d", i%300), "currency": "EUR", "product": map[string]any{"name": "A product"},
		}}
	}
	states := map[string]State{}
	for i := range 500 {
		states = set.FoldAll(states, event(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		states = set.FoldAll(states, event(500+i%5000))
	}
	_ = set.Values(states, now)
}
