package recordingtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// Two devices become one profile: its history holds the events of both, newest first, whichever
// profile id asks, and the events recorded on the merged profile keep their profile id.
func historyAfterAMergeHoldsBothDevicesNewestFirst(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	ctx := context.Background()
	desk := f.Record(t, Page("m1", "a-desk", 0))[0].ProfileID
	phone := f.Record(t, Page("m2", "a-phone", 1), Page("m3", "a-phone", 3))[0].ProfileID
	f.Record(t, Identify("m4", "a-desk", "u-1", 4, nil))
	_, err := f.Engine.RecordClaims(ctx, Order("m5", "a-desk", "u-1", 5), recording.Claims{Properties: json.RawMessage(`{"order_id": "o-m5", "total": 20}`)})
	require.NoError(t, err)
	f.Record(t, Identify("m6", "a-phone", "u-1", 6, nil)) // phone joins desk
	require.Equal(t, desk, f.Lookup(t, identity.AnonymousID("a-phone")).ID)

	want := []string{"m6", "m5", "m4", "m3", "m2", "m1"}
	for _, id := range []string{desk, phone} {
		page, err := f.Engine.History(ctx, id, history.Query{})
		require.NoError(t, err)
		require.Equal(t, desk, page.ProfileID)
		require.Equal(t, want, MessageIDs(page.Touchpoints))
		require.Empty(t, page.Next)
	}
	page, err := f.Engine.History(ctx, desk, history.Query{})
	require.NoError(t, err)
	byID := map[string]history.Touchpoint{}
	for _, tp := range page.Touchpoints {
		byID[tp.MessageID] = tp
	}
	require.Equal(t, phone, byID["m2"].ProfileID)
	require.Equal(t, desk, byID["m1"].ProfileID)
	require.Equal(t, At(3), byID["m3"].At)
	require.Equal(t, beacon.Page, byID["m3"].Type)
	m5 := byID["m5"]
	require.True(t, m5.Purchase)
	require.Equal(t, "Order Completed", m5.Event)
	require.Equal(t, "o-m5", m5.OrderID)
	require.Equal(t, 20.0, m5.Revenue)
	require.JSONEq(t, `{"order_id":"o-m5","total":20}`, string(m5.Properties))
	require.True(t, m5.ExpiresAt.IsZero(), "a purchase is kept")

	purchases, err := f.Engine.History(ctx, phone, history.Query{Type: history.Purchases})
	require.NoError(t, err)
	require.Equal(t, []string{"m5"}, MessageIDs(purchases.Touchpoints))
	pages, err := f.Engine.History(ctx, phone, history.Query{Type: beacon.Page})
	require.NoError(t, err)
	require.Equal(t, []string{"m3", "m2", "m1"}, MessageIDs(pages.Touchpoints))
}

// Paging walks the whole history once, in order, for every page size, even when newer events
// arrive between pages; a cursor from elsewhere is refused.
func historyPagingIsStable(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	ctx := context.Background()
	var acts []profile.Activity
	for i := range 7 {
		acts = append(acts, Page("d"+strconv.Itoa(i), "a-desk", 2*i), Page("p"+strconv.Itoa(i), "a-phone", 2*i+1))
	}
	acts = append(acts, Page("same-a", "a-desk", 20), Page("same-b", "a-phone", 20)) // one instant, two profiles
	f.Record(t, acts...)
	f.Record(t, Identify("j1", "a-desk", "u-1", 30, nil), Identify("j2", "a-phone", "u-1", 31, nil))
	live := f.Lookup(t, identity.AnonymousID("a-desk")).ID
	full := f.History(t, live, history.Query{Limit: history.MaxLimit})
	require.Len(t, full, 18)
	for i := 1; i < len(full); i++ {
		require.False(t, full[i].At.After(full[i-1].At), "history is newest first")
	}
	for _, size := range []int{1, 2, 3, 5, 17, 18} {
		require.Equal(t, MessageIDs(full), MessageIDs(f.History(t, live, history.Query{Limit: size})), "page size %d", size)
	}

	first, err := f.Engine.History(ctx, live, history.Query{Limit: 4})
	require.NoError(t, err)
	f.Record(t, Page("late-new", "a-desk", 40)) // newer than everything: not on later pages
	rest := f.History(t, live, history.Query{Limit: 4, Cursor: first.Next})
	require.Equal(t, MessageIDs(full), append(MessageIDs(first.Touchpoints), MessageIDs(rest)...))

	_, err = f.Engine.History(ctx, live, history.Query{Cursor: "not-a-cursor"})
	require.ErrorIs(t, err, history.ErrBadCursor)
	_, err = f.Engine.History(ctx, "prf_nobody", history.Query{})
	require.ErrorIs(t, err, profile.ErrNotFound)
}

