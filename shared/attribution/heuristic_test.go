package attribution

import (
	"errors"
	"math"
	"testing"
	"time"
)

// handPaths: three paths over three channels, solved by hand below.
//
//	p1  a > b > a > c   2 conversions, value 40
//	p2  direct > b      1 conversion,  value 10
//	p3  c > direct      1 conversion,  value 6, 3 nulls
func handPaths(t *testing.T) []Path {
	return parsePaths(t, "a > b > a > c:2:40:0", "direct > b:1:10:0", "c > direct:1:6:3")
}

func TestFirstLastTouchByHand(t *testing.T) {
	paths := handPaths(t)
	first, err := FirstTouch(paths)
	if err != nil {
		t.Fatal(err)
	}
	// p1 → a (2, 40); p2 → direct (1, 10); p3 → c (1, 6).
	expectCredits(t, first, map[string][2]float64{"a": {2, 40}, "b": {0, 0}, "c": {1, 6}, "direct": {1, 10}})
	last, err := LastTouch(paths)
	if err != nil {
		t.Fatal(err)
	}
	// p1 → c; p2 → b; p3 → direct.
	expectCredits(t, last, map[string][2]float64{"a": {0, 0}, "b": {1, 10}, "c": {2, 40}, "direct": {1, 6}})
}

