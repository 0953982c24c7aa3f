package profilestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/guregu/dynamo/v2"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// journey is one customer on two devices: a campaign visit on the desktop with a basket and a
// form, a login, a later visit on the phone that logs in too, an order sent by both the browser
// and the server, and a new basket.
func journey() []profile.Activity {
	n := 0
	act := func(typ, anon, user string, min int, f func(*profile.Activity)) profile.Activity {
		n++
		a := profile.Activity{MessageID: fmt.Sprintf("j%02d", n), Type: typ, AnonymousID: anon, UserID: user, At: at(min)}
		if f != nil {
			f(&a)
		}
		return a
	}
	spring := profile.Campaign{Source: "google", Medium: "cpc", Name: "spring"}
	pg := func(anon string, min int, path string, c profile.Campaign, channel string) profile.Activity {
		return act(beacon.Page, anon, "", min, func(a *profile.Activity) { a.Page, a.Campaign, a.Channel = path, c, channel })
	}
	tr := func(anon, user string, min int, event string, f func(*profile.Activity)) profile.Activity {
		return act(beacon.Track, anon, user, min, func(a *profile.Activity) {
			a.Event = event
			if f != nil {
				f(a)
			}
		})
	}
	ping := func(anon string, min, s int) profile.Activity {
		return tr(anon, "", min, "Page Ping", func(a *profile.Activity) { a.Engaged = s })
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
		pg("P", 200, "/", profile.Campaign{}, beacon.ChannelDirect),
		tr("P", "U", 201, "Product Added", func(a *profile.Activity) { a.Products = line("p3", 1, 9) }),
		tr("P", "U", 202, "Form Started", func(a *profile.Activity) { a.FormID = "contact" }),
		tr("P", "U", 203, "Form Submitted", func(a *profile.Activity) { a.FormID = "contact" }),
	}
}

// aggregates are the parts of a profile that must not depend on the order events arrived in.
func aggregates(p profile.Profile) map[string]any {
	return map[string]any{
		"visits": p.Visits, "engaged": p.EngagedSeconds, "session": p.Session, "lastChannel": p.LastChannel,
		"hits": p.Hits, "settled": p.Settled, "products": p.Products, "orders": p.Orders, "orderCount": p.OrderCount,
		"revenue": p.Revenue, "basket": p.Basket, "forms": p.Forms, "counts": p.Counts, "firstSeen": p.FirstSeen,
		"lastSeen": p.LastSeen, "traits": p.Traits, "view": p.View().Basket,
	}
}

func TestShuffledReplayGivesTheSameAggregates(t *testing.T) {
	acts := journey()
	ordered := newFixture(t)
	ordered.record(t, acts...)
	want, err := ordered.Lookup(context.Background(), identity.UserID("U"))
	require.NoError(t, err)

	require.Equal(t, 3, want.Visits, "desktop, phone, and the phone's return")
	require.Equal(t, 45, want.EngagedSeconds)
	require.Equal(t, beacon.ChannelDirect, want.LastChannel)
	require.Equal(t, &profile.Session{ID: want.Session.ID, Start: at(200), End: at(203), Events: 4, PageViews: 1,
		LandingPage: "/", Channel: beacon.ChannelDirect}, want.Session)
	require.Equal(t, 1, want.OrderCount, "the browser's and the server's copy of o1 count once")
	require.Equal(t, 95.5, want.Revenue)
	require.Equal(t, profile.Products{Viewed: map[string]int{"p1": 1}, Carted: map[string]int{"p1": 2, "p2": 1, "p3": 1},
		Bought: map[string]int{"p1": 2, "p2": 1}, Last: map[string]time.Time{"p1": at(4), "p2": at(61), "p3": at(201)}}, want.Products)
	require.Equal(t, &profile.OpenBasket{Items: []profile.BasketItem{{ProductID: "p3", Quantity: 1, Price: 9}}, Value: 9, UpdatedAt: at(201)},
		want.Basket.Open())
	require.Equal(t, []profile.OpenForm{{FormID: "newsletter", StartedAt: at(5)}}, want.OpenForms())
	require.Len(t, want.Hits, 16, "every page and track event")

	for seed := range uint64(5) {
		shuffled := newFixture(t)
		order := rand.New(rand.NewPCG(seed, 9)).Perm(len(acts))
		for _, i := range order {
			shuffled.record(t, acts[i])
		}
		got, err := shuffled.Lookup(context.Background(), identity.UserID("U"))
		require.NoError(t, err)
		require.Equal(t, aggregates(want), aggregates(got), "order %v", order)

		// Replaying any of it changes nothing.
		shuffled.record(t, acts[:len(acts)/2]...)
		again, err := shuffled.Lookup(context.Background(), identity.UserID("U"))
		require.NoError(t, err)
		require.Equal(t, aggregates(want), aggregates(again), "replay after order %v", order)
	}
}

