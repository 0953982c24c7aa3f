package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Call is one Segment call of the base population, as read from a calls file, with what the plan
// needs of it.
type Call struct {
	Raw         map[string]any
	Type        string
	AnonymousID string
	UserID      string
	MessageID   string
	At          time.Time
	Set         int // which calls file it came from: each set's timeline starts at a copy's start
}

// ReadCalls reads a file of Segment calls, one JSON object a line (scripts/replay -write-calls).
// A call needs a type, an anonymousId or a userId, and a timestamp.
func ReadCalls(r io.Reader) ([]Call, error) {
	var calls []Call
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		c := Call{Raw: raw}
		c.Type, _ = raw["type"].(string)
		c.AnonymousID, _ = raw["anonymousId"].(string)
		c.UserID, _ = raw["userId"].(string)
		c.MessageID, _ = raw["messageId"].(string)
		ts, _ := raw["timestamp"].(string)
		at, err := time.Parse(time.RFC3339Nano, ts)
		switch {
		case c.Type == "":
			return nil, fmt.Errorf("line %d: a call without a type", line)
		case c.AnonymousID == "" && c.UserID == "":
			return nil, fmt.Errorf("line %d: a call without an anonymousId or a userId", line)
		case err != nil:
			return nil, fmt.Errorf("line %d: timestamp %q: %w", line, ts, err)
		}
		c.At = at
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(calls) == 0 {
		return nil, errors.New("no calls")
	}
	return calls, nil
}

// LoadCalls reads the calls files and returns their calls, each file sorted by time (stable): a
// shop sends calls as they happen.
func LoadCalls(paths []string) ([]Call, error) {
	var all []Call
	for set, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("calls file: %w", err)
		}
		calls, err := ReadCalls(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		slices.SortStableFunc(calls, func(a, b Call) int { return a.At.Compare(b.At) })
		for i := range calls {
			calls[i].Set = set
		}
		all = append(all, calls...)
	}
	return all, nil
}

// Options shape a plan.
type Options struct {
	Events       int           // at least this many events (calls) planned
	Overlap      int           // copies running at once, on average (default 8)
	Seed         uint64        // the same seed, the same plan
	RunID        string        // in every id of the run, so that runs on one stack never share a visitor
	Returning    float64       // share of copies that are visitors of an earlier copy coming back (0–1)
	Browser      float64       // share of copies sent by the browser tracker, the rest by a server SDK (0–1)
	ServerBatch  int           // calls per server SDK request
	BrowserBatch int           // at most this many calls of one page per browser request
	GapCap       time.Duration // gaps between a copy's calls are shortened to this
	End          time.Time     // the plan's last call is timed here; earlier ones before it
}

// Request is one planned request: a pre-encoded /v1/batch body.
type Request struct {
	Body    []byte
	Events  int
	Browser bool
	At      time.Duration // when in the plan's timeline (schedule order)
	// Visitors are the anonymous ids whose calls this request carries (for the stitch-lag samples).
	Visitors []string
	// Counts are, per anonymous id of a visitor who never logs in, the distinct events of it this
	// request carries that its profile must count (identifies and repeated messageIds aside).
	Counts map[string]int
}

// Plan is the run's traffic, in the order it is sent.
type Plan struct {
	Requests []Request
	Events   int
	Copies   int
	// Sent counts, per anonymous id of a visitor who never logs in (so its profile holds its calls
	// alone), the distinct messageIds of its non-identify calls: what its profile must count.
	Anonymous map[string]int
}

// copyOf is one copy of the base population in the plan.
type copyOf struct {
	suffix  string        // appended to every id of the copy
	tag     string        // appended to every messageId: distinct per copy, returning or not
	phase   time.Duration // the copy's start in the plan's timeline
	browser bool
}

// The base population's calls become templates, with markers where each copy puts its own values.
// The markers are private-use characters, which encoding/json writes as they are (never escaped,
// so a marker cannot run into an escape sequence of the text around it); a call that holds one is
// refused.
const (
	markRune = "\ue000"
	idMark   = markRune + "i" // suffix of ids and of an email's local part
	msgMark  = markRune + "m" // suffix of messageIds
	timeMark = markRune + "t" // the timestamp
)

var (
	idMarkJSON   = []byte(idMark)
	msgMarkJSON  = []byte(msgMark)
	timeMarkJSON = []byte(`"` + timeMark + `"`)
)