// Every event but a purchase expires from the history after the retention time; a replay writes
// no touchpoint twice.
func touchpointsExpireButPurchases(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	acts := []profile.Activity{Page("m1", "a-1", 0), Track("m2", "a-1", "", 1), Order("m3", "a-1", "", 2)}
	f.Record(t, acts...)
	f.Record(t, acts...) // replay
	tps := f.Touchpoints(t)
	require.Len(t, tps, 3)
	for i, a := range acts {
		tp := tps[a.MessageID]
		require.True(t, strings.HasSuffix(tp.Sort, "#"+a.MessageID), tp.Sort)
		if a.MessageID == "m3" {
			require.True(t, tp.ExpiresAt.IsZero(), "a purchase never expires")
			continue
		}
		require.Equal(t, At(i).Add(Retention), tp.ExpiresAt, "%s expires", a.MessageID)
	}
}

// An event older than the history keeps its touchpoint history.MinKeep after it is recorded, so
// that sending it again within that time still counts it once.
func oldEventsAreKeptLongEnoughToRecogniseAReplay(t *testing.T, ns NewStorage) {
	f := New(t, ns, recording.WithRetention(24*time.Hour))
	// The real clock: what is written must not be expired already, or DynamoDB Local's TTL
	// sweeper could take it during the test.
	recordedAt := time.Now().UTC().Truncate(time.Second)
	f.Clock.Set(recordedAt)
	old := Page("m1", "a-1", 0) // long before now, far past its 24 h history
	f.Record(t, old)
	tps := f.Touchpoints(t)
	require.Len(t, tps, 1)
	require.Equal(t, recordedAt.Add(history.MinKeep), tps["m1"].ExpiresAt)
	require.True(t, f.Record(t, old)[0].Duplicate)
}

// An export holds the live profile, the profiles merged into it, all their identifiers and their
// whole history, whichever of its ids is asked.
func exportHoldsEverythingAboutThePerson(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	ctx := context.Background()
	desk := f.Record(t, Page("m1", "a-desk", 0), Identify("m2", "a-desk", "u-1", 1, map[string]any{"name": "Ann"}))[0].ProfileID
	phone := f.Record(t, Page("m3", "a-phone", 2))[0].ProfileID
	f.RecordClaims(t, Identify("m4", "a-phone", "u-1", 3, nil), true, Email(1))
	other := f.Record(t, Page("x1", "a-other", 4))[0].ProfileID

	for _, id := range []string{desk, phone} {
		p, err := f.Export(ctx, id, history.Query{})
		require.NoError(t, err)
		require.Equal(t, desk, p.Profile.ID)
		require.Equal(t, "Ann", p.Profile.Traits["name"])
		require.Equal(t, []string{phone}, p.Merged)
		require.Equal(t, []identity.ID{identity.AnonymousID("a-desk"), identity.AnonymousID("a-phone"), Email(1), identity.UserID("u-1")}, p.Identifiers)
		require.Equal(t, []string{"m4", "m3", "m2", "m1"}, MessageIDs(p.Touchpoints))
		require.Empty(t, p.Next)
	}
	// A long history comes in pages.
	first, err := f.Export(ctx, phone, history.Query{Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"m4", "m3", "m2"}, MessageIDs(first.Touchpoints))
	rest, err := f.Export(ctx, phone, history.Query{Limit: 3, Cursor: first.Next})
	require.NoError(t, err)
	require.Equal(t, []string{"m1"}, MessageIDs(rest.Touchpoints))
	require.Empty(t, rest.Next)
	require.Equal(t, first.Identifiers, rest.Identifiers)

	p, err := f.Export(ctx, other, history.Query{})
	require.NoError(t, err)
	require.Equal(t, []string{"x1"}, MessageIDs(p.Touchpoints))
	_, err = f.Export(ctx, "prf_nobody", history.Query{})
	require.ErrorIs(t, err, profile.ErrNotFound)
}

