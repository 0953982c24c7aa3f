package btyd

import (
	"fmt"
	"math"
)

// ParetoNBD is a fitted Pareto/NBD model (Schmittlein, Morrison & Colombo 1987, Management
// Science 33(1)): while alive a customer buys at a Poisson rate λ ~ gamma(r, α) and stays alive
// for an exponential lifetime with rate μ ~ gamma(s, β).
type ParetoNBD struct {
	R      float64 `json:"r"`
	Alpha  float64 `json:"alpha"`
	S      float64 `json:"s"`
	Beta   float64 `json:"beta"`
	LogLik float64 `json:"logLik"` // at the fit
	N      int     `json:"n"`      // customers fitted
}

// FitParetoNBD fits the model by maximum likelihood.
func FitParetoNBD(cs []Customer) (ParetoNBD, error) {
	gs, scale, err := groupHistories(cs)
	if err != nil {
		return ParetoNBD{}, fmt.Errorf("fit pareto/nbd: %w", err)
	}
	ll := func(p []float64) float64 {
		m := ParetoNBD{R: math.Exp(p[0]), Alpha: math.Exp(p[1]), S: math.Exp(p[2]), Beta: math.Exp(p[3])}
		return m.groupLogLik(gs)
	}
	l := math.Log
	starts := [][]float64{
		{0, l(scale), 0, l(scale)},
		{l(0.5), l(scale), l(0.5), l(3 * scale)},
		{0, l(scale / 3), l(2), l(scale)},
	}
	p, v, ok := maximise(ll, starts)
	if p == nil {
		return ParetoNBD{}, fmt.Errorf("fit pareto/nbd: %w", ErrNotEvaluatable)
	}
	m := ParetoNBD{R: math.Exp(p[0]), Alpha: math.Exp(p[1]), S: math.Exp(p[2]), Beta: math.Exp(p[3]), LogLik: v, N: len(cs)}
	if !ok {
		return m, fmt.Errorf("fit pareto/nbd: %w (stopped at r=%g alpha=%g s=%g beta=%g)", ErrNoConvergence, m.R, m.Alpha, m.S, m.Beta)
	}
	return m, nil
}

// LogLikelihood is the model's log-likelihood of the histories.
func (m ParetoNBD) LogLikelihood(cs []Customer) float64 {
	var sum float64
	for _, c := range cs {
		sum += m.logLik(c.X, c.Tx, c.T)
	}
	return sum
}

// groupLogLik sums over groups sorted by x, computing Γ(r+x) once per x.
func (m ParetoNBD) groupLogLik(gs []group) float64 {
	var sum, lead float64
	x := -1
	for _, g := range gs {
		if g.x != x {
			x, lead = g.x, m.lead(g.x)
		}
		alive, died := m.terms(g.x, g.tx, g.T)
		sum += g.n * (lead + logAddExp(alive, died))
	}
	return sum
}

func (m ParetoNBD) logLik(x int, tx, T float64) float64 {
	alive, died := m.terms(x, tx, T)
	return m.lead(x) + logAddExp(alive, died)
}

// lead is the common factor Γ(r+x)α^r β^s / Γ(r), in logs.
func (m ParetoNBD) lead(x int) float64 {
	return lgamma(m.R+float64(x)) - lgamma(m.R) + m.R*math.Log(m.Alpha) + m.S*math.Log(m.Beta)
}

