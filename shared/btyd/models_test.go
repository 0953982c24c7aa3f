package btyd

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestHyp2F1ClosedForms(t *testing.T) {
	for _, z := range []float64{0, 0.1, 0.5, 0.9, 0.99} {
		// 2F1(1, 1; 2; z) = -log(1-z)/z and 2F1(a, b; b; z) = (1-z)^-a.
		want := 1.0
		if z > 0 {
			want = -math.Log1p(-z) / z
		}
		if got, ok := hyp2f1(1, 1, 2, z); !ok || !within(got, want, 0, 1e-13) {
			t.Errorf("2F1(1,1;2;%g) = %v (ok %v), want %v", z, got, ok, want)
		}
		if got, ok := hyp2f1(0.7, 2.5, 2.5, z); !ok || !within(got, math.Pow(1-z, -0.7), 0, 1e-13) {
			t.Errorf("2F1(0.7,2.5;2.5;%g) = %v (ok %v), want %v", z, got, ok, math.Pow(1-z, -0.7))
		}
		// 2F1(a, b; c; z) = 1 + a·G.
		f, _ := hyp2f1(-0.3, 1.7, 4.2, z)
		g, ok := hyp2f1Tail(-0.3, 1.7, 4.2, z)
		if !ok || !within(1-0.3*g, f, 0, 1e-14) {
			t.Errorf("tail at z=%g: 1 + aG = %v, 2F1 = %v", z, 1-0.3*g, f)
		}
	}
	if _, ok := hyp2f1(1, 1, 2, 1-1e-9); ok {
		t.Error("2F1 at z = 1-1e-9 claims to have converged within the term limit")
	}
}

// The Pareto/NBD likelihood is also an integral over the time of death (Fader & Hardie 2005,
// "A note on deriving the Pareto/NBD model and related expressions"):
//
//	L = Γ(r+x)α^r β^s/Γ(r) · [(α+T)^-(r+x) (β+T)^-s + s ∫_tx^T (α+τ)^-(r+x) (β+τ)^-(s+1) dτ].
//
// Integrating that numerically checks both 2F1 branches independently.
func TestParetoNBDLikelihoodMatchesIntegral(t *testing.T) {
	for _, p := range []struct{ alpha, beta float64 }{{10, 3}, {3, 10}, {5, 5}, {40, 0.5}, {0.5, 40}} {
		m := ParetoNBD{R: 0.6, Alpha: p.alpha, S: 0.8, Beta: p.beta}
		for _, h := range []struct {
			x     int
			tx, T float64
		}{{0, 0, 30}, {1, 2, 30}, {7, 25, 38}, {3, 38, 38}, {40, 10, 39}} {
			xf := float64(h.x)
			f := func(tau float64) float64 {
				return math.Pow(m.Alpha+tau, -(m.R+xf)) * math.Pow(m.Beta+tau, -(m.S+1))
			}
			integral := simpson(f, h.tx, h.T, 20000)
			want := lgamma(m.R+xf) - lgamma(m.R) + m.R*math.Log(m.Alpha) + m.S*math.Log(m.Beta) +
				math.Log(math.Pow(m.Alpha+h.T, -(m.R+xf))*math.Pow(m.Beta+h.T, -m.S)+m.S*integral)
			if got := m.logLik(h.x, h.tx, h.T); !within(got, want, 0, 1e-9) {
				t.Errorf("α=%g β=%g %+v: log L = %.12f, integral gives %.12f", p.alpha, p.beta, h, got, want)
			}
		}
	}
}

func simpson(f func(float64) float64, a, b float64, n int) float64 {
	if a == b {
		return 0
	}
	h := (b - a) / float64(n)
	sum := f(a) + f(b)
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * f(a+float64(i)*h)
	}
	return sum * h / 3
}

// The transformed BG/NBD expectation agrees with eq. 10 as printed where the printed form can be
// evaluated, and stays finite for frequent buyers, where it cannot.
func TestBGNBDExpectationTransform(t *testing.T) {
	m := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	printed := func(x int, tx, T, t float64) float64 {
		r, al, a, b, xf := m.R, m.Alpha, m.A, m.B, float64(x)
		f, _ := hyp2f1(r+xf, b+xf, a+b+xf-1, t/(al+T+t))
		num := (a + b + xf - 1) / (a - 1) * (1 - math.Pow((al+T)/(al+T+t), r+xf)*f)
		den := 1.0
		if x > 0 {
			den += a / (b + xf - 1) * math.Pow((al+T)/(al+tx), r+xf)
		}
		return num / den
	}
	for _, h := range []Customer{{X: 0, T: 38.86}, {X: 2, Tx: 30.43, T: 38.86}, {X: 7, Tx: 29.43, T: 38.86}, {X: 1, Tx: 1, T: 2}} {
		for _, tt := range []float64{1, 39, 52} {
			if got, want := m.ExpectedPurchases(h, tt), printed(h.X, h.Tx, h.T, tt); !within(got, want, 0, 1e-10) {
				t.Errorf("%+v t=%g: %v, eq. 10 as printed %v", h, tt, got, want)
			}
		}
	}
	heavy := Customer{X: 2000, Tx: 39, T: 39}
	if got := m.ExpectedPurchases(heavy, 39); math.IsNaN(got) || got < 1000 || got > 2100 {
		t.Errorf("a customer buying 2000 times in 39 weeks expects %v in the next 39", got)
	}
	// a = 1 is a removable singularity of eq. 10.
	c := Customer{X: 3, Tx: 20, T: 30}
	at := func(a float64) float64 { m.A = a; return m.ExpectedPurchases(c, 39) }
	if lo, one, hi := at(1-1e-9), at(1), at(1+1e-9); !within(one, lo, 0, 1e-7) || !within(one, hi, 0, 1e-7) {
		t.Errorf("around a = 1: %v, %v, %v", lo, one, hi)
	}
}

