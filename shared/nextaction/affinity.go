package nextaction

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// Weights of the signals in an affinity (see the package comment).
const (
	viewWeight = 1
	cartWeight = 3
	buyWeight  = 3
)

// Affinity is a customer's interest in one product or category.
type Affinity struct {
	ID     string    `json:"id"`
	Score  float64   `json:"score"`
	Viewed int       `json:"viewed"`
	Carted int       `json:"carted"`
	Bought int       `json:"bought"`
	Last   time.Time `json:"last"` // the latest view, basket addition or order; zero if unknown
}

// Products returns the customer's affinity to each product they viewed, carted or bought,
// strongest first (of equal scores, by id).
func (c Config) Products(p profile.Profile, now time.Time) []Affinity {
	ps := p.Products
	last := maps.Clone(ps.Last)
	orders := map[string]int{}
	for _, o := range p.Orders {
		for _, l := range o.Lines {
			last = later(last, l.ProductID, o.At)
			orders[l.ProductID] += l.Quantity
		}
	}
	bought := maps.Clone(ps.Bought)
	for id, n := range orders { // bought before the product counts were bounded
		if _, ok := bought[id]; !ok {
			if bought == nil {
				bought = map[string]int{}
			}
			bought[id] = n
		}
	}
	return c.affinities(ps.Viewed, ps.Carted, bought, last, now)
}

// Categories returns the customer's affinity to each product category, strongest first.
func (c Config) Categories(p profile.Profile, now time.Time) []Affinity {
	cs := p.Products.Categories
	last := maps.Clone(cs.Last)
	for _, o := range p.Orders {
		for _, l := range o.Lines {
			if _, ok := cs.Bought[l.Category]; ok {
				last = later(last, l.Category, o.At)
			}
		}
	}
	return c.affinities(cs.Viewed, cs.Carted, cs.Bought, last, now)
}

func later(m map[string]time.Time, k string, t time.Time) map[string]time.Time {
	if k == "" {
		return m
	}
	if m == nil {
		m = map[string]time.Time{}
	}
	if t.After(m[k]) {
		m[k] = t
	}
	return m
}

func (c Config) affinities(viewed, carted, bought map[string]int, last map[string]time.Time, now time.Time) []Affinity {
	ids := map[string]bool{}
	for _, m := range []map[string]int{viewed, carted, bought} {
		for id := range m {
			ids[id] = true
		}
	}
	out := make([]Affinity, 0, len(ids))
	for id := range ids {
		a := Affinity{ID: id, Viewed: viewed[id], Carted: carted[id], Bought: bought[id], Last: last[id]}
		a.Score = (viewWeight*math.Log2(1+float64(a.Viewed)) + cartWeight*math.Log2(1+float64(a.Carted)) +
			buyWeight*math.Log2(1+float64(a.Bought))) * c.decay(a.Last, now)
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Affinity) int { return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.ID, b.ID)) })
	return out
}

// decay is the weight of something last seen at t: halved every HalfLife. Without a time (or
// without a half-life) it is 1.
func (c Config) decay(t, now time.Time) float64 {
	if t.IsZero() || c.HalfLife <= 0 || !now.After(t) {
		return 1
	}
	return math.Exp2(-float64(now.Sub(t)) / float64(c.HalfLife))
}

// strength maps an affinity score onto [0, 1): a/(1+a).
func strength(score float64) float64 { return score / (1 + score) }
