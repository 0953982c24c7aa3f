package btyd

import (
	"fmt"
	"math"
)

// GammaGamma is a fitted Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005,
// "RFM and CLV: using iso-value curves for customer base analysis", JMR 42(4); Fader & Hardie
// 2013, "The Gamma-Gamma model of monetary value"): a customer's transaction values are
// gamma(p, ν) with ν ~ gamma(q, γ) across customers, independent of how often they buy.
type GammaGamma struct {
	P      float64 `json:"p"`
	Q      float64 `json:"q"`
	Gamma  float64 `json:"gamma"`
	LogLik float64 `json:"logLik"` // at the fit
	N      int     `json:"n"`      // customers fitted: those with a repeat purchase and positive spend
}

// FitGammaGamma fits the model by maximum likelihood to the customers with at least one repeat
// purchase and a positive mean repeat spend; the others carry no information about spend.
func FitGammaGamma(cs []Customer) (GammaGamma, error) {
	var fit []Customer
	var mean float64
	for _, c := range cs {
		if spends(c) {
			fit = append(fit, c)
			mean += c.Spend
		}
	}
	if len(fit) < 2 {
		return GammaGamma{}, fmt.Errorf("fit gamma-gamma: %w: %d with a repeat purchase and positive spend", ErrTooFewRepeat, len(fit))
	}
	mean /= float64(len(fit))
	ll := func(p []float64) float64 {
		m := GammaGamma{P: math.Exp(p[0]), Q: math.Exp(p[1]), Gamma: math.Exp(p[2])}
		return m.LogLikelihood(fit)
	}
	// Starts with a population mean spend pγ/(q-1) near the observed one.
	l := math.Log
	starts := [][]float64{
		{0, l(2), l(mean)},
		{l(5), l(3), l(mean * 2 / 5)},
		{l(2), l(10), l(mean * 9 / 2)},
	}
	p, v, ok := maximise(ll, starts)
	if p == nil {
		return GammaGamma{}, fmt.Errorf("fit gamma-gamma: %w", ErrNotEvaluatable)
	}
	m := GammaGamma{P: math.Exp(p[0]), Q: math.Exp(p[1]), Gamma: math.Exp(p[2]), LogLik: v, N: len(fit)}
	if !ok {
		return m, fmt.Errorf("fit gamma-gamma: %w (stopped at p=%g q=%g gamma=%g)", ErrNoConvergence, m.P, m.Q, m.Gamma)
	}
	return m, nil
}

func spends(c Customer) bool { return c.X > 0 && c.Spend > 0 }

// LogLikelihood is the log-likelihood of the customers' mean repeat spend given their number of
// repeat transactions (Fader & Hardie 2013, eq. 3); customers without a repeat purchase or with
// non-positive spend are left out.
func (m GammaGamma) LogLikelihood(cs []Customer) float64 {
	p, q, g := m.P, m.Q, m.Gamma
	lq := lgamma(q) - q*math.Log(g)
	var sum float64
	for _, c := range cs {
		if !spends(c) {
			continue
		}
		px := p * float64(c.X)
		sum += lgamma(px+q) - lgamma(px) - lq +
			(px-1)*math.Log(c.Spend) + px*math.Log(float64(c.X)) - (px+q)*math.Log(g+c.Spend*float64(c.X))
	}
	return sum
}

// ExpectedSpend is the expected value of a future transaction of a customer with this history:
// a weighted mean of the population mean pγ/(q-1) and the customer's own mean repeat spend,
//
//	p(γ + x·m_x) / (px + q - 1),
//
// which is the population mean for a customer without a repeat purchase (or with a mean spend
// that is not positive, which the model cannot describe). NaN when that mean is needed and
// q <= 1, where it is infinite.
func (m GammaGamma) ExpectedSpend(c Customer) float64 {
	x, spend := float64(c.X), c.Spend
	if !spends(c) {
		x, spend = 0, 0
	}
	d := m.P*x + m.Q - 1
	if d <= 0 {
		return math.NaN()
	}
	return m.P * (m.Gamma + x*spend) / d
}

// MeanSpend is the population mean of the transaction value, pγ/(q-1); NaN when q <= 1.
func (m GammaGamma) MeanSpend() float64 { return m.ExpectedSpend(Customer{}) }
