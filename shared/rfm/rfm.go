// Package rfm scores customers by recency, frequency and monetary value (RFM) in quintiles 1-5,
// 5 = best, and names their segment from a table of score ranges.
//
// Cut points are separate from scoring: Fit computes them once from a population, or from a
// uniform sample of it, they serialise to JSON, and CutPoints.Score rates any single customer
// with them. ScoreAll does both in one go for a whole population.
//
// R = whole calendar days from the last order to the as-of date (reversed: the most recent
// customers score 5), F = number of orders, M = revenue. Two conventions compute the cut points:
//
//   - ConventionR reproduces rfm_table_order of the R package rfm 0.3.0: each cut point is the
//     type-7 quantile (R's default, stats::quantile) at 20%, 40%, 60% and 80%, plus one, and a value
//     at or above a cut point moves up a bin. The "plus one" makes, for whole-number measures (days,
//     orders, whole currency units), every value equal to a quantile fall into the lower bin; with
//     fractional values it moves each boundary up by one unit (a revenue of 256 falls below a cut
//     point of 256.8). Ties always share a bin.
//   - ConventionNTile gives equal-size bins by rank, as dplyr::ntile does (sizes differ by at most
//     one, larger bins first), except that tied values share a bin (the bin of the lowest-ranked
//     one) where ntile would split them. Each cut point is the largest value of its lower bin and a
//     value above it moves up a bin.
//
// Values outside the population's range fall into the end bins, so stored cut points rate
// customers that the fitting sample did not contain. The engagement variant (Visitor,
// FitEngagement) scores visitors who never bought with the same machinery; see EngagementIndex.
package rfm

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/calendar"
)

// Bins is the number of score levels: quintiles.
const Bins = 5

// Convention says how cut points are computed from a population.
type Convention string

// The conventions; see the package comment.
const (
	ConventionR     Convention = "r"
	ConventionNTile Convention = "ntile"
)

var (
	// ErrInvalid marks input that cannot be scored: a bad customer, row, table or cut points.
	ErrInvalid = errors.New("invalid input")
	// ErrEmpty marks a population with no one in it.
	ErrEmpty = errors.New("empty population")
)

// ParseConvention reads "r" or "ntile" (any case).
func ParseConvention(s string) (Convention, error) {
	switch c := Convention(strings.ToLower(strings.TrimSpace(s))); c {
	case ConventionR, ConventionNTile:
		return c, nil
	}
	return "", fmt.Errorf("convention %q: want r or ntile: %w", s, ErrInvalid)
}

// Order is one purchase.
type Order struct {
	CustomerID string
	Date       time.Time
	Revenue    float64
}

// Customer is what RFM needs to know of one buyer.
type Customer struct {
	ID        string
	LastOrder time.Time
	Orders    int
	Revenue   float64
}

// Score is one customer's rating. R, F and M are 1-5, 5 = best.
type Score struct {
	ID          string
	RecencyDays int     // whole days from the last order (or visit) to the as-of date
	Frequency   int     // orders, or visits for a visitor
	Monetary    float64 // revenue, or the engagement index for a visitor
	R, F, M     int
}

// RFM is the three scores as one number, R*100 + F*10 + M (543), as the R package's rfm_score.
func (s Score) RFM() int { return s.R*100 + s.F*10 + s.M }

// CutPoints are the population's boundaries between the five bins of each measure, ascending.
// They are lower bounds (a value >= cut moves up) under ConventionR and upper bounds of the lower
// bin (a value > cut moves up) under ConventionNTile.
type CutPoints struct {
	Convention Convention        `json:"convention"`
	Recency    [Bins - 1]float64 `json:"recency"`   // days since the last order
	Frequency  [Bins - 1]float64 `json:"frequency"` // orders
	Monetary   [Bins - 1]float64 `json:"monetary"`  // revenue
	N          int               `json:"n"`         // customers they were computed from
}

// Customers folds orders into one Customer per id, sorted by id. Orders dated after asOf's
// calendar day are left out; ignored says how many.
func Customers(orders []Order, asOf time.Time) (customers []Customer, ignored int) {
	limit := calendar.DayNumber(asOf)
	byID := make(map[string]int)
	for _, o := range orders {
		if calendar.DayNumber(o.Date) > limit {
			ignored++
			continue
		}
		i, ok := byID[o.CustomerID]
		if !ok {
			i = len(customers)
			byID[o.CustomerID] = i
			customers = append(customers, Customer{ID: o.CustomerID, LastOrder: o.Date})
		}
		c := &customers[i]
		if o.Date.After(c.LastOrder) {
			c.LastOrder = o.Date
		}
		c.Orders++
		c.Revenue += o.Revenue
	}
	slices.SortFunc(customers, func(a, b Customer) int { return strings.Compare(a.ID, b.ID) })
	return customers, ignored
}

// Fit computes the cut points of a population (or a uniform sample of it) at asOf.
func Fit(customers []Customer, asOf time.Time, conv Convention) (CutPoints, error) {
	if _, err := ParseConvention(string(conv)); err != nil {
		return CutPoints{}, fmt.Errorf("fit rfm: %w", err)
	}
	if len(customers) == 0 {
		return CutPoints{}, fmt.Errorf("fit rfm: %w", ErrEmpty)
	}
	r, f, m := make([]float64, len(customers)), make([]float64, len(customers)), make([]float64, len(customers))
	for i, c := range customers {
		if err := c.check(); err != nil {
			return CutPoints{}, fmt.Errorf("fit rfm: %w", err)
		}
		r[i], f[i], m[i] = float64(recencyDays(c.LastOrder, asOf)), float64(c.Orders), c.Revenue
	}
	return newCutPoints(conv, r, f, m), nil
}

