package activity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/message"
)

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func TestKeysSortAsTimes(t *testing.T) {
	e := Entry{At: t0.In(time.FixedZone("CET", 3600)).Add(123 * time.Nanosecond), Kind: KindLapse, MessageID: "m1"}
	pk, sk := e.Keys()
	if pk != "lapse#2026-03-01" || sk != "2026-03-01T09:30:00.000000123Z#m1" {
		t.Errorf("keys %q %q", pk, sk)
	}
	at, id, err := ParseSortKey(sk)
	if err != nil || !at.Equal(e.At) || id != "m1" {
		t.Errorf("ParseSortKey(%q) = %v %q %v", sk, at, id, err)
	}
	// Fixed width: a later time sorts later as text, whatever its nanoseconds.
	_, later := Entry{At: t0.Add(time.Second), Kind: KindLapse, MessageID: "a"}.Keys()
	if later <= sk {
		t.Errorf("%q sorts before %q", later, sk)
	}
	for _, bad := range []string{"", "2026-03-01T09:30:00Z#m", "2026-03-01T09:30:00.000000000Z#", "x#y"} {
		if _, _, err := ParseSortKey(bad); err == nil {
			t.Errorf("ParseSortKey(%q) took it", bad)
		}
	}
	if Retention != 90*24*time.Hour {
		t.Error("entries are not kept 90 days")
	}
}

func TestParseDay(t *testing.T) {
	if d, err := ParseDay("2026-02-28"); err != nil || d.Day() != 28 {
		t.Errorf("ParseDay = %v %v", d, err)
	}
	for _, bad := range []string{"", "2026-02-30", "2026-2-1", "today", "2026-02-28T00:00:00Z"} {
		if _, err := ParseDay(bad); err == nil {
			t.Errorf("ParseDay(%q) took it", bad)
		}
	}
}

func basketMessage() message.TriggerFired {
	return message.NewTriggerFired(message.TriggerFired{Kind: message.KindAbandonedBasket, Key: "abandoned-basket@2026-03-01T08:00:00Z",
		ProfileID: "prf_1", UserID: "u-1", FiredAt: t0, Since: t0.Add(-90 * time.Minute), LastSeen: t0.Add(-time.Hour),
		Basket: &message.Basket{Items: []message.BasketItem{{ProductID: "tent", Quantity: 2, Price: 100}, {ProductID: "peg", Quantity: 1, Price: 40.5}},
			Value: 240.5, UpdatedAt: t0.Add(-90 * time.Minute)},
		Reason: "2 items worth 240.50 left in the basket; last seen 1 hour ago"})
}

// A trigger's entry says why in the rules' words, with the basket's lines and value, and holds
// nothing of the person but the profile id.
func TestFromTrigger(t *testing.T) {
	m := basketMessage()
	e := FromTrigger(m, "Triggers")
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Entry{At: t0, Kind: message.KindAbandonedBasket, MessageID: m.MessageID, ProfileID: "prf_1", Channel: "Triggers",
		Reason: "2 items worth 240.50 left in the basket; last seen 1 hour ago", Facts: map[string]float64{"items": 2, "value": 240.5}}
	if fmt.Sprint(e) != fmt.Sprint(want) {
		t.Errorf("entry\n%+v, want\n%+v", e, want)
	}
	if strings.Contains(fmt.Sprintf("%+v", e), "u-1") {
		t.Error("the entry holds the user id")
	}
	browse := message.NewTriggerFired(message.TriggerFired{Kind: message.KindAbandonedBrowse, Key: "k", ProfileID: "prf_1", FiredAt: t0,
		Since: t0, LastSeen: t0, Products: []string{"a", "b", "c"}, Reason: "viewed 3 products (a, b, c) without buying"})
	if f := FromTrigger(browse, "Triggers").Facts; f["products"] != 3 {
		t.Errorf("browse facts %v", f)
	}
	// A message sent again by a retried run (same time) is the same entry.
	if _, a := FromTrigger(m, "Triggers").Keys(); a != func() string { _, k := FromTrigger(basketMessage(), "Triggers").Keys(); return k }() {
		t.Error("the same message makes another key")
	}
}

func TestFromLapse(t *testing.T) {
	l := message.NewLapse(message.Lapse{ProfileID: "prf_2", UserID: "u-2", AnonymousIDs: []string{"a-2"}, Risk: 0.91234, PAlive: 0.0877,
		Value: 312.4, Revenue: 312.4, Reason: "lapse risk 0.91: P(alive) 0.09; value 312.40", RaisedAt: t0}, time.Time{})
	e := FromLapse(l, 0.8, "Alerts")
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.Kind != KindLapse || e.MessageID != l.AlertID || e.Channel != "Alerts" || !e.At.Equal(t0) {
		t.Errorf("entry %+v", e)
	}
	if want := "lapse risk 0.91: P(alive) 0.09; value 312.40; alerts at a risk of 0.80 or more"; e.Reason != want {
		t.Errorf("reason %q, want %q", e.Reason, want)
	}
	if e.Facts["risk"] != 0.9123 || e.Facts["threshold"] != 0.8 || e.Facts["value"] != 312.4 {
		t.Errorf("facts %v", e.Facts)
	}
}

