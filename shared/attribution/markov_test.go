package attribution

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The absorbing chain solved by hand. Paths (the example of S. Puzyrov, "Markov chain attribution:
// simple explanation of removal effect", 2019, with values added):
//
//	G       2 conversions, value 20
//	M       1 conversion,  value 10
//	G > M   1 conversion,  value 5
//	G       1 null
//
// Transitions (journeys): start→G 4, start→M 1; G→conv 2, G→M 1, G→null 1; M→conv 2.
// Probabilities: start→G 0.8, start→M 0.2; G→conv ½, G→M ¼, G→null ¼; M→conv 1.
// Absorption: h(M) = 1, h(G) = ½ + ¼·1 = ¾, P = h(start) = 0.8·¾ + 0.2·1 = 0.8.
// Without G (start→G goes to null): P = 0.2, removal effect 1 − 0.2/0.8 = ¾.
// Without M: h(G) = ½, P = 0.8·½ = 0.4, removal effect 1 − 0.4/0.8 = ½.
// Conversions (4 in all): G 4·¾/(¾+½) = 2.4, M 4·½/(5/4) = 1.6.
//
// Value: G→conv carries 20 over G's 4 journeys, rᵥ(G) = 5; M→conv carries 10 + 5 over 2, rᵥ(M) = 7.5.
// hᵥ(M) = 7.5, hᵥ(G) = 5 + ¼·7.5 = 6.875, hᵥ(start) = 0.8·6.875 + 0.2·7.5 = 7 (= 35 value / 5 journeys).
// Without G: 0.2·7.5 = 1.5, value removal effect 1 − 1.5/7 = 11/14. Without M: hᵥ(G) = 5,
// hᵥ(start) = 4, effect 1 − 4/7 = 6/14. Value (35): G 35·11/17, M 35·6/17.
func TestMarkovByHand(t *testing.T) {
	paths := parsePaths(t, "G:2:20:0", "M:1:10:0", "G > M:1:5:0", "G:0:0:1")
	r, err := Markov(paths)
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.ConversionProbability, 0.8, 1e-15) || !near(r.ValuePerJourney, 7, 1e-15) {
		t.Errorf("P(conversion) %v, value per journey %v; want 0.8 and 7", r.ConversionProbability, r.ValuePerJourney)
	}
	expectCredits(t, r, map[string][2]float64{"G": {2.4, 35 * 11.0 / 17}, "M": {1.6, 35 * 6.0 / 17}})
	expectRemoval(t, r, map[string][2]float64{"G": {0.75, 11.0 / 14}, "M": {0.5, 6.0 / 14}})

	// Without the null: start→G 3, start→M 1; G→conv 2, G→M 1; M→conv 2. Every journey converts.
	// Without G: P = ¼, effect ¾. Without M: h(G) = ⅔, P = ¾·⅔ = ½, effect ½. Same split: 2.4, 1.6.
	// Value: rᵥ(G) = 20/3, rᵥ(M) = 7.5; hᵥ(G) = 20/3 + 7.5/3 = 55/6, hᵥ(start) = ¾·55/6 + ¼·7.5 =
	// 35/4 (= 35 value / 4 journeys). Without G: ¼·7.5 = 15/8, effect 1 − (15/8)/(35/4) = 11/14.
	// Without M: ¾·20/3 = 5, effect 1 − 5/(35/4) = 3/7. The same value split as above.
	r, err = MarkovConversionsOnly(paths)
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.ConversionProbability, 1, 1e-15) || !near(r.ValuePerJourney, 35.0/4, 1e-15) {
		t.Errorf("conversions only: P(conversion) %v, value per journey %v; want 1 and 8.75", r.ConversionProbability, r.ValuePerJourney)
	}
	expectCredits(t, r, map[string][2]float64{"G": {2.4, 35 * 11.0 / 17}, "M": {1.6, 35 * 6.0 / 17}})
	expectRemoval(t, r, map[string][2]float64{"G": {0.75, 11.0 / 14}, "M": {0.5, 3.0 / 7}})
}

// TestMarkovNullsMatter: three channels where the non-converting journeys change the answer.
//
//	a > c   4 conversions
//	b > c   4 conversions, 12 nulls
//
// With nulls: start→a 4, start→b 16; a→c 4, b→c 16; c→conv 8, c→null 12. P = 8/20 = 0.4; without a:
// start→b→c gives 16/20 · 8/20 = 0.32, effect 0.2; without b: 4/20 · 0.4 = 0.08, effect 0.8; without
// c: 0, effect 1. Conversions (8): a 8·0.2/2 = 0.8, b 3.2, c 4.
// Conversions only: start→a 4, start→b 4, c→conv 8. Effects ½, ½, 1 → a 2, b 2, c 4: b's twelve
// journeys that did not convert no longer count against it.
func TestMarkovNullsMatter(t *testing.T) {
	paths := parsePaths(t, "a > c:4:0:0", "b > c:4:0:12")
	r, err := Markov(paths)
	if err != nil {
		t.Fatal(err)
	}
	expectCredits(t, r, map[string][2]float64{"a": {0.8, 0}, "b": {3.2, 0}, "c": {4, 0}})
	expectRemoval(t, r, map[string][2]float64{"a": {0.2, 0}, "b": {0.8, 0}, "c": {1, 0}})
	r, err = MarkovConversionsOnly(paths)
	if err != nil {
		t.Fatal(err)
	}
	expectCredits(t, r, map[string][2]float64{"a": {2, 0}, "b": {2, 0}, "c": {4, 0}})
}