// RequireTombstone checks that a profile record holds nothing but its id and when it was erased.
func RequireTombstone(t *testing.T, r recording.Record) {
	t.Helper()
	require.Equal(t, recording.Record{Profile: profile.Profile{ID: r.Profile.ID}, ErasedAt: r.ErasedAt, Erasure: r.Erasure}, r,
		"an erased profile leaves only a tombstone: when, and the counts of its erasure")
	require.False(t, r.ErasedAt.IsZero())
}

// RequireSealed checks that the identity graph holds the erased identifiers as tombstones under
// their sealed form (Key's), in which neither their text nor their value appears, and holds the
// kept ones as entries, and nothing else.
func RequireSealed(t *testing.T, entries map[string]recording.Entry, erased []identity.ID, kept ...identity.ID) {
	t.Helper()
	want := map[string]bool{}
	for _, id := range erased {
		want["sealed:"+Key.Sum("tombstone", id.String())] = true
	}
	for _, id := range kept {
		want[id.String()] = true
	}
	got := map[string]bool{}
	for k, e := range entries {
		got[k] = true
		if e.Sealed == "" {
			continue
		}
		require.Equal(t, recording.Entry{Sealed: e.Sealed, ErasedAt: e.ErasedAt}, e, "a tombstone keeps its sealed form and time, nothing else")
		require.False(t, e.ErasedAt.IsZero())
		for _, id := range erased {
			if len(id.Value) >= 4 { // shorter ones may be found in any hash's text by chance
				require.NotContains(t, e.Sealed, id.Value)
			}
		}
	}
	require.Equal(t, want, got)
}

// Erasing a person leaves nothing of them in the profiles, the identity graph or the history but
// tombstones without a profile or a readable identifier; events carrying their identifiers are
// refused from then on, erasing again answers the erasure, and the rest of the data is untouched.
func eraseLeavesNothingBehind(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	ctx := context.Background()
	desk := f.Record(t, Page("m1", "a-desk", 0), Identify("m2", "a-desk", "u-1", 1, map[string]any{"name": "Ann"}))[0].ProfileID
	phone := f.Record(t, Page("m3", "a-phone", 2))[0].ProfileID
	f.RecordClaims(t, Identify("m4", "a-phone", "u-1", 3, nil), true, Email(1))
	_, err := f.Engine.RecordClaims(ctx, Order("m5", "a-phone", "u-1", 4), recording.Claims{Properties: json.RawMessage(`{"order_id":"o-m5"}`)})
	require.NoError(t, err)
	other := f.Record(t, Page("x1", "a-other", 5))[0].ProfileID

	out, err := f.Erase(ctx, phone) // by the merged id: the whole person goes
	require.NoError(t, err)
	require.Equal(t, recording.Erasure{ProfileID: desk, State: recording.ErasureComplete, StartedAt: Now, CompletedAt: Now,
		Profiles: 2, Identifiers: 4, Touchpoints: 5}, out)

	for id, r := range f.Records(t) {
		if id != other {
			RequireTombstone(t, r)
		}
	}
	for _, tp := range f.Touchpoints(t) {
		require.Equal(t, other, tp.ProfileID, "only the other visitor's history is left")
	}
	erased := []identity.ID{identity.AnonymousID("a-desk"), identity.AnonymousID("a-phone"), identity.UserID("u-1"), Email(1)}
	RequireSealed(t, f.Entries(t), erased, identity.AnonymousID("a-other"))

	for _, id := range []string{desk, phone} {
		_, err := f.Profile(ctx, id)
		require.ErrorIs(t, err, profile.ErrNotFound)
		_, err = f.Engine.History(ctx, id, history.Query{})
		require.ErrorIs(t, err, profile.ErrNotFound)
		_, err = f.Export(ctx, id, history.Query{})
		require.ErrorIs(t, err, profile.ErrNotFound)
		again, err := f.Erase(ctx, id)
		require.NoError(t, err, "erasing again answers the erasure, complete")
		require.Equal(t, out, again)
	}
	_, err = f.Erase(ctx, "prf_nobody")
	require.ErrorIs(t, err, profile.ErrNotFound)
	_, err = f.Engine.Lookup(ctx, identity.UserID("u-1"))
	require.ErrorIs(t, err, profile.ErrNotFound)

	// Later events carrying any erased identifier are refused, even beside a new one.
	for _, a := range []profile.Activity{Page("n1", "a-desk", 10), Track("n2", "a-new", "u-1", 11), Identify("n3", "a-new2", "", 12, nil)} {
		c := recording.Claims{}
		if a.MessageID == "n3" {
			c = recording.Claims{IDs: []identity.ID{Email(1)}, Trusted: true}
		}
		_, err := f.Engine.RecordClaims(ctx, a, c)
		require.ErrorIs(t, err, recording.ErrErased, a.MessageID)
	}
	require.Len(t, f.LiveProfiles(t), 1, "no profile re-created")
	p, err := f.Profile(ctx, other)
	require.NoError(t, err)
	require.Equal(t, 1, p.Counts.Events)
}

