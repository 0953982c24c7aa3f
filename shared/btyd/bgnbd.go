package btyd

import (
	"fmt"
	"math"
)

// BGNBD is a fitted BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy
// way", Marketing Science 24(2)): while alive a customer buys at a Poisson rate λ ~ gamma(r, α);
// after each purchase they drop out with probability p ~ beta(a, b).
type BGNBD struct {
	R      float64 `json:"r"`
	Alpha  float64 `json:"alpha"`
	A      float64 `json:"a"`
	B      float64 `json:"b"`
	LogLik float64 `json:"logLik"` // at the fit
	N      int     `json:"n"`      // customers fitted
}

// FitBGNBD fits the model by maximum likelihood.
func FitBGNBD(cs []Customer) (BGNBD, error) {
	gs, scale, err := groupHistories(cs)
	if err != nil {
		return BGNBD{}, fmt.Errorf("fit bg/nbd: %w", err)
	}
	ll := func(p []float64) float64 {
		m := BGNBD{R: math.Exp(p[0]), Alpha: math.Exp(p[1]), A: math.Exp(p[2]), B: math.Exp(p[3])}
		return m.groupLogLik(gs)
	}
	l := math.Log
	starts := [][]float64{
		{0, l(scale), 0, 0},
		{0, l(3 * scale), 0, l(3)},
		{l(0.3), l(scale / 3), l(0.5), l(3)},
	}
	p, v, ok := maximise(ll, starts)
	if p == nil {
		return BGNBD{}, fmt.Errorf("fit bg/nbd: %w", ErrNotEvaluatable)
	}
	m := BGNBD{R: math.Exp(p[0]), Alpha: math.Exp(p[1]), A: math.Exp(p[2]), B: math.Exp(p[3]), LogLik: v, N: len(cs)}
	if !ok {
		return m, fmt.Errorf("fit bg/nbd: %w (stopped at r=%g alpha=%g a=%g b=%g)", ErrNoConvergence, m.R, m.Alpha, m.A, m.B)
	}
	return m, nil
}

// LogLikelihood is the model's log-likelihood of the histories (FHL 2005, eq. 6).
func (m BGNBD) LogLikelihood(cs []Customer) float64 {
	var sum float64
	for _, c := range cs {
		sum += m.logLik(c.X, c.Tx, c.T)
	}
	return sum
}

// groupLogLik sums over groups sorted by x, computing the Γ terms once per x.
func (m BGNBD) groupLogLik(gs []group) float64 {
	var sum, lead float64
	x := -1
	for _, g := range gs {
		if g.x != x {
			x, lead = g.x, m.lead(g.x)
		}
		sum += g.n * (lead + m.timing(g.x, g.tx, g.T))
	}
	return sum
}

func (m BGNBD) logLik(x int, tx, T float64) float64 { return m.lead(x) + m.timing(x, tx, T) }

// lead is the part of the log-likelihood that depends on x alone.
func (m BGNBD) lead(x int) float64 {
	r, a, b, xf := m.R, m.A, m.B, float64(x)
	return lgamma(r+xf) - lgamma(r) + r*math.Log(m.Alpha) + lgamma(a+b) + lgamma(b+xf) - lgamma(b) - lgamma(a+b+xf)
}

// timing is the rest: log[(α+T)^-(r+x) + δ(x>0) a/(b+x-1) (α+t_x)^-(r+x)].
func (m BGNBD) timing(x int, tx, T float64) float64 {
	xf := float64(x)
	alive := -(m.R + xf) * math.Log(m.Alpha+T)
	if x == 0 {
		return alive
	}
	died := math.Log(m.A) - math.Log(m.B+xf-1) - (m.R+xf)*math.Log(m.Alpha+tx)
	return logAddExp(alive, died)
}

// PAlive is the probability that a customer with this history is still a customer at T (FHL
// 2005, from eqs. 6 and A2; Fader, Hardie & Lee 2008 note "Computing P(alive) using the BG/NBD
// model"). It is 1 for a customer with no repeat purchase: the model lets customers drop out
// only right after a purchase.
func (m BGNBD) PAlive(c Customer) float64 {
	if c.X == 0 {
		return 1
	}
	xf := float64(c.X)
	odds := math.Log(m.A) - math.Log(m.B+xf-1) + (m.R+xf)*(math.Log(m.Alpha+c.T)-math.Log(m.Alpha+c.Tx))
	return 1 / (1 + math.Exp(odds))
}

// ExpectedPurchases is the expected number of purchases in (T, T+t] of a customer with this
// history (FHL 2005, eq. 10).
func (m BGNBD) ExpectedPurchases(c Customer, t float64) float64 {
	return m.PAlive(c) * m.ExpectedIfAlive(c, t)
}

// ExpectedIfAlive is the expected number of purchases in (T, T+t] of a customer with this
// history who is still alive at T; times PAlive, it is ExpectedPurchases.
func (m BGNBD) ExpectedIfAlive(c Customer, t float64) float64 {
	return m.aliveExpected(c.X, c.T, t)
}

// ExpectedNew is E[X(t)], the expected number of repeat purchases in (0, t] of a customer who
// has just made their first (FHL 2005, eq. 9).
func (m BGNBD) ExpectedNew(t float64) float64 { return m.aliveExpected(0, 0, t) }

// aliveExpected is the numerator of eq. 10:
//
//	(a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; z)],  z = t/(α+T+t).
//
// As written, 2F1 overflows for frequent buyers. Euler's transformation turns the bracket into
// 1 - (1-z)^(a-1) · 2F1(a-1, a+b-1-r; a+b+x-1; z), whose series shrinks as x grows (the fix of
// Fader & Hardie 2013, "Overcoming the BG/NBD model's #NUM! error problem"), and writing that
// 2F1 as 1 + (a-1)·G keeps the division by a-1 exact when a is close to 1.
func (m BGNBD) aliveExpected(x int, T, t float64) float64 {
	if t <= 0 {
		return 0
	}
	r, alpha, a, b := m.R, m.Alpha, m.A, m.B
	c := a + b + float64(x) - 1
	z := t / (alpha + T + t)
	lz := math.Log1p(-z) // log((α+T)/(α+T+t))
	g, ok := hyp2f1Tail(a-1, a+b-1-r, c, z)
	if !ok {
		return math.NaN()
	}
	e := a - 1
	var first float64 // (1 - (1-z)^(a-1)) / (a-1)
	if math.Abs(e*lz) < 1e-300 {
		first = -lz
	} else {
		first = -math.Expm1(e*lz) / e
	}
	return c * (first - math.Exp(e*lz)*g)
}