func expectRemoval(t *testing.T, r Result, want map[string][2]float64) {
	t.Helper()
	for ch, w := range want {
		c, _ := r.Credit(ch)
		if !near(c.RemovalEffect, w[0], 1e-13) || !near(c.ValueRemovalEffect, w[1], 1e-13) {
			t.Errorf("%s %s: removal effects %v, %v; want %v", r.Model, ch, c.RemovalEffect, c.ValueRemovalEffect, w)
		}
	}
}

// TestMarkovCollapsesRepeats: a > a > b is a > b; and since a self-loop only delays a walk, keeping
// the repeats in the chain would give the same figures too (checked with the naive solver, which
// keeps them).
func TestMarkovCollapsesRepeats(t *testing.T) {
	repeated := parsePaths(t, "a > a > b:3:30:2", "b > b > b:1:5:4", "a > b > b > a:2:8:1")
	collapsed := parsePaths(t, "a > b:3:30:2", "b:1:5:4", "a > b > a:2:8:1")
	for _, run := range []func([]Path) (Result, error){Markov, MarkovConversionsOnly} {
		r1, err := run(repeated)
		if err != nil {
			t.Fatal(err)
		}
		r2, _ := run(collapsed)
		if !slices.Equal(r1.Credits, r2.Credits) {
			t.Errorf("%s: %+v with repeats, %+v collapsed", r1.Model, r1.Credits, r2.Credits)
		}
		naive, naiveValue := naiveMarkov(repeated, r1.Model == "markov", false)
		for _, c := range r1.Credits {
			if !near(c.RemovalEffect, naive[c.Channel], 1e-12) || !near(c.ValueRemovalEffect, naiveValue[c.Channel], 1e-12) {
				t.Errorf("%s %s: removal effects %v, %v; with self-loops %v, %v", r1.Model, c.Channel, c.RemovalEffect, c.ValueRemovalEffect, naive[c.Channel], naiveValue[c.Channel])
			}
		}
	}
}

// TestMarkovAgainstRemovedChains checks the fundamental-matrix shortcut against the definition,
// computed independently: the chain built from channel names in maps, P(conversion) found by
// iterating h ← r + Q·h to a fixed point (not by LU), and each channel removed by rebuilding the
// chain with its journeys sent to null. On PathData and on random paths.
func TestMarkovAgainstRemovedChains(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 13))
	sets := map[string][]Path{"PathData": pathData(t)}
	for s := range 3 {
		var paths []Path
		for range 300 {
			n := 1 + rng.IntN(6)
			p := Path{Conversions: float64(rng.IntN(3)), Nulls: float64(rng.IntN(5))}
			if p.Conversions > 0 {
				p.Value = float64(rng.IntN(50))
			}
			for range n {
				p.Channels = append(p.Channels, string(rune('a'+rng.IntN(5+s))))
			}
			paths = append(paths, p)
		}
		sets[string(rune('1'+s))] = paths
	}
	for name, paths := range sets {
		for _, withNulls := range []bool{true, false} {
			r, err := markovModel(withNulls)(paths)
			if err != nil {
				t.Fatal(err)
			}
			want, wantValue := naiveMarkov(paths, withNulls, true)
			for _, c := range r.Credits {
				if !near(c.RemovalEffect, want[c.Channel], 1e-12) || !near(c.ValueRemovalEffect, wantValue[c.Channel], 1e-12) {
					t.Errorf("%s %s %s: removal effects %.17g, %.17g; by removal %.17g, %.17g", name, r.Model, c.Channel,
						c.RemovalEffect, c.ValueRemovalEffect, want[c.Channel], wantValue[c.Channel])
				}
			}
		}
	}
}

// chain is a Markov chain built independently of markov: states by name in maps.
type chain struct {
	out        map[string]map[string]float64 // journeys from state to state
	conv, val  map[string]float64            // journeys converting from a state, their value
	tot        map[string]float64            // journeys leaving a state
	channels   map[string]bool
	maxVisits  int // the longest path's touches, after collapsing if it collapses
	totalConv  float64
	totalValue float64
}

func buildChain(paths []Path, withNulls, collapse bool) chain {
	c := chain{out: map[string]map[string]float64{}, conv: map[string]float64{}, val: map[string]float64{}, tot: map[string]float64{}, channels: map[string]bool{}}
	add := func(from, to string, w float64) {
		if c.out[from] == nil {
			c.out[from] = map[string]float64{}
		}
		c.out[from][to] += w
		c.tot[from] += w
	}
	for _, p := range paths {
		c.totalConv += p.Conversions
		c.totalValue += p.Value
		nulls := p.Nulls
		if !withNulls {
			nulls = 0
		}
		w := p.Conversions + nulls
		prev, visits := "(start)", 0
		for _, ch := range p.Channels {
			c.channels[ch] = true
			if collapse && ch == prev {
				continue
			}
			if w > 0 {
				add(prev, ch, w)
			}
			prev = ch
			visits++
		}
		c.maxVisits = max(c.maxVisits, visits)
		if w > 0 {
			c.conv[prev] += p.Conversions
			if p.Conversions > 0 {
				c.val[prev] += p.Value
			}
			c.tot[prev] += w
		}
	}
	return c
}

