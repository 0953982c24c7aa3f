package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/source"
)

// dataset returns the rows of a public events file, failing the test clearly when it is missing.
func dataset(t *testing.T, rel string) []Row {
	t.Helper()
	path := filepath.Join(devtest.RepoRoot(), rel)
	rows, err := LoadSnowplow(path)
	if errors.Is(err, ErrNoDataset) {
		t.Fatalf("the public event sets are expected beside the repository (%s): %v", rel, err)
	}
	require.NoError(t, err)
	return rows
}

func TestParseSnowplowRefusesBadInput(t *testing.T) {
	_, err := ParseSnowplow(strings.NewReader("a,b\n1,2\n"))
	require.ErrorContains(t, err, `no column "event_id"`)
	_, err = ParseSnowplow(strings.NewReader("event_id,event,event_name,domain_userid,collector_tstamp\ne1,page_view,page_view,d1,yesterday\n"))
	require.ErrorContains(t, err, "line 2")
	_, err = LoadSnowplow(filepath.Join(t.TempDir(), "none.csv"))
	require.ErrorIs(t, err, ErrNoDataset)
}

func TestCallsMapRowsToSegment(t *testing.T) {
	rows, err := ParseSnowplow(strings.NewReader("event_id,event,event_name,domain_userid,user_id,collector_tstamp,derived_tstamp,page_url\n" +
		"e1,page_view,page_view,d1,u1,2021-03-03 21:27:32.696,2021-03-03 21:27:32.002,https://x.example/\n" +
		"e2,page_ping,page_ping,d1,u1,2021-03-03 21:27:42.696,,https://x.example/\n" +
		"e1,page_view,page_view,d1,u1,2021-03-03 21:29:00.000,2021-03-03 21:27:32.002,https://x.example/\n"))
	require.NoError(t, err)
	calls := Calls(rows)
	require.Len(t, calls, 4) // one identify for (d1, u1), then every row
	require.Equal(t, "identify", calls[0]["type"])
	require.Equal(t, IdentifyID("d1", "u1"), calls[0]["messageId"])
	require.Equal(t, "page", calls[1]["type"])
	require.Equal(t, "2021-03-03T21:27:32.002Z", calls[1]["timestamp"])
	require.Equal(t, "Page Ping", calls[2]["event"])
	require.Equal(t, "2021-03-03T21:27:42.696Z", calls[2]["timestamp"], "collector_tstamp when derived_tstamp is empty")
	require.Equal(t, calls[1]["messageId"], calls[3]["messageId"], "a duplicate keeps its event_id")
	f := ComputeFacts(rows)
	require.Equal(t, 2, f.Events)
	require.Equal(t, 1, f.Users["u1"].PageViews())
}

// client reads profiles through the profile API.
type client struct {
	api, key string
	hc       *http.Client
}

// apiProfile is the part of the profile API's answer the replay checks.
type apiProfile struct {
	ProfileID      string   `json:"profileId"`
	UserID         string   `json:"userId"`
	AnonymousIDs   []string `json:"anonymousIds"`
	Counts         profile.Counts
	Visits         int `json:"visits"`
	EngagedSeconds int `json:"engagedSeconds"`
}

func (c client) profile(ctx context.Context, kind, id string) (apiProfile, int, error) {
	var p apiProfile
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.api+"/v1/profiles?"+kind+"="+url.QueryEscape(id), nil)
	if err != nil {
		return p, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return p, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return p, resp.StatusCode, err
	}
	return p, resp.StatusCode, json.Unmarshal(b, &p)
}

// replayStack starts a stack of its own whose DynamoDB traffic goes through a Meter.
func replayStack(t *testing.T) (*Meter, *stack.Stack, string, client) {
	ctx := context.Background()
	endpoints := localaws.Reachable(t)
	meter, err := NewMeter(endpoints.DynamoDB)
	require.NoError(t, err)
	proxy := httptest.NewServer(meter)
	t.Cleanup(proxy.Close)
	metered := endpoints
	metered.DynamoDB = proxy.URL
	st, err := stack.Start(ctx, stack.Config{
		Prefix: localaws.UniqueName("replay"), FunctionsDir: devtest.BuildFunctions(t), Endpoints: metered,
		LogDir: t.TempDir(), PollInterval: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	keys := keystore.New(endpoints.Dynamo(), st.Resources()[topology.KeyTable])
	server, profiles := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, server, source.Source{ID: "src_replay", Name: "replay", Trusted: true}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profiles, "replay"))
	return meter, st, server, client{api: st.APIURL(), key: profiles, hc: &http.Client{Timeout: 30 * time.Second}}
}

