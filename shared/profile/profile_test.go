package profile

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

func TestFromEvent(t *testing.T) {
	ok := beacon.Event{Type: beacon.Identify, MessageID: "m1", AnonymousID: "A", UserID: "U",
		Traits:    json.RawMessage(`{"email":"a@example.com","plan":"gold","age":41,"vip":true,"nick":""}`),
		Timestamp: time.Date(2025, 3, 1, 11, 0, 0, 0, time.FixedZone("CET", 3600))}
	a, err := FromEvent(ok)
	if err != nil {
		t.Fatal(err)
	}
	want := Activity{MessageID: "m1", Type: beacon.Identify, AnonymousID: "A", UserID: "U", At: t0,
		Traits: map[string]any{"email": "a@example.com", "plan": "gold", "age": 41.0, "vip": true, "nick": ""}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("FromEvent = %+v\nwant       %+v", a, want)
	}
	if !a.At.Equal(ok.Timestamp) || a.At.Location() != time.UTC {
		t.Errorf("At = %v, want %v in UTC", a.At, ok.Timestamp)
	}

	noTimestamp := beacon.Event{Type: beacon.Page, MessageID: "m2", AnonymousID: "A", ReceivedAt: t0}
	if a, err := FromEvent(noTimestamp); err != nil || !a.At.Equal(t0) {
		t.Errorf("event without timestamp: %+v, %v; want At = receivedAt", a, err)
	}

	bad := []struct {
		event  beacon.Event
		reason string
	}{
		{beacon.Event{MessageID: "m", AnonymousID: "A", Timestamp: t0}, "no type"},
		{beacon.Event{Type: "merge", MessageID: "m", AnonymousID: "A", Timestamp: t0}, `unsupported type "merge"`},
		{beacon.Event{Type: "alias", MessageID: "m", AnonymousID: "A", Timestamp: t0}, "alias without previousId and userId"},
		{beacon.Event{Type: "group", MessageID: "m", AnonymousID: "A", Timestamp: t0}, "group without groupId"},
		{beacon.Event{Type: "group", MessageID: "m", AnonymousID: "A", GroupID: strings.Repeat("g", 600), Timestamp: t0}, "groupId longer than 512 bytes"},
		{beacon.Event{Type: "track", AnonymousID: "A", Timestamp: t0}, "no messageId"},
		{beacon.Event{Type: "track", MessageID: "m", Timestamp: t0}, "neither anonymousId nor userId"},
		{beacon.Event{Type: "track", MessageID: "m", AnonymousID: "A"}, "neither timestamp nor receivedAt"},
		{beacon.Event{Type: "track", MessageID: "m", UserID: strings.Repeat("u", 600), Timestamp: t0}, "userId longer than 512 bytes"},
		{beacon.Event{Type: "identify", MessageID: "m", UserID: "U", Timestamp: t0, Traits: json.RawMessage(`["x"]`)}, "traits are not a JSON object"},
		{beacon.Event{Type: "identify", MessageID: "m", UserID: "U", Timestamp: t0, Traits: json.RawMessage(`{"":1}`)}, "a trait has an empty name"},
	}
	for _, b := range bad {
		_, err := FromEvent(b.event)
		if !errors.Is(err, ErrInvalidEvent) || !strings.Contains(err.Error(), b.reason) {
			t.Errorf("FromEvent(%+v) err = %v, want ErrInvalidEvent saying %q", b.event, err, b.reason)
		}
	}
}

func TestFromEventOfScreenGroupAndAlias(t *testing.T) {
	for _, tc := range []struct {
		event beacon.Event
		want  Activity
	}{
		{beacon.Event{Type: beacon.Screen, MessageID: "m1", AnonymousID: "A", Name: "Home", Timestamp: t0},
			Activity{MessageID: "m1", Type: beacon.Screen, AnonymousID: "A", At: t0, Page: "Home"}},
		{beacon.Event{Type: beacon.Group, MessageID: "m2", UserID: "U", GroupID: "acme", Traits: json.RawMessage(`{"name":"Acme"}`), Timestamp: t0},
			Activity{MessageID: "m2", Type: beacon.Group, UserID: "U", GroupID: "acme", At: t0}},
		{beacon.Event{Type: beacon.Alias, MessageID: "m3", AnonymousID: "A2", PreviousID: "A1", UserID: "U", Timestamp: t0},
			Activity{MessageID: "m3", Type: beacon.Alias, PreviousID: "A1", UserID: "U", At: t0}},
	} {
		got, err := FromEvent(tc.event)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("FromEvent(%s) = %+v, %v\nwant %+v", tc.event.Type, got, err, tc.want)
		}
	}
}

