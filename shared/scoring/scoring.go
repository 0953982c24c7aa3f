// Package scoring rates every customer as a CRM analyst would, from their Single Customer View
// and from models fitted on a sample of the population:
//
//   - RFM (package rfm): recency of the last order, number of orders and revenue in quintiles with
//     cut points fitted on the sample's buyers, named by the segment table; visitors who never
//     bought get the engagement variant (recency of the last visit, visits, engagement index) with
//     cut points fitted on the sample's visitors;
//   - value (package btyd): the BG/NBD (and Pareto/NBD) probability that the buyer is still a
//     customer, the purchases expected over the horizon, the Gamma-Gamma expected spend and the
//     discounted customer lifetime value, with models fitted on the sample's buyers;
//   - lapse risk (package lapse) from P(alive) and the customer's visits against their own
//     baseline, and the alert for a valuable customer who crosses the line;
//   - next best actions (package nextaction), with the co-occurrence model of the sample.
//
// Fitting and scoring are separate: Sample collects what a fit needs from profiles read in any
// order and in any number of parts (parts Merge), Config.Fit turns it into Models, which serialise
// to JSON, and Config.Rate applies them to one profile at a time; Config.Write says when a new
// score is worth saving over the stored one. Pure functions; the caller passes the clock.
//
// # From a profile to a purchase history
//
// The purchase models read a buyer as (x, t_x, T) in weeks: x repeat purchases (same-day orders are
// one purchase), the last t_x after the first, observed for T since the first (History). The
// profile keeps its latest orders (profile.MaxOrders) and settles older ones into a count and a
// revenue, so the first order's time is not always on the profile. It is known when nothing was
// settled (the first kept order), else from the score (profile.Score.FirstOrderAt, remembered by
// the runs that saw it before it was settled; a profile scores hourly and settles only after
// profile.MaxOrders orders); failing both, the profile's first seen time is taken: the earliest
// the first order can have been. That lengthens t_x and T alike, leaving the time since the last
// purchase right: the customer looks a slightly slower buyer, which with that many orders moves
// little. Settled orders count as distinct days.
package scoring

import (
	"errors"
	"fmt"
	"time"

	"github.com/dcrm-project/dcrm/shared/btyd"
	"github.com/dcrm-project/dcrm/shared/cluster"
	"github.com/dcrm-project/dcrm/shared/lapse"
	"github.com/dcrm-project/dcrm/shared/lookalike"
	"github.com/dcrm-project/dcrm/shared/nextaction"
	"github.com/dcrm-project/dcrm/shared/rfm"
)

// ErrInvalidModels is returned for stored models that cannot be applied.
var ErrInvalidModels = errors.New("invalid models")

// Config holds what the business decides: how value is counted, when a lapse alerts, how many
// actions to keep, the segment tables, and how much evidence a fit needs.
type Config struct {
	Valuation       btyd.Valuation // CLV horizon (weeks), annual discount rate, margin
	Lapse           lapse.Config
	NextAction      nextaction.Config
	Actions         int // next best actions kept per customer
	Segments        rfm.Segments
	VisitorSegments rfm.Segments
	Convention      rfm.Convention
	// MinBuyers is the fewest buyers a sample needs to fit the purchase models; MinRFM the fewest
	// to fit RFM cut points and MinVisitors the fewest visitors for the engagement cut points.
	// With fewer, the previous fit is kept.
	MinBuyers   int
	MinRFM      int
	MinVisitors int
	// MinClusterRows is the fewest buyers and visitors a sample needs to fit the customer clusters;
	// MinSeedMembers the fewest members of a seed audience to train its look-alike model.
	MinClusterRows int
	MinSeedMembers int
	CoOccurrence   nextaction.ModelConfig
	// Refresh is how often a score that only drifted with the clock and the daily models is
	// rewritten (see Write), in whole hours.
	Refresh time.Duration
}

// Default is the configuration dcrm scores with: a 52-week CLV at 10% a year counting revenue,
// the lapse package's defaults, three actions, the R package's segment table for buyers and dcrm's
// for visitors, drifted scores rewritten daily.
//
// Why 200 buyers for the purchase models: the BG/NBD and Pareto/NBD have four parameters each,
// estimated from how many buyers bought again and when; with a few hundred buyers (about 40% of
// whom buy again in a typical cohort, as in CDNOW) the searches converge and P(alive) is stable,
// while below that a handful of customers move the parameters. Twenty buyers or visitors give the
// quintile cut points about four customers per bin. Fifty people are the fewest that make two or
// more groups worth describing.
var Default = Config{
	Valuation:       btyd.Valuation{Horizon: 52, AnnualRate: 0.1, Margin: 1},
	Lapse:           lapse.Default,
	NextAction:      nextaction.Default,
	Actions:         3,
	Segments:        rfm.DefaultSegments,
	VisitorSegments: rfm.DefaultVisitorSegments,
	Convention:      rfm.ConventionR,
	MinBuyers:       200,
	MinRFM:          20,
	MinVisitors:     20,
	MinClusterRows:  50,
	MinSeedMembers:  MinSeedMembers,
	CoOccurrence:    nextaction.DefaultModel,
	Refresh:         24 * time.Hour,
}

// Format is the layout of the Models document; a reader refuses another.
const Format = 1