// TestSnowplowWebReplay replays the dbt-snowplow-web integration events
// (events/snowplow_web/snowplow_web_events.csv of the public event sets, Apache-2.0) through the
// real endpoint and checks the profiles against facts computed from the file alone.
func TestSnowplowWebReplay(t *testing.T) {
	ctx := context.Background()
	rows := dataset(t, DefaultDataset)
	facts := ComputeFacts(rows)
	calls := Calls(rows)
	meter, st, server, c := replayStack(t)
	var tables []string // every table stitch writes: all but the keys
	for _, tb := range topology.Default().Tables {
		if tb.Name != topology.KeyTable {
			tables = append(tables, st.Resources()[tb.Name])
		}
	}

	before := meter.Usage()
	require.NoError(t, Send(ctx, c.hc, c.api, server, calls, 50))

	users := sortedUsers(facts)
	got := map[string]apiProfile{}
	require.Eventually(t, func() bool {
		for _, u := range users {
			p, status, err := c.profile(ctx, "userId", u)
			if err != nil || status != http.StatusOK || p.Counts.PageViews+p.Counts.Tracks < len(facts.Users[u].Events) {
				return false
			}
			got[u] = p
		}
		return true
	}, 2*time.Minute, 250*time.Millisecond, "the replay was not stitched in time")
	used := meter.Usage().Sub(before)

	// Every user_id is one profile holding exactly its distinct events (duplicates counted once).
	owner := map[string]string{} // profile id → user id
	for _, u := range users {
		p, want := got[u], facts.Users[u]
		require.Equal(t, u, p.UserID)
		require.Equal(t, len(want.Events), p.Counts.PageViews+p.Counts.Tracks, "events of %q", u)
		require.Equal(t, want.PageViews(), p.Counts.PageViews, "page views of %q", u)
		require.Empty(t, owner[p.ProfileID], "users %q and %q share a profile", owner[p.ProfileID], u)
		owner[p.ProfileID] = u
	}
	// Every domain_userid ends on exactly one profile: the profile of its user when it has one,
	// one of its users' profiles when the file logs it in as several (two users never merge).
	for duid, us := range facts.DomainUserIDs {
		p, status, err := c.profile(ctx, "anonymousId", duid)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, "domain_userid %s has no profile", duid)
		require.Contains(t, p.AnonymousIDs, duid)
		if len(us) == 1 {
			require.Equal(t, got[us[0]].ProfileID, p.ProfileID, "domain_userid %s is not on its user %q", duid, us[0])
		} else {
			require.Contains(t, us, owner[p.ProfileID], "domain_userid %s is on a profile of none of its users", duid)
		}
	}
	// A user with several domain_userids holds all of them, except those the file also logs in as
	// another user first.
	for _, u := range users {
		for duid := range facts.Users[u].DomainUserIDs {
			if len(facts.DomainUserIDs[duid]) == 1 {
				require.Contains(t, got[u].AnonymousIDs, duid, "user %q", u)
			}
		}
	}

	// Sessions: the inactivity rule alone is a floor (campaigns only start more sessions).
	var report strings.Builder
	fmt.Fprintf(&report, "%-48s %6s %6s %8s %6s %6s %7s\n", "user_id", "events", "duids", "sp.sess", "gap30", "visits", "engaged")
	agree, total := 0, 0
	for _, u := range users {
		p, f := got[u], facts.Users[u]
		gap := f.GapSessions(profile.SessionTimeout)
		require.GreaterOrEqual(t, p.Visits, gap, "visits of %q", u)
		require.LessOrEqual(t, p.Visits, len(f.Events), "visits of %q", u)
		total++
		if p.Visits == len(f.Sessions) {
			agree++
		}
		fmt.Fprintf(&report, "%-48s %6d %6d %8d %6d %6d %7d\n", u, len(f.Events), len(f.DomainUserIDs), len(f.Sessions), gap, p.Visits, p.EngagedSeconds)
	}
	accepted := facts.Events + countIdentifies(calls)
	fmt.Fprintf(&report, "visits equal to the dataset's distinct domain_sessionids for %d of %d users\n", agree, total)
	fmt.Fprintf(&report, "rows %d, distinct events %d, identifies %d, users %d, domain_userids %d, sessions %d, domain_userids logged in as several users %d\n",
		facts.Rows, facts.Events, countIdentifies(calls), len(facts.Users), len(facts.DomainUserIDs), facts.Sessions, len(facts.ConflictingDUID))
	fmt.Fprintf(&report, "write units (every table but Keys): %.1f for %d accepted calls = %.2f WRU per call, %.2f per distinct event\n%s",
		used.Total(tables...), accepted, used.Total(tables...)/float64(accepted), used.Total(tables...)/float64(facts.Events), used)

	// Replaying everything (same message ids) records nothing new.
	before = meter.Usage()
	require.NoError(t, Send(ctx, c.hc, c.api, server, calls, 50))
	sentinel := []map[string]any{{"type": "track", "event": "sentinel", "anonymousId": localaws.UniqueName("sentinel"), "messageId": localaws.UniqueName("m")}}
	require.NoError(t, Send(ctx, c.hc, c.api, server, sentinel, 1))
	require.Eventually(t, func() bool {
		_, status, err := c.profile(ctx, "anonymousId", sentinel[0]["anonymousId"].(string))
		return err == nil && status == http.StatusOK
	}, 2*time.Minute, 250*time.Millisecond, "the sentinel after the replay was not stitched")
	// One shard, in order: once the sentinel is stitched, so is the replay before it.
	for _, u := range users {
		p, status, err := c.profile(ctx, "userId", u)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, got[u].Counts, p.Counts, "the replay changed the counts of %q", u)
		require.Equal(t, got[u].Visits, p.Visits, "the replay changed the visits of %q", u)
	}
	replayed := meter.Usage().Sub(before)
	fmt.Fprintf(&report, "replay of the same %d calls: %.1f WRU (%.2f per call)\n%s", len(calls),
		replayed.Total(tables...), replayed.Total(tables...)/float64(len(calls)), replayed)
	t.Log("\n" + report.String())
	if out := os.Getenv("DCRM_REPLAY_REPORT"); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(report.String()), 0o644))
	}
}

func sortedUsers(f Facts) []string {
	var us []string
	for u := range f.Users {
		us = append(us, u)
	}
	sort.Strings(us)
	return us
}

func countIdentifies(calls []map[string]any) int {
	n := 0
	for _, c := range calls {
		if c["type"] == "identify" {
			n++
		}
	}
	return n
}