func TestScreensCountAndGroupsAreBounded(t *testing.T) {
	p := Apply(Profile{ID: "p"}, Activity{Type: beacon.Screen, AnonymousID: "A", At: at(0)}, nil)
	for i := range MaxGroups + 5 {
		p = Apply(p, Activity{Type: beacon.Group, AnonymousID: "A", GroupID: fmt.Sprintf("g%03d", i), At: at(i)}, nil)
	}
	p = Apply(p, Activity{Type: beacon.Group, AnonymousID: "A", GroupID: "g000", At: at(99)}, nil)
	if p.Counts != (Counts{Events: MaxGroups + 7, Screens: 1}) {
		t.Errorf("counts = %+v", p.Counts)
	}
	if len(p.Groups) != MaxGroups || p.Groups[0] != "g000" || p.Groups[MaxGroups-1] != fmt.Sprintf("g%03d", MaxGroups-1) {
		t.Errorf("groups = %v", p.Groups)
	}
	folded, err := Fold(Profile{ID: "q", Groups: []string{"a"}, Counts: Counts{Screens: 2}}, Profile{ID: "r", Groups: []string{"b", "a"}, Counts: Counts{Screens: 3}})
	if err != nil || !reflect.DeepEqual(folded.Groups, []string{"a", "b"}) || folded.Counts.Screens != 5 {
		t.Errorf("fold = %+v, %v", folded, err)
	}
}

func TestApplyCountsAndSeenInAnyOrder(t *testing.T) {
	events := []Activity{
		{MessageID: "1", Type: beacon.Page, AnonymousID: "A", At: at(10)},
		{MessageID: "2", Type: beacon.Track, AnonymousID: "A", At: at(5)},
		{MessageID: "3", Type: beacon.Identify, AnonymousID: "A", UserID: "U", At: at(20)},
		{MessageID: "4", Type: beacon.Page, AnonymousID: "A", At: at(0)},
	}
	apply := func(order []int) Profile {
		p := Profile{ID: "p"}
		for _, i := range order {
			e := events[i]
			attach := []identity.ID{identity.AnonymousID(e.AnonymousID)}
			if e.UserID != "" {
				attach = append(attach, identity.UserID(e.UserID))
			}
			p = Apply(p, e, attach)
		}
		return p
	}
	want := Profile{ID: "p", UserID: "U", AnonymousIDs: []string{"A"}, FirstSeen: at(0), LastSeen: at(20),
		Counts: Counts{Events: 4, PageViews: 2, Tracks: 1, Identifies: 1},
		Hits:   []Hit{{At: at(0), PageView: true}, {At: at(5)}, {At: at(10), PageView: true}}, Visits: 1,
		Session: &Session{ID: "ses_" + strconv.FormatInt(at(0).UnixMilli(), 36), Start: at(0), End: at(10), Events: 3, PageViews: 2}}
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}} {
		if got := apply(order); !reflect.DeepEqual(got, want) {
			t.Errorf("order %v: %+v\nwant %+v", order, got, want)
		}
	}
}

func TestTraitsLatestWinsPerTrait(t *testing.T) {
	events := []Activity{
		{Type: beacon.Identify, UserID: "U", At: at(1), Traits: map[string]any{"plan": "free", "city": "Leeds"}},
		{Type: beacon.Identify, UserID: "U", At: at(2), Traits: map[string]any{"email": "u@example.com"}},
		{Type: beacon.Identify, UserID: "U", At: at(3), Traits: map[string]any{"plan": "gold"}},
		{Type: beacon.Identify, UserID: "U", At: at(0), Traits: map[string]any{"plan": "trial", "city": "York", "age": 30.0}},
	}
	want := map[string]any{"plan": "gold", "city": "Leeds", "email": "u@example.com", "age": 30.0}
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 3, 0, 1}} {
		p := Profile{ID: "p"}
		for _, i := range order {
			p = Apply(p, events[i], []identity.ID{identity.UserID("U")})
		}
		if !reflect.DeepEqual(p.Traits, want) {
			t.Errorf("order %v: traits %v, want %v", order, p.Traits, want)
		}
	}
}

func TestApplyDoesNotChangeItsInput(t *testing.T) {
	p := Profile{ID: "p", AnonymousIDs: []string{"B"}, Traits: map[string]any{"a": 1.0}, TraitTimes: map[string]time.Time{"a": at(0)}}
	_ = Apply(p, Activity{Type: beacon.Identify, AnonymousID: "A", At: at(1), Traits: map[string]any{"a": 2.0}},
		[]identity.ID{identity.AnonymousID("A")})
	if p.Traits["a"] != 1.0 || len(p.AnonymousIDs) != 1 {
		t.Errorf("Apply changed its input: %+v", p)
	}
}

