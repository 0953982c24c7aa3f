package scoring

import (
	"errors"
	"fmt"
	"time"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/btyd"
	"github.com/dcrm-project/dcrm/shared/cluster"
	"github.com/dcrm-project/dcrm/shared/nextaction"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/rfm"
)

// Sample collects what a fit needs from a sample of profiles: buyers' purchase histories and
// RFM measures, visitors' engagement measures, and the co-occurrence tally of every profile read.
// Samples of parts of a scan Merge into the sample of the whole.
type Sample struct {
	Read      int // profiles read
	Histories []btyd.Customer
	Customers []rfm.Customer
	Visitors  []rfm.Visitor
	Tally     nextaction.Tally
	// Clusters are the buyers' and visitors' features for the customer clusters (ClusterRow).
	Clusters [][]float64
	// Seeds are the audiences whose look-alike models the fit trains (Seeds of the definitions),
	// set before profiles are added; Lookalike is what the sample holds for them.
	Seeds     []audience.Definition
	Lookalike seedSample
	// Population is the number of profiles the sample was drawn from (the Profiles table's item
	// count), which the models keep (Models.Population); 0 when unknown.
	Population int64
}

// Size says what a sample holds.
type Size struct {
	Read         int `json:"read"`
	Buyers       int `json:"buyers"`
	RepeatBuyers int `json:"repeatBuyers"`
	Visitors     int `json:"visitors"`
}

// Size counts the sample.
func (s *Sample) Size() Size {
	n := Size{Read: s.Read, Buyers: len(s.Customers), Visitors: len(s.Visitors)}
	for _, h := range s.Histories {
		if h.X > 0 {
			n.RepeatBuyers++
		}
	}
	return n
}

// Count counts a profile read into the sample and its products into the co-occurrence tally.
// Every profile read is counted, whether or not it is added as a buyer or a visitor.
func (s *Sample) Count(p profile.Profile) {
	s.Read++
	s.Tally.Add(nextaction.Summarise(p))
}

// AddBuyer adds a buyer's purchase history at asOf and RFM measures; an error says why a profile
// cannot be read as a buyer (and nothing is added).
func (s *Sample) AddBuyer(p profile.Profile, asOf time.Time) error {
	c, err := Customer(p)
	if err != nil {
		return err
	}
	h, err := History(p, FirstOrder(p), asOf)
	if err != nil {
		return err
	}
	s.Customers = append(s.Customers, c)
	s.Histories = append(s.Histories, h)
	s.Clusters = append(s.Clusters, ClusterRow(p, asOf))
	s.addSeeds(p, asOf)
	return nil
}

// AddVisitor adds a visitor's engagement measures at asOf; an error says why a profile cannot be
// read as a visitor (and nothing is added).
func (s *Sample) AddVisitor(p profile.Profile, asOf time.Time) error {
	v, err := VisitorOf(p)
	if err != nil {
		return err
	}
	s.Visitors = append(s.Visitors, v)
	s.Clusters = append(s.Clusters, ClusterRow(p, asOf))
	s.addSeeds(p, asOf)
	return nil
}

// Merge adds another sample to s.
func (s *Sample) Merge(o Sample) {
	s.Read += o.Read
	s.Histories = append(s.Histories, o.Histories...)
	s.Customers = append(s.Customers, o.Customers...)
	s.Visitors = append(s.Visitors, o.Visitors...)
	s.Clusters = append(s.Clusters, o.Clusters...)
	s.Lookalike.merge(o.Lookalike)
	if s.Seeds == nil {
		s.Seeds = o.Seeds
	}
	s.Population = max(s.Population, o.Population)
	s.Tally.Merge(o.Tally)
}

