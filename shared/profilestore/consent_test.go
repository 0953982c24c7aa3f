package profilestore

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

func TestConsentLatestAnswerWinsAndSurvivesStitching(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rs := f.record(t, page("m1", "a-1", 0))
	id := rs[0].ProfileID
	require.Equal(t, 1, rs[0].Version)
	require.Equal(t, []string{"anonymousId:a-1"}, rs[0].Added)

	live, state, err := f.SetConsent(ctx, id, map[string]profile.Consent{
		profile.PurposeAnalytics: {Granted: true, At: at(5), Source: "banner"},
		profile.PurposeMarketing: {Granted: false, At: at(5), Source: "banner"},
	})
	require.NoError(t, err)
	require.Equal(t, id, live)
	require.True(t, state[profile.PurposeAnalytics].Granted)

	// An older answer loses; a newer one wins.
	_, state, err = f.SetConsent(ctx, id, map[string]profile.Consent{
		profile.PurposeAnalytics: {Granted: false, At: at(1), Source: "crm"},
		profile.PurposeMarketing: {Granted: true, At: at(9), Source: "crm"},
	})
	require.NoError(t, err)
	require.Equal(t, profile.Consent{Granted: true, At: at(5), Source: "banner"}, state[profile.PurposeAnalytics])
	require.Equal(t, profile.Consent{Granted: true, At: at(9), Source: "crm"}, state[profile.PurposeMarketing])

	// Recording events on the profile keeps the consent.
	rs = f.record(t, identify("m2", "a-1", "u-1", 10, map[string]any{"plan": "gold"}))
	require.Equal(t, 4, rs[0].Version, "each consent change is a version")
	require.Equal(t, []string{"userId:u-1"}, rs[0].Added)
	require.Equal(t, []string{"plan"}, rs[0].TraitsChanged)
	p := f.lookup(t, identity.UserID("u-1"))
	require.Equal(t, state, p.Consent)
	require.Equal(t, state, p.View().Consent)

	// Another device's tracker refuses marketing later; when it logs in, its answer comes along.
	dev := page("m3", "a-2", 12)
	dev.Consent = map[string]profile.Consent{profile.PurposeMarketing: {Granted: false, At: at(12), Source: profile.EventSource}}
	rs = f.record(t, dev, identify("m4", "a-2", "u-1", 13, nil))
	require.NotEmpty(t, rs[1].Merged)
	p = f.lookup(t, identity.UserID("u-1"))
	require.Equal(t, profile.Consent{Granted: false, At: at(12), Source: profile.EventSource}, p.Consent[profile.PurposeMarketing])
	require.Equal(t, state[profile.PurposeAnalytics], p.Consent[profile.PurposeAnalytics])

	_, _, err = f.SetConsent(ctx, "prf_nobody", map[string]profile.Consent{profile.PurposeAnalytics: {At: at(1)}})
	require.ErrorIs(t, err, profile.ErrNotFound)
}