type template struct {
	body   []byte
	offset time.Duration // since the copy's first call, gaps capped
	call   Call
}

// templates encodes each base call once, ids and timestamp replaced by markers.
func templates(base []Call, gapCap time.Duration) ([]template, error) {
	out := make([]template, len(base))
	var offset time.Duration
	for i, c := range base {
		switch {
		case i == 0 || c.Set != base[i-1].Set:
			offset = 0 // the sets of a copy run side by side, each from the copy's start
		default:
			offset += max(0, min(c.At.Sub(base[i-1].At), gapCap))
		}
		plain, err := json.Marshal(c.Raw)
		if err != nil {
			return nil, fmt.Errorf("encode call %d: %w", i, err)
		}
		if bytes.Contains(plain, []byte(markRune)) {
			return nil, fmt.Errorf("call %d holds U+E000, which the plan uses as a marker", i)
		}
		m := cloneCall(c.Raw)
		for _, k := range []string{"anonymousId", "userId"} {
			if v, ok := m[k].(string); ok && v != "" {
				m[k] = v + idMark
			}
		}
		if v, ok := m["messageId"].(string); ok && v != "" {
			m["messageId"] = v + msgMark
		}
		markEmail(m["traits"])
		if ctx, ok := m["context"].(map[string]any); ok {
			markEmail(ctx["traits"])
		}
		m["timestamp"] = timeMark
		delete(m, "originalTimestamp")
		delete(m, "sentAt")
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode call %d: %w", i, err)
		}
		out[i] = template{body: b, offset: offset, call: c}
	}
	return out, nil
}

func cloneCall(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var c map[string]any
	_ = json.Unmarshal(b, &c)
	return c
}

// markEmail gives a copy's email a distinct local part ("peter+c3@…"), so copies do not share the
// hashed-email identifier and merge.
func markEmail(traits any) {
	t, ok := traits.(map[string]any)
	if !ok {
		return
	}
	if e, ok := t["email"].(string); ok {
		if local, domain, found := strings.Cut(e, "@"); found {
			t["email"] = local + "+" + idMark + "@" + domain
		}
	}
}

