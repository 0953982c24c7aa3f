package audience

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// subject is a Subject of fields by name as written (event counts by their normalised name); a
// field it does not hold is missing.
type subject map[string]Value

func (s subject) Value(f Field) (Value, bool) {
	name := f.Name
	if f.Kind == KindEvent {
		name = "event." + f.Key + ".count"
	}
	v, ok := s[name]
	return v, ok
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func mustParse(t testing.TB, doc string) Definition {
	t.Helper()
	d, err := Parse([]byte(doc))
	require.NoError(t, err, doc)
	return d
}

// one is a definition of one condition.
func one(t testing.TB, cond string) Definition {
	return mustParse(t, `{"id": "t", "name": "T", "rule": `+cond+`}`)
}

func match(t testing.TB, d Definition, s Subject, now time.Time) bool {
	t.Helper()
	ok, err := d.Match(s, now)
	require.NoError(t, err)
	return ok
}

func TestOperators(t *testing.T) {
	s := subject{
		"orders": {Number: 3}, "lastChannel": {String: "email"}, "groups": {List: []string{"acme", "globex"}},
		"lastSeen":          {Time: t0.Add(-10 * day)},
		"consent.marketing": {String: "granted"},
		"identifiers.email": {},
		"traits.plan":       {JSON: "gold"}, "traits.age": {JSON: "42"}, "traits.vip": {JSON: true},
		"traits.tags": {JSON: []any{"a", "b", 3.0}}, "traits.empty": {JSON: ""}, "traits.null": {JSON: nil},
		"traits.renewal": {JSON: "2025-06-20"}, "traits.address.city": {JSON: "London"},
		"computed.cats": {JSON: []string{"shoes", "bags"}}, "computed.n": {JSON: 7},
	}
	for cond, want := range map[string]bool{
		`{"field": "orders", "op": "==", "value": 3}`:                                true,
		`{"field": "orders", "op": "!=", "value": 3}`:                                false,
		`{"field": "orders", "op": "<", "value": 3}`:                                 false,
		`{"field": "orders", "op": "<=", "value": 3}`:                                true,
		`{"field": "orders", "op": ">", "value": 2.5}`:                               true,
		`{"field": "orders", "op": ">=", "value": 4}`:                                false,
		`{"field": "orders", "op": "between", "value": [3, 3]}`:                      true,
		`{"field": "orders", "op": "between", "value": [4, 9]}`:                      false,
		`{"field": "orders", "op": "exists"}`:                                        true,
		`{"field": "lastChannel", "op": "==", "value": "email"}`:                     true,
		`{"field": "lastChannel", "op": "==", "value": "Email"}`:                     false,
		`{"field": "lastChannel", "op": "in", "value": ["sms", "email"]}`:            true,
		`{"field": "lastChannel", "op": "notIn", "value": ["email"]}`:                false,
		`{"field": "lastChannel", "op": "contains", "value": "mai"}`:                 true,
		`{"field": "lastChannel", "op": "startsWith", "value": "em"}`:                true,
		`{"field": "lastChannel", "op": "startsWith", "value": "ma"}`:                false,
		`{"field": "groups", "op": "contains", "value": "acme"}`:                     true,
		`{"field": "groups", "op": "contains", "value": "acm"}`:                      false,
		`{"field": "groups", "op": "containsAny", "value": ["x", "globex"]}`:         true,
		`{"field": "groups", "op": "containsAll", "value": ["acme", "x"]}`:           false,
		`{"field": "groups", "op": "containsAll", "value": ["acme", "globex"]}`:      true,
		`{"field": "groups", "op": "size", "value": 2}`:                              true,
		`{"field": "groups", "op": "sizeAtLeast", "value": 3}`:                       false,
		`{"field": "groups", "op": "sizeAtMost", "value": 2}`:                        true,
		`{"field": "lastSeen", "op": "within", "value": "10d"}`:                      false, // exactly 10 days ago is not within 10 days
		`{"field": "lastSeen", "op": "within", "value": "11d"}`:                      true,
		`{"field": "lastSeen", "op": "before", "value": "-9d"}`:                      true,
		`{"field": "lastSeen", "op": "before", "value": "-10d"}`:                     false, // strictly before
		`{"field": "lastSeen", "op": "after", "value": "2025-05-01"}`:                true,
		`{"field": "lastSeen", "op": "after", "value": "2025-05-22T12:00:00Z"}`:      false,
		`{"field": "lastSeen", "op": "before", "value": "now"}`:                      true,
		`{"field": "consent.marketing", "op": "==", "value": "granted"}`:             true,
		`{"field": "consent.analytics", "op": "==", "value": "unknown"}`:             true,
		`{"field": "consent.analytics", "op": "in", "value": ["granted", "denied"]}`: false,
		`{"field": "consent.analytics", "op": "!=", "value": "granted"}`:             true,
		`{"field": "identifiers.email", "op": "exists"}`:                             true,
		`{"field": "identifiers.phone", "op": "missing"}`:                            true,
		`{"field": "traits.plan", "op": "==", "value": "gold"}`:                      true,
		`{"field": "traits.age", "op": ">=", "value": 18}`:                           true, // a numeric string
		`{"field": "traits.age", "op": "==", "value": 42}`:                           true,
		`{"field": "traits.age", "op": "==", "value": "42"}`:                         true,
		`{"field": "traits.plan", "op": ">=", "value": 18}`:                          false, // not a number
		`{"field": "traits.vip", "op": "==", "value": true}`:                         true,
		`{"field": "traits.vip", "op": "==", "value": "true"}`:                       false, // a boolean is not a string
		`{"field": "traits.vip", "op": "!=", "value": "true"}`:                       true,
		`{"field": "traits.tags", "op": "contains", "value": "b"}`:                   true,
		`{"field": "traits.tags", "op": "contains", "value": 3}`:                     true,
		`{"field": "traits.tags", "op": "containsAll", "value": ["a", 3]}`:           true,
		`{"field": "traits.tags", "op": "containsAny", "value": ["z"]}`:              false,
		`{"field": "traits.tags", "op": "size", "value": 3}`:                         true,
		`{"field": "traits.plan", "op": "size", "value": 4}`:                         false, // a string is not a list
		`{"field": "traits.plan", "op": "contains", "value": "ol"}`:                  true,
		`{"field": "traits.plan", "op": "startsWith", "value": "go"}`:                true,
		`{"field": "traits.plan", "op": "in", "value": ["silver", "gold"]}`:          true,
		`{"field": "traits.empty", "op": "exists"}`:                                  true,
		`{"field": "traits.empty", "op": "==", "value": ""}`:                         true,
		`{"field": "traits.null", "op": "missing"}`:                                  true,
		`{"field": "traits.null", "op": "!=", "value": 1}`:                           true,
		`{"field": "traits.renewal", "op": "before", "value": "+30d"}`:               true,
		`{"field": "traits.renewal", "op": "after", "value": "now"}`:                 true,
		`{"field": "traits.renewal", "op": "within", "value": "30d"}`:                false, // in the future
		`{"field": "traits.plan", "op": "before", "value": "now"}`:                   false, // not a time
		`{"field": "traits.address.city", "op": "==", "value": "London"}`:            true,
		`{"field": "computed.cats", "op": "contains", "value": "shoes"}`:             true,
		`{"field": "computed.n", "op": "between", "value": [5, 10]}`:                 true,
		// Missing fields: false but for missing, != and notIn.
		`{"field": "visits", "op": ">=", "value": 0}`:                     false,
		`{"field": "visits", "op": "!=", "value": 1}`:                     true,
		`{"field": "visits", "op": "missing"}`:                            true,
		`{"field": "visits", "op": "exists"}`:                             false,
		`{"field": "acquisitionChannel", "op": "notIn", "value": ["x"]}`:  true,
		`{"field": "acquisitionChannel", "op": "in", "value": ["x"]}`:     false,
		`{"field": "firstSeen", "op": "within", "value": "30d"}`:          false,
		`{"field": "firstSeen", "op": "before", "value": "now"}`:          false,
		`{"not": {"field": "firstSeen", "op": "within", "value": "30d"}}`: true,
		`{"field": "audiences", "op": "size", "value": 0}`:                false,
		`{"field": "traits.nope", "op": "==", "value": "x"}`:              false,
		`{"field": "traits.nope.deeper", "op": "!=", "value": "x"}`:       true,
		// Rules.
		`{"all": [{"field": "orders", "op": "==", "value": 3}, {"field": "traits.vip", "op": "==", "value": true}]}`:  true,
		`{"all": [{"field": "orders", "op": "==", "value": 3}, {"field": "traits.vip", "op": "==", "value": false}]}`: false,
		`{"any": [{"field": "orders", "op": "==", "value": 4}, {"field": "traits.vip", "op": "==", "value": true}]}`:  true,
		`{"any": [{"field": "orders", "op": "==", "value": 4}, {"field": "visits", "op": "exists"}]}`:                 false,
	} {
		require.Equal(t, want, match(t, one(t, cond), s, t0), cond)
	}
}

func TestWindowedCounts(t *testing.T) {
	s := subject{
		"orders":               {Number: 5, Points: []Point{{At: t0.Add(-40 * day), Amount: 100}, {At: t0.Add(-20 * day), Amount: 50}, {At: t0.Add(-day), Amount: 25}}},
		"revenue":              {Number: 175, Points: []Point{{At: t0.Add(-40 * day), Amount: 100}, {At: t0.Add(-20 * day), Amount: 50}, {At: t0.Add(-day), Amount: 25}}},
		"event.signedup.count": {Points: []Point{{At: t0.Add(-time.Hour)}, {At: t0.Add(-3 * day)}, {At: t0.Add(time.Hour)}}},
	}
	for cond, want := range map[string]bool{
		`{"field": "orders", "op": "==", "value": 5}`:                                 true, // all time
		`{"field": "orders", "op": "==", "value": 2, "within": "30d"}`:                true,
		`{"field": "orders", "op": "==", "value": 3, "within": "40d"}`:                false, // exactly 40 days ago is out
		`{"field": "orders", "op": "==", "value": 3, "within": "41d"}`:                true,
		`{"field": "revenue", "op": "==", "value": 75, "within": "30d"}`:              true,
		`{"field": "event.Signed Up.count", "op": "==", "value": 1, "within": "1d"}`:  true, // the future one does not count yet
		`{"field": "event.signed_up.count", "op": "==", "value": 2, "within": "7d"}`:  true,
		`{"field": "event.Signed-Up.count", "op": "==", "value": 0, "within": "30m"}`: true,
	} {
		require.Equal(t, want, match(t, one(t, cond), s, t0), cond)
	}
	// An event count the subject does not supply is an error, wherever it is in the rule.
	d := one(t, `{"any": [{"field": "orders", "op": ">=", "value": 0}, {"field": "event.Viewed.count", "op": ">", "value": 0, "within": "7d"}]}`)
	_, err := d.Match(s, t0)
	require.ErrorIs(t, err, ErrInput)
	require.ErrorContains(t, err, `"viewed"`)
	_, _, err = d.Evaluate(s, t0)
	require.ErrorIs(t, err, ErrInput)
	require.Equal(t, map[string]time.Duration{"viewed": 7 * day}, d.Inputs().Events)
}

// NextChange is when a window expires: exact, at the instant the result changes.
func TestNextChange(t *testing.T) {
	seen := t0.Add(-10 * day)
	s := subject{"lastSeen": {Time: seen}, "orders": {Points: []Point{{At: t0.Add(-5 * day)}, {At: t0.Add(-2 * day)}, {At: t0.Add(3 * day)}}},
		"traits.renewal": {JSON: "2025-07-01T00:00:00Z"}, "score.clv": {Number: 10}}
	for _, c := range []struct {
		cond   string
		member bool
		next   time.Time
	}{
		// lastSeen within 30d flips at lastSeen + 30d.
		{`{"field": "lastSeen", "op": "within", "value": "30d"}`, true, seen.Add(30 * day)},
		{`{"field": "lastSeen", "op": "within", "value": "5d"}`, false, time.Time{}},
		// before -30d: true once now > lastSeen + 30d, i.e. 1ns after.
		{`{"field": "lastSeen", "op": "before", "value": "-30d"}`, false, seen.Add(30*day + 1)},
		// after -30d: true until now reaches lastSeen + 30d.
		{`{"field": "lastSeen", "op": "after", "value": "-30d"}`, true, seen.Add(30 * day)},
		{`{"field": "lastSeen", "op": "before", "value": "2025-01-01"}`, false, time.Time{}},
		// A count: 2 orders in the last 7 days now; the one 5 days ago leaves at +2d, the future one
		// enters at +3d (3 again), the one 2 days ago leaves at +5d.
		{`{"field": "orders", "op": ">=", "value": 2, "within": "7d"}`, true, t0.Add(2 * day)},
		{`{"field": "orders", "op": "==", "value": 1, "within": "7d"}`, false, t0.Add(2 * day)},
		{`{"field": "orders", "op": ">=", "value": 1, "within": "7d"}`, true, t0.Add(10 * day)},
		// A trait's time: renewal within the next 30 days from 2025-06-01 until it passes.
		{`{"all": [{"field": "traits.renewal", "op": "after", "value": "now"}, {"field": "traits.renewal", "op": "before", "value": "+30d"}]}`, true,
			time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)},
		// No clock: never.
		{`{"field": "score.clv", "op": ">", "value": 5}`, true, time.Time{}},
		// A change of a condition that does not change the result is skipped.
		{`{"any": [{"field": "score.clv", "op": ">", "value": 5}, {"field": "lastSeen", "op": "within", "value": "30d"}]}`, true, time.Time{}},
	} {
		d := one(t, c.cond)
		member, next, err := d.Evaluate(s, t0)
		require.NoError(t, err)
		require.Equal(t, c.member, member, c.cond)
		require.True(t, c.next.Equal(next), "%s: next %v, want %v", c.cond, next, c.next)
		n2, err := d.NextChange(s, t0)
		require.NoError(t, err)
		require.True(t, next.Equal(n2))
		if !next.IsZero() {
			require.Equal(t, c.member, match(t, d, s, next.Add(-1)), "%s: just before", c.cond)
			require.NotEqual(t, c.member, match(t, d, s, next), "%s: at next", c.cond)
		}
	}
}