func TestLastNonDirectByHand(t *testing.T) {
	paths := append(handPaths(t), parsePaths(t, "Direct > (direct):1:5:0")...)
	r, err := LastNonDirectTouch(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	// p1 → c; p2 → b; p3 skips direct → c; p4 is all direct (the set is compared without case) →
	// its last touch, "(direct)".
	expectCredits(t, r, map[string][2]float64{"a": {0, 0}, "b": {1, 10}, "c": {3, 46}, "direct": {0, 0}, "Direct": {0, 0}, "(direct)": {1, 5}})
	// Another direct set: only "c" is direct, so p3 goes to "direct" and p1 to a.
	r, err = LastNonDirectTouch(paths, []string{"C"})
	if err != nil {
		t.Fatal(err)
	}
	expectCredits(t, r, map[string][2]float64{"a": {2, 40}, "b": {1, 10}, "c": {0, 0}, "direct": {1, 6}, "Direct": {0, 0}, "(direct)": {1, 5}})
}

func TestLinearByHand(t *testing.T) {
	r, err := Linear(handPaths(t))
	if err != nil {
		t.Fatal(err)
	}
	// p1 has 4 touches: a twice (2/4), b and c once (1/4): a 1 conversion and 20, b 0.5 and 10,
	// c 0.5 and 10. p2: direct and b half each (0.5, 5). p3: c and direct half each (0.5, 3).
	expectCredits(t, r, map[string][2]float64{"a": {1, 20}, "b": {1, 15}, "c": {1, 13}, "direct": {1, 8}})
}

func TestPositionBasedByHand(t *testing.T) {
	paths := append(handPaths(t), parsePaths(t, "b:1:7:0", "a > b > c > b > a:5:100:0")...)
	r, err := PositionBased(paths)
	if err != nil {
		t.Fatal(err)
	}
	// p1 (4 touches): a 0.4 + 0.1, b 0.1, c 0.4 → a (1, 20), b (0.2, 4), c (0.8, 16).
	// p2, p3 (2 touches): 50/50 → direct (0.5, 5) + (0.5, 3), b (0.5, 5), c (0.5, 3).
	// p4 (1 touch): b gets all, (1, 7).
	// p5 (5 touches): a first and last 0.4 + 0.4; the middle three share 0.2: b 2/15, c 1/15 →
	// a (4, 80), b (2/3, 40/3), c (1/3, 20/3).
	expectCredits(t, r, map[string][2]float64{
		"a":      {1 + 4, 20 + 80},
		"b":      {0.2 + 0.5 + 1 + 2.0/3, 4 + 5 + 7 + 40.0/3},
		"c":      {0.8 + 0.5 + 1.0/3, 16 + 3 + 20.0/3},
		"direct": {1, 8},
	})
}

func TestTimeDecayByHand(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	paths := []Path{{
		// Touches 14 days, 7 days and 0 days before the conversion: weights ¼, ½, 1 (÷ 7/4) →
		// a 1/7, b 2/7, c 4/7.
		Channels: []string{"a", "b", "c"}, Times: []time.Time{t0, t0.Add(7 * day), t0.Add(14 * day)},
		ConvertedAt: t0.Add(14 * day), Conversions: 7, Value: 70,
	}, {
		// Converted 3 days after the last touch: the common factor cancels, so the same split as
		// with the conversion at the last touch. Touches 7 days apart: a 1/3, c 2/3.
		Channels: []string{"a", "c"}, Times: []time.Time{t0, t0.Add(7 * day)},
		ConvertedAt: t0.Add(10 * day), Conversions: 3, Value: 9,
	}, {
		// Without times: one half-life apart, weights ½ and 1 → b 1/3, a 2/3.
		Channels: []string{"b", "a"}, Conversions: 3, Value: 3,
	}}
	r, err := TimeDecay(paths, 0)
	if err != nil {
		t.Fatal(err)
	}
	expectCredits(t, r, map[string][2]float64{"a": {1 + 1 + 2, 10 + 3 + 2}, "b": {2 + 1, 20 + 1}, "c": {4 + 2, 40 + 6}})

	// Half-life one day: touches 14 and 7 days before the last get 2⁻¹⁴ and 2⁻⁷.
	r, err = TimeDecay(paths[:1], day)
	if err != nil {
		t.Fatal(err)
	}
	sum := math.Exp2(-14) + math.Exp2(-7) + 1
	expectCredits(t, r, map[string][2]float64{"a": {7 * math.Exp2(-14) / sum, 70 * math.Exp2(-14) / sum}, "b": {7 * math.Exp2(-7) / sum, 70 * math.Exp2(-7) / sum}, "c": {7 / sum, 70 / sum}})
}

// TestModelsConserve: every model credits exactly the conversions and value there
// are, on PathData (up to rounding).
func TestModelsConserve(t *testing.T) {
	paths := pathData(t)
	var conv, value float64
	for _, p := range paths {
		conv += p.Conversions
		value += p.Value
	}
	for _, m := range Models() {
		r, err := m.Run(paths, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Credits) != 12 {
			t.Errorf("%s: %d channels, want 12", m.Name, len(r.Credits))
		}
		var c, v float64
		for i, cr := range r.Credits {
			if i > 0 && r.Credits[i-1].Channel >= cr.Channel {
				t.Errorf("%s: channels not sorted: %q before %q", m.Name, r.Credits[i-1].Channel, cr.Channel)
			}
			c += cr.Conversions
			v += cr.Value
		}
		if !near(c, conv, 1e-12) || !near(v, value, 1e-12) {
			t.Errorf("%s credits %v conversions and %v value, want %v and %v", m.Name, c, v, conv, value)
		}
	}
}

// TestDeterministic: the same input gives bit-identical results, run after run.
func TestDeterministic(t *testing.T) {
	paths := pathData(t)
	for _, m := range Models() {
		a, err := m.Run(paths, Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := m.Run(paths, Options{})
		for i := range a.Credits {
			if a.Credits[i] != b.Credits[i] {
				t.Errorf("%s: %+v then %+v", m.Name, a.Credits[i], b.Credits[i])
			}
		}
	}
}

func TestInvalidPaths(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for name, p := range map[string]Path{
		"no touches":       {Conversions: 1},
		"empty channel":    {Channels: []string{"a", ""}},
		"not UTF-8":        {Channels: []string{"a\xff"}},
		"negative":         {Channels: []string{"a"}, Conversions: -1},
		"NaN value":        {Channels: []string{"a"}, Value: math.NaN()},
		"infinite nulls":   {Channels: []string{"a"}, Nulls: math.Inf(1)},
		"times count":      {Channels: []string{"a", "b"}, Times: []time.Time{t0}},
		"times order":      {Channels: []string{"a", "b"}, Times: []time.Time{t0, t0.Add(-time.Hour)}},
		"converted before": {Channels: []string{"a"}, Times: []time.Time{t0}, ConvertedAt: t0.Add(-time.Hour)},
	} {
		for _, m := range Models() {
			if _, err := m.Run([]Path{{Channels: []string{"x"}, Conversions: 1}, p}, Options{}); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s, %s: err %v, want ErrInvalid", name, m.Name, err)
			}
		}
	}
	if _, err := ModelNamed("last-click"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown model: %v", err)
	}
}
