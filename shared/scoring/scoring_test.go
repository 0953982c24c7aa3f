package scoring

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/btyd"
	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/datasets"
	"github.com/dcrm-project/dcrm/shared/nextaction"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/rfm"
)

const day = calendar.Day

var asOf = time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC)

// builder records activities on a profile as stitch would.
type builder struct {
	p profile.Profile
	n int
}

func newBuilder(id string) *builder {
	return &builder{p: profile.Profile{ID: id, UserID: "u-" + id}}
}

func (b *builder) apply(a profile.Activity) *builder {
	b.n++
	a.MessageID = fmt.Sprintf("%s-%d", b.p.ID, b.n)
	a.UserID = b.p.UserID
	b.p = profile.Apply(b.p, a, nil)
	return b
}

func (b *builder) order(at time.Time, revenue float64, products ...string) *builder {
	a := profile.Activity{Type: beacon.Track, Event: "Order Completed", OrderID: fmt.Sprintf("o-%s-%d", b.p.ID, b.n), Revenue: revenue, At: at}
	for _, id := range products {
		a.Products = append(a.Products, profile.Line{ProductID: id, Quantity: 1, Price: revenue})
	}
	return b.apply(a)
}

func (b *builder) visit(at time.Time) *builder {
	return b.apply(profile.Activity{Type: beacon.Page, Page: "/", At: at})
}

func (b *builder) view(at time.Time, product string) *builder {
	return b.apply(profile.Activity{Type: beacon.Track, Event: "Product Viewed", Products: []profile.Line{{ProductID: product, Quantity: 1}}, At: at})
}

func dataset(t testing.TB, parts ...string) string { return datasets.Path(parts...) }

// cdnowOrders reads ../shared/datasets/cdnow/CDNOW_sample.txt (sample id, yyyymmdd, dollars) up to
// and including the day end.
func cdnowOrders(t testing.TB, end time.Time) map[string][]btyd.Transaction {
	t.Helper()
	f, err := os.Open(dataset(t, "cdnow", "CDNOW_sample.txt"))
	require.NoError(t, err)
	defer f.Close()
	out := map[string][]btyd.Transaction{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			continue
		}
		at, err := time.Parse("20060102", fs[2])
		require.NoError(t, err)
		amount, err := strconv.ParseFloat(fs[4], 64)
		require.NoError(t, err)
		if !at.After(end) {
			out[fs[1]] = append(out[fs[1]], btyd.Transaction{CustomerID: fs[1], At: at, Amount: amount})
		}
	}
	require.NoError(t, sc.Err())
	return out
}

var cdnowEnd = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

// cdnowProfiles are the CDNOW sample's customers as profiles, with their orders to the end of the
// calibration period (each order at noon, so that the day is the order's day in any reading).
func cdnowProfiles(t testing.TB) []profile.Profile {
	orders := cdnowOrders(t, cdnowEnd)
	var ps []profile.Profile
	for _, id := range slices.Sorted(maps.Keys(orders)) {
		b := newBuilder("c" + id)
		for _, tx := range orders[id] {
			b.order(tx.At.Add(12*time.Hour), tx.Amount)
		}
		ps = append(ps, b.p)
	}
	return ps
}