// An erasure that stopped after marking the profile is finished by erasing again; recording on
// the marked profile is refused meanwhile.
func eraseStoppedHalfWayIsFinished(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	ctx := context.Background()
	id := f.Record(t, Page("m1", "a-1", 0), Page("m2", "a-1", 1))[0].ProfileID
	f.Rewrite(t, id, func(r *recording.Record) { r.ErasedAt = Now })
	_, err := f.Engine.Record(ctx, Page("m3", "a-1", 2))
	require.ErrorIs(t, err, recording.ErrErased)
	_, err = f.Profile(ctx, id)
	require.ErrorIs(t, err, profile.ErrNotFound)

	out, err := f.Erase(ctx, id)
	require.NoError(t, err)
	require.Equal(t, recording.Erasure{ProfileID: id, State: recording.ErasureComplete, StartedAt: Now, CompletedAt: Now,
		Profiles: 1, Identifiers: 1, Touchpoints: 2}, out)
	records := f.Records(t)
	require.Len(t, records, 1)
	RequireTombstone(t, records[id])
	require.Empty(t, f.Touchpoints(t))
}

// journey is one customer on two devices: a campaign visit on the desktop with a basket and a
// form, a login, a later visit on the phone that logs in too, an order sent by both the browser
// and the server, and a new basket.
func journey() []profile.Activity {
	n := 0
	act := func(typ, anon, user string, m int, f func(*profile.Activity)) profile.Activity {
		n++
		a := profile.Activity{MessageID: fmt.Sprintf("j%02d", n), Type: typ, AnonymousID: anon, UserID: user, At: At(m)}
		if f != nil {
			f(&a)
		}
		return a
	}
	spring := profile.Campaign{Source: "google", Medium: "cpc", Name: "spring"}
	pg := func(anon string, m int, path string, c profile.Campaign, channel string) profile.Activity {
		return act(beacon.Page, anon, "", m, func(a *profile.Activity) { a.Page, a.Campaign, a.Channel = path, c, channel })
	}
	tr := func(anon, user string, m int, event string, f func(*profile.Activity)) profile.Activity {
		return act(beacon.Track, anon, user, m, func(a *profile.Activity) {
			a.Event = event
			if f != nil {
				f(a)
			}
		})
	}
	ping := func(anon string, m, s int) profile.Activity {
		return tr(anon, "", m, "Page Ping", func(a *profile.Activity) { a.Engaged = s })
	}
	// An email open and an ad loaded through the pixel between the visits: impressions, not visits.
	impression := func(anon, user string, m int, event, kind, channel, campaign string) profile.Activity {
		return tr(anon, user, m, event, func(a *profile.Activity) {
			a.Impression, a.Channel, a.Campaign = kind, channel, profile.Campaign{Name: campaign}
		})
	}
	line := func(id string, q int, price float64) []profile.Line {
		return []profile.Line{{ProductID: id, Quantity: q, Price: price}}
	}
	return []profile.Activity{
		pg("D", 0, "/", spring, beacon.ChannelPaidSearch),
		ping("D", 1, 10),
		pg("D", 2, "/shoes", profile.Campaign{}, beacon.ChannelDirect),
		tr("D", "", 3, "Product Viewed", func(a *profile.Activity) { a.Products = line("p1", 1, 0) }),
		tr("D", "", 4, "Product Added", func(a *profile.Activity) { a.Products = line("p1", 2, 40) }),
		tr("D", "", 5, "Form Started", func(a *profile.Activity) { a.FormID = "newsletter" }),
		act(beacon.Identify, "D", "U", 6, func(a *profile.Activity) { a.Traits = map[string]any{"plan": "gold"} }),
		ping("D", 7, 25),
		pg("P", 60, "/sale", profile.Campaign{Source: "mail", Medium: "email", Name: "june"}, beacon.ChannelEmail),
		tr("P", "", 61, "Product Added", func(a *profile.Activity) { a.Products = line("p2", 1, 15.5) }),
		act(beacon.Identify, "P", "U", 62, nil),
		tr("P", "U", 63, "Order Completed", func(a *profile.Activity) {
			a.OrderID, a.Revenue, a.Products = "o1", 95.5, append(line("p1", 2, 40), line("p2", 1, 15.5)...)
		}),
		tr("", "U", 64, "Order Completed", func(a *profile.Activity) { a.OrderID, a.Revenue, a.Products = "o1", 95.5, line("p1", 2, 40) }),
		ping("P", 65, 10),
		impression("", "U", 150, "Email Opened", profile.ImpressionOpen, beacon.ChannelEmail, "june"),
		impression("P", "", 199, "Banner", profile.ImpressionAd, "", ""),
		pg("P", 200, "/", profile.Campaign{}, beacon.ChannelDirect),
		tr("P", "U", 201, "Product Added", func(a *profile.Activity) { a.Products = line("p3", 1, 9) }),
		tr("P", "U", 202, "Form Started", func(a *profile.Activity) { a.FormID = "contact" }),
		tr("P", "U", 203, "Form Submitted", func(a *profile.Activity) { a.FormID = "contact" }),
	}
}