// Models are what a fit produces and the scorer applies: one document, stored as JSON. Each part
// says when it was fitted and on how many; a part that a fit could not refit is the previous one.
type Models struct {
	Format   int       `json:"format"`
	Version  int       `json:"version"`  // set by the store: one more at every fit
	FittedAt time.Time `json:"fittedAt"` // the latest fit's as-of time
	Sample   Size      `json:"sample"`   // what the latest fit read
	// Purchase are the BG/NBD, Pareto/NBD and Gamma-Gamma models, in weeks.
	Purchase     *Part[btyd.Models]             `json:"purchase,omitempty"`
	RFM          *Part[rfm.CutPoints]           `json:"rfm,omitempty"`
	Engagement   *Part[rfm.EngagementCutPoints] `json:"engagement,omitempty"`
	CoOccurrence *Part[nextaction.Model]        `json:"coOccurrence,omitempty"`
	// Clusters are the customer clusters (ClusterFeatures).
	Clusters *Part[cluster.Model] `json:"clusters,omitempty"`
	// Lookalikes are the look-alike models, by seed audience.
	Lookalikes map[string]*Part[lookalike.Model] `json:"lookalikes,omitempty"`
	// LookalikeRanks are, by seed audience, how the look-alike model's scores spread over the
	// sample's candidates (its profiles not in the seed), fitted with the model: what ranks a
	// profile among the population's candidates (see lookalikes.go).
	LookalikeRanks map[string]*LookalikeRanks `json:"lookalikeRanks,omitempty"`
	// Population is the number of profiles the ranks are among: the Profiles table's item count
	// (CountProfiles) as the latest fit read it. A run sets the count it read itself on its copy
	// of the models (WithPopulation) before rating; 0: no ranks.
	Population int64 `json:"population,omitempty"`
	// Notes say what the latest fit kept from before, or could not fit, and why.
	Notes []string `json:"notes,omitempty"`
}

// WithPopulation is a copy of the models that ranks profiles among a population of n (see
// Population); the copy shares the fitted parts, which are read only.
func (m *Models) WithPopulation(n int64) *Models {
	if m == nil {
		return nil
	}
	c := *m
	c.Population = n
	return &c
}

// Part is one fitted model.
type Part[M any] struct {
	FittedAt time.Time `json:"fittedAt"`
	N        int       `json:"n"` // buyers, visitors or profiles it was fitted on
	Model    M         `json:"model"`
}

// Validate checks models read from storage.
func (m Models) Validate() error {
	if m.Format != Format {
		return fmt.Errorf("%w: format %d, want %d", ErrInvalidModels, m.Format, Format)
	}
	if m.Purchase != nil {
		pm := m.Purchase.Model
		if _, err := pm.Unit.Days(); err != nil {
			return fmt.Errorf("%w: purchase models: %w", ErrInvalidModels, err)
		}
		if pm.BGNBD == nil || pm.GammaGamma == nil {
			return fmt.Errorf("%w: purchase models without BG/NBD or Gamma-Gamma", ErrInvalidModels)
		}
	}
	if m.RFM != nil {
		if err := m.RFM.Model.Validate(); err != nil {
			return fmt.Errorf("%w: rfm: %w", ErrInvalidModels, err)
		}
	}
	if m.Engagement != nil {
		if err := m.Engagement.Model.Validate(); err != nil {
			return fmt.Errorf("%w: engagement: %w", ErrInvalidModels, err)
		}
	}
	for id, l := range m.Lookalikes {
		if l == nil {
			return fmt.Errorf("%w: look-alike model of %s: none", ErrInvalidModels, id)
		}
		if err := l.Model.Validate(); err != nil {
			return fmt.Errorf("%w: look-alike model of %s: %w", ErrInvalidModels, id, err)
		}
		if len(l.Model.Columns) != len(lookalike.ProfileColumns) {
			return fmt.Errorf("%w: look-alike model of %s: %d columns, want %d", ErrInvalidModels, id, len(l.Model.Columns), len(lookalike.ProfileColumns))
		}
	}
	for id, r := range m.LookalikeRanks {
		if r == nil || m.Lookalikes[id] == nil {
			return fmt.Errorf("%w: look-alike ranks of %s: without a model", ErrInvalidModels, id)
		}
		if err := r.Candidates.Validate(); err != nil {
			return fmt.Errorf("%w: look-alike ranks of %s: %w", ErrInvalidModels, id, err)
		}
		if r.Members < 0 || r.Seed.ID != id {
			return fmt.Errorf("%w: look-alike ranks of %s: seed %q of %d members", ErrInvalidModels, id, r.Seed.ID, r.Members)
		}
	}
	if m.Population < 0 {
		return fmt.Errorf("%w: population %d", ErrInvalidModels, m.Population)
	}
	if m.Clusters != nil {
		if len(m.Clusters.Model.Features) != len(ClusterFeatures) {
			return fmt.Errorf("%w: clusters of %d features, want %d", ErrInvalidModels, len(m.Clusters.Model.Features), len(ClusterFeatures))
		}
		if _, _, err := m.Clusters.Model.Assign(make([]float64, len(ClusterFeatures))); err != nil {
			return fmt.Errorf("%w: clusters: %w", ErrInvalidModels, err)
		}
	}
	return nil
}