// TestCDNOWThroughProfilesReproducesThePaper summarises the CDNOW sample's customers from their
// profiles (orders recorded as stitch records them) and fits the purchase models on them: the
// histories are those of the paper, so the parameters are its published ones — BG/NBD r = 0.243,
// α = 4.414, a = 0.793, b = 2.426 and log-likelihood −9582.4; Pareto/NBD r = 0.553, α = 10.578,
// s = 0.606, β = 11.669 (Fader, Hardie & Lee 2005, "Counting your customers the easy way",
// Marketing Science 24(2), section 7); Gamma-Gamma p = 6.25, q = 3.74, γ = 15.44 on 946 repeat
// buyers (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"). Tolerance: half a unit
// of the last published digit.
func TestCDNOWThroughProfilesReproducesThePaper(t *testing.T) {
	ps := cdnowProfiles(t)
	require.Len(t, ps, 2357)
	var s Sample
	for _, p := range ps {
		s.Count(p)
		require.Equal(t, Buyer, KindOf(p))
		require.NoError(t, s.AddBuyer(p, cdnowEnd))
	}
	require.Equal(t, Size{Read: 2357, Buyers: 2357, RepeatBuyers: 946}, s.Size())

	m := Default.Fit(s, cdnowEnd, nil)
	require.NotNil(t, m.Purchase, "notes: %v", m.Notes)
	bg, pn, gg := m.Purchase.Model.BGNBD, m.Purchase.Model.ParetoNBD, m.Purchase.Model.GammaGamma
	for _, c := range []struct {
		name           string
		got, published float64
		digit          float64
	}{
		{"BG/NBD r", bg.R, 0.243, 0.001}, {"BG/NBD alpha", bg.Alpha, 4.414, 0.001}, {"BG/NBD a", bg.A, 0.793, 0.001},
		{"BG/NBD b", bg.B, 2.426, 0.001}, {"BG/NBD log-likelihood", bg.LogLik, -9582.4, 0.1},
		{"Pareto/NBD r", pn.R, 0.553, 0.001}, {"Pareto/NBD alpha", pn.Alpha, 10.578, 0.001},
		{"Pareto/NBD s", pn.S, 0.606, 0.001}, {"Pareto/NBD beta", pn.Beta, 11.669, 0.001},
		{"Gamma-Gamma p", gg.P, 6.25, 0.01}, {"Gamma-Gamma q", gg.Q, 3.74, 0.01}, {"Gamma-Gamma gamma", gg.Gamma, 15.44, 0.01},
	} {
		require.InDelta(t, c.published, c.got, c.digit/2+1e-9, c.name)
	}
	require.Equal(t, 946, gg.N)
	require.Equal(t, btyd.Week, m.Purchase.Model.Unit)
	require.Equal(t, cdnowEnd, m.Purchase.FittedAt)

	// Scoring a customer applies those models to the same history.
	p := ps[0]
	sc, _, err := Default.Rate(p, &m, cdnowEnd)
	require.NoError(t, err)
	h, err := History(p, FirstOrder(p), cdnowEnd)
	require.NoError(t, err)
	want, err := m.Purchase.Model.Score(h, Default.Valuation)
	require.NoError(t, err)
	require.InDelta(t, want.PAliveBGNBD, sc.Value.PAlive, 5e-5)
	require.InDelta(t, want.CLVBGNBD, sc.Value.CLV, 0.005)
	require.InDelta(t, want.ExpectedBGNBD, sc.Value.ExpectedPurchases, 5e-5)
	require.InDelta(t, want.ExpectedSpend, sc.Value.ExpectedSpend, 0.005)
	require.InDelta(t, want.PAlivePareto, sc.Value.PAlivePareto, 5e-5)
	require.Equal(t, 52.0, sc.Value.HorizonWeeks)
}

