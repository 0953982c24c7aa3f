package main

import (
	"bytes"
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
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/source"
)

// dataset reads a public event set with read, failing the test clearly when it is missing.
func dataset[T any](t *testing.T, rel string, read func(string) (T, error)) T {
	t.Helper()
	v, err := read(filepath.Join(devtest.RepoRoot(), rel))
	if errors.Is(err, ErrNoDataset) {
		t.Fatalf("the public event sets are expected beside the repository (%s): %v", rel, err)
	}
	require.NoError(t, err)
	return v
}

func TestParseSnowplowRefusesBadInput(t *testing.T) {
	_, err := ParseSnowplow(strings.NewReader("a,b\n1,2\n"))
	require.ErrorContains(t, err, `no column "event_id"`)
	_, err = ParseSnowplow(strings.NewReader("event_id,event,event_name,domain_userid,collector_tstamp\ne1,page_view,page_view,d1,yesterday\n"))
	require.ErrorContains(t, err, "line 2")
	_, err = LoadSnowplow(filepath.Join(t.TempDir(), "none.csv"))
	require.ErrorIs(t, err, ErrNoDataset)
}

// FuzzParseSnowplow feeds the events reader arbitrary CSV: it returns an error or rows that each
// have an event id, never panics; the rows map to calls.
func FuzzParseSnowplow(f *testing.F) {
	f.Add("event_id,event,event_name,domain_userid,collector_tstamp\ne1,page_view,page_view,d1,2021-03-03 21:27:32.696\n")
	f.Add("event_id,event,event_name,domain_userid,collector_tstamp,derived_tstamp\ne1,unstruct,x,,2022-12-22 13:25:47.779000+00:00,\n")
	f.Add("event_id,event,event_name,domain_userid,collector_tstamp\n\"e\"1,a,b,c,2021-13-40 99:99:99\n")
	f.Add("event_id\n")
	f.Fuzz(func(t *testing.T, body string) {
		rows, err := ParseSnowplow(strings.NewReader(body))
		if err != nil {
			return
		}
		for _, r := range rows {
			require.NotEmpty(t, r.EventID)
		}
		_ = Calls(rows)
	})
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

// apiProfile is the part of the profile API's answer the replays check.
type apiProfile struct {
	ProfileID      string   `json:"profileId"`
	UserID         string   `json:"userId"`
	AnonymousIDs   []string `json:"anonymousIds"`
	Counts         profile.Counts
	Visits         int                 `json:"visits"`
	EngagedSeconds int                 `json:"engagedSeconds"`
	Products       *profile.Products   `json:"products"`
	Orders         int                 `json:"orders"`
	Revenue        float64             `json:"revenue"`
	Basket         *profile.OpenBasket `json:"basket"`
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

// harness replays calls on a stack of its own (the real bootstrap binaries, a random resource
// prefix) whose DynamoDB traffic goes through a Meter.
type harness struct {
	t      *testing.T
	meter  *Meter
	server string // a trusted server source's write key
	c      client
	tables []string // the tables stitch writes: all but the keys
	// direct reads the identity graph without the meter, to wait for a sentinel uncounted.
	direct *profilestore.Store
	// archive reads the archive bucket; sentinels are the message ids of the passes' sentinels.
	archive       *s3.Client
	archiveBucket string
	sentinels     []string
}

func newHarness(t *testing.T) *harness {
	ctx := context.Background()
	endpoints := localawstest.Reachable(t)
	meter, err := NewMeter(endpoints.DynamoDB)
	require.NoError(t, err)
	proxy := httptest.NewServer(meter)
	t.Cleanup(proxy.Close)
	metered := endpoints
	metered.DynamoDB = proxy.URL
	// One shard: the facts are those of a file sent in order, and only one shard keeps the order
	// of everything sent. Across shards a person's devices are stitched in no given order between
	// them (see README.md, "Across shards").
	top := topology.Default()
	for i := range top.Streams {
		if top.Streams[i].Name == topology.EventStream {
			top.Streams[i].Shards = 1
		}
	}
	st, err := stack.Start(ctx, stack.Config{
		Topology: &top, Prefix: localawstest.UniqueName("replay"), FunctionsDir: devtest.BuildFunctions(t), Endpoints: metered,
		LogDir: t.TempDir(), PollInterval: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	keys := keystore.New(endpoints.Dynamo(), st.Resources()[topology.KeyTable])
	server, profiles := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, server, source.Source{ID: "src_replay", Name: "replay", Trusted: true, RateLimit: 1_000_000}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profiles, "replay"))
	r := &harness{t: t, meter: meter, server: server, c: client{api: st.APIURL(), key: profiles, hc: &http.Client{Timeout: 30 * time.Second}},
		direct: profilestore.New(endpoints.Dynamo(), profilestore.Tables{Profiles: st.Resources()[topology.ProfileTable],
			Identities: st.Resources()[topology.IdentityTable], Touchpoints: st.Resources()[topology.TouchpointTable]})}
	archiveAt := endpoints
	archiveAt.S3 = st.Env()["DCRM_S3_ENDPOINT"]
	r.archive, r.archiveBucket = archiveAt.S3Client(), st.Resources()[topology.ArchiveBucket]
	for _, tb := range topology.Default().Tables {
		if tb.Name != topology.KeyTable {
			r.tables = append(r.tables, st.Resources()[tb.Name])
		}
	}
	return r
}

// pass sends calls, 50 per request, then a sentinel, and waits until the sentinel's touchpoint is
// written and DynamoDB has had no request for a second: the stream has one shard and is read in
// order, so by then everything sent before it is stitched too (the rest of the sentinel's batch
// included). It returns the units the pass cost (the sentinel's included), then waits until
// stitched says the profiles hold the calls: the reads of that wait go through the profile API
// and are not counted, nor are those that look for the sentinel.
func (r *harness) pass(calls []map[string]any, stitched func() bool) Usage {
	ctx := context.Background()
	before := r.meter.Usage()
	sentinel := map[string]any{"type": "track", "event": "sentinel", "anonymousId": localawstest.UniqueName("sentinel"), "messageId": localawstest.UniqueName("m")}
	r.sentinels = append(r.sentinels, sentinel["messageId"].(string))
	require.NoError(r.t, Send(ctx, r.c.hc, r.c.api, r.server, append(slices.Clone(calls), sentinel), 50))
	require.Eventually(r.t, func() bool {
		e, found, err := r.direct.Entry(ctx, identity.AnonymousID(sentinel["anonymousId"].(string)), true)
		if err != nil || !found {
			return false
		}
		ts, err := r.direct.Touchpoints(ctx, e.ProfileID, nil, "", 1)
		return err == nil && len(ts) == 1 && r.meter.Idle() > time.Second
	}, 2*time.Minute, 100*time.Millisecond, "the replay was not stitched in time")
	used := r.meter.Usage().Sub(before)
	require.Eventually(r.t, stitched, 30*time.Second, 250*time.Millisecond, "the sentinel was stitched, but not the calls before it")
	return used
}

// again sends calls once more (and a sentinel) and returns the units that cost.
func (r *harness) again(calls []map[string]any) Usage {
	return r.pass(calls, func() bool { return true })
}

// checkArchive waits until the event archive holds every call sent (and the passes' sentinels)
// and checks that it holds nothing else, by message id; it reports the rows (a call sent twice,
// or a duplicate delivery in the file, is archived each time it is recorded) and the distinct ids.
func (r *harness) checkArchive(calls []map[string]any) string {
	want := map[string]bool{}
	for _, c := range calls {
		want[c["messageId"].(string)] = true
	}
	for _, id := range r.sentinels {
		want[id] = true
	}
	var rows int
	var got map[string]int
	require.Eventually(r.t, func() bool {
		rows, got = r.archivedIDs()
		return len(got) >= len(want)
	}, time.Minute, 500*time.Millisecond, "the archive's files hold every call")
	for id := range got {
		require.True(r.t, want[id], "the archive holds %q, which was never sent", id)
	}
	require.Len(r.t, got, len(want))
	return fmt.Sprintf("archive: %d rows, %d distinct message ids = the %d calls' distinct ids and %d sentinels\n",
		rows, len(got), len(want)-len(r.sentinels), len(r.sentinels))
}

// archivedIDs reads every events file of the archive: its rows, and the rows of each message id.
func (r *harness) archivedIDs() (int, map[string]int) {
	ctx := context.Background()
	store := s3Store{c: r.archive, bucket: r.archiveBucket}
	keys, err := store.List(ctx, "events/")
	require.NoError(r.t, err)
	ids, rows := map[string]int{}, 0
	for _, key := range keys {
		body, err := store.Get(ctx, key)
		require.NoError(r.t, err)
		got, err := parquet.Read[archive.Event](bytes.NewReader(body), int64(len(body)))
		require.NoError(r.t, err, key)
		for _, e := range got {
			ids[e.MessageID]++
		}
		rows += len(got)
	}
	return rows, ids
}

// units are the write units of the tables stitch writes.
func (r *harness) units(u Usage) float64 { return u.Total(r.tables...) }

// report logs a replay's report and, when DCRM_REPLAY_REPORT names a folder, writes it there as
// <name>.txt.
func (r *harness) report(name, text string) {
	r.t.Log("\n" + text)
	if dir := os.Getenv("DCRM_REPLAY_REPORT"); dir != "" {
		require.NoError(r.t, os.WriteFile(filepath.Join(dir, name+".txt"), []byte(text), 0o644))
	}
}

// TestSnowplowWebReplay replays the dbt-snowplow-web integration events
// (events/snowplow_web/snowplow_web_events.csv of the public event sets, Apache-2.0) through the
// real endpoint and checks the profiles against facts computed from the file alone.
func TestSnowplowWebReplay(t *testing.T) {
	// Before the event sets are read: -short skips here.
	localawstest.Reachable(t)
	t.Parallel() // each replay has a stack of its own
	ctx := context.Background()
	rows := dataset(t, DefaultDataset, LoadSnowplow)
	facts := ComputeFacts(rows)
	calls := Calls(rows)
	r := newHarness(t)
	c := r.c

	users := sortedUsers(facts)
	got := map[string]apiProfile{}
	used := r.pass(calls, func() bool {
		for _, u := range users {
			p, status, err := c.profile(ctx, "userId", u)
			if err != nil || status != http.StatusOK || p.Counts.PageViews+p.Counts.Tracks < len(facts.Users[u].Events) {
				return false
			}
			got[u] = p
		}
		return true
	})

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
	writeUnits(&report, r, used, accepted, facts.Events)

	// Replaying everything (same message ids) records nothing new.
	replayed := r.again(calls)
	for _, u := range users {
		p, status, err := c.profile(ctx, "userId", u)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, got[u].Counts, p.Counts, "the replay changed the counts of %q", u)
		require.Equal(t, got[u].Visits, p.Visits, "the replay changed the visits of %q", u)
	}
	replayUnits(&report, r, replayed, len(calls))
	report.WriteString(r.checkArchive(calls))
	r.report("web", report.String())
}

// writeUnits reports the write and read units of a first pass per accepted call (the sentinel
// counted as one) and per distinct event.
func writeUnits(w io.Writer, r *harness, used Usage, accepted, events int) {
	wru, rcu := r.units(used), used.ReadTotal(r.tables...)
	calls := float64(accepted + 1)
	fmt.Fprintf(w, "write units (every table but Keys): %.1f for %d accepted calls and a sentinel = %.2f WRU per call, %.2f per distinct event\n", wru, accepted, wru/calls, wru/float64(events))
	fmt.Fprintf(w, "read units (every table but Keys): %.1f = %.2f RCU per call, %.2f per distinct event\n%s", rcu, rcu/calls, rcu/float64(events), used)
}

// replayUnits reports the units of sending the same calls again.
func replayUnits(w io.Writer, r *harness, replayed Usage, calls int) {
	wru, rcu := r.units(replayed), replayed.ReadTotal(r.tables...)
	fmt.Fprintf(w, "replay of the same %d calls (and a sentinel): %.1f WRU (%.2f per call), %.1f RCU (%.2f per call)\n%s",
		calls, wru, wru/float64(calls+1), rcu, rcu/float64(calls+1), replayed)
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
