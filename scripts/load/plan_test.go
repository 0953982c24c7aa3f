package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// base is a small population: an anonymous visitor with two pages, a visitor who logs in (an
// identify with an email), and a repeated event.
const base = `{"type":"page","anonymousId":"a1","messageId":"m1","timestamp":"2022-01-01T10:00:00Z","properties":{"url":"https://shop.example/"}}
{"type":"track","event":"Product Viewed","anonymousId":"a1","messageId":"m2","timestamp":"2022-01-01T10:00:05Z"}
{"type":"page","anonymousId":"a1","messageId":"m3","timestamp":"2022-01-01T12:00:00Z"}
{"type":"identify","anonymousId":"a2","userId":"u2","messageId":"i2","timestamp":"2022-01-01T10:01:00Z","traits":{"email":"peter@shop.example"}}
{"type":"track","event":"Order Completed","anonymousId":"a2","userId":"u2","messageId":"m4","timestamp":"2022-01-01T10:02:00Z"}
{"type":"track","event":"Product Viewed","anonymousId":"a1","messageId":"m2","timestamp":"2022-01-01T10:00:05Z"}
`

func baseCalls(t *testing.T) []Call {
	t.Helper()
	calls, err := ReadCalls(strings.NewReader(base))
	require.NoError(t, err)
	return calls
}

var end = time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)

func options(seed uint64) Options {
	return Options{Events: 60, Seed: seed, RunID: "r1", Returning: 0.3, Browser: 0.5, ServerBatch: 4, BrowserBatch: 2, GapCap: 30 * time.Second, End: end}
}

// calls decodes every call of a plan, in the order sent, with whether it went by the browser.
type sent struct {
	call    map[string]any
	browser bool
	sentAt  string
	request int
}