func TestNewCustomerIsConditionalOnNoHistory(t *testing.T) {
	bg := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	pn := ParetoNBD{R: 0.553, Alpha: 10.578, S: 0.606, Beta: 11.669}
	for _, tt := range []float64{0.5, 10, 52, 520} {
		if a, b := bg.ExpectedNew(tt), bg.ExpectedPurchases(Customer{}, tt); a != b || !(a > 0) {
			t.Errorf("bg/nbd E[X(%g)] = %v, conditional on nothing %v", tt, a, b)
		}
		if a, b := pn.ExpectedNew(tt), pn.ExpectedPurchases(Customer{}, tt); !within(a, b, 0, 1e-14) || !(a > 0) {
			t.Errorf("pareto/nbd E[X(%g)] = %v, conditional on nothing %v", tt, a, b)
		}
	}
	// s = 1 is a removable singularity of the Pareto/NBD expectations.
	c := Customer{X: 3, Tx: 20, T: 30}
	at := func(s float64) float64 { pn.S = s; return pn.ExpectedPurchases(c, 39) }
	if lo, one, hi := at(1-1e-9), at(1), at(1+1e-9); !within(one, lo, 0, 1e-7) || !within(one, hi, 0, 1e-7) {
		t.Errorf("around s = 1: %v, %v, %v", lo, one, hi)
	}
}

func TestPAlive(t *testing.T) {
	bg := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	pn := ParetoNBD{R: 0.553, Alpha: 10.578, S: 0.606, Beta: 11.669}
	if p := bg.PAlive(Customer{T: 30}); p != 1 {
		t.Errorf("bg/nbd P(alive) without a repeat purchase = %v, want 1", p)
	}
	for _, x := range []int{0, 1, 5, 50, 1000} {
		prevBG, prevPN := 2.0, 2.0
		for _, tx := range []float64{39, 30, 10, 1} {
			if x == 0 && tx != 1 {
				continue
			}
			if x == 0 {
				tx = 0
			}
			c := Customer{X: x, Tx: tx, T: 39}
			b, p := bg.PAlive(c), pn.PAlive(c)
			// Within [0, 1], and lower the longer ago the last purchase.
			if !(b >= 0 && b <= 1 && p >= 0 && p <= 1) || b > prevBG || p > prevPN {
				t.Errorf("%+v: P(alive) bg/nbd %v (before %v), pareto/nbd %v (before %v)", c, b, prevBG, p, prevPN)
			}
			prevBG, prevPN = b, p
		}
	}
}

// linear buys rate purchases per unit of time, forever.
type linear struct{ rate float64 }

func (l linear) PAlive(Customer) float64                       { return 1 }
func (l linear) ExpectedIfAlive(_ Customer, t float64) float64 { return l.rate * t }

func TestCLV(t *testing.T) {
	// Undiscounted: margin · spend · purchases over the horizon.
	got, err := CLV(linear{2}, Customer{}, 10, Week, Valuation{Horizon: 52, Margin: 0.3})
	if err != nil || !within(got, 0.3*10*2*52, 0, 1e-12) {
		t.Errorf("undiscounted clv = %v (%v), want %v", got, err, 0.3*10*2*52)
	}
	// Discounted: each week's 2 purchases at the week's end; 10 days = one week and 3 days.
	const d = 0.1
	want := 20 * (7*math.Pow(1+d, -7/365.25) + 3*math.Pow(1+d, -10/365.25))
	if got, err := CLV(linear{1}, Customer{}, 20, Day, Valuation{Horizon: 10, AnnualRate: d, Margin: 1}); err != nil || !within(got, want, 0, 1e-12) {
		t.Errorf("discounted clv over 10 days = %v (%v), want %v", got, err, want)
	}
	// The unit changes nothing but the scale of time.
	week, _ := CLV(linear{7}, Customer{}, 20, Week, Valuation{Horizon: 52, AnnualRate: d, Margin: 1})
	day, _ := CLV(linear{1}, Customer{}, 20, Day, Valuation{Horizon: 364, AnnualRate: d, Margin: 1})
	if !within(week, day, 0, 1e-12) {
		t.Errorf("a year in weeks %v, in days %v", week, day)
	}
	for _, v := range []Valuation{{Horizon: -1}, {Horizon: math.NaN()}, {Horizon: math.Inf(1)}, {Horizon: 1, AnnualRate: -1}} {
		if _, err := CLV(linear{1}, Customer{}, 1, Week, v); !errors.Is(err, ErrValuation) {
			t.Errorf("%+v: err = %v, want ErrValuation", v, err)
		}
	}
	if _, err := CLV(linear{1}, Customer{}, 1, "month", Valuation{Horizon: 1}); !errors.Is(err, ErrUnit) {
		t.Errorf("unit month: err = %v, want ErrUnit", err)
	}
}