// absorb returns, from start, the probability of conversion (reward conv) or the expected value
// (reward val), with removed's journeys sent to null, by iterating h ← r + Q·h: steps times, or to
// a fixed point when steps is 0. With steps = L it is the value over walks of at most L steps.
func (c chain) absorb(reward map[string]float64, removed string, steps int) float64 {
	h := map[string]float64{}
	for i := 0; steps == 0 && i < 100_000 || i < steps; i++ {
		next := map[string]float64{}
		change := 0.0
		for s, tot := range c.tot {
			if s == removed {
				continue
			}
			v := reward[s] / tot
			for to, n := range c.out[s] {
				v += n / tot * h[to]
			}
			change = math.Max(change, math.Abs(v-h[s]))
			next[s] = v
		}
		h = next
		if steps == 0 && change < 1e-17 {
			break
		}
	}
	return h["(start)"]
}

// removalEffects returns each channel's removal effect for conversions and value, by removal,
// over walks of at most steps steps (0: unbounded).
func (c chain) removalEffects(steps int) (conv, value map[string]float64) {
	conv, value = map[string]float64{}, map[string]float64{}
	p, pv := c.absorb(c.conv, "", steps), c.absorb(c.val, "", steps)
	for ch := range c.channels {
		if p > 0 {
			conv[ch] = 1 - c.absorb(c.conv, ch, steps)/p
		}
		if pv != 0 {
			value[ch] = 1 - c.absorb(c.val, ch, steps)/pv
		}
	}
	return conv, value
}

// markovModel is Markov, or MarkovConversionsOnly without the nulls.
func markovModel(withNulls bool) func([]Path) (Result, error) {
	if withNulls {
		return Markov
	}
	return MarkovConversionsOnly
}

// naiveMarkov computes each channel's removal effects by their definition: P(conversion) (and the
// expected value) with the channel's journeys sent to null, against the same without removal,
// each found by fixed-point iteration.
func naiveMarkov(paths []Path, withNulls, collapse bool) (conv, value map[string]float64) {
	return buildChain(paths, withNulls, collapse).removalEffects(0)
}

// TestMarkovFlow: the fitted chain reproduces the data's conversion rate and value per journey,
// P(conversion) = conversions / (conversions + nulls), since every journey counted into the chain
// is absorbed exactly once; and, with the nulls ignored, P(conversion) = 1.
func TestMarkovFlow(t *testing.T) {
	paths := pathData(t)
	r, err := Markov(paths)
	if err != nil {
		t.Fatal(err)
	}
	const conv, nulls, value = 19785.0, 68602.0, 74802.97158721073
	if !near(r.ConversionProbability, conv/(conv+nulls), 1e-13) || !near(r.ValuePerJourney, value/(conv+nulls), 1e-13) {
		t.Errorf("P(conversion) %v, value per journey %v; want %v, %v", r.ConversionProbability, r.ValuePerJourney, conv/(conv+nulls), value/(conv+nulls))
	}
	r, err = MarkovConversionsOnly(paths)
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.ConversionProbability, 1, 1e-13) || !near(r.ValuePerJourney, value/conv, 1e-13) {
		t.Errorf("conversions only: P(conversion) %v, value per journey %v; want 1, %v", r.ConversionProbability, r.ValuePerJourney, value/conv)
	}
}

// TestMarkovOrderFree: with whole-number counts the chain's counts are exact, so the order of the
// paths cannot change a single bit.
func TestMarkovOrderFree(t *testing.T) {
	paths := pathData(t)
	reversed := slices.Clone(paths)
	slices.Reverse(reversed)
	for _, run := range []func([]Path) (Result, error){Markov, MarkovConversionsOnly} {
		a, _ := run(paths)
		b, _ := run(reversed)
		for i := range a.Credits {
			if a.Credits[i].RemovalEffect != b.Credits[i].RemovalEffect || a.Credits[i].Conversions != b.Credits[i].Conversions {
				t.Errorf("%s %s: %+v in file order, %+v reversed", a.Model, a.Credits[i].Channel, a.Credits[i], b.Credits[i])
			}
		}
	}
}

func TestMarkovTooManyChannels(t *testing.T) {
	var p Path
	for i := range MaxMarkovChannels + 1 {
		p.Channels = append(p.Channels, strings.Repeat("x", 1+i/26)+string(rune('a'+i%26)))
	}
	p.Conversions = 1
	if _, err := Markov([]Path{p}); err == nil || !strings.Contains(err.Error(), "at most 1000") {
		t.Errorf("err %v, want a bound on channels", err)
	}
}