// Journey is the events of journey, for tests of an adapter's storage of the aggregates.
func Journey() []profile.Activity { return journey() }

// Aggregates are the parts of a profile that must not depend on the order events arrived in.
func Aggregates(p profile.Profile) map[string]any {
	return map[string]any{
		"visits": p.Visits, "engaged": p.EngagedSeconds, "session": p.Session, "lastChannel": p.LastChannel,
		"hits": p.Hits, "settled": p.Settled, "products": p.Products, "orders": p.Orders, "orderCount": p.OrderCount,
		"revenue": p.Revenue, "basket": p.Basket, "openBasket": p.Basket.Open(), "forms": p.Forms, "counts": p.Counts,
		"firstSeen": p.FirstSeen, "lastSeen": p.LastSeen, "traits": p.Traits, "impressions": p.Impressions,
		"cases": p.Cases, "returns": p.Returns, "firstOrder": p.FirstOrder, "lastOrder": p.LastOrder, "acquisition": p.Acquisition,
	}
}

func shuffledReplayGivesTheSameAggregates(t *testing.T, ns NewStorage) {
	acts := journey()
	ordered := New(t, ns)
	ordered.Record(t, acts...)
	want := ordered.Lookup(t, identity.UserID("U"))

	require.Equal(t, 3, want.Visits, "desktop, phone, and the phone's return")
	require.Equal(t, 45, want.EngagedSeconds)
	require.Equal(t, beacon.ChannelDirect, want.LastChannel)
	require.Equal(t, &profile.Session{ID: want.Session.ID, Start: At(200), End: At(203), Events: 4, PageViews: 1,
		LandingPage: "/", Channel: beacon.ChannelDirect}, want.Session)
	require.Equal(t, 1, want.OrderCount, "the browser's and the server's copy of o1 count once")
	require.Equal(t, 95.5, want.Revenue)
	require.Equal(t, profile.Products{Viewed: map[string]int{"p1": 1}, Carted: map[string]int{"p1": 2, "p2": 1, "p3": 1},
		Bought: map[string]int{"p1": 2, "p2": 1}, Last: map[string]time.Time{"p1": At(4), "p2": At(61), "p3": At(201)}}, want.Products)
	require.Equal(t, &profile.OpenBasket{Items: []profile.BasketItem{{ProductID: "p3", Quantity: 1, Price: 9}}, Value: 9, UpdatedAt: At(201)},
		want.Basket.Open())
	require.Equal(t, []profile.OpenForm{{FormID: "newsletter", StartedAt: At(5)}}, want.OpenForms())
	require.Len(t, want.Hits, 16, "every page and track event but the impressions")
	require.Equal(t, profile.Impressions{Count: 2, First: At(150), Last: At(199), Groups: []profile.ImpressionGroup{
		{Kind: profile.ImpressionAd, Count: 1, First: At(199), Last: At(199)},
		{Kind: profile.ImpressionOpen, Channel: beacon.ChannelEmail, Campaign: "june", Count: 1, First: At(150), Last: At(150)},
	}, Recent: []profile.Impression{
		{At: At(150), Kind: profile.ImpressionOpen, Channel: beacon.ChannelEmail, Campaign: "june", Event: "Email Opened"},
		{At: At(199), Kind: profile.ImpressionAd, Event: "Banner"},
	}}, want.Impressions)

	for seed := range uint64(5) {
		shuffled := New(t, ns)
		order := rand.New(rand.NewPCG(seed, 9)).Perm(len(acts))
		for _, i := range order {
			shuffled.Record(t, acts[i])
		}
		got := shuffled.Lookup(t, identity.UserID("U"))
		require.Equal(t, Aggregates(want), Aggregates(got), "order %v", order)

		// Replaying any of it changes nothing.
		shuffled.Record(t, acts[:len(acts)/2]...)
		again := shuffled.Lookup(t, identity.UserID("U"))
		require.Equal(t, Aggregates(want), Aggregates(again), "replay after order %v", order)
	}
}