func TestValidate(t *testing.T) {
	good := FromTrigger(basketMessage(), "Triggers")
	action := Entry{At: t0, Kind: KindAudit, MessageID: "req-1", Route: "PUT /v1/audiences/{audienceId}", KeyID: "user:ada", Status: 201,
		Targets: map[string]string{"audienceId": "vip"}}
	if err := action.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]Entry{
		"no time":         func() Entry { e := good; e.At = time.Time{}; return e }(),
		"unknown kind":    func() Entry { e := good; e.Kind = "birthday"; return e }(),
		"no message id":   func() Entry { e := good; e.MessageID = ""; return e }(),
		"# in the id":     func() Entry { e := good; e.MessageID = "a#b"; return e }(),
		"no profile":      func() Entry { e := good; e.ProfileID = ""; return e }(),
		"no reason":       func() Entry { e := good; e.Reason = ""; return e }(),
		"NaN":             func() Entry { e := good; e.Facts = map[string]float64{"value": 0 / zero}; return e }(),
		"action no route": func() Entry { e := action; e.Route = ""; return e }(),
		"action no key":   func() Entry { e := action; e.KeyID = ""; return e }(),
		"action status":   func() Entry { e := action; e.Status = 0; return e }(),
	} {
		if err := e.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	long := good
	long.Reason = strings.Repeat("é", MaxReason)
	if r := FromTrigger(message.TriggerFired{Reason: long.Reason}, "").Reason; len(r) > MaxReason || !strings.HasSuffix(r, "…") || !strings.HasPrefix(r, "éé") {
		t.Errorf("a long reason is cut to %d bytes: %q…", len(r), r[:10])
	}
}

var zero float64

// memory is a store of partitions in memory, counting its reads.
type memory struct {
	parts map[string][]Entry // by partition key, newest first
	reads int
}

func (m *memory) add(e Entry) {
	if m.parts == nil {
		m.parts = map[string][]Entry{}
	}
	pk, _ := e.Keys()
	m.parts[pk] = append(m.parts[pk], e)
	slices.SortFunc(m.parts[pk], newestFirst)
}

func (m *memory) Newest(_ context.Context, kind, day, before string, limit int) ([]Entry, bool, error) {
	m.reads++
	var out []Entry
	for _, e := range m.parts[PartitionKey(kind, day)] {
		if _, sk := e.Keys(); before == "" || sk < before {
			out = append(out, e)
		}
	}
	return out[:min(limit, len(out))], len(out) > limit, nil
}

// Paging through a day of every kind gives each entry once, newest first, whatever the page
// size; a kind alone is one read a page.
func TestReadPagesThroughEveryKind(t *testing.T) {
	m := &memory{}
	rng := rand.New(rand.NewPCG(1, 2))
	var want []Entry
	for i := range 137 {
		kind := AlertKinds[rng.IntN(len(AlertKinds)-1)] // one kind has nothing
		at := t0.Add(time.Duration(rng.IntN(3600)) * time.Second)
		if i%10 == 0 && len(want) > 0 {
			at = want[len(want)-1].At // a second entry at the same time
		}
		e := Entry{At: at, Kind: kind, MessageID: fmt.Sprintf("m%03d", i), ProfileID: "p", Reason: "r"}
		m.add(e)
		want = append(want, e)
	}
	m.add(Entry{At: t0.AddDate(0, 0, 1), Kind: KindLapse, MessageID: "tomorrow", ProfileID: "p", Reason: "r"})
	slices.SortFunc(want, newestFirst)
	for _, limit := range []int{1, 7, 50, 137, 200} {
		var got []Entry
		q := Query{Day: "2026-03-01", Kinds: AlertKinds, Limit: limit}
		for pages := 0; ; pages++ {
			if pages > 200 {
				t.Fatal("the pages do not end")
			}
			p, err := Read(context.Background(), m, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Entries) > limit {
				t.Fatalf("a page of %d entries, limit %d", len(p.Entries), limit)
			}
			got = append(got, p.Entries...)
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		if len(got) != len(want) {
			t.Fatalf("limit %d: %d entries, want %d", limit, len(got), len(want))
		}
		for i := range got {
			if got[i].MessageID != want[i].MessageID {
				t.Fatalf("limit %d: entry %d is %s, want %s", limit, i, got[i].MessageID, want[i].MessageID)
			}
		}
	}
	m.reads = 0
	p, err := Read(context.Background(), m, Query{Day: "2026-03-01", Kinds: []string{KindLapse}, Limit: 200})
	if err != nil || m.reads != 1 || p.Next != "" || len(p.Entries) != 0 {
		t.Errorf("a kind with nothing that day: %d reads, %+v, %v", m.reads, p, err)
	}
}

func TestReadRefusesAnotherQuerysCursor(t *testing.T) {
	m := &memory{}
	for i := range 3 {
		m.add(Entry{At: t0.Add(time.Duration(i) * time.Minute), Kind: KindAudit, MessageID: fmt.Sprint(i), Route: "r", KeyID: "k", Status: 200})
	}
	q := Query{Day: "2026-03-01", Kinds: []string{KindAudit}, Limit: 1}
	p, err := Read(context.Background(), m, q)
	if err != nil || p.Next == "" || p.Entries[0].MessageID != "2" {
		t.Fatalf("first page %+v %v", p, err)
	}
	for name, other := range map[string]Query{
		"another day":  {Day: "2026-03-02", Kinds: q.Kinds, Limit: 1, Cursor: p.Next},
		"another kind": {Day: q.Day, Kinds: []string{KindLapse}, Limit: 1, Cursor: p.Next},
		"made up":      {Day: q.Day, Kinds: q.Kinds, Limit: 1, Cursor: "eyJkIjoxfQ"},
		"not base64":   {Day: q.Day, Kinds: q.Kinds, Limit: 1, Cursor: "%%%"},
	} {
		if _, err := Read(context.Background(), m, other); !errors.Is(err, ErrBadCursor) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range []Query{{Day: "2026-13-01", Kinds: q.Kinds, Limit: 1}, {Day: q.Day, Limit: 1}, {Day: q.Day, Kinds: q.Kinds, Limit: MaxLimit + 1}} {
		if _, err := Read(context.Background(), m, bad); err == nil || errors.Is(err, ErrBadCursor) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
