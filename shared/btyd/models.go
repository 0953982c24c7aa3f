package btyd

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Models are the fitted models a scheduled job stores and a scorer applies per customer. The
// parameters are in Unit: a scorer must measure x, t_x and T in the same unit.
type Models struct {
	Unit           Unit        `json:"unit"`
	CalibrationEnd time.Time   `json:"calibrationEnd"`
	FittedAt       time.Time   `json:"fittedAt"`
	Customers      int         `json:"customers"`
	BGNBD          *BGNBD      `json:"bgnbd,omitempty"`
	ParetoNBD      *ParetoNBD  `json:"paretoNbd,omitempty"`
	GammaGamma     *GammaGamma `json:"gammaGamma,omitempty"`
}

// Fit fits the three models to the histories. The caller records Unit, CalibrationEnd and
// FittedAt, which the histories do not carry.
func Fit(cs []Customer) (Models, error) {
	bg, err := FitBGNBD(cs)
	if err != nil {
		return Models{}, err
	}
	pn, err := FitParetoNBD(cs)
	if err != nil {
		return Models{}, err
	}
	gg, err := FitGammaGamma(cs)
	if err != nil {
		return Models{}, err
	}
	return Models{Customers: len(cs), BGNBD: &bg, ParetoNBD: &pn, GammaGamma: &gg}, nil
}

// Predictor is a purchase model as the CLV formula uses it. In both models the expected number
// of purchases is P(alive) times the number expected of a customer who is alive.
type Predictor interface {
	PAlive(c Customer) float64
	ExpectedIfAlive(c Customer, t float64) float64
}

var (
	_ Predictor = BGNBD{}
	_ Predictor = ParetoNBD{}
)

// Valuation says how customer lifetime value is counted.
type Valuation struct {
	Horizon    float64 // how far ahead, in the models' unit
	AnnualRate float64 // discount rate per year, e.g. 0.1
	Margin     float64 // share of spend that is profit: 1 counts revenue
}

// steps converts the valuation to the models' unit: the length of a week, and the continuous
// discount rate per unit equivalent to the annual rate.
func (v Valuation) steps(u Unit) (week, ratePerUnit float64, err error) {
	days, err := u.Days()
	if err != nil {
		return 0, 0, err
	}
	if !(v.Horizon >= 0) || math.IsInf(v.Horizon, 1) || !(v.AnnualRate > -1) || math.IsInf(v.AnnualRate, 1) {
		return 0, 0, fmt.Errorf("clv: horizon %g, annual rate %g: %w", v.Horizon, v.AnnualRate, ErrValuation)
	}
	return 7 / days, math.Log1p(v.AnnualRate) * days / 365.25, nil
}

// CLV is the discounted value of a customer's expected purchases over the horizon:
//
//	CLV = margin · E[spend] · Σ_k (E[Y(t_k)] - E[Y(t_(k-1))]) / (1+d)^(t_k / year)
//
// where the horizon is cut into weeks t_1 < t_2 < ... (the last one possibly shorter), E[Y(t)]
// is the customer's expected number of purchases in (T, T+t], and each week's purchases are
// discounted at the week's end at the annual rate d. Weekly periods work the same for both
// purchase models and any horizon; the closed-form alternative, the Pareto/NBD's discounted
// expected residual transactions (FHL 2005, JMR), has an infinite horizon and no closed-form
// BG/NBD counterpart.
func CLV(p Predictor, c Customer, spend float64, u Unit, v Valuation) (float64, error) {
	week, rate, err := v.steps(u)
	if err != nil {
		return 0, err
	}
	d, _ := discounted(p, c, v.Horizon, week, rate)
	return v.Margin * spend * p.PAlive(c) * d, nil
}

// discounted returns the discounted and the plain expected purchases over the horizon of a
// customer who is alive at T.
func discounted(p Predictor, c Customer, horizon, week, ratePerUnit float64) (disc, plain float64) {
	for t := 0.0; t < horizon; {
		t = math.Min(t+week, horizon)
		e := p.ExpectedIfAlive(c, t)
		disc += (e - plain) * math.Exp(-t*ratePerUnit)
		plain = e
	}
	return disc, plain
}

// Score is what the models say about one customer. Fields of a model that is missing are NaN.
type Score struct {
	PAliveBGNBD    float64
	PAlivePareto   float64
	ExpectedBGNBD  float64 // purchases over the horizon
	ExpectedPareto float64 // purchases over the horizon
	ExpectedSpend  float64 // per transaction
	CLVBGNBD       float64
	CLVPareto      float64
}

// Score applies the models to one history.
func (m Models) Score(c Customer, v Valuation) (Score, error) {
	if err := checkHistory(c); err != nil {
		return Score{}, err
	}
	week, rate, err := v.steps(m.Unit)
	if err != nil {
		return Score{}, err
	}
	nan := math.NaN()
	s := Score{nan, nan, nan, nan, nan, nan, nan}
	if m.GammaGamma != nil {
		s.ExpectedSpend = m.GammaGamma.ExpectedSpend(c)
	}
	score := func(p Predictor, pAlive, expected, clv *float64) {
		pa := p.PAlive(c)
		d, plain := discounted(p, c, v.Horizon, week, rate)
		*pAlive, *expected, *clv = pa, pa*plain, v.Margin*s.ExpectedSpend*pa*d
	}
	if m.BGNBD != nil {
		score(m.BGNBD, &s.PAliveBGNBD, &s.ExpectedBGNBD, &s.CLVBGNBD)
	}
	if m.ParetoNBD != nil {
		score(m.ParetoNBD, &s.PAlivePareto, &s.ExpectedPareto, &s.CLVPareto)
	}
	return s, nil
}

// group is the histories that share (x, t_x, T): the likelihood needs each only once.
type group struct {
	x     int
	tx, T float64
	n     float64
}

// groupHistories checks the histories and groups equal ones, sorted by x. scale is the mean age T, a
// natural size for the rate parameters α and β whatever the unit.
func groupHistories(cs []Customer) (gs []group, scale float64, err error) {
	type key struct {
		x     int
		tx, T float64
	}
	index := make(map[key]int)
	repeat := 0
	for _, c := range cs {
		if err := checkHistory(c); err != nil {
			return nil, 0, err
		}
		if c.X > 0 {
			repeat++
		}
		scale += c.T
		k := key{c.X, c.Tx, c.T}
		if i, ok := index[k]; ok {
			gs[i].n++
			continue
		}
		index[k] = len(gs)
		gs = append(gs, group{c.X, c.Tx, c.T, 1})
	}
	if repeat == 0 {
		return nil, 0, fmt.Errorf("%w: none of %d customers bought twice", ErrTooFewRepeat, len(cs))
	}
	slices.SortFunc(gs, func(a, b group) int { return a.x - b.x })
	if scale /= float64(len(cs)); scale <= 0 {
		scale = 1
	}
	return gs, scale, nil
}

func checkHistory(c Customer) error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.X < 0, !finite(c.Tx), !finite(c.T), c.Tx < 0, c.T < c.Tx, c.X == 0 && c.Tx != 0:
		return fmt.Errorf("%w %q: x=%d t_x=%g T=%g (want x >= 0, 0 <= t_x <= T, t_x = 0 when x = 0)",
			ErrHistory, c.ID, c.X, c.Tx, c.T)
	}
	return nil
}

func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// logAddExp is log(e^a + e^b) without overflow.
func logAddExp(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	if a < b {
		a, b = b, a
	}
	if math.IsInf(a, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}
