package nextaction

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// ErrInvalidModel is returned for a model configuration that cannot build a model.
var ErrInvalidModel = errors.New("invalid model configuration")

// Summary is what one profile tells the co-occurrence model: the products it looked at (viewed
// or put in a basket) and the products it bought, each sorted, without duplicates.
type Summary struct {
	Viewed []string `json:"viewed,omitempty"`
	Bought []string `json:"bought,omitempty"`
}

// Summarise returns what a profile tells the model. Both lists are as bounded as the profile's
// product counts (profile.MaxProducts each, twice that for Viewed), which bounds the pairs one
// profile adds.
func Summarise(p profile.Profile) Summary {
	viewed := map[string]bool{}
	for id := range p.Products.Viewed {
		viewed[id] = true
	}
	for id := range p.Products.Carted {
		viewed[id] = true
	}
	return Summary{Viewed: slices.Sorted(maps.Keys(viewed)), Bought: slices.Sorted(maps.Keys(p.Products.Bought))}
}

// Tally counts, over a sample of profiles, how many looked at or bought each product and each
// pair: the sufficient statistics of the model. Tallies of parts of a sample add up (Merge) to
// the tally of the whole, so segments of a scan can be counted apart.
type Tally struct {
	Profiles int            `json:"profiles"`
	Viewed   map[string]int `json:"viewed,omitempty"` // profiles that looked at each product
	Bought   map[string]int `json:"bought,omitempty"` // profiles that bought each product
	// ViewedBought[x][y] counts profiles that looked at x and bought y (x != y); BoughtBought[x][y]
	// those that bought both (x != y, stored both ways).
	ViewedBought map[string]map[string]int `json:"viewedBought,omitempty"`
	BoughtBought map[string]map[string]int `json:"boughtBought,omitempty"`
}

// Add counts one profile's summary (a profile with none still counts in the sample).
func (t *Tally) Add(s Summary) {
	t.Profiles++
	viewed, bought := set(s.Viewed), set(s.Bought)
	for _, x := range viewed {
		t.Viewed = inc(t.Viewed, x, 1)
		for _, y := range bought {
			if x != y {
				t.ViewedBought = inc2(t.ViewedBought, x, y, 1)
			}
		}
	}
	for _, x := range bought {
		t.Bought = inc(t.Bought, x, 1)
		for _, y := range bought {
			if x != y {
				t.BoughtBought = inc2(t.BoughtBought, x, y, 1)
			}
		}
	}
}

// Merge adds another tally to t.
func (t *Tally) Merge(o Tally) {
	t.Profiles += o.Profiles
	for x, n := range o.Viewed {
		t.Viewed = inc(t.Viewed, x, n)
	}
	for x, n := range o.Bought {
		t.Bought = inc(t.Bought, x, n)
	}
	for x, ys := range o.ViewedBought {
		for y, n := range ys {
			t.ViewedBought = inc2(t.ViewedBought, x, y, n)
		}
	}
	for x, ys := range o.BoughtBought {
		for y, n := range ys {
			t.BoughtBought = inc2(t.BoughtBought, x, y, n)
		}
	}
}

func set(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}

func inc(m map[string]int, k string, n int) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	m[k] += n
	return m
}

func inc2(m map[string]map[string]int, x, y string, n int) map[string]map[string]int {
	if m == nil {
		m = map[string]map[string]int{}
	}
	m[x] = inc(m[x], y, n)
	return m
}

// ModelConfig bounds the model and sets how much evidence a pair needs.
type ModelConfig struct {
	MinSupport int // fewest profiles that must show a pair: 5
	TopK       int // neighbours kept per product: 10
	MaxItems   int // products given neighbours, the most looked at or bought first: 2000
}

// DefaultModel is the model configuration dcrm builds with.
var DefaultModel = ModelConfig{MinSupport: 5, TopK: 10, MaxItems: 2000}

// Model is the item-to-item model: for each product, the products most associated with it. It
// holds at most 2 × MaxItems × TopK neighbours.
type Model struct {
	Profiles int `json:"profiles"` // the sample it was built from
	// ViewedBought[x] are the products bought by people who looked at x; BoughtBought[x] those
	// bought by people who bought x. Strongest first.
	ViewedBought map[string][]Neighbour `json:"viewedBought,omitempty"`
	BoughtBought map[string][]Neighbour `json:"boughtBought,omitempty"`
}

// Neighbour is a product associated with another.
type Neighbour struct {
	ProductID string  `json:"productId"`
	Support   int     `json:"support"` // profiles that showed the pair
	Lift      float64 `json:"lift"`    // to two decimals
}

// Model builds the model from the tally: for each product x, the products y with support at
// least MinSupport and lift above 1, by lift (then support, then id), the TopK first.
func (t Tally) Model(cfg ModelConfig) (Model, error) {
	if cfg.MinSupport < 1 || cfg.TopK < 1 || cfg.MaxItems < 1 {
		return Model{}, fmt.Errorf("%w: min support, top K and max items must be at least 1 (got %d, %d, %d)",
			ErrInvalidModel, cfg.MinSupport, cfg.TopK, cfg.MaxItems)
	}
	m := Model{Profiles: t.Profiles}
	m.ViewedBought = neighbours(t.ViewedBought, t.Viewed, t.Bought, t.Profiles, cfg)
	m.BoughtBought = neighbours(t.BoughtBought, t.Bought, t.Bought, t.Profiles, cfg)
	return m, nil
}

// neighbours ranks, for each antecedent x, the consequents y by lift =
// P(y | x) / P(y) = n(x,y)·N / (n(x)·n(y)).
func neighbours(pairs map[string]map[string]int, nx, ny map[string]int, total int, cfg ModelConfig) map[string][]Neighbour {
	out := map[string][]Neighbour{}
	for x := range pairs {
		var ns []Neighbour
		for y, n := range pairs[x] {
			if n < cfg.MinSupport || nx[x] == 0 || ny[y] == 0 {
				continue
			}
			if lift := float64(n) * float64(total) / (float64(nx[x]) * float64(ny[y])); lift > 1 {
				ns = append(ns, Neighbour{ProductID: y, Support: n, Lift: lift})
			}
		}
		slices.SortFunc(ns, func(a, b Neighbour) int {
			return cmp.Or(cmp.Compare(b.Lift, a.Lift), cmp.Compare(b.Support, a.Support), cmp.Compare(a.ProductID, b.ProductID))
		})
		ns = ns[:min(len(ns), cfg.TopK)]
		for i := range ns {
			ns[i].Lift = math.Round(ns[i].Lift*100) / 100
		}
		if len(ns) > 0 {
			out[x] = ns
		}
	}
	if len(out) == 0 {
		return nil
	}
	if len(out) > cfg.MaxItems {
		items := slices.SortedFunc(maps.Keys(out), func(a, b string) int { return cmp.Or(cmp.Compare(nx[b], nx[a]), cmp.Compare(a, b)) })
		for _, x := range items[cfg.MaxItems:] {
			delete(out, x)
		}
	}
	return out
}
