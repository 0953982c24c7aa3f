package computed

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Past MaxPoints, README.md's rule: an event merged counts at most window/30 longer than it
// should, never shorter, and the state stays within MaxPoints.
func TestCompactionIsBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, agg := range []string{Count, Sum, Min, Max, First, MostFrequent} {
		for _, within := range []string{"12h", "7d", "30d"} {
			prop := map[string]string{Count: "", Sum: "price", Min: "price", Max: "price", First: "category", MostFrequent: "category"}[agg]
			d := def(t, agg, prop, within, "")
			w, g := d.c.window, d.c.bucket
			span := 2 * time.Duration(w) * time.Second
			events := make([]Event, 3000)
			latest := time.Time{}
			for i := range events {
				at := now.Add(-time.Duration(r.Int64N(int64(span))))
				if at.After(latest) {
					latest = at
				}
				events[i] = view(now.Sub(at), map[string]any{"price": float64(r.IntN(100)), "category": fmt.Sprint(r.IntN(5))})
			}
			var s State
			for _, e := range events {
				s = d.Fold(s, e)
				require.LessOrEqual(t, len(s.Points), MaxPoints)
			}
			for range 50 {
				at := latest.Add(time.Duration(r.Int64N(int64(span / 2))))
				// exact: the events in the window; loose: those that may still count, merged late.
				var exact, loose []float64
				var exactFirst time.Time
				for _, e := range events {
					ts := e.Time.Unix()
					if ts+w > at.Unix() {
						exact = append(exact, e.Properties["price"].(float64))
						if exactFirst.IsZero() || e.Time.Before(exactFirst) {
							exactFirst = e.Time
						}
					}
					if ts+w+g > at.Unix() {
						loose = append(loose, e.Properties["price"].(float64))
					}
				}
				v, ok := d.Value(s, at)
				where := fmt.Sprintf("%s within %s at %s", agg, within, at)
				switch agg {
				case Count:
					require.GreaterOrEqual(t, v, float64(len(exact)), where)
					require.LessOrEqual(t, v, float64(len(loose)), where)
				case Sum:
					require.GreaterOrEqual(t, v, sum(exact)-1e-6, where)
					require.LessOrEqual(t, v, sum(loose)+1e-6, where)
				case Min:
					if len(exact) > 0 {
						require.LessOrEqual(t, v, slices.Min(exact), where)
						require.GreaterOrEqual(t, v, slices.Min(loose), where)
					}
				case Max:
					if len(exact) > 0 {
						require.GreaterOrEqual(t, v, slices.Max(exact), where)
						require.LessOrEqual(t, v, slices.Max(loose), where)
					}
				}
				if len(exact) > 0 {
					require.True(t, ok, where)
				}
				if next := d.NextChange(s, at); ok && agg == Count {
					require.True(t, next.After(at), where)
				}
			}
		}
	}
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// unique keeps the 50 values seen most recently, whatever the order they arrive in.
func TestUniqueKeepsTheMostRecent(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, within := range []string{"", "30d"} {
		d := def(t, Unique, "sku", within, "")
		latest := map[string]time.Time{}
		var events []Event
		for range 1000 {
			sku := fmt.Sprintf("sku-%03d", r.IntN(200))
			at := now.Add(-time.Duration(r.Int64N(int64(60 * day)))).Truncate(time.Second)
			events = append(events, view(now.Sub(at), map[string]any{"sku": sku}))
			if at.After(latest[sku]) {
				latest[sku] = at
			}
		}
		var s State
		for _, i := range r.Perm(len(events)) {
			s = d.Fold(s, events[i])
			require.LessOrEqual(t, len(s.Values), MaxValues)
		}
		var skus []string
		for k, at := range latest {
			if within == "" || at.After(now.Add(-30*day)) {
				skus = append(skus, k)
			}
		}
		slices.SortFunc(skus, func(a, b string) int {
			if c := latest[b].Compare(latest[a]); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		want := skus[:min(MaxValues, len(skus))]
		slices.Sort(want)
		v, ok := d.Value(s, now)
		require.True(t, ok)
		require.Equal(t, want, v)
	}
}

// An all-time mostFrequent past 50 values still finds a value more frequent than one event in 50.
func TestMostFrequentSpaceSaving(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	d := def(t, MostFrequent, "brand", "", "")
	var events []Event
	for i := range 1000 {
		brand := fmt.Sprintf("brand-%d", i)
		if i%5 == 0 {
			brand = "hot"
		}
		events = append(events, view(time.Duration(i)*time.Minute, map[string]any{"brand": brand}))
	}
	var s State
	for _, i := range r.Perm(len(events)) {
		s = d.Fold(s, events[i])
		require.LessOrEqual(t, len(s.Values), MaxValues)
	}
	v, ok := d.Value(s, now)
	require.True(t, ok)
	require.Equal(t, "hot", v)
}

// Strings are cut to MaxValueBytes at a character boundary; numbers and booleans read as text.
func TestValuesKept(t *testing.T) {
	d := def(t, Unique, "v", "", "")
	var s State
	for _, v := range []any{strings.Repeat("é", 20), 42.0, 0.5, 1e21, true, "", []any{"x"}, "a\xffb"} {
		s = d.Fold(s, view(time.Hour, map[string]any{"v": v}))
	}
	v, _ := d.Value(s, now)
	require.Equal(t, []string{"0.5", "1e+21", "42", "a\uFFFDb", "true", strings.Repeat("é", 16)}, v)
}

// Each aggregate's worst-case state, as JSON, stays within 4 KiB (README.md's table).
func TestStateSizeWorstCase(t *testing.T) {
	long := strings.Repeat("w", MaxValueBytes)
	var counts, points, valuePoints []Point
	for i := range MaxPoints {
		counts = append(counts, Point{T: 1735689600 + int64(i), N: math.MaxInt64})
		points = append(points, Point{T: 1735689600 + int64(i), N: math.MaxInt64, X: -1.2345678901234567e+308})
		// A point of values counts one person's events of one second or bucket: below a billion.
		valuePoints = append(valuePoints, Point{T: 1735689600 + int64(i), N: 999_999_999, V: long})
	}
	var values []Tally
	for i := range MaxValues {
		values = append(values, Tally{V: long[:MaxValueBytes-2] + fmt.Sprintf("%02d", i), N: math.MaxInt64, T: 1735689600})
	}
	for name, s := range map[string]State{
		"sum, all time":              {N: math.MaxInt64, X: -1.2345678901234567e+308},
		"first, all time":            {N: 1, T: 1735689600, V: long},
		"count, window":              {Points: counts},
		"sum, window":                {Points: points},
		"first, mostFrequent window": {Points: valuePoints},
		"unique, mostFrequent":       {Values: values},
	} {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		t.Logf("%s: %d bytes", name, len(b))
		require.LessOrEqual(t, len(b), 4096, name)
	}
	// Typical: folded from realistic events.
	for _, d := range []Definition{def(t, Count, "", "30d", ""), def(t, Sum, "price", "30d", ""), def(t, MostFrequent, "brand", "30d", ""), def(t, Unique, "brand", "", "")} {
		var s State
		for i := range 200 {
			s = d.Fold(s, view(time.Duration(i)*97*time.Minute, map[string]any{"price": 129.5, "brand": fmt.Sprintf("Brand name %d", i%60)}))
		}
		b, _ := json.Marshal(s)
		t.Logf("typical %s within %q: %d bytes", d.Aggregate, d.Within, len(b))
	}
}

// Events stamped after now count at once; times are kept to the second.
func TestFutureAndSeconds(t *testing.T) {
	d := def(t, Count, "", "1h", "")
	s := d.Fold(State{}, Event{Name: "Product Viewed", Time: now.Add(10*time.Minute + 900*time.Millisecond)})
	v, _ := d.Value(s, now)
	require.Equal(t, 1.0, v)
	require.Equal(t, now.Add(70*time.Minute), d.NextChange(s, now))
	v, _ = d.Value(s, now.Add(70*time.Minute-time.Nanosecond))
	require.Equal(t, 1.0, v)
	v, _ = d.Value(s, now.Add(70*time.Minute))
	require.Equal(t, 0.0, v)
	require.Equal(t, State{}, d.Prune(s, now.Add(70*time.Minute)))
}
