package audience

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// benchSubject is a realistic customer: 20 traits, 30 orders over two years, a basket, scores,
// consent, a service case, and the events the benchmark set counts.
func benchSubject(now time.Time) *ProfileSubject {
	traits := map[string]any{
		"email": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "phone": "[redacted]",
		"firstName": "[redacted]", "plan": "gold", "age": 41.0, "tags": []any{"vip", "newsletter"}, "newsletter": true,
		"address":     map[string]any{"city": "London", "country": "GB"},
		"renewalDate": now.Add(20 * day).Format(time.RFC3339), "company": "Acme", "title": "Buyer",
		"source": "import", "language": "en", "currency": "GBP", "birthYear": 1984.0, "loyaltyId": "L-1234",
		"marketingOptIn": true, "segment": "retail", "lastCampaign": "spring", "score": "87",
	}
	var orders []profile.Order
	for i := range 30 {
		orders = append(orders, profile.Order{ID: fmt.Sprintf("o%d", i), At: now.Add(-time.Duration(700-23*i) * day), Revenue: 40 + float64(i)})
	}
	var changes []profile.BasketChange
	for i := range 4 {
		changes = append(changes, profile.BasketChange{At: now.Add(-time.Duration(3+i) * time.Hour), ProductID: fmt.Sprintf("p%d", i), Quantity: 1, Price: 25})
	}
	p := profile.Profile{
		ID: "p1", UserID: "u1", AnonymousIDs: []string{"a1", "a2"}, Traits: traits,
		FirstSeen: now.Add(-720 * day), LastSeen: now.Add(-2 * time.Hour),
		Counts: profile.Counts{Events: 900, PageViews: 400, Tracks: 450, Identifies: 10},
		Groups: []string{"acme"},
		Consent: map[string]profile.Consent{profile.PurposeMarketing: {Granted: true, At: now.Add(-100 * day)},
			profile.PurposeAnalytics: {Granted: true, At: now.Add(-100 * day)}},
		Score: &profile.Score{ScoredAt: now.Add(-day), RFM: &profile.RFMScore{Score: 454, R: 4, F: 5, M: 4, Segment: "Loyal Customers"},
			Value: &profile.Value{CLV: 640, PAlive: 0.86}, Lapse: &profile.LapseRisk{Risk: 0.35},
			NextActions: []profile.NextAction{{Kind: "offer", Score: 0.7}}},
		Visits: 85, EngagedSeconds: 5400, LastChannel: "email",
		Orders: orders, OrderCount: 30, Revenue: 1635,
		FirstOrder: profile.Touch{At: orders[0].At, Channel: "online"}, LastOrder: profile.Touch{At: orders[29].At, Channel: "online"},
		Acquisition: profile.Touch{At: now.Add(-720 * day), Channel: "paid_search"},
		Basket:      profile.Basket{Changes: changes, ClearedAt: orders[29].At},
		Cases:       map[string]profile.Case{"c1": {Status: "closed"}},
	}
	s := FromProfile(p, map[string]any{"propensity": 0.82, "topCategories": []any{"shoes", "bags"}}, nil)
	var views []time.Time
	for i := range 40 {
		views = append(views, now.Add(-time.Duration(i)*4*time.Hour))
	}
	s.SetEvents("Product Viewed", views)
	s.SetEvents("Signed Up", nil)
	s.Lookalike = map[string]float64{"vip": 0.4}
	return s
}

// BenchmarkMatch evaluates the 50 definitions of testdata/benchmark.json (RFM segments, consent,
// baskets, windows, event counts, audiences of audiences, traits) against one realistic customer,
// as the stitch function would on each event, and reports audiences evaluated per millisecond:
// set is the whole set with NextChange (Set.Evaluate) on a subject built fresh for each event (its
// basket, orders and identifiers derived, its data not in cache); set-warm the same on one subject
// over and over; match is Match alone, per definition.
func BenchmarkMatch(b *testing.B) {
	var defs []Definition
	for _, raw := range benchmarkSet(b) {
		defs = append(defs, mustParse(b, string(raw)))
	}
	set, err := NewSet(defs)
	require.NoError(b, err)
	now := t0
	report := func(b *testing.B) {
		b.ReportMetric(float64(len(defs)*b.N)/(float64(b.Elapsed().Nanoseconds())/1e6), "audiences/ms")
	}
	b.Run("set", func(b *testing.B) {
		// A fresh subject per event, as the stitch function would build one.
		subjects := make([]*ProfileSubject, b.N)
		for i := range subjects {
			subjects[i] = benchSubject(now)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := set.Evaluate(subjects[i], now); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("set-warm", func(b *testing.B) {
		// One subject again and again: the evaluation alone, its profile derived and in cache.
		s := benchSubject(now)
		b.ReportAllocs()
		for range b.N {
			if _, err := set.Evaluate(s, now); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("match", func(b *testing.B) {
		s := benchSubject(now)
		s.Audiences = []string{"rfm-champions", "big-spenders", "repeat-buyers", "customers", "vip"}
		ordered := set.Definitions()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			for _, d := range ordered {
				if _, err := d.Match(s, now); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b)
	})
}
