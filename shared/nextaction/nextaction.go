// Package nextaction chooses the next best actions for a customer from their Single Customer View
// and an item-to-item model of the population. Pure functions; the caller passes the clock.
//
// # Affinity
//
// A customer's interest in a product (or a category) is
//
//	(1·log2(1+views) + 3·log2(1+basket additions) + 3·log2(1+purchases)) · 2^(−age/HalfLife)
//
// Repeat views count with diminishing returns (1 view scores 1, 3 views 2, 7 views 3), so a
// product viewed over and over does not drown everything else; a basket addition is a much
// stronger sign of intent than a view and weighs three. age is the time since the product was
// last viewed, carted or bought (profile.Products.Last and the orders), so interest halves every
// HalfLife (default 14 days).
//
// # Item-to-item model
//
// "People who looked at X bought Y" and "people who bought X also bought Y" come from a sample of
// profiles: Summarise reduces a profile to the products it looked at (viewed or carted) and
// bought, Tally counts them and their pairs (tallies of scan segments Merge into the tally of the
// whole scan, exactly), and Tally.Model keeps, for each product, the TopK products with at least
// MinSupport profiles showing the pair and a lift above 1, by lift:
//
//	lift(X→Y) = P(bought Y | X) / P(bought Y) = n(X,Y)·N / (n(X)·n(Y))
//
// Lift says how many times likelier a purchase of Y becomes when X is known, which reads well in
// a reason ("lift 4.2"); the minimum support keeps pairs seen by a handful of people out. The
// model holds at most 2 × MaxItems × TopK neighbours.
//
// # Actions
//
// Recommend ranks every action by weight × strength, strength in [0, 1]. The weights put
// finishing what the customer started before reminders, reminders before discovery:
//
//	resolve-case       1.0   each open service case (profile.OpenCases), strength 1: someone
//	                         waiting on a complaint or a repair is answered before being sold to
//	complete-basket    1.0   the open basket, strength 2^(−age/HalfLife) since its last change
//	complete-form      0.9   each form started and not submitted, the same decay since its start
//	remind-viewed      0.8   each product viewed or carted, not bought and not in the basket:
//	                         strength a/(1+a) of its affinity a
//	recommend-product  0.7   products the model associates with ones the customer looked at or
//	                         bought: strength a/(1+a) of the source product's affinity × (1 − 1/lift),
//	                         the best source counting
//	win-back           0.6   a customer whose last order is at least WinBackAfter (90 days) old,
//	                         with no open case (an offer is no answer to a complaint)
//	explore-category   0.5   the customer's strongest category: a/(1+a) of its affinity
//
// A product the customer bought is never recommended nor reminded of: the profile does not know
// how fast products are used up, so no replenishment rule is guessed. Products already looked at
// are reminded of rather than recommended. Actions scoring under 0.01 (interest long gone) are
// left out. Of equal scores, actions keep the order above, then
// the order of their product, form or category.
package nextaction

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/prose"
)

// Kinds of action, in the order they are preferred.
const (
	ResolveCase      = "resolve-case"
	CompleteBasket   = "complete-basket"
	CompleteForm     = "complete-form"
	RemindViewed     = "remind-viewed"
	RecommendProduct = "recommend-product"
	WinBack          = "win-back"
	ExploreCategory  = "explore-category"
)

var weights = map[string]float64{
	ResolveCase: 1, CompleteBasket: 1, CompleteForm: 0.9, RemindViewed: 0.8, RecommendProduct: 0.7, WinBack: 0.6, ExploreCategory: 0.5,
}

// minScore leaves out actions on interest long gone (a single view about six half-lives old).
const minScore = 0.01

var kindOrder = []string{ResolveCase, CompleteBasket, CompleteForm, RemindViewed, RecommendProduct, WinBack, ExploreCategory}

// Config holds the two time scales of the rules.
type Config struct {
	HalfLife     time.Duration // interest halves in this time; zero: no decay
	WinBackAfter time.Duration // a customer whose last order is this old is won back
}

// Default is the configuration dcrm recommends with.
var Default = Config{HalfLife: 14 * calendar.Day, WinBackAfter: 90 * calendar.Day}

// Action is one thing to do for a customer.
type Action struct {
	Kind     string  `json:"kind"`
	Case     string  `json:"case,omitempty"` // resolve-case: the case's id
	Product  string  `json:"product,omitempty"`
	Category string  `json:"category,omitempty"`
	Form     string  `json:"form,omitempty"`
	Score    float64 `json:"score"` // weight × strength, to four decimals
	Reason   string  `json:"reason"`
}

// Recommend returns the customer's n best actions with the default configuration.
func Recommend(p profile.Profile, m Model, now time.Time, n int) []Action {
	return Default.Recommend(p, m, now, n)
}