// TestRFMThroughProfilesReproducesTheRPackage records the orders of the R package rfm 0.3.0's
// data set (../shared/datasets/rfm/rfm_data_orders.csv) on profiles, fits the cut points on them
// and scores each profile alone: the result is rfm.ScoreAll's on the same orders for all 995
// customers, and the published rows of the vignette "RFM - Introduction" (e.g. Abbey O'Reilly:
// 205 days, 6 orders, 472 → R3 F4 M3, 343, Potential Loyalist; Aden Murphy: 98, 7, 596 → 544).
func TestRFMThroughProfilesReproducesTheRPackage(t *testing.T) {
	f, err := os.Open(dataset(t, "rfm", "rfm_data_orders.csv"))
	require.NoError(t, err)
	defer f.Close()
	orders, err := rfm.ReadOrders(f)
	require.NoError(t, err)
	analysis := time.Date(2006, 12, 31, 0, 0, 0, 0, time.UTC)

	byID := map[string]*builder{}
	for _, o := range orders {
		b, ok := byID[o.CustomerID]
		if !ok {
			b = newBuilder(o.CustomerID)
			byID[o.CustomerID] = b
		}
		b.order(o.Date, o.Revenue)
	}
	var s Sample
	for _, b := range byID {
		require.NoError(t, s.AddBuyer(b.p, analysis))
	}
	cfg := Default
	cfg.MinBuyers = math.MaxInt // RFM only
	m := cfg.Fit(s, analysis, nil)
	require.Nil(t, m.Purchase)
	require.NotNil(t, m.RFM)

	customers, _ := rfm.Customers(orders, analysis)
	want, cp, err := rfm.ScoreAll(customers, analysis, rfm.ConventionR)
	require.NoError(t, err)
	require.Equal(t, cp, m.RFM.Model, "the same cut points")
	for _, w := range want {
		sc, _, err := cfg.Rate(byID[w.ID].p, &m, analysis)
		require.NoError(t, err)
		require.Equal(t, profile.VariantRFM, sc.RFM.Variant)
		require.Equal(t, [5]int{w.RecencyDays, w.Frequency, w.R, w.F, w.M}, [5]int{sc.RFM.RecencyDays, sc.RFM.Frequency, sc.RFM.R, sc.RFM.F, sc.RFM.M}, w.ID)
		require.InDelta(t, w.Monetary, sc.RFM.Monetary, 1e-9, w.ID)
		require.Equal(t, rfm.DefaultSegments.Name(w), sc.RFM.Segment, w.ID)
	}
	abbey, _, err := cfg.Rate(byID["Abbey O'Reilly"].p, &m, analysis)
	require.NoError(t, err)
	require.Equal(t, profile.RFMScore{Variant: "rfm", RecencyDays: 205, Frequency: 6, Monetary: 472, R: 3, F: 4, M: 3, Score: 343,
		Segment: "Potential Loyalist"}, *abbey.RFM)
	aden, _, err := cfg.Rate(byID["Aden Murphy"].p, &m, analysis)
	require.NoError(t, err)
	require.Equal(t, 544, aden.RFM.Score)
}

func TestHistoryFromTheProfile(t *testing.T) {
	b := newBuilder("p1").
		order(asOf.Add(-70*day), 10).
		order(asOf.Add(-70*day+time.Hour), 5). // same day: one purchase of 15
		order(asOf.Add(-35*day), 30).
		order(asOf.Add(-14*day), 50).
		order(asOf.Add(2*day), 99) // after asOf: left out
	h, err := History(b.p, FirstOrder(b.p), asOf)
	require.NoError(t, err)
	require.Equal(t, btyd.Customer{ID: "p1", X: 2, Tx: 56.0 / 7, T: 70.0 / 7, Spend: 40}, h)

	// Returns of a tenth of everything bought: a tenth less spend per purchase.
	returned := b.p
	returned.Returns = profile.Returns{Count: 1, Value: 19.4}
	h, err = History(returned, FirstOrder(returned), asOf)
	require.NoError(t, err)
	require.InDelta(t, 36, h.Spend, 1e-9)
	require.Equal(t, 2, h.X, "returns leave the purchases counted")

	// Settled orders: the first one is not on the profile any more.
	p := b.p
	p.Settled = profile.Settled{Orders: 5, Revenue: 100, OrdersUntil: asOf.Add(-200 * day)}
	p.OrderCount += 5
	p.FirstSeen = asOf.Add(-400 * day)
	require.Equal(t, p.FirstSeen, FirstOrder(p), "nothing remembered: the first seen time")
	p.Score = &profile.Score{FirstOrderAt: asOf.Add(-300 * day)}
	require.Equal(t, asOf.Add(-300*day), FirstOrder(p), "remembered by an earlier score")
	p.Score = &profile.Score{FirstOrderAt: asOf.Add(-100 * day)}
	require.Equal(t, p.FirstSeen, FirstOrder(p), "a remembered time after the settled orders is not the first")

	h, err = History(p, asOf.Add(-300*day), asOf)
	require.NoError(t, err)
	// 4 settled repeat purchases + 3 kept days (the kept orders are all repeats); the mean spend of
	// the 9 orders that were not after asOf.
	require.Equal(t, 7, h.X)
	require.InDelta(t, (300.0-14)/7, h.Tx, 1e-12)
	require.InDelta(t, 300.0/7, h.T, 1e-12)
	require.InDelta(t, (100.0+10+5+30+50)/9, h.Spend, 1e-12)

	_, err = History(p, asOf.Add(day), asOf)
	require.Error(t, err, "a first order after asOf")
	_, err = History(newBuilder("p2").order(asOf.Add(day), 5).p, asOf.Add(day), asOf)
	require.ErrorIs(t, err, btyd.ErrNoCustomers)
}

