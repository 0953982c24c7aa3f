package computed

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func mustParse(t testing.TB, doc string) Definition {
	t.Helper()
	d, err := Parse([]byte(doc))
	require.NoError(t, err, doc)
	return d
}

// def builds a definition of "Product Viewed" events from its aggregate, property, window and
// conditions.
func def(t testing.TB, agg, prop, within, where string) Definition {
	doc := `{"id": "t", "name": "T", "event": "Product Viewed", "aggregate": "` + agg + `"`
	if prop != "" {
		doc += `, "property": "` + prop + `"`
	}
	if within != "" {
		doc += `, "within": "` + within + `"`
	}
	if where != "" {
		doc += `, "where": [` + where + `]`
	}
	return mustParse(t, doc+"}")
}

func view(ago time.Duration, props map[string]any) Event {
	return Event{Name: "Product Viewed", Time: now.Add(-ago), Properties: props}
}

// views are the events the table folds: three shoes and two bags, priced, over 40 days, with one
// of another name, one without a time and one without a category.
var views = []Event{
	view(40*day, map[string]any{"category": "shoes", "price": 120.0, "brand": "Acme", "tags": []any{"sale"}}),
	view(20*day, map[string]any{"category": "bags", "price": 80.0, "brand": "Bolt"}),
	view(10*day, map[string]any{"category": "shoes", "price": "40", "brand": "Bolt", "size": 42.0}),
	view(2*day, map[string]any{"category": "bags", "price": 10.0, "brand": "Acme", "product": map[string]any{"brand": "Zed"}}),
	view(time.Hour, map[string]any{"category": "shoes", "price": 30.0, "brand": "Acme", "onSale": true}),
	{Name: "Order Completed", Time: now.Add(-time.Hour), Properties: map[string]any{"category": "shoes", "price": 999.0}},
	{Name: "product_viewed", Properties: map[string]any{"category": "shoes", "price": 999.0}},
	view(3*day, map[string]any{"price": map[string]any{"amount": 5.0}, "brand": []any{"x"}}),
}

func TestAggregates(t *testing.T) {
	for _, c := range []struct {
		agg, prop, within, where string
		want                     any // nil: no value
		next                     time.Duration
	}{
		{"count", "", "", "", 6.0, 0},
		{"count", "", "30d", "", 5.0, 10 * day},
		{"count", "", "30d", `{"property": "category", "op": "==", "value": "shoes"}`, 2.0, 20 * day},
		{"count", "", "", `{"property": "category", "op": "!=", "value": "shoes"}`, 3.0, 0},
		{"count", "", "", `{"property": "price", "op": ">=", "value": 40}`, 3.0, 0},
		{"count", "", "", `{"property": "price", "op": "<", "value": 40}`, 2.0, 0},
		{"count", "", "", `{"property": "size", "op": "==", "value": 42}`, 1.0, 0},
		{"count", "", "", `{"property": "price", "op": "==", "value": 40}`, 1.0, 0},
		{"count", "", "", `{"property": "brand", "op": "in", "value": ["Bolt", "Zed"]}`, 2.0, 0},
		{"count", "", "", `{"property": "tags", "op": "contains", "value": "sale"}`, 1.0, 0},
		{"count", "", "", `{"property": "brand", "op": "contains", "value": "cm"}`, 3.0, 0},
		{"count", "", "", `{"property": "onSale", "op": "exists"}`, 1.0, 0},
		{"count", "", "", `{"property": "onSale", "op": "!=", "value": true}`, 5.0, 0},
		{"count", "", "", `{"property": "product.brand", "op": "==", "value": "Zed"}`, 1.0, 0},
		{"count", "", "", `{"property": "category", "op": "exists"}, {"property": "price", "op": ">", "value": 20}`, 4.0, 0},
		{"count", "", "1h", "", 0.0, 0},
		{"count", "", "2h", "", 1.0, time.Hour},
		{"sum", "price", "", "", 280.0, 0},
		{"sum", "price", "30d", "", 160.0, 10 * day},
		{"sum", "price", "12h", "", 30.0, 11 * time.Hour},
		{"sum", "price", "1h", "", 0.0, 0},
		{"average", "price", "", "", 56.0, 0},
		{"average", "price", "30d", "", 40.0, 10 * day},
		{"average", "price", "1h", "", nil, 0},
		{"average", "price", "", `{"property": "category", "op": "==", "value": "hats"}`, nil, 0},
		{"min", "price", "", "", 10.0, 0},
		{"min", "price", "36h", "", 30.0, 35 * time.Hour},
		{"max", "price", "", "", 120.0, 0},
		{"max", "price", "30d", "", 80.0, 10 * day},
		{"max", "price", "1h", "", nil, 0},
		{"first", "category", "", "", "shoes", 0},
		{"first", "category", "30d", "", "bags", 10 * day},
		{"first", "price", "15d", "", "40", 5 * day},
		{"first", "product.brand", "", "", "Zed", 0},
		{"last", "category", "", "", "shoes", 0},
		{"last", "category", "30d", "", "shoes", 30*day - time.Hour},
		{"last", "price", "", `{"property": "category", "op": "==", "value": "bags"}`, 10.0, 0},
		{"last", "onSale", "7d", "", true, 7*day - time.Hour},
		{"last", "category", "1h", "", nil, 0},
		{"mostFrequent", "category", "", "", "shoes", 0},
		{"mostFrequent", "category", "30d", "", "shoes", 10 * day}, // 2 shoes, 2 bags: shoes seen latest
		{"mostFrequent", "category", "15d", "", "shoes", 5 * day},
		{"mostFrequent", "category", "5d", "", "shoes", 3 * day}, // one each: shoes seen latest
		{"mostFrequent", "brand", "", "", "Acme", 0},
		{"mostFrequent", "price", "", "", "30", 0}, // all once: the latest
		{"mostFrequent", "category", "1h", "", nil, 0},
		{"unique", "category", "", "", []string{"bags", "shoes"}, 0},
		{"unique", "brand", "15d", "", []string{"Acme", "Bolt"}, 5 * day},
		{"unique", "price", "", "", []string{"10", "120", "30", "40", "80"}, 0},
		{"unique", "category", "1h", "", []string{}, 0},
	} {
		name := fmt.Sprintf("%s(%s) within %q where %s", c.agg, c.prop, c.within, c.where)
		t.Run(name, func(t *testing.T) {
			d := def(t, c.agg, c.prop, c.within, c.where)
			var s State
			for _, e := range views {
				s = d.Fold(s, e)
			}
			v, ok := d.Value(s, now)
			if c.want == nil {
				require.False(t, ok, "value %v", v)
			} else {
				require.True(t, ok)
				require.Equal(t, c.want, v)
			}
			next := d.NextChange(s, now)
			if c.next == 0 {
				require.True(t, next.IsZero(), next)
			} else {
				require.Equal(t, now.Add(c.next), next)
			}
			// The same events in reverse give the same value, and the state survives JSON.
			var r State
			for i := len(views) - 1; i >= 0; i-- {
				r = d.Fold(r, views[i])
			}
			rv, rok := d.Value(r, now)
			require.Equal(t, ok, rok)
			require.Equal(t, v, rv)
			b, err := json.Marshal(s)
			require.NoError(t, err)
			var back State
			require.NoError(t, json.Unmarshal(b, &back))
			bv, bok := d.Value(back, now)
			require.Equal(t, ok, bok)
			require.Equal(t, v, bv, "%s", b)
			// Pruning changes no value now.
			pv, pok := d.Value(d.Prune(s, now), now)
			require.Equal(t, ok, pok)
			require.Equal(t, v, pv)
		})
	}
}
