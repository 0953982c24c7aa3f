package scoring

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/lapse"
	"github.com/dcrm-project/dcrm/shared/nextaction"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/rfm"
)

// Rate scores one profile at asOf with the models (nil when none were fitted yet) and returns,
// when the customer crossed the lapse line (lapse.Config.Check, with the state kept in the
// previous score and the profile's LapseAlertedAt), the alert to raise; the caller records the
// alert with the score. Parts that cannot be computed are left out of the score and err says why;
// the rest of the score is still good.
//
// Lapse risk takes P(alive) from the BG/NBD (1 without a purchase model: activity alone) and the
// customer's value from the CLV, or the revenue so far when there is no purchase model.
func (c Config) Rate(p profile.Profile, m *Models, asOf time.Time) (profile.Score, *lapse.Alert, error) {
	asOf = asOf.UTC()
	if m == nil {
		m = &Models{}
	}
	sc := profile.Score{ScoredAt: asOf, ModelVersion: m.Version}
	var errs []error

	switch KindOf(p) {
	case Buyer:
		sc.FirstOrderAt = FirstOrder(p)
		if m.RFM != nil {
			cust, err := Customer(p)
			if err == nil {
				var s rfm.Score
				if s, err = m.RFM.Model.Score(cust, asOf); err == nil {
					sc.RFM = rfmScore(profile.VariantRFM, s, c.Segments)
				}
			}
			errs = append(errs, err)
		}
		if m.Purchase != nil {
			v, err := c.value(p, sc.FirstOrderAt, m, asOf)
			sc.Value = v
			errs = append(errs, err)
		}
	case Visitor:
		if m.Engagement != nil {
			v, err := VisitorOf(p)
			if err == nil {
				var s rfm.Score
				if s, err = m.Engagement.Model.Score(v, asOf); err == nil {
					s.Monetary = math.Round(s.Monetary*100) / 100
					sc.RFM = rfmScore(profile.VariantEngagement, s, c.VisitorSegments)
				}
			}
			errs = append(errs, err)
		}
	}

	pAlive, value := 1.0, p.Revenue
	if sc.Value != nil {
		pAlive, value = sc.Value.PAlive, sc.Value.CLV
	}
	var alert *lapse.Alert
	r, err := c.Lapse.Assess(p, pAlive, asOf)
	if err != nil {
		errs = append(errs, fmt.Errorf("lapse risk of %s: %w", p.ID, err))
	} else {
		sc.Lapse = &profile.LapseRisk{Risk: r.Score, PAlive: r.PAlive, Activity: r.Activity, RecentVisits: r.Recent, ExpectedVisits: r.Expected}
		// Check assesses again; under the threshold it never alerts and the customer is not above
		// the line, so most profiles are assessed once.
		if r.Score >= c.Lapse.Threshold {
			prev := lapse.State{AlertedAt: p.LapseAlertedAt}
			if p.Score != nil && p.Score.Lapse != nil {
				prev.Above = p.Score.Lapse.Above
			}
			var next lapse.State
			if alert, next, err = c.Lapse.Check(p, pAlive, value, asOf, prev); err != nil {
				errs = append(errs, fmt.Errorf("lapse alert of %s: %w", p.ID, err))
			}
			sc.Lapse.Above = next.Above
		}
	}

	if m.Clusters != nil {
		name, err := clusterOf(&m.Clusters.Model, p, asOf)
		sc.Cluster = name
		errs = append(errs, err)
	}
	sc.Lookalikes = lookalikesOf(m, p, &sc, asOf)
	ranks, err := lookalikeRanksOf(m, p, &sc, sc.Lookalikes, asOf)
	sc.LookalikeRanks = ranks
	errs = append(errs, err)

	var model nextaction.Model
	if m.CoOccurrence != nil {
		model = m.CoOccurrence.Model
	}
	for _, a := range c.NextAction.Recommend(p, model, asOf, c.Actions) {
		sc.NextActions = append(sc.NextActions, profile.NextAction{Kind: a.Kind, Case: a.Case, Product: a.Product, Category: a.Category,
			Form: a.Form, Score: a.Score, Reason: a.Reason})
	}
	return sc, alert, errors.Join(errs...)
}

func rfmScore(variant string, s rfm.Score, table rfm.Segments) *profile.RFMScore {
	return &profile.RFMScore{Variant: variant, RecencyDays: s.RecencyDays, Frequency: s.Frequency, Monetary: s.Monetary,
		R: s.R, F: s.F, M: s.M, Score: s.RFM(), Segment: table.Name(s)}
}

