package computed

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The property test: random definitions, random events folded in random order. Value and
// NextChange must equal a reference computed from the full list of events, written apart from the
// package (below, straight from README.md), while the window holds at most MaxPoints points.

type genCond struct {
	json string
	test func(props map[string]any) bool
}

var genConds = []genCond{
	{`{"property": "category", "op": "==", "value": "a"}`, func(p map[string]any) bool { return p["category"] == "a" }},
	{`{"property": "category", "op": "!=", "value": "b"}`, func(p map[string]any) bool { return p["category"] != "b" }},
	{`{"property": "category", "op": "in", "value": ["a", "c"]}`, func(p map[string]any) bool { return p["category"] == "a" || p["category"] == "c" }},
	{`{"property": "category", "op": "exists"}`, func(p map[string]any) bool { return p["category"] != nil }},
	{`{"property": "price", "op": ">", "value": 20}`, func(p map[string]any) bool { n, ok := refNumber(p["price"]); return ok && n > 20 }},
	{`{"property": "price", "op": "<=", "value": 30}`, func(p map[string]any) bool { n, ok := refNumber(p["price"]); return ok && n <= 30 }},
}

var (
	genWindows    = []string{"", "", "1h", "12h", "1d", "7d", "30d"}
	genCategories = []any{"a", "b", "c", "d", 5.0, true, nil, map[string]any{"x": 1.0}}
	genPrices     = []any{10.0, 25.0, 30.0, -4.5, "40", "x", nil, 0.0}
	genNames      = []string{"Product Viewed", "product_viewed", "PRODUCT-VIEWED", "Order Completed"}
)

