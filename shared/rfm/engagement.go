package rfm

import (
	"fmt"
	"math"
	"time"
)

// Visitor is what the engagement variant needs to know of someone who has not bought.
type Visitor struct {
	ID             string
	LastSeen       time.Time
	Visits         int
	PageViews      int
	EngagedSeconds float64
}

// EngagementIndex turns a visitor's page views, depth (page views per visit) and engaged seconds
// into one number that stands where revenue stands for buyers:
//
//	index = 100 × mean over the three measures of (ln(1+x) − Mean) / SD
//
// with Mean and SD those of ln(1+x) over the fitting population. Why: the three are counts and
// durations with long right tails and different units, so a plain sum would be the seconds alone;
// the log tames the tails, the z-score puts each on the same footing (equal weights), and the
// mean keeps one measure from dominating. The index is 0 for a typical visitor; 100 points are
// about one standard deviation of a measure, so the R convention's one-unit offset is negligible.
// Unlike a rank, it is computed for one visitor from six stored numbers.
type EngagementIndex struct {
	Mean [3]float64 `json:"mean"` // of ln(1+page views), ln(1+depth), ln(1+engaged seconds)
	SD   [3]float64 `json:"sd"`   // population standard deviations of the same
}

// Value is the visitor's engagement index.
func (ix EngagementIndex) Value(v Visitor) float64 {
	var sum float64
	for i, x := range v.measures() {
		if ix.SD[i] > 0 {
			sum += (math.Log1p(x) - ix.Mean[i]) / ix.SD[i]
		}
	}
	return 100 * sum / 3
}

// EngagementCutPoints score visitors: R = days since last seen, F = visits, M = engagement index.
type EngagementCutPoints struct {
	Index EngagementIndex `json:"index"`
	Cuts  CutPoints       `json:"cutPoints"` // Frequency holds visits, Monetary the index
}

// DefaultVisitorSegments is dcrm's table for visitors, read with the scores of
// EngagementCutPoints (M = engagement). First matching row wins.
var DefaultVisitorSegments = Segments{
	{"Hot Prospects", Range{4, 5}, Range{4, 5}, Range{4, 5}}, // recent, returning, deeply engaged: ready for an offer
	{"Engaged", Range{3, 5}, Range{3, 5}, Range{3, 5}},       // recent enough, come back, read
	{"New Visitors", Range{4, 5}, Range{1, 2}, Range{1, 5}},  // first visits, lately
	{"Browsing", Range{3, 5}, Range{1, 5}, Range{1, 5}},      // recent but shallow
	{"Lapsing", Range{1, 2}, Range{3, 5}, Range{3, 5}},       // were engaged, not back for a while
	{"Cold", Range{1, 2}, Range{1, 5}, Range{1, 5}},          // little engagement, long ago
}

// FitEngagement computes the index parameters and cut points of a population of visitors (or a
// uniform sample of it) at asOf.
func FitEngagement(visitors []Visitor, asOf time.Time, conv Convention) (EngagementCutPoints, error) {
	if _, err := ParseConvention(string(conv)); err != nil {
		return EngagementCutPoints{}, fmt.Errorf("fit engagement: %w", err)
	}
	if len(visitors) == 0 {
		return EngagementCutPoints{}, fmt.Errorf("fit engagement: %w", ErrEmpty)
	}
	var ix EngagementIndex
	n := float64(len(visitors))
	for _, v := range visitors {
		if err := v.check(); err != nil {
			return EngagementCutPoints{}, fmt.Errorf("fit engagement: %w", err)
		}
		for i, x := range v.measures() {
			ix.Mean[i] += math.Log1p(x) / n
		}
	}
	for _, v := range visitors {
		for i, x := range v.measures() {
			d := math.Log1p(x) - ix.Mean[i]
			ix.SD[i] += d * d / n
		}
	}
	for i := range ix.SD {
		ix.SD[i] = math.Sqrt(ix.SD[i])
	}
	r, f, m := make([]float64, len(visitors)), make([]float64, len(visitors)), make([]float64, len(visitors))
	for i, v := range visitors {
		r[i], f[i], m[i] = float64(recencyDays(v.LastSeen, asOf)), float64(v.Visits), ix.Value(v)
	}
	return EngagementCutPoints{Index: ix, Cuts: newCutPoints(conv, r, f, m)}, nil
}

// Score rates one visitor at asOf; Score.Frequency is visits and Score.Monetary the index.
func (e EngagementCutPoints) Score(v Visitor, asOf time.Time) (Score, error) {
	if err := e.Cuts.check(); err != nil {
		return Score{}, err
	}
	if err := v.check(); err != nil {
		return Score{}, err
	}
	return e.Cuts.rate(Score{ID: v.ID, RecencyDays: recencyDays(v.LastSeen, asOf), Frequency: v.Visits, Monetary: e.Index.Value(v)}), nil
}

// Validate checks stored engagement cut points: valid cut points and finite, non-negative SDs.
func (e EngagementCutPoints) Validate() error {
	for i := range e.Index.SD {
		if m, sd := e.Index.Mean[i], e.Index.SD[i]; math.IsNaN(m) || math.IsInf(m, 0) || !(sd >= 0) || math.IsInf(sd, 0) {
			return fmt.Errorf("engagement index %+v: want finite means and non-negative SDs: %w", e.Index, ErrInvalid)
		}
	}
	return e.Cuts.Validate()
}

// measures are page views, depth and engaged seconds.
func (v Visitor) measures() [3]float64 {
	return [3]float64{float64(v.PageViews), float64(v.PageViews) / float64(v.Visits), v.EngagedSeconds}
}

func (v Visitor) check() error {
	switch {
	case v.LastSeen.IsZero():
		return fmt.Errorf("visitor %q: never seen: %w", v.ID, ErrInvalid)
	case v.Visits < 1:
		return fmt.Errorf("visitor %q: %d visits, want at least 1: %w", v.ID, v.Visits, ErrInvalid)
	case v.PageViews < 0:
		return fmt.Errorf("visitor %q: %d page views: %w", v.ID, v.PageViews, ErrInvalid)
	case !(v.EngagedSeconds >= 0) || math.IsInf(v.EngagedSeconds, 0):
		return fmt.Errorf("visitor %q: engaged seconds %v: %w", v.ID, v.EngagedSeconds, ErrInvalid)
	}
	return nil
}
