package scoring

import (
	"fmt"
	"math"
	"time"

	"github.com/dcrm-project/dcrm/shared/btyd"
	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/rfm"
)

// Kind is what the models see in a profile.
type Kind int

// Kinds of profile.
const (
	Other   Kind = iota // neither ordered nor visited (identified only, say)
	Buyer               // ordered at least once: RFM and the purchase models
	Visitor             // visited, never ordered: the engagement variant
)

// KindOf tells whether a profile is a buyer, a visitor or neither.
func KindOf(p profile.Profile) Kind {
	switch {
	case p.OrderCount > 0:
		return Buyer
	case p.Visits > 0 && !p.LastSeen.IsZero():
		return Visitor
	}
	return Other
}

// FirstOrder is when the customer first ordered, as far as the profile and its score know (see
// the package comment); zero for someone who never ordered.
func FirstOrder(p profile.Profile) time.Time {
	if p.OrderCount == 0 {
		return time.Time{}
	}
	if p.Settled.Orders == 0 && len(p.Orders) > 0 {
		return p.Orders[0].At.UTC() // the whole order history is on the profile
	}
	if p.Score != nil && !p.Score.FirstOrderAt.IsZero() && !p.Score.FirstOrderAt.After(p.Settled.OrdersUntil) {
		return p.Score.FirstOrderAt.UTC()
	}
	if !p.FirstSeen.IsZero() && !p.FirstSeen.After(p.Settled.OrdersUntil) {
		return p.FirstSeen.UTC() // the earliest it can have been
	}
	return p.Settled.OrdersUntil.UTC()
}

// LastOrder is when the customer last ordered; zero if never.
func LastOrder(p profile.Profile) time.Time {
	last := p.Settled.OrdersUntil
	if n := len(p.Orders); n > 0 && p.Orders[n-1].At.After(last) {
		last = p.Orders[n-1].At
	}
	return last.UTC()
}

// Customer is the buyer as RFM reads them: last order, orders and revenue, settled ones included.
func Customer(p profile.Profile) (rfm.Customer, error) {
	c := rfm.Customer{ID: p.ID, LastOrder: LastOrder(p), Orders: p.OrderCount, Revenue: p.Revenue}
	if c.Orders < 1 || c.LastOrder.IsZero() || math.IsNaN(c.Revenue) || math.IsInf(c.Revenue, 0) {
		return rfm.Customer{}, fmt.Errorf("profile %s is not a buyer RFM can rate: %d orders, last %v, revenue %v", p.ID, c.Orders, c.LastOrder, c.Revenue)
	}
	return c, nil
}

// VisitorOf is the visitor as the engagement variant reads them.
func VisitorOf(p profile.Profile) (rfm.Visitor, error) {
	v := rfm.Visitor{ID: p.ID, LastSeen: p.LastSeen.UTC(), Visits: p.Visits, PageViews: p.Counts.PageViews + p.Counts.Screens,
		EngagedSeconds: float64(p.EngagedSeconds)}
	if v.Visits < 1 || v.LastSeen.IsZero() || v.PageViews < 0 || v.EngagedSeconds < 0 {
		return rfm.Visitor{}, fmt.Errorf("profile %s is not a visitor the engagement variant can rate: %d visits, %d page views", p.ID, v.Visits, v.PageViews)
	}
	return v, nil
}

// History is the buyer's purchase history at asOf in weeks, as the purchase models read it, with
// first the time of their first order (FirstOrder). Orders after asOf (clock skew) are left out.
// Returns reduce the spend per purchase in proportion: the models see what the customer kept.
func History(p profile.Profile, first, asOf time.Time) (btyd.Customer, error) {
	c, err := history(p, first, asOf)
	if err != nil || p.Returns.Value <= 0 {
		return c, err
	}
	gross := p.Settled.Revenue
	for _, o := range p.Orders {
		gross += o.Revenue
	}
	if gross > 0 {
		c.Spend *= max(0, gross-p.Returns.Value) / gross
	}
	return c, nil
}

func history(p profile.Profile, first, asOf time.Time) (btyd.Customer, error) {
	if p.Settled.Orders == 0 {
		txs := make([]btyd.Transaction, 0, len(p.Orders))
		for _, o := range p.Orders {
			txs = append(txs, btyd.Transaction{CustomerID: p.ID, At: o.At.UTC(), Amount: o.Revenue})
		}
		cs, err := btyd.Summarise(txs, btyd.Summary{CalibrationEnd: asOf.UTC(), Unit: btyd.Week})
		if err != nil {
			return btyd.Customer{}, fmt.Errorf("purchase history of %s: %w", p.ID, err)
		}
		return cs[0], nil
	}
	// The first order was settled: the kept orders are all repeat purchases. Settled orders'
	// days are unknown, so each counts as a day of its own, and the spend of a purchase is the
	// mean of every order (the first one's amount is not known apart).
	end, firstDay := calendar.DayNumber(asOf.UTC()), calendar.DayNumber(first)
	if firstDay > end {
		return btyd.Customer{}, fmt.Errorf("purchase history of %s: first order %s is after %s", p.ID, first, asOf)
	}
	c := btyd.Customer{ID: p.ID, X: p.Settled.Orders - 1}
	last := min(calendar.DayNumber(p.Settled.OrdersUntil.UTC()), end)
	orders, revenue := p.Settled.Orders, p.Settled.Revenue
	prev := int64(math.MinInt64)
	for _, o := range p.Orders {
		d := calendar.DayNumber(o.At.UTC())
		if d > end {
			continue
		}
		orders++
		revenue += o.Revenue
		if d != prev && d != firstDay {
			c.X++
		}
		prev = max(prev, d)
		last = max(last, d)
	}
	c.X = max(c.X, 0)
	if c.X > 0 {
		c.Tx = float64(max(last-firstDay, 0)) / 7
		c.Spend = revenue / float64(orders)
	}
	c.T = float64(end-firstDay) / 7
	return c, nil
}