// Past MaxScan times at which the result might change, NextChange returns the next one untried:
// the result is the same until then.
func TestNextChangeScanIsBounded(t *testing.T) {
	// An event every two hours: "one in the last hour" flips every hour, 400 times, while the rule
	// holds throughout (its other condition does not read the clock).
	var points []Point
	for i := range 200 {
		points = append(points, Point{At: t0.Add(time.Duration(2*i+1) * time.Hour)})
	}
	s := subject{"event.view.count": {Points: points}, "score.clv": {Number: 1}}
	d := one(t, `{"any": [{"field": "score.clv", "op": ">", "value": 0}, {"field": "event.view.count", "op": "==", "value": 1, "within": "1h"}]}`)
	member, next, err := d.Evaluate(s, t0)
	require.NoError(t, err)
	require.True(t, member)
	require.True(t, t0.Add((MaxScan+1)*time.Hour).Equal(next), "the first time not tried: %v", next)
	require.True(t, match(t, d, s, next.Add(-1)))
	require.True(t, match(t, d, s, next))
	// With the other condition false, the rule follows the count: exact.
	s["score.clv"] = Value{Number: 0}
	member, next, err = d.Evaluate(s, t0)
	require.NoError(t, err)
	require.False(t, member)
	require.True(t, t0.Add(time.Hour).Equal(next))
	// A count that stays true while its events leave one by one changes once, when the last leaves.
	d = one(t, `{"field": "event.view.count", "op": ">=", "value": 1, "within": "30d"}`)
	var past []Point
	for i := range 200 {
		past = append(past, Point{At: t0.Add(-time.Duration(i) * time.Minute)})
	}
	_, next, err = d.Evaluate(subject{"event.view.count": {Points: past}}, t0)
	require.NoError(t, err)
	require.True(t, t0.Add(30*day).Equal(next), "%v", next)
}