// A profile derived again from its history (a split) keeps its impressions apart from its visits:
// the touchpoint keeps what the impression was.
func impressionsSurviveASplit(t *testing.T, ns NewStorage) {
	ctx := context.Background()
	f := New(t, ns)
	open := Track("m4", "A2", "", 61)
	open.Event, open.Impression, open.Channel, open.Campaign = "Email Opened", profile.ImpressionOpen, beacon.ChannelEmail, profile.Campaign{Name: "june"}
	rs := f.Record(t, Page("m1", "A1", 0), Identify("m2", "A1", "U", 1, nil), Page("m3", "A2", 60), open, Identify("m5", "A2", "U", 62, nil))
	user, device := rs[0].ProfileID, rs[2].ProfileID
	merged := f.Lookup(t, identity.UserID("U"))
	require.Equal(t, 2, merged.Visits)
	require.Equal(t, 1, merged.Impressions.Count)

	_, err := f.Split(ctx, user, device)
	require.NoError(t, err)
	u, d := f.Lookup(t, identity.UserID("U")), f.Lookup(t, identity.AnonymousID("A2"))
	require.Equal(t, 1, u.Visits)
	require.True(t, u.Impressions.IsZero(), "the open went back with the device")
	require.Equal(t, 1, d.Visits, "the open is still no visit")
	require.Equal(t, At(60), d.LastSeen)
	require.Equal(t, []profile.ImpressionGroup{{Kind: profile.ImpressionOpen, Channel: beacon.ChannelEmail, Campaign: "june", Count: 1,
		First: At(61), Last: At(61)}}, d.Impressions.Groups)
	require.Equal(t, []string{"m4"}, MessageIDs(f.History(t, device, history.Query{Type: history.Impressions, Limit: 10})))
}