func TestKinds(t *testing.T) {
	require.Equal(t, Other, KindOf(newBuilder("a").apply(profile.Activity{Type: beacon.Identify, At: asOf}).p))
	require.Equal(t, Visitor, KindOf(newBuilder("b").visit(asOf).p))
	require.Equal(t, Buyer, KindOf(newBuilder("c").visit(asOf).order(asOf, 5).p))
	_, err := VisitorOf(newBuilder("d").apply(profile.Activity{Type: beacon.Identify, At: asOf}).p)
	require.Error(t, err)
	_, err = Customer(newBuilder("e").visit(asOf).p)
	require.Error(t, err)
}

// population is a synthetic shop: buyers (some with two orders) and visitors, with product views.
func population(n int) []profile.Profile {
	var ps []profile.Profile
	for i := range n {
		b := newBuilder(fmt.Sprintf("p%03d", i))
		for v := range 1 + i%7 {
			b.visit(asOf.Add(-time.Duration(1+(i*13+v*5)%90) * day))
		}
		b.view(asOf.Add(-time.Duration(1+i%20)*day), fmt.Sprintf("sku-%d", i%5))
		if i%3 == 0 {
			b.order(asOf.Add(-time.Duration(10+i%60)*day), float64(20+i%50), fmt.Sprintf("sku-%d", (i+1)%5))
		}
		if i%6 == 0 {
			b.order(asOf.Add(-time.Duration(5+i%30)*day), float64(10+i%40), fmt.Sprintf("sku-%d", (i+2)%5))
		}
		ps = append(ps, b.p)
	}
	return ps
}

func sampleOf(ps []profile.Profile, at time.Time) Sample {
	var s Sample
	for _, p := range ps {
		s.Count(p)
		switch KindOf(p) {
		case Buyer:
			_ = s.AddBuyer(p, at)
		case Visitor:
			_ = s.AddVisitor(p, at)
		}
	}
	return s
}