func TestFromProfile(t *testing.T) {
	p := profile.Profile{
		UserID:    "u1",
		Traits:    map[string]any{"plan": "gold", "Email_Address": "sha256:abc", "phone": "", "address": map[string]any{"city": "Leeds"}, "gone": nil},
		FirstSeen: t0.Add(-100 * day), LastSeen: t0.Add(-3 * day),
		Counts:  profile.Counts{Events: 40, PageViews: 30},
		Groups:  []string{"acme"},
		Consent: map[string]profile.Consent{profile.PurposeMarketing: {Granted: true, At: t0}, profile.PurposeAnalytics: {Granted: false, At: t0}},
		Score: &profile.Score{RFM: &profile.RFMScore{Score: 543, R: 5, F: 4, M: 3, Segment: "Champions"},
			Value: &profile.Value{CLV: 800, PAlive: 0.9}, Lapse: &profile.LapseRisk{Risk: 0.2},
			NextActions: []profile.NextAction{{Kind: "offer"}, {Kind: "content"}}, Cluster: "recent frequent-buying",
			LookalikeRanks: map[string]int{"big-spenders": 8200}},
		Visits: 7, EngagedSeconds: 600, LastChannel: "email",
		Orders:     []profile.Order{{ID: "o1", At: t0.Add(-50 * day), Revenue: 100}, {ID: "o2", At: t0.Add(-5 * day), Revenue: 60}},
		OrderCount: 4, Revenue: 300,
		FirstOrder: profile.Touch{At: t0.Add(-90 * day), Channel: "online"}, LastOrder: profile.Touch{At: t0.Add(-5 * day), Channel: "online"},
		Acquisition: profile.Touch{At: t0.Add(-100 * day), Channel: "paid_search"},
		Basket: profile.Basket{Changes: []profile.BasketChange{
			{At: t0.Add(-2 * time.Hour), ProductID: "p1", Quantity: 2, Price: 10}, {At: t0.Add(-time.Hour), ProductID: "p2", Quantity: 1, Price: 5}}},
		Cases: map[string]profile.Case{"c1": {Status: "open"}, "c2": {Status: "closed"}},
	}
	s := FromProfile(p, map[string]any{"propensity": 0.8, "cats": []string{"shoes"}}, []string{"vip"})
	require.Equal(t, "recent frequent-buying", s.Cluster, "the score's cluster")
	require.Equal(t, map[string]int{"big-spenders": 8200}, s.LookalikeRank, "the score's look-alike ranks")
	s.SetEvents("Product Viewed", []time.Time{t0.Add(-time.Hour), t0.Add(-2 * day)})
	s.Cluster = "bargain-hunters"
	s.Lookalike = map[string]float64{"vip": 0.75}
	for cond, want := range map[string]bool{
		`{"field": "traits.plan", "op": "==", "value": "gold"}`:                           true,
		`{"field": "traits.address.city", "op": "==", "value": "Leeds"}`:                  true,
		`{"field": "traits.gone", "op": "missing"}`:                                       true,
		`{"field": "computed.propensity", "op": ">=", "value": 0.8}`:                      true,
		`{"field": "computed.cats", "op": "contains", "value": "shoes"}`:                  true,
		`{"field": "computed.other", "op": "missing"}`:                                    true,
		`{"field": "orders", "op": "==", "value": 4}`:                                     true,
		`{"field": "orders", "op": "==", "value": 1, "within": "30d"}`:                    true,
		`{"field": "revenue", "op": "==", "value": 160, "within": "60d"}`:                 true,
		`{"field": "revenue", "op": "==", "value": 300}`:                                  true,
		`{"field": "averageOrderValue", "op": "==", "value": 75}`:                         true,
		`{"field": "visits", "op": "==", "value": 7}`:                                     true,
		`{"field": "pageViews", "op": "==", "value": 30}`:                                 true,
		`{"field": "events", "op": "==", "value": 40}`:                                    true,
		`{"field": "engagedSeconds", "op": "==", "value": 600}`:                           true,
		`{"field": "firstSeen", "op": "within", "value": "101d"}`:                         true,
		`{"field": "lastSeen", "op": "within", "value": "3d"}`:                            false,
		`{"field": "firstOrder", "op": "before", "value": "-89d"}`:                        true,
		`{"field": "lastOrder", "op": "within", "value": "7d"}`:                           true,
		`{"field": "lastChannel", "op": "==", "value": "email"}`:                          true,
		`{"field": "acquisitionChannel", "op": "==", "value": "paid_search"}`:             true,
		`{"field": "score.rfm", "op": "==", "value": 543}`:                                true,
		`{"field": "score.r", "op": "==", "value": 5}`:                                    true,
		`{"field": "score.f", "op": "==", "value": 4}`:                                    true,
		`{"field": "score.m", "op": "==", "value": 3}`:                                    true,
		`{"field": "score.rfmSegment", "op": "==", "value": "Champions"}`:                 true,
		`{"field": "score.clv", "op": "==", "value": 800}`:                                true,
		`{"field": "score.pAlive", "op": "==", "value": 0.9}`:                             true,
		`{"field": "score.lapseRisk", "op": "==", "value": 0.2}`:                          true,
		`{"field": "score.nextAction", "op": "==", "value": "offer"}`:                     true,
		`{"field": "cluster", "op": "==", "value": "bargain-hunters"}`:                    true,
		`{"field": "lookalike.vip", "op": ">=", "value": 0.7}`:                            true,
		`{"field": "lookalike.other", "op": "missing"}`:                                   true,
		`{"field": "lookalikeRank.big-spenders", "op": "<=", "value": 10000}`:             true,
		`{"field": "lookalikeRank.big-spenders", "op": "<=", "value": 8199}`:              false,
		`{"field": "lookalikeRank.big-spenders", "op": "between", "value": [8200, 8200]}`: true,
		`{"field": "lookalikeRank.vip", "op": "missing"}`:                                 true, // a member of the seed, or not scored
		`{"field": "lookalikeRank.vip", "op": "<=", "value": 1000000}`:                    false,
		`{"field": "identifiers.email", "op": "exists"}`:                                  true,
		`{"field": "identifiers.phone", "op": "exists"}`:                                  false, // empty
		`{"field": "identifiers.userId", "op": "exists"}`:                                 true,
		`{"field": "consent.marketing", "op": "==", "value": "granted"}`:                  true,
		`{"field": "consent.analytics", "op": "==", "value": "denied"}`:                   true,
		`{"field": "audiences", "op": "contains", "value": "vip"}`:                        true,
		`{"field": "groups", "op": "contains", "value": "acme"}`:                          true,
		`{"field": "basket.value", "op": "==", "value": 25}`:                              true,
		`{"field": "basket.items", "op": "==", "value": 3}`:                               true,
		`{"field": "basket.updatedAt", "op": "within", "value": "61m"}`:                   true,
		`{"field": "cases.open", "op": "==", "value": 1}`:                                 true,
		`{"field": "event.product_viewed.count", "op": "==", "value": 1, "within": "1d"}`: true,
	} {
		require.Equal(t, want, match(t, one(t, cond), s, t0), cond)
	}

	// An empty profile: what is missing, and what is zero.
	e := FromProfile(profile.Profile{}, nil, nil)
	for cond, want := range map[string]bool{
		`{"field": "orders", "op": "==", "value": 0}`:                    true,
		`{"field": "averageOrderValue", "op": "missing"}`:                true,
		`{"field": "lastSeen", "op": "missing"}`:                         true,
		`{"field": "lastOrder", "op": "missing"}`:                        true,
		`{"field": "lastChannel", "op": "missing"}`:                      true,
		`{"field": "score.rfmSegment", "op": "missing"}`:                 true,
		`{"field": "score.clv", "op": "missing"}`:                        true,
		`{"field": "score.lapseRisk", "op": "missing"}`:                  true,
		`{"field": "score.nextAction", "op": "missing"}`:                 true,
		`{"field": "cluster", "op": "missing"}`:                          true,
		`{"field": "lookalikeRank.vip", "op": "missing"}`:                true,
		`{"field": "identifiers.userId", "op": "missing"}`:               true,
		`{"field": "consent.marketing", "op": "==", "value": "unknown"}`: true,
		`{"field": "basket.items", "op": "==", "value": 0}`:              true,
		`{"field": "basket.updatedAt", "op": "missing"}`:                 true,
		`{"field": "groups", "op": "size", "value": 0}`:                  true,
		`{"field": "audiences", "op": "size", "value": 0}`:               true,
		`{"field": "cases.open", "op": "==", "value": 0}`:                true,
		`{"field": "orders", "op": "==", "value": 0, "within": "30d"}`:   true,
	} {
		require.Equal(t, want, match(t, one(t, cond), e, t0), cond)
	}
	_, err := one(t, `{"field": "event.Signed Up.count", "op": ">", "value": 0, "within": "7d"}`).Match(e, t0)
	require.ErrorIs(t, err, ErrInput)
	e.SetEvents("signed up", nil)
	require.False(t, match(t, one(t, `{"field": "event.Signed Up.count", "op": ">", "value": 0, "within": "7d"}`), e, t0))
}