// terms returns the logs of the likelihood's two parts without their common factor
// Γ(r+x)α^r β^s / Γ(r), following Fader & Hardie (2005), "A note on implementing the Pareto/NBD
// model in MATLAB":
//
//	alive: 1 / ((α+T)^(r+x) (β+T)^s)          still alive at T
//	died:  s/(r+s+x) · (A(t_x) - A(T))         died in (t_x, T]
//
// A(t) = 2F1(r+s+x, s+1; r+s+x+1; (α-β)/(α+t)) / (α+t)^(r+s+x) when α >= β, and
// 2F1(r+s+x, r+x; r+s+x+1; (β-α)/(β+t)) / (β+t)^(r+s+x) when α < β: choosing the branch keeps
// the argument z of 2F1 in [0, 1). Euler's transformation 2F1(a, b; c; z) =
// (1-z)^(c-a-b) 2F1(c-a, c-b; c; z), with c-a = 1 here, leaves a series of positive terms,
// each at most z times the one before: no early growth (which for frequent buyers would
// overflow) and no cancellation.
func (m ParetoNBD) terms(x int, tx, T float64) (alive, died float64) {
	r, alpha, s, beta := m.R, m.Alpha, m.S, m.Beta
	xf := float64(x)
	alive = -(r+xf)*math.Log(alpha+T) - s*math.Log(beta+T)
	if tx >= T {
		return alive, math.Inf(-1)
	}
	big, small, b := alpha, beta, s+1
	if alpha < beta {
		big, small, b = beta, alpha, r+xf
	}
	a, c := r+s+xf, r+s+xf+1
	logA := func(t float64) float64 {
		z := (big - small) / (big + t)
		f, ok := hyp2f1(1, c-b, c, z)
		if !ok {
			return math.NaN()
		}
		return (c-a-b)*math.Log1p(-z) + math.Log(f) - a*math.Log(big+t)
	}
	atx, aT := logA(tx), logA(T)
	if math.IsNaN(atx) || math.IsNaN(aT) {
		return alive, math.NaN()
	}
	if aT >= atx { // A falls with t; equal only when rounding meets t_x ≈ T
		return alive, math.Inf(-1)
	}
	// log(A(t_x) - A(T)) without leaving log space.
	died = math.Log(s/(r+s+xf)) + atx + math.Log(-math.Expm1(aT-atx))
	return alive, died
}

// PAlive is the probability that a customer with this history is still a customer at T: the
// alive part of the likelihood over the whole.
func (m ParetoNBD) PAlive(c Customer) float64 {
	alive, died := m.terms(c.X, c.Tx, c.T)
	return 1 / (1 + math.Exp(died-alive))
}

// ExpectedPurchases is the expected number of purchases in (T, T+t] of a customer with this
// history (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005 note "A note on deriving the
// Pareto/NBD model and related expressions", eq. 22):
//
//	P(alive) · (r+x)(β+T) / ((α+T)(s-1)) · [1 - ((β+T)/(β+T+t))^(s-1)].
func (m ParetoNBD) ExpectedPurchases(c Customer, t float64) float64 {
	return m.PAlive(c) * m.ExpectedIfAlive(c, t)
}

// ExpectedIfAlive is the expected number of purchases in (T, T+t] of a customer with this
// history who is still alive at T; times PAlive, it is ExpectedPurchases.
func (m ParetoNBD) ExpectedIfAlive(c Customer, t float64) float64 {
	if t <= 0 {
		return 0
	}
	rate := (m.R + float64(c.X)) / (m.Alpha + c.T)
	return rate * (m.Beta + c.T) * lifetimeFactor(m.S, t/(m.Beta+c.T))
}

// ExpectedNew is E[X(t)], the expected number of repeat purchases in (0, t] of a customer who
// has just made their first: rβ/(α(s-1)) · [1 - (β/(β+t))^(s-1)].
func (m ParetoNBD) ExpectedNew(t float64) float64 {
	if t <= 0 {
		return 0
	}
	return m.R / m.Alpha * m.Beta * lifetimeFactor(m.S, t/m.Beta)
}

// lifetimeFactor is [1 - (1+u)^-(s-1)] / (s-1), and its limit log(1+u) at s = 1.
func lifetimeFactor(s, u float64) float64 {
	l := math.Log1p(u)
	if e := s - 1; e*l != 0 {
		return -math.Expm1(-e*l) / e
	}
	return l
}
