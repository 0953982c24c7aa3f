package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/membership"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
)

// A profile shows its computed traits' values, as recording keeps them; a trait defined after the
// person's events is not shown until it is computed (no wrong value).
func TestProfileShowsComputedTraits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const views = `{"id": "views", "name": "Products viewed", "event": "Product Viewed", "aggregate": "count"}`
	def, err := computed.Parse([]byte(views))
	require.NoError(t, err)
	_, err = f.audiences.PutTrait(ctx, def, "key_test")
	require.NoError(t, err)
	f.h.definitions = membership.NewSource(f.audiences)

	// Recording, with the same definition, keeps the trait on the person's profile.
	defs := &recordingtest.Definitions{}
	defs.DefineTraits(t, views)
	engine := recording.New(f.storage, recording.WithAudiences(defs, &recordingtest.Announced{}), recording.WithRetention(100*365*24*time.Hour))
	at := time.Date(2025, 2, 1, 9, 0, 0, 0, time.UTC)
	for i, product := range []string{"tent", "stove"} {
		_, err := engine.RecordClaims(ctx, profile.Activity{MessageID: "v" + product, Type: beacon.Track, Event: "Product Viewed",
			AnonymousID: "a-views", At: at.Add(time.Duration(i) * time.Minute)}, recording.Claims{Properties: json.RawMessage(`{"product_id": "` + product + `"}`)})
		require.NoError(t, err)
	}
	status, body := call(t, f.h, get("/v1/profiles", map[string]string{"anonymousId": "a-views"}, "Bearer "+f.apiKey))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, map[string]any{"views": 2.0}, body["computed"])

	// A profile no engine computed the trait for shows none.
	status, body = call(t, f.h, get("/v1/profiles/"+f.anon, nil, "Bearer "+f.apiKey))
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, body, "computed")
}