// Recommend returns the customer's n best actions at now, best first; none for a profile merged
// into another.
func (c Config) Recommend(p profile.Profile, m Model, now time.Time, n int) []Action {
	if n <= 0 || !p.Live() {
		return nil
	}
	var out []Action
	add := func(kind, product, category, form string, strength float64, reason string) {
		if score := math.Round(weights[kind]*strength*1e4) / 1e4; score >= minScore {
			out = append(out, Action{Kind: kind, Product: product, Category: category, Form: form, Score: score, Reason: reason})
		}
	}
	cases := p.OpenCases()
	for _, c := range cases {
		out = append(out, Action{Kind: ResolveCase, Case: c.ID, Score: weights[ResolveCase],
			Reason: fmt.Sprintf("%s open since %s, %s", c.Describe(), prose.Ago(c.OpenedAt, now), c.Status)})
	}

	basket := p.Basket.Open()
	inBasket := map[string]bool{}
	if basket != nil {
		for _, it := range basket.Items {
			inBasket[it.ProductID] = true
		}
		add(CompleteBasket, "", "", "", c.decay(basket.UpdatedAt, now), fmt.Sprintf("%s worth %s left in the basket %s",
			prose.Count(len(basket.Items), "item"), strconv.FormatFloat(basket.Value, 'f', 2, 64), prose.Ago(basket.UpdatedAt, now)))
	}
	for _, f := range p.OpenForms() {
		add(CompleteForm, "", "", f.FormID, c.decay(f.StartedAt, now), fmt.Sprintf("started form %q %s, not submitted", f.FormID, prose.Ago(f.StartedAt, now)))
	}

	products := c.Products(p, now)
	seen := map[string]bool{}
	for _, a := range products {
		seen[a.ID] = true
		if a.Bought > 0 || inBasket[a.ID] {
			continue
		}
		add(RemindViewed, a.ID, "", "", strength(a.Score), remindReason(a, now))
	}

	best := map[string]Action{}
	for _, a := range products { // strongest source first: of equal strengths, the first found is kept
		for _, rel := range []struct {
			ok    bool
			verb  string
			model map[string][]Neighbour
		}{{a.Viewed+a.Carted > 0, "looked at", m.ViewedBought}, {a.Bought > 0, "bought", m.BoughtBought}} {
			if !rel.ok {
				continue
			}
			for _, nb := range rel.model[a.ID] {
				if seen[nb.ProductID] || inBasket[nb.ProductID] {
					continue
				}
				s := strength(a.Score) * (1 - 1/nb.Lift)
				if prev, ok := best[nb.ProductID]; ok && prev.Score >= s {
					continue
				}
				best[nb.ProductID] = Action{Score: s, Reason: fmt.Sprintf("people who %s %s bought %s (lift %s)",
					rel.verb, a.ID, nb.ProductID, strconv.FormatFloat(nb.Lift, 'f', -1, 64))}
			}
		}
	}
	for id, b := range best {
		add(RecommendProduct, id, "", "", b.Score, b.Reason)
	}

	if last := lastOrder(p); p.OrderCount > 0 && c.WinBackAfter > 0 && now.Sub(last) >= c.WinBackAfter && len(cases) == 0 {
		add(WinBack, "", "", "", 1, fmt.Sprintf("%s, the last %s", prose.Count(p.OrderCount, "order"), prose.Ago(last, now)))
	}
	if cats := c.Categories(p, now); len(cats) > 0 {
		a := cats[0]
		add(ExploreCategory, "", a.ID, "", strength(a.Score), "most interested in "+strconv.Quote(a.ID)+": "+activity(a, now))
	}

	slices.SortFunc(out, func(a, b Action) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(slices.Index(kindOrder, a.Kind), slices.Index(kindOrder, b.Kind)),
			cmp.Compare(a.Case, b.Case), cmp.Compare(a.Product, b.Product), cmp.Compare(a.Form, b.Form), cmp.Compare(a.Category, b.Category))
	})
	return out[:min(n, len(out))]
}

// lastOrder is when the customer last ordered (by event time); zero if never.
func lastOrder(p profile.Profile) time.Time {
	last := p.Basket.ClearedAt // the basket closes at every order
	if n := len(p.Orders); n > 0 && p.Orders[n-1].At.After(last) {
		last = p.Orders[n-1].At
	}
	if p.Settled.OrdersUntil.After(last) {
		last = p.Settled.OrdersUntil
	}
	return last
}

func remindReason(a Affinity, now time.Time) string {
	return activity(a, now) + ", not bought"
}

// activity says what the customer did with a product or category: "viewed 3 times and put in
// the basket once, last 2 days ago".
func activity(a Affinity, now time.Time) string {
	var did []string
	if a.Viewed > 0 {
		did = append(did, "viewed "+times(a.Viewed))
	}
	if a.Carted > 0 {
		did = append(did, "put in the basket "+times(a.Carted))
	}
	if a.Bought > 0 {
		did = append(did, "bought "+times(a.Bought))
	}
	s := strings.Join(did, " and ")
	if !a.Last.IsZero() {
		s += ", last " + prose.Ago(a.Last, now)
	}
	return s
}

func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return strconv.Itoa(n) + " times"
}
