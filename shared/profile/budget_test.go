package profile

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/itemsize"
)

// long is a string of n bytes that differs by tag: the longest a sender gets through.
func long(tag string, n int) string { return tag + strings.Repeat("x", n-len(tag)) }

// hostile fills every growing part of a profile with the longest strings its bounds let through,
// as a sender with a public write key can: pages with their own 256-byte campaign tags and paths,
// products and categories with 256-byte ids, orders, basket changes, forms, impressions and 64 KB
// of traits. Events are a minute apart from start; when check is set, each is checked as it lands.
func hostile(t *testing.T, p Profile, tag string, start time.Time, check bool) Profile {
	t.Helper()
	at := start
	apply := func(a Activity) {
		t.Helper()
		at = at.Add(time.Minute)
		a.At, a.MessageID, a.AnonymousID = at, fmt.Sprintf("%s-%d", tag, at.Unix()), "anon-"+tag
		before := p.Counts.Events
		p = Apply(p, a, []identity.ID{identity.AnonymousID(a.AnonymousID)})
		if p.Counts.Events != before+1 {
			t.Fatalf("%s %s: not counted", a.Type, a.Event)
		}
		if !check {
			return
		}
		if size := p.Size(); size > MaxProfileBytes {
			t.Fatalf("%s %s: the profile takes %d bytes, past the budget of %d", a.Type, a.Event, size, MaxProfileBytes)
		}
		if size, _ := itemsize.Estimate(p, 0); size > 2*p.roughBytes() {
			t.Fatalf("%s %s: %d bytes, more than twice the rough estimate of %d", a.Type, a.Event, size, p.roughBytes())
		}
	}
	for i := range MaxTraits / 5 {
		traits := map[string]any{}
		for j := range 5 {
			traits[long(fmt.Sprintf("%s-%d-%d", tag, i, j), MaxTraitName)] = long("v", MaxTraitString)
		}
		apply(Activity{Type: beacon.Identify, Traits: traits})
	}
	for i := range MaxProducts {
		id, cat := long(fmt.Sprintf("%s-p%d", tag, i), MaxPageLength), long(fmt.Sprintf("%s-c%d", tag, i), MaxPageLength)
		line := []Line{{ProductID: id, Quantity: 1, Price: 9.99, Category: cat}}
		apply(Activity{Type: beacon.Track, Event: "Product Viewed", Products: line})
		apply(Activity{Type: beacon.Track, Event: "Product Added", Products: line})
		apply(Activity{Type: beacon.Track, Event: "Order Completed", Products: line, Revenue: 10,
			OrderID: long(fmt.Sprintf("%s-o%d", tag, i), MaxPageLength)})
		apply(Activity{Type: beacon.Track, Event: "Product Added", Products: line})
	}
	for i := range MaxForms {
		apply(Activity{Type: beacon.Track, Event: "Form Started", FormID: long(fmt.Sprintf("%s-f%d", tag, i), MaxPageLength)})
	}
	for i := range MaxImpressionGroups {
		apply(Activity{Type: beacon.Track, Event: "Email Opened", Impression: ImpressionOpen, Channel: beacon.ChannelEmail,
			Campaign: Campaign{Name: long(fmt.Sprintf("%s-e%d", tag, i), MaxPageLength)}})
	}
	for i := range MaxHits {
		apply(Activity{Type: beacon.Page, Page: long(fmt.Sprintf("/%s/%d", tag, i), MaxPageLength), Channel: "paid_search",
			Campaign: Campaign{Source: long(fmt.Sprintf("%s-s%d", tag, i), MaxPageLength), Medium: long("m", MaxPageLength),
				Name: long("n", MaxPageLength), ClickID: long("c", MaxPageLength)}})
	}
	return p
}

