package importing

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/datasets"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/rfm"
	"github.com/dcrm-project/dcrm/shared/scoring"
)

// The set imported as orders and recorded on profiles by the profile's own rules (the events
// shuffled by customer, as a stream delivers them in any order) shows each customer as the file
// does: revenue net of returns, orders, returns, first and last order, and the RFM scores the
// scoring function computes from the profile. Store orders would say so: these are the shop's.
func TestOnlineRetailOnTheProfile(t *testing.T) {
	path := datasets.OnlineRetail()
	want, _, _, lastDay := directFigures(t, path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(f, retailSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := drain(t, rd)
	byCustomer := map[string][]profile.Activity{}
	for _, o := range out {
		if o.Event == nil {
			continue
		}
		a, err := profile.FromEvent(*o.Event)
		if err != nil {
			t.Fatalf("%s: %v", o.Event.MessageID, err)
		}
		byCustomer[a.UserID] = append(byCustomer[a.UserID], a)
	}
	profiles := map[string]profile.Profile{}
	for id, acts := range byCustomer {
		p := profile.Profile{ID: id}
		for i := len(acts) - 1; i >= 0; i-- { // newest first: the rules do not depend on the order
			p = profile.Apply(p, acts[i], nil)
		}
		profiles[id] = p
	}
	if len(profiles) != len(want) {
		t.Fatalf("%d profiles, the file has %d customers", len(profiles), len(want))
	}
	var customers []rfm.Customer
	for id, w := range want {
		p := profiles[id]
		if math.Abs(p.Revenue-w.revenue) > 1e-6*math.Max(1, math.Abs(w.revenue)) || p.OrderCount != w.orders || p.Returns.Count != w.returns {
			t.Errorf("customer %s: revenue %v, %d orders, %d returns; file %+v", id, p.Revenue, p.OrderCount, p.Returns.Count, *w)
		}
		if w.orders > 0 && (!p.FirstOrder.At.Equal(w.firstOrder) || !p.LastOrder.At.Equal(w.lastOrd) || p.FirstOrder.Channel != profile.ChannelOnline) {
			t.Errorf("customer %s: first order %+v, last %+v; file %v, %v", id, p.FirstOrder, p.LastOrder, w.firstOrder, w.lastOrd)
		}
		if !p.LastSeen.IsZero() && w.orders == 0 {
			t.Errorf("customer %s with returns alone was seen on a site: %v", id, p.LastSeen)
		}
		if w.orders > 0 {
			c, err := scoring.Customer(p)
			if err != nil {
				t.Fatal(err)
			}
			customers = append(customers, c)
		}
	}
	asOf := time.Date(lastDay.Year(), lastDay.Month(), lastDay.Day()+1, 0, 0, 0, 0, time.UTC)
	got, _, err := rfm.ScoreAll(customers, asOf, rfm.ConventionR)
	if err != nil {
		t.Fatal(err)
	}
	var direct []rfm.Customer
	for id, w := range want {
		if w.orders > 0 {
			direct = append(direct, rfm.Customer{ID: id, LastOrder: w.lastOrd, Orders: w.orders, Revenue: w.revenue})
		}
	}
	wantScores, _, err := rfm.ScoreAll(direct, asOf, rfm.ConventionR)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]rfm.Score{}
	for _, s := range wantScores {
		byID[s.ID] = s
	}
	if len(got) != len(wantScores) {
		t.Fatalf("%d scored, file %d", len(got), len(wantScores))
	}
	for _, g := range got {
		if w := byID[g.ID]; g.RFM() != w.RFM() || g.RecencyDays != w.RecencyDays || g.Frequency != w.Frequency {
			t.Errorf("customer %s: RFM %+v, file %+v", g.ID, g, w)
		}
	}
}