// Fit fits the models on a sample read at asOf. A part that cannot be fitted (too few buyers or
// visitors, a search that does not converge) keeps prev's (nil: none), and Notes say so; the
// version is left to the store.
func (c Config) Fit(s Sample, asOf time.Time, prev *Models) Models {
	asOf = asOf.UTC()
	size := s.Size()
	m := Models{Format: Format, FittedAt: asOf, Sample: size}
	if prev != nil {
		m.Purchase, m.RFM, m.Engagement, m.CoOccurrence, m.Clusters = prev.Purchase, prev.RFM, prev.Engagement, prev.CoOccurrence, prev.Clusters
		m.Lookalikes, m.LookalikeRanks, m.Population = prev.Lookalikes, prev.LookalikeRanks, prev.Population
	}
	if s.Population > 0 {
		m.Population = s.Population
	}
	keep := func(what string, had bool, when time.Time, why string) {
		if had {
			m.Notes = append(m.Notes, fmt.Sprintf("%s kept from the fit of %s: %s", what, when.Format(time.RFC3339), why))
		} else {
			m.Notes = append(m.Notes, fmt.Sprintf("no %s: %s", what, why))
		}
	}

	switch {
	case size.Buyers < c.MinBuyers:
		keep("purchase models", m.Purchase != nil, fittedAt(m.Purchase), fmt.Sprintf("%d buyers in the sample, at least %d needed", size.Buyers, c.MinBuyers))
	default:
		pm, err := btyd.Fit(s.Histories)
		if err != nil {
			why := err.Error()
			if errors.Is(err, btyd.ErrTooFewRepeat) || errors.Is(err, btyd.ErrNoConvergence) || errors.Is(err, btyd.ErrNotEvaluatable) {
				why = fmt.Sprintf("%d of %d buyers bought again and the fit failed: %v", size.RepeatBuyers, size.Buyers, err)
			}
			keep("purchase models", m.Purchase != nil, fittedAt(m.Purchase), why)
			break
		}
		pm.Unit, pm.CalibrationEnd, pm.FittedAt = btyd.Week, asOf, asOf
		m.Purchase = &Part[btyd.Models]{FittedAt: asOf, N: len(s.Histories), Model: pm}
	}

	if size.Buyers < max(c.MinRFM, 1) {
		keep("RFM cut points", m.RFM != nil, fittedAt(m.RFM), fmt.Sprintf("%d buyers in the sample, at least %d needed", size.Buyers, max(c.MinRFM, 1)))
	} else if cp, err := rfm.Fit(s.Customers, asOf, c.Convention); err != nil {
		keep("RFM cut points", m.RFM != nil, fittedAt(m.RFM), err.Error())
	} else {
		m.RFM = &Part[rfm.CutPoints]{FittedAt: asOf, N: size.Buyers, Model: cp}
	}

	if size.Visitors < max(c.MinVisitors, 1) {
		keep("engagement cut points", m.Engagement != nil, fittedAt(m.Engagement), fmt.Sprintf("%d visitors in the sample, at least %d needed", size.Visitors, max(c.MinVisitors, 1)))
	} else if ecp, err := rfm.FitEngagement(s.Visitors, asOf, c.Convention); err != nil {
		keep("engagement cut points", m.Engagement != nil, fittedAt(m.Engagement), err.Error())
	} else {
		m.Engagement = &Part[rfm.EngagementCutPoints]{FittedAt: asOf, N: size.Visitors, Model: ecp}
	}

	if s.Read == 0 {
		keep("co-occurrence model", m.CoOccurrence != nil, fittedAt(m.CoOccurrence), "no profile read")
	} else if cm, err := s.Tally.Model(c.CoOccurrence); err != nil {
		keep("co-occurrence model", m.CoOccurrence != nil, fittedAt(m.CoOccurrence), err.Error())
	} else {
		m.CoOccurrence = &Part[nextaction.Model]{FittedAt: asOf, N: s.Read, Model: cm}
	}

	if n := len(s.Clusters); n < max(c.MinClusterRows, 3) {
		keep("customer clusters", m.Clusters != nil, fittedAt(m.Clusters), fmt.Sprintf("%d buyers and visitors in the sample, at least %d needed", n, max(c.MinClusterRows, 3)))
	} else if cm, err := fitClusters(s.Clusters); err != nil {
		keep("customer clusters", m.Clusters != nil, fittedAt(m.Clusters), err.Error())
	} else {
		m.Clusters = &Part[cluster.Model]{FittedAt: asOf, N: cm.Rows, Model: *cm}
	}
	c.fitLookalikes(s, asOf, &m, keep)
	return m
}

func fittedAt[M any](p *Part[M]) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.FittedAt
}