func TestInputs(t *testing.T) {
	d := mustParse(t, `{"id": "x", "name": "X", "rule": {"all": [
		{"field": "traits.address.city", "op": "==", "value": "Leeds"}, {"field": "traits.plan", "op": "exists"},
		{"field": "computed.p", "op": ">", "value": 0}, {"field": "score.clv", "op": ">", "value": 0},
		{"field": "audiences", "op": "containsAny", "value": ["b", "a"]}, {"field": "lookalike.c", "op": ">", "value": 0},
		{"field": "lookalikeRank.c", "op": "<=", "value": 100}, {"field": "lookalikeRank.d", "op": "<=", "value": 100},
		{"field": "cluster", "op": "==", "value": "k"},
		{"field": "event.Signed Up.count", "op": ">", "value": 0, "within": "7d"},
		{"field": "event.signed_up.count", "op": ">", "value": 0, "within": "30d"},
		{"field": "consent.marketing", "op": "==", "value": "granted"}]}}`)
	in := d.Inputs()
	require.Equal(t, Inputs{
		Fields: []string{"audiences", "cluster", "computed.p", "consent.marketing", "event.signedup.count", "lookalike.c",
			"lookalikeRank.c", "lookalikeRank.d", "score.clv", "traits.address", "traits.plan"},
		Traits:     []string{"address", "plan"},
		Computed:   []string{"p"},
		Events:     map[string]time.Duration{"signedup": 30 * day},
		Audiences:  []string{"a", "b"},
		Lookalikes: []string{"c", "d"}, // the seeds of scores and of ranks: scoring trains a model for each
		Profile:    true, Scores: true, Cluster: true, Clock: true,
	}, in)
	in.Traits[0] = "changed"
	require.Equal(t, "address", d.Inputs().Traits[0], "Inputs returns a copy")
	require.Equal(t, Inputs{Fields: []string{"score.clv"}, Scores: true}, one(t, `{"field": "score.clv", "op": ">", "value": 1}`).Inputs())
	require.Equal(t, Inputs{}, Definition{}.Inputs())
}