// newCutPoints computes the cut points of the three measures' values; it sorts them in place.
func newCutPoints(conv Convention, r, f, m []float64) CutPoints {
	return CutPoints{Convention: conv, Recency: cuts(r, conv), Frequency: cuts(f, conv), Monetary: cuts(m, conv), N: len(r)}
}

// Score rates one customer at asOf. A last order after asOf (clock skew) counts as on asOf.
func (cp CutPoints) Score(c Customer, asOf time.Time) (Score, error) {
	if err := cp.check(); err != nil {
		return Score{}, err
	}
	if err := c.check(); err != nil {
		return Score{}, err
	}
	return cp.rate(Score{ID: c.ID, RecencyDays: recencyDays(c.LastOrder, asOf), Frequency: c.Orders, Monetary: c.Revenue}), nil
}

// rate fills in the scores of measured values; recency is reversed (fewest days = 5).
func (cp *CutPoints) rate(s Score) Score {
	s.R = Bins + 1 - cp.bin(float64(s.RecencyDays), &cp.Recency)
	s.F = cp.bin(float64(s.Frequency), &cp.Frequency)
	s.M = cp.bin(s.Monetary, &cp.Monetary)
	return s
}

// ScoreAll fits cut points on the whole population and scores everyone in it, in order.
func ScoreAll(customers []Customer, asOf time.Time, conv Convention) ([]Score, CutPoints, error) {
	cp, err := Fit(customers, asOf, conv)
	if err != nil {
		return nil, CutPoints{}, err
	}
	scores := make([]Score, len(customers))
	for i, c := range customers {
		if scores[i], err = cp.Score(c, asOf); err != nil {
			return nil, CutPoints{}, err
		}
	}
	return scores, cp, nil
}

// Validate checks cut points read from storage: a known convention, finite and ascending.
func (cp CutPoints) Validate() error {
	if err := cp.check(); err != nil {
		return err
	}
	for _, cs := range [][Bins - 1]float64{cp.Recency, cp.Frequency, cp.Monetary} {
		for i, c := range cs {
			if math.IsNaN(c) || math.IsInf(c, 0) || i > 0 && c < cs[i-1] {
				return fmt.Errorf("cut points %v: want finite and ascending: %w", cs, ErrInvalid)
			}
		}
	}
	return nil
}

func (cp CutPoints) check() error {
	if cp.Convention != ConventionR && cp.Convention != ConventionNTile {
		return fmt.Errorf("cut points of convention %q: not fitted: %w", cp.Convention, ErrInvalid)
	}
	return nil
}

// bin is 1 + the number of cut points the value has passed.
func (cp *CutPoints) bin(v float64, cuts *[Bins - 1]float64) int {
	b := 1
	if cp.Convention == ConventionR {
		for _, c := range cuts {
			if v >= c {
				b++
			}
		}
		return b
	}
	for _, c := range cuts {
		if v > c {
			b++
		}
	}
	return b
}

func (c Customer) check() error {
	switch {
	case c.LastOrder.IsZero():
		return fmt.Errorf("customer %q: no last order date: %w", c.ID, ErrInvalid)
	case c.Orders < 1:
		return fmt.Errorf("customer %q: %d orders, want at least 1: %w", c.ID, c.Orders, ErrInvalid)
	case math.IsNaN(c.Revenue) || math.IsInf(c.Revenue, 0):
		return fmt.Errorf("customer %q: revenue %v: %w", c.ID, c.Revenue, ErrInvalid)
	}
	return nil
}

// cuts computes the Bins-1 cut points of values under a convention; it sorts values in place.
func cuts(values []float64, conv Convention) [Bins - 1]float64 {
	slices.Sort(values)
	var out [Bins - 1]float64
	n := len(values)
	for k := 1; k < Bins; k++ {
		if conv == ConventionR {
			out[k-1] = quantile7(values, float64(k)*(1.0/Bins)) + 1
			continue
		}
		// dplyr::ntile sizes: the first n%Bins bins hold one more than the others.
		size, larger := n/Bins, n%Bins
		out[k-1] = values[k*size+min(k, larger)-1] // the last value of bin k
	}
	return out
}

// quantile7 is R's default quantile (type 7) of sorted values at probability p:
// linear interpolation between order statistics at 1 + (n-1)p, computed as R does.
func quantile7(sorted []float64, p float64) float64 {
	index := float64(len(sorted)-1) * p
	lo := math.Floor(index)
	h := index - lo
	qs := sorted[int(lo)]
	if h == 0 {
		return qs
	}
	hi := sorted[int(math.Ceil(index))]
	if hi == qs {
		return qs
	}
	return (1-h)*qs + h*hi
}

// recencyDays is the number of calendar days from t to asOf, never negative.
func recencyDays(t, asOf time.Time) int {
	return int(max(calendar.DayNumber(asOf)-calendar.DayNumber(t), 0))
}
