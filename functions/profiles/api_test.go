package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func at(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

// The audiences the person is in show with when they entered.
func TestViewShowsTheAudiences(t *testing.T) {
	v := viewOf(profile.Profile{ID: "p1", UpdatedAt: t0, Audiences: []profile.Membership{{Audience: "vip", Since: t0}}})
	b, err := json.Marshal(v.Audiences)
	require.NoError(t, err)
	require.JSONEq(t, `[{"audience":"vip","since":"2025-03-01T10:00:00Z"}]`, string(b))
}

func TestViewOfANewProfile(t *testing.T) {
	b, err := json.Marshal(viewOf(profile.Profile{ID: "p1", FirstSeen: t0, LastSeen: t0, UpdatedAt: t0}))
	require.NoError(t, err)
	require.JSONEq(t, `{"profileId":"p1","anonymousIds":[],"traits":{},"firstSeen":"2025-03-01T10:00:00Z","lastSeen":"2025-03-01T10:00:00Z",
		"counts":{"events":0,"pageViews":0,"tracks":0,"identifies":0,"screens":0},"consent":{},"updatedAt":"2025-03-01T10:00:00Z",
		"visits":0,"depth":0,"engagedSeconds":0,"orders":0,"revenue":0,"audiences":[]}`, string(b))
}

// The view shows a visit's aggregates: visits and depth, the last session, products, the open
// basket and forms, with their contract's names.
func TestViewOfAVisit(t *testing.T) {
	p := profile.Profile{ID: "p1"}
	for i, a := range []profile.Activity{
		{Type: beacon.Page, Page: "/", At: at(0), Campaign: profile.Campaign{Source: "google", Medium: "cpc", Name: "spring"}, Channel: "paid search"},
		{Type: beacon.Page, Page: "/shoes", At: at(1)},
		{Type: beacon.Track, Event: "Page Ping", Engaged: 30, At: at(2)},
		{Type: beacon.Track, Event: "Product Added", Products: []profile.Line{{ProductID: "p1", Quantity: 1, Price: 10}}, At: at(3)},
		{Type: beacon.Track, Event: "Form Started", FormID: "f", At: at(4)},
		{Type: beacon.Page, Page: "/", At: at(90)},
	} {
		a.MessageID, a.AnonymousID = string(rune('a'+i)), "A"
		p = profile.Apply(p, a, []identity.ID{identity.AnonymousID("A")})
	}
	b, err := json.Marshal(viewOf(p))
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	for k, want := range map[string]any{
		"visits": 2.0, "depth": 1.5, "engagedSeconds": 30.0, "lastChannel": "paid search", "orders": 0.0, "revenue": 0.0,
		"anonymousIds": []any{"A"},
		"session": map[string]any{"id": p.Session.ID, "start": "2025-03-01T11:30:00Z", "end": "2025-03-01T11:30:00Z",
			"events": 1.0, "pageViews": 1.0, "engagedSeconds": 0.0, "landingPage": "/"},
		"products":  map[string]any{"carted": map[string]any{"p1": 1.0}, "last": map[string]any{"p1": "2025-03-01T10:03:00Z"}},
		"basket":    map[string]any{"items": []any{map[string]any{"productId": "p1", "quantity": 1.0, "price": 10.0}}, "value": 10.0, "updatedAt": "2025-03-01T10:03:00Z"},
		"openForms": []any{map[string]any{"formId": "f", "startedAt": "2025-03-01T10:04:00Z"}},
	} {
		require.Equal(t, want, got[k], k)
	}
}

// A score reads as the contract names it, each part only when it was computed.
func TestViewOfAScore(t *testing.T) {
	sc := &profile.Score{ScoredAt: t0, ModelVersion: 3,
		RFM:         &profile.RFMScore{Variant: profile.VariantRFM, RecencyDays: 4, Frequency: 2, Monetary: 120.5, R: 5, F: 3, M: 4, Score: 534, Segment: "Potential Loyalist"},
		NextActions: []profile.NextAction{{Kind: "remind-viewed", Product: "p1", Score: 0.4, Reason: "viewed twice"}},
		Cluster:     "recent frequent-buying",
	}
	b, err := json.Marshal(viewOf(profile.Profile{ID: "p1", Score: sc}).Score)
	require.NoError(t, err)
	require.JSONEq(t, `{"scoredAt":"2025-03-01T10:00:00Z","modelVersion":3,
		"rfm":{"variant":"rfm","recencyDays":4,"frequency":2,"monetary":120.5,"r":5,"f":3,"m":4,"score":534,"segment":"Potential Loyalist"},
		"nextActions":[{"kind":"remind-viewed","product":"p1","score":0.4,"reason":"viewed twice"}],"cluster":"recent frequent-buying"}`, string(b))
}
