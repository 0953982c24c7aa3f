package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activation"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/objectstore"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// queue is an invoker that keeps the steps sent, for the test to run one at a time.
type queue struct {
	mu   sync.Mutex
	sent []exportStep
}

func (q *queue) InvokeAsync(_ context.Context, payload []byte) error {
	var e stepEvent
	if err := json.Unmarshal(payload, &e); err != nil || e.Export == nil {
		return fmt.Errorf("not a step: %s", payload)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent = append(q.sent, *e.Export)
	return nil
}

func (q *queue) next() (exportStep, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.sent) == 0 {
		return exportStep{}, false
	}
	s := q.sent[0]
	q.sent = q.sent[1:]
	return s, true
}

// faulty is the exports bucket with a hook run before a manifest write of a step, which may fail
// the write or run something first (another run of the step).
type faulty struct {
	exportBucket
	beforeManifest func() error
}

func (f *faulty) PutIf(ctx context.Context, key string, body []byte, etag string) (string, error) {
	if hook := f.beforeManifest; hook != nil && strings.HasSuffix(key, "/manifest.json") && etag != "" {
		f.beforeManifest = nil
		if err := hook(); err != nil {
			return "", err
		}
	}
	return f.exportBucket.PutIf(ctx, key, body, etag)
}

// An audience larger than a step's budget exports completely through chained steps, its large
// files in several parts of at least 5 MiB: every member once in every file, even though a step
// failed before saving its progress and was retried, a step was delivered again after it had
// saved, and two runs of one step ran at once (the second to commit lost). The state is running,
// as the GET shows, until done; a cursor the index refuses fails the export with its reason.
func TestAsynchronousExportInSteps(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	exporter := f.addKey(t, keystore.APIKey{Name: "exporter", Scopes: []keystore.Scope{keystore.Read, keystore.Export}})
	admin := f.addKey(t, keystore.APIKey{Name: "admin", Scopes: []keystore.Scope{keystore.Audiences}})
	status, body := call(t, f.h, audienceRequest(http.MethodPut, true, "vip", definition("vip", ""), admin))
	require.Equal(t, http.StatusCreated, status, body)

	// 1,300 members of 80 hashed emails each: members.csv, members.jsonl and the email files hold
	// some 7 MB each, two parts; the phone file (one phone each) stays under a part, one object.
	const members, emails = 1300, 80
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				id := fmt.Sprintf("prf_x%05d", i)
				base, err := f.storage.Profile(ctx, id, true)
				require.NoError(t, err)
				next := base
				next.Profile.UserID = fmt.Sprintf("u-%d", i)
				next.Profile.Audiences = []profile.Membership{{Audience: "vip", Since: now.Add(-time.Hour)}}
				for e := range emails {
					next.Claimed = append(next.Claimed, identity.ID{Kind: identity.EmailSHA256, Value: fmt.Sprintf("%058x%06d", i, e)})
				}
				next.Claimed = append(next.Claimed, identity.ID{Kind: identity.PhoneSHA256, Value: fmt.Sprintf("%064x", 1_000_000+i)})
				if i%10 == 0 {
					next.Profile.Consent = map[string]profile.Consent{profile.PurposeMarketing: {Granted: false, At: now}}
				}
				require.NoError(t, f.storage.Commit(ctx, recording.Change{Puts: []recording.Put{{Base: base, Next: next}}}))
			}
		})
	}
	for i := range members {
		work <- i
	}
	close(work)
	wg.Wait()

	q := &queue{}
	bucket := &faulty{exportBucket: f.exports}
	f.h.steps, f.h.exports = q, bucket
	f.h.exportCfg = exportSettings{page: 50, stepPages: 3, partBytes: objectstore.MinPartSize}
	status, started := call(t, f.h, memberRequest(http.MethodPost, "exports", "vip", nil, `{"purpose": "all"}`, exporter))
	require.Equal(t, http.StatusAccepted, status, started)
	require.Equal(t, "running", started["state"])
	exportID := started["exportId"].(string)
	get := func() map[string]any {
		t.Helper()
		status, m := call(t, f.h, memberRequest(http.MethodGet, "exports/"+exportID, "vip", nil, "", exporter))
		require.Equal(t, http.StatusOK, status, m)
		require.NotContains(t, m, "progress", "the checkpoint is never answered")
		return m
	}
	run := func(s exportStep) stepDone {
		t.Helper()
		d, err := f.h.runStep(ctx, s)
		require.NoError(t, err)
		return d
	}

	first, _ := q.next()
	require.Equal(t, "saved", run(first).Outcome)
	m := get()
	require.Equal(t, "running", m["state"])
	require.EqualValues(t, 150, m["members"])
	require.EqualValues(t, 1, m["steps"])

	// Step 1 fails before its progress is saved (its parts and pending bytes written), and is
	// retried: the retry writes them again.
	second, _ := q.next()
	bucket.beforeManifest = func() error { return errors.New("the manifest could not be written") }
	_, err := f.h.runStep(ctx, second)
	require.Error(t, err)
	require.EqualValues(t, 150, get()["members"], "nothing of the failed run counted")
	require.Equal(t, "saved", run(second).Outcome)
	// Delivered again after it saved: it sends the next step again, which then runs twice.
	require.Equal(t, "resent", run(second).Outcome)
	third, _ := q.next()
	again, _ := q.next()
	require.Equal(t, third, again)
	// Two runs of step 2 at once: the second commits first; the first loses its commit.
	var other stepDone
	bucket.beforeManifest = func() error { other = run(again); return nil }
	require.Equal(t, "lost", run(third).Outcome)
	require.Equal(t, "saved", other.Outcome)

	steps := 3
	for {
		s, ok := q.next()
		if !ok {
			break
		}
		d := run(s)
		steps++
		if d.Outcome == "done" {
			break
		}
		require.Equal(t, "saved", d.Outcome)
	}
	require.GreaterOrEqual(t, steps, 8)
	done := get()
	require.Equal(t, "done", done["state"], done)
	require.EqualValues(t, members, done["members"])
	require.NotEmpty(t, done["completedAt"])

	read := func(name string) []string {
		t.Helper()
		b, err := f.exports.Get(ctx, topology.ExportsPrefix+"vip/"+exportID+"/"+name, 64<<20)
		require.NoError(t, err, name)
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	rows := map[string]float64{}
	for _, file := range done["files"].([]any) {
		fm := file.(map[string]any)
		rows[fm["name"].(string)] = fm["rows"].(float64)
	}
	once := func(name string, lines []string, key func(string) string, want int) {
		t.Helper()
		seen := map[string]int{}
		for _, l := range lines {
			seen[key(l)]++
		}
		require.Len(t, seen, want, name)
		for k, n := range seen {
			require.Equal(t, 1, n, "%s: %s written %d times", name, k, n)
		}
		require.EqualValues(t, want, rows[name], name)
	}
	csvLines := read(activation.MembersCSV)
	require.Equal(t, strings.Join(activation.MembersHeader, ","), csvLines[0])
	once(activation.MembersCSV, csvLines[1:], func(l string) string { return strings.SplitN(l, ",", 2)[0] }, members)
	once(activation.MembersJSONL, read(activation.MembersJSONL), func(l string) string {
		var r activation.Row
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		return r.ProfileID
	}, members)
	same := func(l string) string { return l }
	seedEmails := read("seed-google-email.csv")
	require.Equal(t, "Email", seedEmails[0])
	once("seed-google-email.csv", seedEmails[1:], same, members*emails*9/10)
	once("suppression-meta-email.csv", read("suppression-meta-email.csv")[1:], same, members*emails)
	once("suppression-google-phone.csv", read("suppression-google-phone.csv")[1:], same, members)
	for _, name := range []string{activation.MembersCSV, activation.MembersJSONL, "suppression-google-email.csv"} {
		n, err := f.exports.Size(ctx, topology.ExportsPrefix+"vip/"+exportID+"/"+name)
		require.NoError(t, err)
		require.Greater(t, n, int64(objectstore.MinPartSize), "%s: more than one part", name)
	}
	require.Equal(t, "stale", run(exportStep{AudienceID: "vip", ExportID: exportID, Step: 2}).Outcome, "a step of a done export")

	// A cursor the index refuses: the export fails, saying why.
	status, started = call(t, f.h, memberRequest(http.MethodPost, "exports", "vip", nil, `{}`, exporter))
	require.Equal(t, http.StatusAccepted, status, started)
	exportID = started["exportId"].(string)
	s, _ := q.next()
	key := manifestKey("vip", exportID)
	raw, etag, err := f.exports.GetVersion(ctx, key, maxManifest)
	require.NoError(t, err)
	var broken exportManifest
	require.NoError(t, json.Unmarshal(raw, &broken))
	broken.Progress.Cursor = "not-a-cursor"
	_, err = f.h.putManifest(ctx, broken, etag)
	require.NoError(t, err)
	require.Equal(t, "failed", run(s).Outcome)
	failed := get()
	require.Equal(t, "failed", failed["state"])
	require.Contains(t, failed["reason"], "cursor")
}