func TestFitKeepsWhatItCannotRefit(t *testing.T) {
	ps := population(90) // 30 buyers, 60 visitors
	first := Default.Fit(sampleOf(ps, asOf), asOf, nil)
	require.Equal(t, Size{Read: 90, Buyers: 30, RepeatBuyers: 15, Visitors: 60}, first.Sample)
	require.Nil(t, first.Purchase)
	require.Equal(t, []string{"no purchase models: 30 buyers in the sample, at least 200 needed"}, first.Notes)
	require.NotNil(t, first.RFM)
	require.Equal(t, 30, first.RFM.N)
	require.NotNil(t, first.Engagement)
	require.Equal(t, 60, first.Engagement.N)
	require.NotNil(t, first.CoOccurrence)
	require.Equal(t, 90, first.CoOccurrence.Model.Profiles)
	require.NotNil(t, first.Clusters)
	require.Equal(t, 90, first.Clusters.N, "the buyers and visitors")
	require.NoError(t, first.Validate())

	// The stored document round-trips.
	raw, err := json.Marshal(first)
	require.NoError(t, err)
	var back Models
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Equal(t, first, back)

	// A later fit with too few buyers and visitors keeps the RFM and engagement cut points.
	later := asOf.Add(day)
	second := Default.Fit(sampleOf(ps[:10], later), later, &first)
	require.Equal(t, first.RFM, second.RFM)
	require.Equal(t, first.Engagement, second.Engagement)
	require.Equal(t, later, second.CoOccurrence.FittedAt, "the co-occurrence model is refitted on any sample")
	require.Equal(t, []string{
		"no purchase models: 4 buyers in the sample, at least 200 needed",
		"RFM cut points kept from the fit of 2025-03-31T12:00:00Z: 4 buyers in the sample, at least 20 needed",
		"engagement cut points kept from the fit of 2025-03-31T12:00:00Z: 6 visitors in the sample, at least 20 needed",
		"customer clusters kept from the fit of 2025-03-31T12:00:00Z: 10 buyers and visitors in the sample, at least 50 needed",
	}, second.Notes)
	require.Equal(t, first.Clusters, second.Clusters)

	// Enough buyers, but none bought twice: the purchase models cannot be fitted.
	var once []profile.Profile
	for i := range 12 {
		once = append(once, newBuilder(fmt.Sprintf("once%d", i)).order(asOf.Add(-time.Duration(i+1)*day), 10).p)
	}
	cfg := Default
	cfg.MinBuyers = 10
	third := cfg.Fit(sampleOf(once, asOf), asOf, nil)
	require.Nil(t, third.Purchase)
	require.Contains(t, third.Notes[0], "no purchase models: 0 of 12 buyers bought again and the fit failed")

	require.ErrorIs(t, Models{Format: 2}.Validate(), ErrInvalidModels)
	bad := first
	bad.RFM = &Part[rfm.CutPoints]{Model: rfm.CutPoints{Convention: "x"}}
	require.ErrorIs(t, bad.Validate(), ErrInvalidModels)
}

func TestRateBuyersAndVisitors(t *testing.T) {
	ps := population(90)
	m := Default.Fit(sampleOf(ps, asOf), asOf, nil)
	m.Version = 7
	for _, p := range ps {
		sc, _, err := Default.Rate(p, &m, asOf)
		require.NoError(t, err)
		require.Equal(t, asOf, sc.ScoredAt)
		require.Equal(t, 7, sc.ModelVersion)
		require.NotNil(t, sc.Lapse)
		switch KindOf(p) {
		case Buyer:
			c, _ := Customer(p)
			want, err := m.RFM.Model.Score(c, asOf)
			require.NoError(t, err)
			require.Equal(t, rfmScore(profile.VariantRFM, want, rfm.DefaultSegments), sc.RFM)
			require.Equal(t, FirstOrder(p), sc.FirstOrderAt)
			require.Nil(t, sc.Value, "no purchase model was fitted")
			require.Equal(t, 1.0, sc.Lapse.PAlive)
		case Visitor:
			v, _ := VisitorOf(p)
			want, err := m.Engagement.Model.Score(v, asOf)
			require.NoError(t, err)
			require.Equal(t, profile.VariantEngagement, sc.RFM.Variant)
			require.Equal(t, [3]int{want.R, want.F, want.M}, [3]int{sc.RFM.R, sc.RFM.F, sc.RFM.M})
			require.Equal(t, rfm.DefaultVisitorSegments.Name(want), sc.RFM.Segment)
			require.True(t, sc.FirstOrderAt.IsZero())
		}
		actions := Default.NextAction.Recommend(p, m.CoOccurrence.Model, asOf, 3)
		require.Len(t, sc.NextActions, len(actions))
		for i, a := range actions {
			require.Equal(t, profile.NextAction{Kind: a.Kind, Product: a.Product, Category: a.Category, Form: a.Form, Score: a.Score, Reason: a.Reason}, sc.NextActions[i])
		}
	}
	// Without models: next actions and lapse risk only.
	sc, crossed, err := Default.Rate(ps[0], nil, asOf)
	require.NoError(t, err)
	require.Nil(t, crossed)
	require.Nil(t, sc.RFM)
	require.Zero(t, sc.ModelVersion)
	require.NotNil(t, sc.Lapse)
}