func refNumber(x any) (float64, bool) {
	switch x := x.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// refText is a value as mostFrequent and unique compare it.
func refText(x any) (string, bool) {
	switch x := x.(type) {
	case string:
		return x, x != ""
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

type refEvent struct {
	t   int64 // Unix seconds
	x   any   // the property's value
	seq int
}

// reference computes Value and NextChange from every event, as README.md says.
func reference(agg, prop string, window int64, conds []genCond, events []Event, now time.Time) (any, bool, time.Time) {
	var read []refEvent
	for i, e := range events {
		if e.Name == "Order Completed" || e.Time.IsZero() {
			continue
		}
		pass := true
		for _, c := range conds {
			pass = pass && c.test(e.Properties)
		}
		if !pass {
			continue
		}
		var x any
		if prop != "" {
			x = e.Properties[prop]
			if _, isMap := x.(map[string]any); x == nil || isMap {
				continue
			}
			if _, ok := refNumber(x); !ok && (agg == Sum || agg == Average || agg == Min || agg == Max) {
				continue
			}
			if s, ok := x.(string); ok && s == "" {
				continue
			}
			if agg == Sum || agg == Average || agg == Min || agg == Max {
				x, _ = refNumber(x)
			}
		}
		read = append(read, refEvent{t: e.Time.Unix(), x: x, seq: i})
	}
	in := func(e refEvent) bool { return window == 0 || e.t+window > now.Unix() }
	var win []refEvent
	for _, e := range read {
		if in(e) {
			win = append(win, e)
		}
	}
	// next: the first event of the window to leave; for last, the latest event's leaving.
	var next time.Time
	if window != 0 {
		cands := win
		if agg == Last && len(read) > 0 {
			latest := slices.MaxFunc(read, func(a, b refEvent) int { return refOrder(a, b) })
			cands = nil
			if in(latest) {
				cands = []refEvent{latest}
			}
		}
		if agg == Unique {
			// a value leaves when its latest event does
			latest := map[string]int64{}
			for _, e := range win {
				k, _ := refText(e.x)
				latest[k] = max(latest[k], e.t)
			}
			cands = nil
			for _, t := range latest {
				cands = append(cands, refEvent{t: t})
			}
		}
		for _, e := range cands {
			l := time.Unix(e.t+window, 0).UTC()
			if next.IsZero() || l.Before(next) {
				next = l
			}
		}
	}
	if agg == Last && window != 0 && len(read) > 0 {
		latest := slices.MaxFunc(read, func(a, b refEvent) int { return refOrder(a, b) })
		if !in(latest) {
			return nil, false, next
		}
	}
	switch agg {
	case Count:
		return float64(len(win)), true, next
	case Sum, Average, Min, Max:
		if len(win) == 0 {
			if agg == Sum {
				return 0.0, true, next
			}
			return nil, false, next
		}
		sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
		for _, e := range win {
			x := e.x.(float64)
			sum, lo, hi = sum+x, min(lo, x), max(hi, x)
		}
		return map[string]float64{Sum: sum, Average: sum / float64(len(win)), Min: lo, Max: hi}[agg], true, next
	case First, Last:
		if len(win) == 0 {
			return nil, false, next
		}
		cmpf := func(a, b refEvent) int { return refOrder(a, b) }
		if agg == First {
			return slices.MinFunc(win, cmpf).x, true, next
		}
		return slices.MaxFunc(win, cmpf).x, true, next
	}
	counts := map[string]int{}
	latest := map[string]int64{}
	for _, e := range win {
		k, _ := refText(e.x)
		counts[k]++
		if c, ok := latest[k]; !ok || e.t > c {
			latest[k] = e.t
		}
	}
	if agg == Unique {
		list := []string{}
		for k := range counts {
			list = append(list, k)
		}
		slices.Sort(list)
		return list, true, next
	}
	if len(counts) == 0 {
		return nil, false, next
	}
	bestK := ""
	for k := range counts {
		if bestK == "" || counts[k] > counts[bestK] || counts[k] == counts[bestK] && (latest[k] > latest[bestK] || latest[k] == latest[bestK] && k < bestK) {
			bestK = k
		}
	}
	return bestK, true, next
}

func TestPropertyAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 3000 {
		agg := aggregates[r.IntN(len(aggregates))]
		prop := ""
		if agg != Count {
			prop = []string{"category", "price"}[r.IntN(2)]
		}
		within := genWindows[r.IntN(len(genWindows))]
		var conds []genCond
		var where []string
		for range r.IntN(3) {
			c := genConds[r.IntN(len(genConds))]
			conds = append(conds, c)
			where = append(where, c.json)
		}
		doc := fmt.Sprintf(`{"id": "t", "name": "T", "event": "Product Viewed", "aggregate": %q`, agg)
		if prop != "" {
			doc += fmt.Sprintf(`, "property": %q`, prop)
		}
		if within != "" {
			doc += fmt.Sprintf(`, "within": %q`, within)
		}
		if len(where) > 0 {
			doc += `, "where": [` + joinComma(where) + `]`
		}
		d := mustParse(t, doc+"}")
		// At most MaxPoints events: the window is exact.
		n := r.IntN(MaxPoints + 1)
		events := make([]Event, n)
		for i := range events {
			props := map[string]any{}
			if c := genCategories[r.IntN(len(genCategories))]; c != nil {
				props["category"] = c
			}
			if p := genPrices[r.IntN(len(genPrices))]; p != nil {
				props["price"] = p
			}
			at := now.Add(-time.Duration(r.Int64N(int64(40 * day)))).Add(2 * time.Hour)
			if r.IntN(4) == 0 { // same seconds often: ties and merged points
				at = now.Add(-time.Duration(r.IntN(5)) * time.Hour)
			}
			events[i] = Event{Name: genNames[r.IntN(len(genNames))], Time: at, Properties: props}
			if r.IntN(40) == 0 {
				events[i].Time = time.Time{}
			}
		}
		var s State
		for _, i := range r.Perm(n) {
			s = d.Fold(s, events[i])
		}
		b, err := json.Marshal(s)
		require.NoError(t, err)
		var stored State
		require.NoError(t, json.Unmarshal(b, &stored))
		for _, at := range []time.Time{now, now.Add(-3 * time.Hour), now.Add(time.Duration(r.Int64N(int64(40 * day))))} {
			wantV, wantOK, wantNext := reference(agg, prop, d.c.window, conds, events, at)
			where := fmt.Sprintf("trial %d: %s at %s, state %s", trial, doc, at, b)
			for _, st := range []State{s, stored, d.Prune(s, at)} {
				v, ok := d.Value(st, at)
				require.Equal(t, wantOK, ok, where)
				requireSame(t, wantV, v, where)
				require.Equal(t, wantNext, d.NextChange(st, at), where)
			}
			// The value holds until just before NextChange, and then is the reference's.
			if !wantNext.IsZero() {
				before := wantNext.Add(-time.Nanosecond)
				v, ok := d.Value(s, before)
				require.Equal(t, wantOK, ok, where)
				requireSame(t, wantV, v, where)
				wantV, wantOK, _ = reference(agg, prop, d.c.window, conds, events, wantNext)
				v, ok = d.Value(s, wantNext)
				require.Equal(t, wantOK, ok, where)
				requireSame(t, wantV, v, where)
			}
		}
	}
}

func requireSame(t *testing.T, want, got any, msg string) {
	t.Helper()
	if w, ok := want.(float64); ok {
		if g, ok := got.(float64); ok {
			require.InDelta(t, w, g, 1e-9*max(1, math.Abs(w)), msg)
			return
		}
	}
	require.Equal(t, want, got, msg)
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// refOrder is README.md's order of events for first and last: by time, then numbers, false,
// true, strings.
func refOrder(a, b refEvent) int {
	if a.t != b.t {
		return map[bool]int{true: -1, false: 1}[a.t < b.t]
	}
	key := func(x any) string {
		switch x := x.(type) {
		case float64:
			return fmt.Sprintf("0%024.6f", x+1e12) // the values generated are small
		case bool:
			return map[bool]string{false: "1", true: "2"}[x]
		}
		return "3" + x.(string)
	}
	ka, kb := key(a.x), key(b.x)
	switch {
	case ka < kb:
		return -1
	case ka > kb:
		return 1
	}
	return 0
}