func TestApplyKeepsTheUserID(t *testing.T) {
	p := Apply(Profile{ID: "p", UserID: "U1"}, Activity{Type: beacon.Track, UserID: "U2", At: at(0)},
		[]identity.ID{identity.UserID("U2")})
	if p.UserID != "U1" {
		t.Errorf("user id = %q, want U1 kept", p.UserID)
	}
}

func TestFold(t *testing.T) {
	known := Profile{
		ID: "pU", UserID: "U", AnonymousIDs: []string{"A1"},
		Traits:     map[string]any{"plan": "gold", "email": "u@example.com"},
		TraitTimes: map[string]time.Time{"plan": at(50), "email": at(10)},
		FirstSeen:  at(5), LastSeen: at(60), Counts: Counts{Events: 5, PageViews: 3, Tracks: 1, Identifies: 1},
		MergedFrom: []string{"pOld"},
	}
	device := Profile{
		ID: "pA2", AnonymousIDs: []string{"A2"},
		Traits:     map[string]any{"plan": "free", "email": "new@example.com", "city": "Hull"},
		TraitTimes: map[string]time.Time{"plan": at(40), "email": at(20), "city": at(1)},
		FirstSeen:  at(0), LastSeen: at(30), Counts: Counts{Events: 3, PageViews: 2, Tracks: 1},
	}
	got, err := Fold(known, device)
	if err != nil {
		t.Fatal(err)
	}
	want := Profile{
		ID: "pU", UserID: "U", AnonymousIDs: []string{"A1", "A2"},
		Traits:     map[string]any{"plan": "gold", "email": "new@example.com", "city": "Hull"},
		TraitTimes: map[string]time.Time{"plan": at(50), "email": at(20), "city": at(1)},
		FirstSeen:  at(0), LastSeen: at(60), Counts: Counts{Events: 8, PageViews: 5, Tracks: 2, Identifies: 1},
		MergedFrom: []string{"pA2", "pOld"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Fold =\n%+v\nwant\n%+v", got, want)
	}
	// A fold is order-independent in what it keeps.
	back, err := Fold(device, known)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Traits, want.Traits) || back.Counts != want.Counts || !back.FirstSeen.Equal(at(0)) || !back.LastSeen.Equal(at(60)) {
		t.Errorf("Fold the other way = %+v", back)
	}
}

func TestFoldRefusesTwoUsers(t *testing.T) {
	_, err := Fold(Profile{ID: "p1", UserID: "U1"}, Profile{ID: "p2", UserID: "U2"})
	if !errors.Is(err, identity.ErrDifferentUsers) {
		t.Errorf("Fold of two users: err = %v, want identity.ErrDifferentUsers", err)
	}
}

func TestAddressable(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Profile
		want bool
	}{
		{"anonymous", Profile{ID: "p", AnonymousIDs: []string{"a"}}, true},
		{"known", Profile{ID: "p", UserID: "u"}, true},
		{"merged into another", Profile{ID: "p", UserID: "u", MergedInto: "q"}, false},
		{"erased: no identifiers left", Profile{ID: "p"}, false},
	} {
		if got := c.p.Addressable(); got != c.want || got != (c.p.Live() && len(c.p.Identifiers()) > 0) {
			t.Errorf("%s: Addressable = %v, want %v", c.name, got, c.want)
		}
	}
}

// AttachShallow attaches as Attach does, and never writes into the profile it was given, even
// where its anonymous ids have room to grow in place.
func TestAttachShallowLeavesTheOriginalAlone(t *testing.T) {
	p := Profile{ID: "p1", AnonymousIDs: make([]string, 2, 8)}
	p.AnonymousIDs[0], p.AnonymousIDs[1] = "a", "c"
	ids := []identity.ID{identity.AnonymousID("b"), identity.UserID("u1"), identity.AnonymousID("a")}
	got := AttachShallow(p, ids...)
	want := Attach(p, ids...)
	require.Equal(t, want.AnonymousIDs, got.AnonymousIDs)
	require.Equal(t, "u1", got.UserID)
	require.Equal(t, []string{"a", "c"}, p.AnonymousIDs, "the original's ids as they were")
	require.Empty(t, p.UserID)
	require.Equal(t, "u1", AttachShallow(got, identity.UserID("u2")).UserID, "a user id only on a profile without one")
}