// value applies the purchase models. Figures are rounded (probabilities and expected purchases to
// four decimals, money to cents) so that a score is the same all day long for a customer whose
// history does not change: the models read time in whole days.
func (c Config) value(p profile.Profile, first time.Time, m *Models, asOf time.Time) (*profile.Value, error) {
	h, err := History(p, first, asOf)
	if err != nil {
		return nil, err
	}
	s, err := m.Purchase.Model.Score(h, c.Valuation)
	if err != nil {
		return nil, fmt.Errorf("value of %s: %w", p.ID, err)
	}
	if !finite(s.PAliveBGNBD, s.ExpectedBGNBD, s.ExpectedSpend, s.CLVBGNBD) {
		return nil, fmt.Errorf("value of %s: the BG/NBD gives P(alive) %v, %v purchases, spend %v, CLV %v for x=%d t_x=%g T=%g",
			p.ID, s.PAliveBGNBD, s.ExpectedBGNBD, s.ExpectedSpend, s.CLVBGNBD, h.X, h.Tx, h.T)
	}
	v := &profile.Value{
		PAlive: round(s.PAliveBGNBD, 4), ExpectedPurchases: round(s.ExpectedBGNBD, 4), ExpectedSpend: round(s.ExpectedSpend, 2),
		CLV: round(s.CLVBGNBD, 2), HorizonWeeks: c.Valuation.Horizon,
	}
	if finite(s.PAlivePareto, s.CLVPareto) { // the series does not settle for extreme parameters
		v.PAlivePareto, v.CLVPareto = round(s.PAlivePareto, 4), round(s.CLVPareto, 2)
	}
	return v, nil
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func round(x float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(x*p) / p
}

// Write tells whether a new score of the profile id must be saved over the stored one (nil when
// none is). Saving costs write units by the size of the whole profile, so scores are written:
//
//   - at once when something that decides what to do changed: nothing was stored, the RFM segment
//     or scores, the lapse alert state or a lapse risk moved by RiskStep or more, the next best
//     actions (what they are about, not their decaying scores and "days ago" reasons), what is
//     known of the first order, or whether there is a value at all;
//   - once per Refresh period for the rest, which drifts with the clock and the daily models
//     (recency and age in whole days, P(alive), CLV, the model version): in the hour of the period
//     that the profile id hashes to (Slot), so that the refresh of a large table spreads over the
//     period's runs instead of falling on one; or, should runs have been missed, once the stored
//     score is older than the period and an hour;
//   - never when nothing changed at all.
//
// The stored figures are therefore at most a period old, and the lapse counts (recent and expected
// visits, which slide with the clock) those of the last write.
func (c Config) Write(id string, old *profile.Score, sc profile.Score) bool {
	if old == nil || material(old, sc) {
		return true
	}
	if !drifted(old, sc) {
		return false
	}
	period := c.period()
	age := sc.ScoredAt.Sub(old.ScoredAt)
	return age > period || age >= time.Hour && hourOf(sc.ScoredAt, period) == Slot(id, period)
}

// RiskStep is the change of lapse risk that is written at once.
const RiskStep = 0.05

func (c Config) period() time.Duration { return max(c.Refresh.Truncate(time.Hour), time.Hour) }

// Slot is the hour of a refresh period (counted in whole hours from the Unix epoch) in which the
// drift of the profile's score is written: with a 24-hour period, the hour of the day in UTC.
func Slot(id string, period time.Duration) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % uint32(max(period/time.Hour, 1)))
}

func hourOf(t time.Time, period time.Duration) int {
	return int(t.Unix() / 3600 % int64(max(period/time.Hour, 1)))
}

func material(old *profile.Score, sc profile.Score) bool {
	switch {
	case !old.FirstOrderAt.Equal(sc.FirstOrderAt), (old.Value == nil) != (sc.Value == nil):
		return true
	case (old.RFM == nil) != (sc.RFM == nil):
		return true
	case old.RFM != nil && (old.RFM.Variant != sc.RFM.Variant || old.RFM.Segment != sc.RFM.Segment ||
		old.RFM.R != sc.RFM.R || old.RFM.F != sc.RFM.F || old.RFM.M != sc.RFM.M):
		return true
	case (old.Lapse == nil) != (sc.Lapse == nil):
		return true
	case old.Lapse != nil && (old.Lapse.Above != sc.Lapse.Above || math.Abs(old.Lapse.Risk-sc.Lapse.Risk) >= RiskStep):
		return true
	}
	return !slices.EqualFunc(old.NextActions, sc.NextActions, func(a, b profile.NextAction) bool {
		return a.Kind == b.Kind && a.Product == b.Product && a.Category == b.Category && a.Form == b.Form
	})
}

// drifted tells whether anything but the actions' decaying scores and reasons changed. A new
// cluster is a drift, not news: recency and tenure move with the clock, so a person near the edge
// of two groups may cross it any hour; the daily rewrite carries it (a fit's new groups come with
// a new model version).
func drifted(old *profile.Score, sc profile.Score) bool {
	return old.ModelVersion != sc.ModelVersion || old.Cluster != sc.Cluster || lookalikesMoved(old.Lookalikes, sc.Lookalikes) ||
		ranksMoved(old.LookalikeRanks, sc.LookalikeRanks) ||
		!equalPtr(old.RFM, sc.RFM) || !equalPtr(old.Value, sc.Value) ||
		old.Lapse != nil && sc.Lapse != nil && math.Abs(old.Lapse.Risk-sc.Lapse.Risk) >= 0.0001
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