// A customer who visited every five days for months and then stopped crosses the lapse line once;
// after coming back and stopping again (past the cooldown) they cross it again.
func TestLapseAlertsOncePerCrossing(t *testing.T) {
	b := newBuilder("lapser").order(asOf.Add(-60*day), 100)
	for d := 110; d >= 40; d -= 5 {
		b.visit(asOf.Add(-time.Duration(d) * day))
	}
	p := b.p
	sc, crossed, err := Default.Rate(p, nil, asOf)
	require.NoError(t, err)
	require.NotNil(t, crossed)
	require.Equal(t, p.ID, crossed.ProfileID)
	require.Equal(t, 100.0, crossed.Value, "no purchase model: the revenue so far")
	require.GreaterOrEqual(t, crossed.Score, 0.8)
	require.True(t, sc.Lapse.Above)
	require.Equal(t, crossed.Score, sc.Lapse.Risk)

	// The next run (the alert recorded) raises nothing; the state stays above.
	p.Score, p.LapseAlertedAt = &sc, asOf
	sc2, crossed, err := Default.Rate(p, nil, asOf.Add(time.Hour))
	require.NoError(t, err)
	require.Nil(t, crossed)
	require.True(t, sc2.Lapse.Above)

	// Back for a month: under the line.
	for d := 2; d <= 30; d += 3 {
		b.visit(asOf.Add(time.Duration(d) * day))
	}
	p2 := b.p
	p2.Score, p2.LapseAlertedAt = &sc2, asOf
	back := asOf.Add(31 * day)
	sc3, crossed, err := Default.Rate(p2, nil, back)
	require.NoError(t, err)
	require.Nil(t, crossed)
	require.False(t, sc3.Lapse.Above)

	// Gone again: a new crossing, past the cooldown.
	p2.Score = &sc3
	gone := asOf.Add(80 * day)
	sc4, crossed, err := Default.Rate(p2, nil, gone)
	require.NoError(t, err)
	require.NotNil(t, crossed)
	require.Equal(t, gone, crossed.At)
	require.True(t, sc4.Lapse.Above)

	// A visitor who never bought is worth nothing: never alerted.
	v := newBuilder("visitor")
	for d := 110; d >= 40; d -= 5 {
		v.visit(asOf.Add(-time.Duration(d) * day))
	}
	sc5, crossed, err := Default.Rate(v.p, nil, asOf)
	require.NoError(t, err)
	require.Nil(t, crossed)
	require.GreaterOrEqual(t, sc5.Lapse.Risk, 0.8)
	require.False(t, sc5.Lapse.Above)
}

