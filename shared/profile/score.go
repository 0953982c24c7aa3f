package profile

import (
	"maps"
	"time"
)

// Score is what the scheduled scoring says of a customer (package scoring computes it, the score
// function stores it; stitch never writes it). Each part is absent when it could not be computed:
// RFM without fitted cut points (or, for a visitor, without a visit), Value for someone who never
// bought or without a fitted purchase model.
type Score struct {
	ScoredAt time.Time `json:"scoredAt"`
	// ModelVersion is the version of the fitted models applied; 0 when none was stored yet.
	ModelVersion int `json:"modelVersion,omitempty"`
	// FirstOrderAt is when the customer first ordered, as far as scoring knows: remembered from the
	// runs that saw the first order, because older orders are settled out of the profile's window.
	FirstOrderAt time.Time    `json:"firstOrderAt,omitzero"`
	RFM          *RFMScore    `json:"rfm,omitempty"`
	Value        *Value       `json:"value,omitempty"`
	Lapse        *LapseRisk   `json:"lapse,omitempty"`
	NextActions  []NextAction `json:"nextActions,omitempty"`
	// Cluster is the name of the customer's group among the daily fit's clusters (package cluster:
	// "recent frequent-buying high-spending"); "" before clusters were fitted.
	Cluster string `json:"cluster,omitempty"`
	// Lookalikes are how much the customer resembles the members of each seed audience a rule
	// names, 0 to 1, by the audience's id (package lookalike; shared/scoring).
	Lookalikes map[string]float64 `json:"lookalikes,omitempty"`
	// LookalikeRanks are the customer's estimated ranks among the profiles that are not members
	// of each seed, 1 = the most like it, by the audience's id: from where the score falls among
	// the scores of the daily fit's sample, scaled to the population (shared/scoring). A member
	// of the seed has none.
	LookalikeRanks map[string]int `json:"lookalikeRanks,omitempty"`
}

// Variants of the RFM score.
const (
	VariantRFM        = "rfm"        // buyers: recency of the last order, orders, revenue
	VariantEngagement = "engagement" // visitors who never bought: recency, visits, engagement index
)

// RFMScore is a customer's recency, frequency and monetary rating in quintiles, 5 = best.
type RFMScore struct {
	Variant     string  `json:"variant"`
	RecencyDays int     `json:"recencyDays"` // since the last order, or the last visit
	Frequency   int     `json:"frequency"`   // orders, or visits
	Monetary    float64 `json:"monetary"`    // revenue, or the engagement index
	R           int     `json:"r"`
	F           int     `json:"f"`
	M           int     `json:"m"`
	Score       int     `json:"score"` // R×100 + F×10 + M, e.g. 543
	Segment     string  `json:"segment"`
}

// Value is what the purchase models expect of a buyer (BG/NBD, Pareto/NBD, Gamma-Gamma).
type Value struct {
	PAlive            float64 `json:"pAlive"`                 // BG/NBD probability that the customer is still a customer
	PAlivePareto      float64 `json:"pAlivePareto,omitempty"` // the same by the Pareto/NBD
	ExpectedPurchases float64 `json:"expectedPurchases"`      // over the horizon, BG/NBD
	ExpectedSpend     float64 `json:"expectedSpend"`          // per purchase, Gamma-Gamma
	CLV               float64 `json:"clv"`                    // discounted value over the horizon, BG/NBD
	CLVPareto         float64 `json:"clvPareto,omitempty"`
	HorizonWeeks      float64 `json:"horizonWeeks"`
}

// LapseRisk is how likely the customer is to be slipping away (package lapse), and whether they
// were valuable and over the alert threshold at this score (Above: the alert state).
type LapseRisk struct {
	Risk           float64 `json:"risk"`
	PAlive         float64 `json:"pAlive"`
	Activity       float64 `json:"activity"`
	RecentVisits   int     `json:"recentVisits"`
	ExpectedVisits float64 `json:"expectedVisits"`
	Above          bool    `json:"above"`
}

// NextAction is one of the customer's next best actions (package nextaction), best first.
type NextAction struct {
	Kind     string  `json:"kind"`
	Case     string  `json:"case,omitempty"`
	Product  string  `json:"product,omitempty"`
	Category string  `json:"category,omitempty"`
	Form     string  `json:"form,omitempty"`
	Score    float64 `json:"score"`
	Reason   string  `json:"reason"`
}

func (s *Score) clone() *Score {
	if s == nil {
		return nil
	}
	c := *s
	if s.RFM != nil {
		r := *s.RFM
		c.RFM = &r
	}
	if s.Value != nil {
		v := *s.Value
		c.Value = &v
	}
	if s.Lapse != nil {
		l := *s.Lapse
		c.Lapse = &l
	}
	c.NextActions = append([]NextAction(nil), s.NextActions...)
	c.Lookalikes = maps.Clone(s.Lookalikes)
	c.LookalikeRanks = maps.Clone(s.LookalikeRanks)
	return &c
}