func decode(t *testing.T, p *Plan) []sent {
	t.Helper()
	var out []sent
	for i, r := range p.Requests {
		var body struct {
			Batch  []map[string]any `json:"batch"`
			SentAt string           `json:"sentAt"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &body), string(r.Body))
		require.Len(t, body.Batch, r.Events)
		for _, c := range body.Batch {
			out = append(out, sent{call: c, browser: r.Browser, sentAt: body.SentAt, request: i})
		}
	}
	return out
}

func TestRunsOnOneStackNeverShareAVisitor(t *testing.T) {
	a, err := Build(baseCalls(t), options(7))
	require.NoError(t, err)
	opt := options(7)
	opt.RunID = "r2"
	b, err := Build(baseCalls(t), opt)
	require.NoError(t, err)
	for id := range b.Anonymous {
		require.NotContains(t, a.Anonymous, id)
	}
	require.Len(t, b.Anonymous, len(a.Anonymous))
}

func TestBuildIsDeterministicForASeed(t *testing.T) {
	a, err := Build(baseCalls(t), options(7))
	require.NoError(t, err)
	b, err := Build(baseCalls(t), options(7))
	require.NoError(t, err)
	require.Equal(t, a, b)
	c, err := Build(baseCalls(t), options(8))
	require.NoError(t, err)
	require.NotEqual(t, a.Requests, c.Requests)
}

func TestBuildMultipliesIdsAndKeepsEachCopysShape(t *testing.T) {
	p, err := Build(baseCalls(t), options(7))
	require.NoError(t, err)
	require.Equal(t, 10, p.Copies, "60 events of a 6-call population: 10 copies")
	require.Equal(t, 60, p.Events)
	calls := decode(t, p)
	require.Len(t, calls, 60)

	messageIDs := map[string]int{}
	copyOfUser := map[string]string{}
	kinds := map[bool]int{}
	for _, s := range calls {
		c := s.call
		messageIDs[c["messageId"].(string)]++
		kinds[s.browser]++
		anon := c["anonymousId"].(string)
		suffix := anon[strings.Index(anon, "-r1c"):]
		require.Regexp(t, `^-r1c\d+$`, suffix)
		if u, ok := c["userId"].(string); ok {
			require.Equal(t, "u2"+suffix, u, "a copy's user goes with its visitor")
			copyOfUser[u] = suffix
		}
		if traits, ok := c["traits"].(map[string]any); ok {
			require.Equal(t, "peter+"+suffix+"@shop.example", traits["email"], "each copy its own email")
		}
		ts, err := time.Parse(time.RFC3339Nano, c["timestamp"].(string))
		require.NoError(t, err)
		require.False(t, ts.After(end), "no call is timed after the plan's end")
		require.True(t, ts.After(end.Add(-time.Hour)), "the plan is shifted to now: %s", ts)
		if s.browser {
			require.NotEmpty(t, s.sentAt, "a browser request says when it was sent")
		}
	}
	// Every messageId but the population's own repeat (m2 twice per copy) is distinct across copies.
	for id, n := range messageIDs {
		if strings.HasPrefix(id, "m2-r1c") {
			require.Equal(t, 2, n, id)
		} else {
			require.Equal(t, 1, n, id)
		}
	}
	require.Len(t, messageIDs, 50)
	require.Positive(t, kinds[true])
	require.Positive(t, kinds[false])
	require.Less(t, len(copyOfUser), 10, "some copies are returning visitors, with an earlier copy's ids")

	for _, r := range p.Requests {
		if r.Browser {
			require.LessOrEqual(t, r.Events, 2, "a page's calls, at most BrowserBatch")
		} else {
			require.LessOrEqual(t, r.Events, 4)
		}
	}
}

// TestBuildInterleavesCopiesAndKeepsOrderWithinOne: a copy's calls go in its own order, and copies'
// calls mix in the sending order.
func TestBuildInterleavesCopiesAndKeepsOrderWithinOne(t *testing.T) {
	opt := options(3)
	opt.Returning = 0
	p, err := Build(baseCalls(t), opt)
	require.NoError(t, err)
	last := map[string]time.Time{}
	var order []string
	for _, s := range decode(t, p) {
		anon := s.call["anonymousId"].(string)
		ts, _ := time.Parse(time.RFC3339Nano, s.call["timestamp"].(string))
		if s.request > 0 { // requests go by their first call's time; within one the calls keep their order
			require.False(t, ts.Before(last[anon].Add(-2*time.Minute)), "a visitor's calls go in order: %s", anon)
		}
		if ts.After(last[anon]) {
			last[anon] = ts
		}
		order = append(order, anon[strings.Index(anon, "-r1c"):])
	}
	switches := 0
	for i := 1; i < len(order); i++ {
		if order[i] != order[i-1] {
			switches++
		}
	}
	require.Greater(t, switches, 10, "copies interleave: %v", order)
}

func TestBuildCountsWhatEachAnonymousProfileMustHold(t *testing.T) {
	opt := options(7)
	opt.Returning = 0
	p, err := Build(baseCalls(t), opt)
	require.NoError(t, err)
	// a1 never logs in: its page, its product view (sent twice, counted once) and its second page.
	require.Len(t, p.Anonymous, 10)
	for id, n := range p.Anonymous {
		require.True(t, strings.HasPrefix(id, "a1-r1c"), id)
		require.Equal(t, 3, n, id)
	}
	total := map[string]int{}
	for _, r := range p.Requests {
		for v, n := range r.Counts {
			total[v] += n
		}
	}
	require.Equal(t, p.Anonymous, total)
}

func TestReadCallsRefusesWhatItCannotPlan(t *testing.T) {
	for in, want := range map[string]string{
		`{"anonymousId":"a","timestamp":"2022-01-01T00:00:00Z"}`:     "without a type",
		`{"type":"track","timestamp":"2022-01-01T00:00:00Z"}`:        "without an anonymousId or a userId",
		`{"type":"track","anonymousId":"a","timestamp":"yesterday"}`: "timestamp",
		`{"type":"track","anonymousId":"a"`:                          "line 1",
		``:                                                           "no calls",
	} {
		_, err := ReadCalls(strings.NewReader(in))
		require.ErrorContains(t, err, want, in)
	}
}

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 200; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := Summarise(ds)
	// 200 values 1…200 ms: p50 is the 100th, p90 the 180th, p99 the 198th.
	require.Equal(t, Latencies{Count: 200, P50: 100 * time.Millisecond, P90: 180 * time.Millisecond, P99: 198 * time.Millisecond, Max: 200 * time.Millisecond}, l)
	require.Equal(t, 7*time.Millisecond, Percentile([]time.Duration{7 * time.Millisecond}, 99))
	require.Zero(t, Percentile(nil, 50))
	// Three values: p50 is the 2nd (ceil(1.5)), p99 the 3rd.
	three := []time.Duration{1, 2, 3}
	require.Equal(t, time.Duration(2), Percentile(three, 50))
	require.Equal(t, time.Duration(3), Percentile(three, 99))
}

func TestLoopbackOnly(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:8080/", "http://[::1]:8080"} {
		require.NoError(t, loopback(ok), ok)
	}
	for _, bad := range []string{"https://api.example.com", "http://10.0.0.5:8080", "http://0.0.0.0:8080", "not a url"} {
		require.Error(t, loopback(bad), bad)
	}
}

func TestReplaceBetweenMarkers(t *testing.T) {
	doc := []byte(fmt.Sprintf("# B\n%s\nold\n%s\nkept\n", runBegin, runEnd))
	out, err := replaceBetween(doc, runBegin, runEnd, "new")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("# B\n%s\nnew\n%s\nkept\n", runBegin, runEnd), string(out))
	_, err = replaceBetween([]byte("no markers"), runBegin, runEnd, "x")
	require.Error(t, err)
}

// FuzzReadCalls: any input gives an error or calls that each have a type, an id and a time, and
// those plan without a panic into requests that are valid JSON.
func FuzzReadCalls(f *testing.F) {
	f.Add(base)
	f.Add(`{"type":"track","anonymousId":"a","timestamp":"2022-01-01T00:00:00Z","traits":{"email":"x"}}`)
	f.Add(`{"type":"identify","userId":"\u0001","messageId":"\u0002","timestamp":"2022-01-01T00:00:00.5+02:00","context":{"traits":{"email":"a@b@c"}}}`)
	f.Add("\n\n{}\n")
	f.Fuzz(func(t *testing.T, in string) {
		calls, err := ReadCalls(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, c := range calls {
			require.NotEmpty(t, c.Type)
			require.True(t, c.AnonymousID != "" || c.UserID != "")
		}
		p, err := Build(calls, Options{Events: 3 * len(calls), Seed: 1, Returning: 0.5, Browser: 0.5, ServerBatch: 3, BrowserBatch: 2, GapCap: time.Second, End: end})
		if err != nil {
			require.ErrorContains(t, err, "U+E000")
			return
		}
		for _, r := range p.Requests {
			require.True(t, json.Valid(r.Body), string(r.Body))
		}
	})
}