func TestWriteWhatDecidesAtOnceAndDriftInItsHour(t *testing.T) {
	ps := population(90)
	m := Default.Fit(sampleOf(ps, asOf), asOf, nil)
	p := ps[3] // a buyer with views and visits
	sc, _, err := Default.Rate(p, &m, asOf)
	require.NoError(t, err)
	require.True(t, Default.Write(p.ID, nil, sc), "nothing stored")
	require.False(t, Default.Write(p.ID, &sc, sc), "nothing changed")

	// An hour later the same day: only the action scores decayed.
	p.Score = &sc
	later, _, err := Default.Rate(p, &m, asOf.Add(time.Hour))
	require.NoError(t, err)
	require.NotEmpty(t, sc.NextActions)
	require.NotEqual(t, sc.NextActions, later.NextActions, "action scores decay by the hour")
	require.False(t, Default.Write(p.ID, &sc, later), "decayed action scores alone are not news")

	// New models drift: written in the profile's hour, or once the stored score is old.
	m2 := m
	m2.Version = 9
	hour := Slot(p.ID, 24*time.Hour)
	at := asOf.Add(time.Hour)
	for at.Hour() != hour {
		at = at.Add(time.Hour)
	}
	drift, _, err := Default.Rate(p, &m2, at)
	require.NoError(t, err)
	require.True(t, Default.Write(p.ID, &sc, drift), "in its hour")
	// The same drift at other times.
	d := sc
	d.ModelVersion = 9
	at = time.Date(2025, 4, 1, hour, 5, 0, 0, time.UTC)
	old := sc
	old.ScoredAt = at.Add(-20 * time.Hour)
	for _, c := range []struct {
		at   time.Time
		want bool
		why  string
	}{
		{at, true, "in its hour"},
		{at.Add(time.Hour), false, "not in its hour"},
		{old.ScoredAt.Add(25 * time.Hour), true, "older than the period, whatever the hour"},
	} {
		d.ScoredAt = c.at
		require.Equal(t, c.want, Default.Write(p.ID, &old, d), c.why)
	}
	old.ScoredAt, d.ScoredAt = at, at.Add(30*time.Minute)
	require.False(t, Default.Write(p.ID, &old, d), "not twice within the hour")

	// A new order, a flipped alert state, a jump in risk are written at once.
	p3 := newBuilder(p.ID)
	p3.p = p
	p3.order(asOf.Add(-time.Hour), 500)
	bought, _, err := Default.Rate(p3.p, &m, asOf.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, Default.Write(p.ID, &sc, bought))
	flipped, jumped := sc, sc
	l, k := *sc.Lapse, *sc.Lapse
	l.Above = !l.Above
	k.Risk += RiskStep
	flipped.Lapse, jumped.Lapse = &l, &k
	require.True(t, Default.Write(p.ID, &sc, flipped))
	require.True(t, Default.Write(p.ID, &sc, jumped))

	// Slots spread the profiles over the period.
	perHour := map[int]int{}
	for i := range 24000 {
		perHour[Slot(fmt.Sprintf("prf_%024x", i*7919), 24*time.Hour)]++
	}
	require.Len(t, perHour, 24)
	for h, n := range perHour {
		require.InDelta(t, 1000, n, 150, "hour %d", h)
	}

	// A weekly refresh: the drift waits for the profile's hour of the week.
	weekly := Default
	weekly.Refresh = 7 * 24 * time.Hour
	slot := Slot(p.ID, weekly.Refresh)
	require.Less(t, slot, 168)
	d.ScoredAt = time.Unix(int64(slot)*3600+7*24*3600*2900, 0).UTC()
	old.ScoredAt = d.ScoredAt.Add(-100 * time.Hour)
	require.True(t, weekly.Write(p.ID, &old, d), "in its hour of the week")
	d.ScoredAt = d.ScoredAt.Add(24 * time.Hour)
	require.False(t, weekly.Write(p.ID, &old, d), "the same hour the next day is not its hour of the week")
	d.ScoredAt = old.ScoredAt.Add(weekly.Refresh + time.Hour)
	require.True(t, weekly.Write(p.ID, &old, d), "older than a week")
}

func TestNextActionsUseTheCoOccurrenceModel(t *testing.T) {
	// Six people who looked at "tent" bought "stove": enough support for the model.
	var s Sample
	for i := range 6 {
		b := newBuilder(fmt.Sprintf("camper%d", i)).view(asOf.Add(-3*day), "tent").order(asOf.Add(-2*day), 80, "stove")
		s.Count(b.p)
	}
	for i := range 20 {
		s.Count(newBuilder(fmt.Sprintf("other%d", i)).view(asOf.Add(-3*day), "sock").order(asOf.Add(-2*day), 5, "sock").p)
	}
	m := Default.Fit(s, asOf, nil)
	require.NotEmpty(t, m.CoOccurrence.Model.ViewedBought["tent"])

	newcomer := newBuilder("newcomer").view(asOf.Add(-time.Hour), "tent").p
	sc, _, err := Default.Rate(newcomer, &m, asOf)
	require.NoError(t, err)
	kinds := map[string]string{}
	for _, a := range sc.NextActions {
		kinds[a.Kind] = a.Product
	}
	require.Equal(t, "stove", kinds[nextaction.RecommendProduct], "actions: %+v", sc.NextActions)
	require.Equal(t, "tent", kinds[nextaction.RemindViewed])
}