func TestAHostileSenderCannotGrowTheProfilePastItsBudget(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	p := hostile(t, Profile{ID: "prf_1"}, "a", start, true)

	// The newest activity is recorded: the latest page view is the latest hit, and its session.
	last := p.Hits[len(p.Hits)-1]
	if !last.PageView || !strings.HasPrefix(last.Page, "/a/199") || p.Session == nil || p.Session.LandingPage != last.Page {
		t.Fatalf("the latest page view is not the latest session: %+v", last)
	}
	// What was shed still counts: a visit per page view (each came with its own campaign) and the
	// visit of the track events before them, every order and its revenue.
	if p.Visits != MaxHits+1 || p.OrderCount != MaxProducts || p.Revenue != 10*MaxProducts {
		t.Errorf("visits %d, orders %d, revenue %v: shed parts must stay counted", p.Visits, p.OrderCount, p.Revenue)
	}
	t.Logf("kept: %d hits, %d products, %d orders, %d basket changes, %d forms, %d recent impressions; %d bytes", len(p.Hits), len(p.Products.Viewed), len(p.Orders), len(p.Basket.Changes), len(p.Forms), len(p.Impressions.Recent), p.Size())
	if len(p.Hits) < MinBudgetHits {
		t.Errorf("%d hits kept: the window is shed to %d before anything else", len(p.Hits), MinBudgetHits)
	}
	if p.Impressions.Count != MaxImpressionGroups || p.Impressions.Other+groupTotal(p.Impressions.Groups) != MaxImpressionGroups {
		t.Errorf("impressions shed must stay counted: %+v", p.Impressions)
	}
	newest := long(fmt.Sprintf("a-p%d", MaxProducts-1), MaxPageLength)
	if len(p.Products.Viewed) > 0 && p.Products.Viewed[newest] == 0 {
		t.Errorf("products are shed oldest first: the newest is gone, %d kept", len(p.Products.Viewed))
	}
	if len(p.Orders) > 0 && !strings.HasPrefix(p.Orders[len(p.Orders)-1].ID, fmt.Sprintf("a-o%d", MaxProducts-1)) {
		t.Errorf("orders are settled oldest first")
	}
	if TraitsBytes(p.Traits) < MaxTraitsBytes-MaxTraitBytes {
		t.Errorf("traits are never shed: %d bytes left", TraitsBytes(p.Traits))
	}

	// A normal page view is still taken as it is.
	at := start.Add(24 * time.Hour)
	p = Apply(p, Activity{Type: beacon.Page, MessageID: "m", AnonymousID: "a", At: at, Page: "/pricing"}, nil)
	if got := p.Hits[len(p.Hits)-1]; got.Page != "/pricing" || !got.At.Equal(at) || p.Size() > MaxProfileBytes {
		t.Errorf("a normal page view after the flood: %+v, %d bytes", got, p.Size())
	}
}

func TestAFoldOfTwoMaximalProfilesStaysInItsBudget(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a := hostile(t, Profile{ID: "prf_a"}, "a", start, false)
	b := hostile(t, Profile{ID: "prf_b"}, "b", start.Add(30*time.Second), false)
	out, err := Fold(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if size := out.Size(); size > MaxProfileBytes {
		t.Fatalf("the folded profile takes %d bytes, past the budget of %d", size, MaxProfileBytes)
	}
	if out.Visits != a.Visits+b.Visits || out.OrderCount != a.OrderCount+b.OrderCount || out.Counts.Events != a.Counts.Events+b.Counts.Events {
		t.Errorf("visits %d, orders %d, events %d: the fold keeps the counts of both", out.Visits, out.OrderCount, out.Counts.Events)
	}
	if last := out.Hits[len(out.Hits)-1]; !strings.HasPrefix(last.Page, "/b/199") {
		t.Errorf("the latest hit of the two is kept: %q", last.Page[:10])
	}
	if !out.Live() || len(out.Identifiers()) != 2 {
		t.Errorf("identifiers: %v", out.Identifiers())
	}
}

func TestTheBudgetShedsNothingFromAnOrdinaryProfile(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var p Profile
	for i := range 3 * MaxHits {
		p = Apply(p, Activity{Type: beacon.Page, MessageID: fmt.Sprint(i), AnonymousID: "a", At: start.Add(time.Duration(i) * time.Minute), Page: "/p"}, nil)
	}
	if len(p.Hits) != MaxHits {
		t.Errorf("%d hits: an ordinary window is kept whole", len(p.Hits))
	}
}

func TestAHitKeepsBoundedCampaignTagsAndChannel(t *testing.T) {
	huge := strings.Repeat("u", 4*MaxPageLength)
	a := ev{typ: beacon.Page, name: "/" + huge, campaign: &beacon.Campaign{Source: huge, Medium: huge, Name: huge, ClickID: huge}, channel: huge}.activity(t)
	for name, s := range map[string]string{"page": a.Page, "source": a.Campaign.Source, "medium": a.Campaign.Medium,
		"name": a.Campaign.Name, "click id": a.Campaign.ClickID, "channel": a.Channel} {
		if len(s) != MaxPageLength {
			t.Errorf("%s: %d bytes kept, want %d", name, len(s), MaxPageLength)
		}
	}
}