// Build plans opt.Events events or more: copies of the base population, each with its ids
// suffixed (a returning copy reuses an earlier copy's ids, later in time), its calls keeping their
// order and spacing (gaps capped at GapCap), copies starting at random phases so their calls
// interleave. Browser copies send each page's calls in a small request with the browser's sentAt;
// server copies' calls are gathered into batches of ServerBatch. Deterministic for a seed.
func Build(base []Call, opt Options) (*Plan, error) {
	if len(base) == 0 {
		return nil, errors.New("no base calls")
	}
	if opt.ServerBatch <= 0 || opt.BrowserBatch <= 0 || opt.GapCap <= 0 || opt.Events <= 0 {
		return nil, fmt.Errorf("options out of range: %+v", opt)
	}
	tpls, err := templates(base, opt.GapCap)
	if err != nil {
		return nil, err
	}
	var span time.Duration
	for _, t := range tpls {
		span = max(span, t.offset)
	}
	span += time.Second
	n := (opt.Events + len(base) - 1) / len(base)
	// Copies arrive one after another, Overlap of them running at once on average, so that any
	// prefix of the plan (a run cut short by a slow stack) holds whole visits of several copies.
	overlap := opt.Overlap
	if overlap <= 0 {
		overlap = 8
	}
	arrivals := span * time.Duration(n) / time.Duration(min(overlap, n))
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))
	copies := make([]copyOf, n)
	for i := range copies {
		id := "-" + opt.RunID + "c" + strconv.Itoa(i)
		c := copyOf{suffix: id, tag: id, phase: time.Duration(rng.Int64N(int64(arrivals))),
			browser: rng.Float64() < opt.Browser}
		if i > 0 && rng.Float64() < opt.Returning {
			orig := copies[rng.IntN(i)]
			c.suffix = orig.suffix // the same visitors and users, back after their first visit ended
			c.phase = orig.phase + span + time.Duration(rng.Int64N(int64(span)))
		}
		copies[i] = c
	}

	anonOnly := map[string]bool{}
	for _, t := range tpls {
		if t.call.AnonymousID != "" {
			if _, seen := anonOnly[t.call.AnonymousID]; !seen {
				anonOnly[t.call.AnonymousID] = true
			}
		}
	}
	for _, t := range tpls {
		if t.call.UserID != "" {
			anonOnly[t.call.AnonymousID] = false
		}
	}

	type pending struct {
		at     time.Duration
		copy   int
		index  int
		browse bool
	}
	var all []pending
	for ci, c := range copies {
		for i, t := range tpls {
			all = append(all, pending{at: c.phase + t.offset, copy: ci, index: i, browse: c.browser})
		}
	}
	slices.SortStableFunc(all, func(a, b pending) int { return int(a.at - b.at) })
	last := all[len(all)-1].at
	timeOf := func(at time.Duration) time.Time { return opt.End.Add(at - last) }

	p := &Plan{Copies: n, Anonymous: map[string]int{}}
	seen := map[string]bool{}
	encode := func(ci, i int, at time.Duration) []byte {
		c, t := copies[ci], tpls[i]
		b := bytes.ReplaceAll(t.body, idMarkJSON, []byte(c.suffix))
		b = bytes.ReplaceAll(b, msgMarkJSON, []byte(c.tag))
		return bytes.Replace(b, timeMarkJSON, []byte(`"`+timeOf(at).UTC().Format(time.RFC3339Nano)+`"`), 1)
	}
	note := func(ci, i int) (id string, counted bool) {
		t := tpls[i]
		if t.call.AnonymousID == "" {
			return "", false
		}
		id = t.call.AnonymousID + copies[ci].suffix
		if anonOnly[t.call.AnonymousID] && t.call.Type != "identify" {
			if key := id + "\x00" + t.call.MessageID + copies[ci].tag; !seen[key] {
				seen[key] = true
				p.Anonymous[id]++
				return id, true
			}
		}
		return id, false
	}

	// Browser copies: a page's calls (a page or screen call and what follows it, of one visitor,
	// until the next page) go together, at the time of the first.
	type group struct {
		calls    [][]byte
		visitors []string
		counts   map[string]int
		at       time.Duration
		last     time.Duration
	}
	add := func(g *group, body []byte, visitor string, counted bool, at time.Duration) {
		if len(g.calls) == 0 {
			g.at = at
		}
		g.calls = append(g.calls, body)
		g.visitors = append(g.visitors, visitor)
		if counted {
			if g.counts == nil {
				g.counts = map[string]int{}
			}
			g.counts[visitor]++
		}
		g.last = at
	}
	open := map[string]*group{} // by copy and visitor
	var server group
	flushGroup := func(g *group, browser bool) {
		if len(g.calls) == 0 {
			return
		}
		var b bytes.Buffer
		b.WriteString(`{"batch":[`)
		b.Write(bytes.Join(g.calls, []byte(",")))
		b.WriteString(`]`)
		if browser {
			// The tracker says when it sent the batch; the endpoint corrects its clock by it.
			b.WriteString(`,"sentAt":"` + timeOf(g.last).UTC().Format(time.RFC3339Nano) + `"`)
		}
		b.WriteString(`}`)
		visitors := slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(g.visitors))), func(v string) bool { return v == "" })
		p.Requests = append(p.Requests, Request{Body: b.Bytes(), Events: len(g.calls), Browser: browser, At: g.at, Visitors: visitors, Counts: g.counts})
		p.Events += len(g.calls)
		*g = group{}
	}
	for _, e := range all {
		body := encode(e.copy, e.index, e.at)
		visitor, counted := note(e.copy, e.index)
		if !e.browse {
			add(&server, body, visitor, counted, e.at)
			if len(server.calls) == opt.ServerBatch {
				flushGroup(&server, false)
			}
			continue
		}
		key := strconv.Itoa(e.copy) + "\x00" + tpls[e.index].call.AnonymousID + "\x00" + tpls[e.index].call.UserID
		g := open[key]
		typ := tpls[e.index].call.Type
		if g != nil && (typ == "page" || typ == "screen" || len(g.calls) == opt.BrowserBatch) {
			flushGroup(g, true)
		}
		if g == nil {
			g = &group{}
			open[key] = g
		}
		add(g, body, visitor, counted, e.at)
	}
	// What is still open goes last: a page left, its tracker sending at page hide.
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range open {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		flushGroup(open[k], true)
	}
	flushGroup(&server, false)
	slices.SortStableFunc(p.Requests, func(a, b Request) int { return int(a.At - b.At) })
	return p, nil
}
