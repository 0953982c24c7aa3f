package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// The profile shows the emails and ads a person met apart from their visits, and the history
// gives each impression its kind and campaign (the answers are held to the document by serve).
func TestImpressionsAreShownApartFromVisits(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	at := time.Date(2025, 2, 20, 8, 0, 0, 0, time.UTC)
	record := func(e beacon.Event) string {
		t.Helper()
		e.Timestamp = at
		a, err := profile.FromEvent(e)
		require.NoError(t, err)
		r, err := f.store.Record(context.Background(), a)
		require.NoError(t, err)
		return r.ProfileID
	}
	record(beacon.Event{Type: beacon.Track, Event: "Email Opened", MessageID: "i1", AnonymousID: "a-other",
		Properties: json.RawMessage(`{"campaign_name":"spring","email_subject":"Hello"}`)})
	record(beacon.Event{Type: beacon.Page, Name: "Banner", MessageID: "i2", AnonymousID: "a-other", Pixel: true})

	status, body := call(t, f.h, get("/v1/profiles/"+f.anon, nil, auth))
	require.Equal(t, 200, status, body)
	require.EqualValues(t, 1, body["visits"], "the one visit before: impressions are not visits")
	require.Equal(t, "2025-02-01T09:07:00Z", body["lastSeen"], "impressions do not move last seen")
	im := body["impressions"].(map[string]any)
	require.EqualValues(t, 2, im["count"])
	require.Len(t, im["groups"], 2)
	require.Equal(t, map[string]any{"kind": "open", "channel": "email", "campaign": "spring", "count": 1.0,
		"first": "2025-02-20T08:00:00Z", "last": "2025-02-20T08:00:00Z"}, im["groups"].([]any)[1])

	status, body = call(t, f.h, get("/v1/profiles/"+f.anon+"/events", map[string]string{"type": "impression"}, auth))
	require.Equal(t, 200, status, body)
	tps := body["touchpoints"].([]any)
	require.Len(t, tps, 2)
	kinds := map[string]any{}
	for _, tp := range tps {
		kinds[tp.(map[string]any)["messageId"].(string)] = tp.(map[string]any)["impression"]
	}
	require.Equal(t, map[string]any{"i1": "open", "i2": "impression"}, kinds)

	// Someone only reached by email: a profile with impressions and no visit, never "seen".
	only := record(beacon.Event{Type: beacon.Track, Event: "Email Opened", MessageID: "i3", UserID: "u-mail"})
	status, body = call(t, f.h, get("/v1/profiles/"+only, nil, auth))
	require.Equal(t, 200, status, body)
	require.NotContains(t, body, "firstSeen")
	require.NotContains(t, body, "lastSeen")
	require.EqualValues(t, 0, body["visits"])
	require.EqualValues(t, 1, body["impressions"].(map[string]any)["count"])
}