func TestAggregatesAreStoredAsAttributes(t *testing.T) {
	f := newFixture(t)
	f.record(t, journey()...)
	p, err := f.Lookup(context.Background(), identity.UserID("U"))
	require.NoError(t, err)
	var it map[string]any
	require.NoError(t, f.profiles.Get("profileId", p.ID).One(context.Background(), &it))
	require.EqualValues(t, 3, it["visits"])
	require.EqualValues(t, 95.5, it["revenue"])
	require.Equal(t, "/", it["session"].(map[string]any)["landingPage"])
	require.Contains(t, it, "basket")
	require.Contains(t, it, "forms")
	hits, ok := it["hits"].([]byte)
	require.True(t, ok, "hits are one binary attribute, got %T", it["hits"])
	require.Less(t, len(hits), 16*16, "a few bytes per hit")
}

func TestHitListRoundTrip(t *testing.T) {
	var in hitList
	for i := range profile.MaxHits {
		in = append(in, profile.Hit{At: at(i).Add(time.Duration(i) * time.Millisecond), PageView: i%2 == 0, Engaged: i % 7,
			Campaign: profile.Campaign{Source: "s", Medium: fmt.Sprint(i % 3)}, Channel: "direct", Page: fmt.Sprintf("/p/%d", i%5)})
	}
	av, err := in.MarshalDynamo()
	require.NoError(t, err)
	require.Less(t, len(av.(*types.AttributeValueMemberB).Value), 3000, "a full window stays within three write units")
	var out hitList
	require.NoError(t, out.UnmarshalDynamo(av))
	require.Equal(t, in, out)

	raw := av.(*types.AttributeValueMemberB).Value
	for _, bad := range []types.AttributeValue{
		&types.AttributeValueMemberS{Value: "x"},
		&types.AttributeValueMemberB{Value: nil},
		&types.AttributeValueMemberB{Value: []byte{9}},
		&types.AttributeValueMemberB{Value: raw[:len(raw)/2]},
		&types.AttributeValueMemberB{Value: []byte{hitsFormat, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}}, // string index out of range
	} {
		var h hitList
		require.ErrorIs(t, h.UnmarshalDynamo(bad), errBadHits, "%v", bad)
	}
}

func TestSettledWindowIsStored(t *testing.T) {
	f := newFixture(t)
	var acts []profile.Activity
	for i := range profile.MaxHits + 10 {
		acts = append(acts, profile.Activity{MessageID: fmt.Sprintf("w%03d", i), Type: beacon.Page, AnonymousID: "A", At: at(61 * i),
			Page: "/", Campaign: profile.Campaign{Source: "news"}, Channel: beacon.ChannelReferral})
	}
	acts = append(acts, profile.Activity{MessageID: "late", Type: beacon.Track, Event: "Page Ping", AnonymousID: "A", At: at(1), Engaged: 10})
	f.record(t, acts...)
	got, err := f.Lookup(context.Background(), identity.AnonymousID("A"))
	require.NoError(t, err)
	want := profile.Profile{ID: got.ID}
	for _, a := range acts {
		want = profile.Apply(want, a, nil)
	}
	require.Equal(t, profile.MaxHits+10, got.Visits)
	require.Equal(t, 10, got.EngagedSeconds, "the late ping joins the settled total")
	require.Equal(t, profile.Settled{Until: at(61 * 9), Campaign: profile.Campaign{Source: "news"}, Channel: beacon.ChannelReferral,
		Visits: 10, EngagedSeconds: 10}, got.Settled)
	require.Equal(t, aggregates(want), aggregates(got))
}

func TestProductCategoriesRoundTrip(t *testing.T) {
	var p profile.Profile
	for i, a := range []profile.Activity{
		{Event: "Product Viewed", Products: []profile.Line{{ProductID: "p1", Quantity: 1, Category: "Shoes"}}},
		{Event: "Product Added", Products: []profile.Line{{ProductID: "p2", Quantity: 2, Price: 5, Category: "Bags"}}},
		{Event: "Order Completed", OrderID: "o1", Products: []profile.Line{{ProductID: "p2", Quantity: 2, Price: 5, Category: "Bags"}}},
	} {
		a.MessageID, a.Type, a.AnonymousID, a.At = fmt.Sprint(i), beacon.Track, "A", at(i)
		p = profile.Apply(p, a, nil)
	}
	require.NotEmpty(t, p.Products.Categories.Bought)
	item, err := dynamo.MarshalItem(aggregatesOf(p))
	require.NoError(t, err)
	var a aggregateFields
	require.NoError(t, dynamo.UnmarshalItem(item, &a))
	var got profile.Profile
	a.fill(&got)
	require.Equal(t, p.Products, got.Products)
	require.Equal(t, p.Orders, got.Orders)

	// An item written before categories and last times reads as products without them.
	delete(item["products"].(*types.AttributeValueMemberM).Value, "categories")
	delete(item["products"].(*types.AttributeValueMemberM).Value, "last")
	a = aggregateFields{}
	require.NoError(t, dynamo.UnmarshalItem(item, &a))
	got = profile.Profile{}
	a.fill(&got)
	require.Equal(t, profile.Products{Viewed: p.Products.Viewed, Carted: p.Products.Carted, Bought: p.Products.Bought}, got.Products)
}