func TestModelsScoreAndJSON(t *testing.T) {
	m := Models{
		Unit:           Week,
		CalibrationEnd: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC),
		FittedAt:       time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Customers:      2357,
		BGNBD:          &BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426, LogLik: -9582.4, N: 2357},
		ParetoNBD:      &ParetoNBD{R: 0.553, Alpha: 10.578, S: 0.606, Beta: 11.669, LogLik: -9595.0, N: 2357},
		GammaGamma:     &GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44, LogLik: -4055.9, N: 946},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Models
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip: %+v (%v), want %+v", back, err, m)
	}
	c := Customer{ID: "0001", X: 2, Tx: 30.43, T: 38.86, Spend: 22.35}
	v := Valuation{Horizon: 39, AnnualRate: 0.1, Margin: 0.5}
	s, err := back.Score(c, v)
	if err != nil {
		t.Fatal(err)
	}
	clv, _ := CLV(m.BGNBD, c, m.GammaGamma.ExpectedSpend(c), Week, v)
	if s.PAliveBGNBD != m.BGNBD.PAlive(c) || s.PAlivePareto != m.ParetoNBD.PAlive(c) ||
		!within(s.ExpectedBGNBD, 1.226, 1e-3, 0) || s.ExpectedPareto != m.ParetoNBD.ExpectedPurchases(c, 39) ||
		s.ExpectedSpend != m.GammaGamma.ExpectedSpend(c) || s.CLVBGNBD != clv {
		t.Errorf("score %+v", s)
	}
	// Discounting and the margin make the value less than the undiscounted revenue.
	if !(s.CLVBGNBD > 0 && s.CLVBGNBD < 0.5*s.ExpectedBGNBD*s.ExpectedSpend) || !(s.CLVPareto > 0) {
		t.Errorf("clv bg/nbd %v, pareto/nbd %v, undiscounted margin %v", s.CLVBGNBD, s.CLVPareto, 0.5*s.ExpectedBGNBD*s.ExpectedSpend)
	}
	// Without a spend model only the purchase figures are known.
	s, err = Models{Unit: Week, BGNBD: m.BGNBD}.Score(c, v)
	if err != nil || !math.IsNaN(s.ExpectedSpend) || !math.IsNaN(s.CLVBGNBD) || !math.IsNaN(s.PAlivePareto) || math.IsNaN(s.PAliveBGNBD) {
		t.Errorf("bg/nbd only: %+v (%v)", s, err)
	}
	if _, err := m.Score(Customer{X: 1, Tx: 5, T: 4}, v); !errors.Is(err, ErrHistory) {
		t.Errorf("t_x > T: err = %v, want ErrHistory", err)
	}
	if _, err := m.Score(c, Valuation{Horizon: -39}); !errors.Is(err, ErrValuation) {
		t.Errorf("negative horizon: err = %v, want ErrValuation", err)
	}
}

func TestFitNeedsRepeatBuying(t *testing.T) {
	none := []Customer{{ID: "a", T: 10}, {ID: "b", T: 20}}
	if _, err := Fit(none); !errors.Is(err, ErrTooFewRepeat) {
		t.Errorf("no repeat purchase: err = %v, want ErrTooFewRepeat", err)
	}
	if _, err := FitGammaGamma([]Customer{{X: 2, Tx: 3, T: 4, Spend: 10}, {X: 1, Tx: 1, T: 4, Spend: -5}}); !errors.Is(err, ErrTooFewRepeat) {
		t.Errorf("one spending customer: err = %v, want ErrTooFewRepeat", err)
	}
	if _, err := FitParetoNBD([]Customer{{X: 1, Tx: 5, T: 3}}); !errors.Is(err, ErrHistory) {
		t.Errorf("t_x > T: err = %v, want ErrHistory", err)
	}
}

func TestMaximise(t *testing.T) {
	f := func(p []float64) float64 { return -(p[0]-1)*(p[0]-1) - 10*(p[1]+2)*(p[1]+2) - 3 }
	p, v, ok := maximise(f, [][]float64{{5, 5}})
	if !ok || math.Abs(p[0]-1) > 1e-6 || math.Abs(p[1]+2) > 1e-6 || math.Abs(v+3) > 1e-12 {
		t.Errorf("maximum at %v = %v (converged %v), want (1, -2) = -3", p, v, ok)
	}
	// A function that grows without bound has no maximum to converge to.
	if _, _, ok := maximise(func(p []float64) float64 { return p[0] }, [][]float64{{0}}); ok {
		t.Error("an unbounded function converged")
	}
}
