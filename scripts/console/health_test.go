package console

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest/browsertest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/source"
)

// The health page on the local stack with the real functions. Through the API first: once events
// are stitched, GET /v1/health shows the shard's lag; after a run of the triggers schedule ("run
// now", as dcrm schedule run), its run; an event collect refuses in a batch and one stitch cannot
// record (no usable identifier) show in the failed events' counts, and the failed-events queue's
// depth counts the latter. Then the console's #/health shows the same, with what to do, on a
// desktop and a phone-sized window.
func TestHealthPage(t *testing.T) {
	browsertest.NeedChromium(t)
	ctx := context.Background()
	st, keys := devtest.StackWith(t, "health", devtest.Functions(t), func(c *stack.Config) { c.ConsoleUser = "admin" })
	env := st.Env()
	api := st.APIURL()
	writeKey, apiKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	must(t, keys.PutSource(ctx, writeKey, source.Source{ID: "src_health", Name: "health test", Trusted: true}))
	must(t, keys.PutProfileAPIKey(ctx, apiKey, "health test"))

	type healthAnswer struct {
		Stream struct {
			Verdict string
			Shards  []struct {
				Shard      string
				LagSeconds float64
				Records    int
				Verdict    string
			}
		}
		Schedules []struct {
			Schedule, Outcome, Unit string
			Ran                     bool
			Count                   *int64
		}
		Failures struct {
			Reasons []struct {
				Reason string
				Total  int64
			}
		}
		Queues []struct {
			Queue      string
			DeadLetter bool
			Messages   int64
		}
	}
	read := func() healthAnswer {
		t.Helper()
		status, body := send(t, api, "Bearer", apiKey, http.MethodGet, "/v1/health", "")
		if status != 200 {
			t.Fatalf("GET /v1/health: %d %s", status, body)
		}
		var a healthAnswer
		must(t, json.Unmarshal([]byte(body), &a))
		return a
	}
	until := func(what string, ok func(healthAnswer) bool) healthAnswer {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			a := read()
			if ok(a) {
				return a
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET /v1/health never showed %s: %+v", what, a)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Before anything: no lag, no run, no failure.
	a := read()
	if a.Stream.Verdict != "unknown" || len(a.Stream.Shards) != 0 || len(a.Failures.Reasons) != 0 {
		t.Errorf("a new stack's health: %+v", a)
	}
	for _, s := range a.Schedules {
		if s.Ran || s.Outcome != "never" {
			t.Errorf("schedule %s ran before anything ran it: %+v", s.Schedule, s)
		}
	}

	user := localawstest.UniqueName("hal")
	send(t, api, "Basic", writeKey, http.MethodPost, "/v1/batch", `{"batch": [
		{"type": "track", "event": "Product Viewed", "anonymousId": "a-`+user+`", "userId": "`+user+`", "messageId": "m1-`+user+`"},
		{"type": "track", "anonymousId": "a-`+user+`", "messageId": "m2-`+user+`"}]}`)
	send(t, api, "Basic", writeKey, http.MethodPost, "/v1/track", `{"event": "Junk", "anonymousId": "null", "messageId": "m3-`+user+`"}`)

	a = until("the shard's lag", func(a healthAnswer) bool { return len(a.Stream.Shards) > 0 })
	if sh := a.Stream.Shards[0]; !strings.HasPrefix(sh.Shard, "shardId-") || sh.Records < 1 || sh.LagSeconds < 0 || sh.LagSeconds > 60 {
		t.Errorf("the shard's lag: %+v", sh)
	}
	a = until("the failed events by reason", func(a healthAnswer) bool { return len(a.Failures.Reasons) >= 2 })
	got := map[string]int64{}
	for _, r := range a.Failures.Reasons {
		got[r.Reason] = r.Total
	}
	if got["collect: refused at the endpoint"] != 1 || got["stitch: no usable identifier"] != 1 {
		t.Errorf("failed events by reason: %v", got)
	}
	a = until("the failed-events queue's depth", func(a healthAnswer) bool {
		for _, q := range a.Queues {
			if q.Queue == topology.FailedQueue && !q.DeadLetter && q.Messages >= 2 {
				return true
			}
		}
		return false
	})

	if _, err := st.RunSchedule(ctx, topology.TriggersSchedule); err != nil {
		t.Fatalf("run the triggers schedule: %v", err)
	}
	a = read()
	for _, s := range a.Schedules {
		if s.Schedule == topology.TriggersSchedule && (!s.Ran || s.Outcome != "ok" || s.Count == nil || s.Unit != "triggers sent") {
			t.Errorf("the triggers run: %+v", s)
		}
	}

	// The page.
	shot := func(ctx context.Context, name string) { t.Helper(); browsertest.Screenshot(t, ctx, name) }
	console := env[stack.EnvConsoleURL]
	admin, password := st.ConsoleSignIn()
	b := browsertest.New(t, 2*time.Minute)
	must(t, chromedp.Run(b, chromedp.EmulateViewport(1200, 900), chromedp.Navigate(console)))
	signIn(t, b, admin, password)
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/health"), chromedp.WaitVisible(`//h2[starts-with(text(), "Queue depths")]`)))
	text := pageText(t, b)
	for _, want := range []string{
		"Stream lag", "shardId-", "Lag (seconds behind)",
		"Schedules", "triggers", "triggers sent", "never ran", "dcrm schedule run snapshot",
		"Failed events, last 7 days (UTC)", "collect: refused at the endpoint", "stitch: no usable identifier", "dcrm replay",
		"FailedEvents", "Waiting (messages)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the health page lacks %q:\n%s", want, text)
		}
	}
	var current string
	must(t, chromedp.Run(b, chromedp.AttributeValue(`nav a[aria-current="page"]`, "data-page", &current, nil, chromedp.ByQuery)))
	if current != "health" {
		t.Errorf("the nav marks %q as the current page", current)
	}
	var bars int
	must(t, chromedp.Run(b, chromedp.Evaluate(`document.querySelectorAll('svg.chart rect').length`, &bars)))
	if bars != 7 {
		t.Errorf("the failed events' chart has %d bars, want one per day of 7", bars)
	}
	shot(b, "console-health")

	must(t, chromedp.Run(b, chromedp.EmulateViewport(390, 844), chromedp.Navigate(console+"#/customer"), chromedp.Navigate(console+"#/health"),
		chromedp.WaitVisible(`//h2[starts-with(text(), "Queue depths")]`)))
	if widerThanTheScreen(t, b) {
		t.Error("the health page is wider than a phone's screen")
	}
	shot(b, "console-health-phone")
}
