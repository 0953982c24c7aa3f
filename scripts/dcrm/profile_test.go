package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/source"
)

// TestProfileCommands runs the profile subcommands through the profile API of a local stack
// running the real functions, and `schedule run` through its Lambda Invoke API.
func TestProfileCommands(t *testing.T) {
	ctx := context.Background()
	st, keys := devtest.Stack(t, "ops")
	writeKey, profileKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, writeKey, source.Source{ID: "src_ops", Name: "ops"}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "ops"))
	t.Setenv("DCRM_API_URL", st.APIURL())
	t.Setenv("DCRM_PROFILE_API_KEY", profileKey)

	send := func(t *testing.T, call, body string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, st.APIURL()+"/v1/"+call, strings.NewReader(body))
		require.NoError(t, err)
		req.SetBasicAuth(writeKey, "")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
	}
	// find returns the id of the profile the lookup finds, or "".
	find := func(lookup ...string) string {
		var profile bytes.Buffer
		if run(ctx, append([]string{"profile", "get"}, lookup...), &profile) != nil {
			return ""
		}
		return between(profile.String(), `"profileId": "`, `"`)
	}
	// stitched waits until the lookup finds a profile and returns its id.
	stitched := func(t *testing.T, lookup ...string) string {
		t.Helper()
		var id string
		require.Eventually(t, func() bool { id = find(lookup...); return id != "" },
			time.Minute, 100*time.Millisecond, "%v was never stitched", lookup)
		return id
	}

	// Looks a visitor up, reads their history and export, erases them and checks that they are gone.
	t.Run("get, events, export, erase", func(t *testing.T) {
		send(t, "page", `{"anonymousId":"ops-visitor","name":"Home","properties":{"path":"/home"}}`)
		id := stitched(t, "--anonymous-id", "ops-visitor")

		var events, export, erased bytes.Buffer
		require.NoError(t, run(ctx, []string{"profile", "events", id}, &events))
		require.Contains(t, events.String(), `"/home"`)
		require.NoError(t, run(ctx, []string{"profile", "export", id}, &export))
		require.Contains(t, export.String(), "ops-visitor")
		require.NoError(t, run(ctx, []string{"profile", "erase", id}, &erased))

		err := run(ctx, []string{"profile", "get", id}, &bytes.Buffer{})
		require.ErrorContains(t, err, "404", "the erased profile is still served")
		require.ErrorIs(t, run(ctx, []string{"profile", "export"}, &bytes.Buffer{}), errUsage)
	})

	// A phone that logs in as a customer is merged into the customer's profile; the merge log
	// shows it, and a split gives the phone its own profile back.
	t.Run("merges, split", func(t *testing.T) {
		send(t, "identify", `{"anonymousId":"ops-desk","userId":"ops-user"}`)
		user := stitched(t, "--user-id", "ops-user")
		send(t, "page", `{"anonymousId":"ops-phone","name":"Home","properties":{"path":"/home"}}`)
		phone := stitched(t, "--anonymous-id", "ops-phone")
		require.NotEqual(t, user, phone)
		send(t, "identify", `{"anonymousId":"ops-phone","userId":"ops-user"}`)
		require.Eventually(t, func() bool { return find("--anonymous-id", "ops-phone") == user },
			time.Minute, 100*time.Millisecond, "the login never merged the phone")

		var log struct {
			ProfileID string `json:"profileId"`
			Merges    []struct {
				From, Into, Via string
			} `json:"merges"`
		}
		merges := func() {
			var out bytes.Buffer
			require.NoError(t, run(ctx, []string{"profile", "merges", phone}, &out))
			require.NoError(t, json.Unmarshal(out.Bytes(), &log), out.String())
		}
		merges()
		require.Equal(t, user, log.ProfileID)
		require.Len(t, log.Merges, 1)
		require.Equal(t, phone, log.Merges[0].From)
		require.Equal(t, user, log.Merges[0].Into)
		require.Equal(t, "anonymousId:ops-phone", log.Merges[0].Via)

		var out bytes.Buffer
		require.NoError(t, run(ctx, []string{"profile", "split", user, "--from", phone}, &out))
		var sep struct {
			ProfileID, SplitID       string
			Identifiers, Touchpoints int
		}
		require.NoError(t, json.Unmarshal(out.Bytes(), &sep), out.String())
		require.Equal(t, user, sep.ProfileID)
		require.Equal(t, phone, sep.SplitID)
		require.Equal(t, 1, sep.Identifiers, "the phone's anonymous id went back to it")
		require.Equal(t, phone, find("--anonymous-id", "ops-phone"), "the phone resolves to its own profile again")
		merges()
		require.Empty(t, log.Merges)

		// Repeated, flags first: done already, nothing more moves.
		out.Reset()
		require.NoError(t, run(ctx, []string{"profile", "split", "--from", phone, user}, &out))
		require.NoError(t, json.Unmarshal(out.Bytes(), &sep), out.String())
		require.Zero(t, sep.Touchpoints)

		err := run(ctx, []string{"profile", "split", phone, "--from", user}, &bytes.Buffer{})
		require.ErrorContains(t, err, "409", "a profile that is not merged cannot be split off")
		for _, args := range [][]string{{"profile", "merges"}, {"profile", "split", user}, {"profile", "split", "--from", phone},
			{"profile", "split", user, phone}, {"profile", "split", user, "--from"}, {"profile", "split", user, "--from", phone, "extra"}} {
			require.ErrorIs(t, run(ctx, args, &bytes.Buffer{}), errUsage, "%v", args)
		}
	})

	// "Run now" sends the schedule's event at the current time, which the function takes as a run.
	t.Run("schedule run", func(t *testing.T) {
		for k, v := range st.Env() {
			t.Setenv(k, v)
		}
		var out bytes.Buffer
		require.NoError(t, run(ctx, []string{"schedule", "run", "triggers"}, &out))
		var sum struct {
			AsOf time.Time `json:"asOf"`
		}
		require.NoError(t, json.Unmarshal(out.Bytes(), &sum), out.String())
		require.WithinDuration(t, time.Now(), sum.AsOf, 10*time.Second, "the run is as of now")
		require.ErrorContains(t, run(ctx, []string{"schedule", "run", "nothing"}, &bytes.Buffer{}), `no schedule named "nothing"`)
		require.ErrorContains(t, run(ctx, []string{"schedule", "run", "reports", "--at", "yesterday"}, &bytes.Buffer{}), "RFC 3339")
	})

	// The goals the reports are made for: checked, kept in the reports bucket, shown, and used by a
	// run of the reports schedule as of a given time (its period: the 30 days before).
	t.Run("goals and reports", func(t *testing.T) {
		for k, v := range st.Env() {
			t.Setenv(k, v)
		}
		dir := t.TempDir()
		good, bad := filepath.Join(dir, "goals.json"), filepath.Join(dir, "bad.json")
		require.NoError(t, os.WriteFile(good, []byte(`{"lookback": "14d", "goals": [{"name": "trial", "event": "Trial Started", "value": {"fixed": 25}}]}`), 0o644))
		require.NoError(t, os.WriteFile(bad, []byte(`{"goals": [{"name": "x", "event": "A", "page": "B"}]}`), 0o644))
		var out bytes.Buffer
		require.NoError(t, run(ctx, []string{"goals", "show"}, &out))
		require.Contains(t, out.String(), "no goals configured")
		require.Contains(t, out.String(), `"name": "order"`, "the defaults")
		out.Reset()
		require.NoError(t, run(ctx, []string{"goals", "check", good}, &out))
		require.Equal(t, good+": 1 goals, lookback 14d, no funnel\n", out.String())
		require.ErrorContains(t, run(ctx, []string{"goals", "set", bad}, &out), "want exactly one of event")
		require.ErrorIs(t, run(ctx, []string{"goals", "set"}, &out), errUsage)
		require.NoError(t, run(ctx, []string{"goals", "set", good}, &out))
		out.Reset()
		require.NoError(t, run(ctx, []string{"goals", "show"}, &out))
		require.Contains(t, out.String(), `"name": "trial"`)
		require.NotContains(t, out.String(), `"name": "order"`)

		out.Reset()
		require.NoError(t, run(ctx, []string{"schedule", "run", "reports", "--at", "2026-11-01"}, &out))
		var sum struct {
			Period string `json:"period"`
			Latest bool   `json:"latest"`
		}
		require.NoError(t, json.Unmarshal(out.Bytes(), &sum), out.String())
		require.Equal(t, "2026-10-02_2026-10-31", sum.Period)
		require.True(t, sum.Latest)
		b, err := reportsBucket(ctx)
		require.NoError(t, err)
		body, err := b.Get(ctx, topology.ReportsPrefix+sum.Period+"/manifest.json", 1<<20)
		require.NoError(t, err)
		var m struct {
			Goals    []string `json:"goals"`
			Lookback string   `json:"lookback"`
		}
		require.NoError(t, json.Unmarshal(body, &m))
		require.Equal(t, []string{"trial"}, m.Goals, "the kept goals, not the defaults")
		require.Equal(t, "14d", m.Lookback)
	})
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}
