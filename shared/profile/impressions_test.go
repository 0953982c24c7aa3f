package profile

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
)

func TestWhatIsAnImpression(t *testing.T) {
	for _, tc := range []struct {
		name              string
		e                 beacon.Event
		kind, channel, cp string
	}{
		{"an email tool's open", beacon.Event{Type: beacon.Track, Event: "Email Opened",
			Properties: json.RawMessage(`{"campaign_name":"Spring sale","campaign_id":"c-1","email_subject":"Hi"}`)}, ImpressionOpen, beacon.ChannelEmail, "Spring sale"},
		{"snake case, campaign id only", beacon.Event{Type: beacon.Track, Event: "email_opened", Properties: json.RawMessage(`{"campaign_id":42}`)},
			ImpressionOpen, beacon.ChannelEmail, "42"},
		{"delivered", beacon.Event{Type: beacon.Track, Event: "Email Delivered"}, ImpressionDelivery, beacon.ChannelEmail, ""},
		{"clicked in the mail client", beacon.Event{Type: beacon.Track, Event: "Email Link Clicked"}, ImpressionClick, beacon.ChannelEmail, ""},
		{"push received", beacon.Event{Type: beacon.Track, Event: "Push Notification Received"}, ImpressionDelivery, beacon.ChannelPush, ""},
		{"an email sent, imported", beacon.Event{Type: beacon.Track, Event: "Email Sent", Trusted: true, Properties: json.RawMessage(`{"campaign_name":"Winter"}`)},
			ImpressionSent, beacon.ChannelEmail, "Winter"},
		{"a text message", beacon.Event{Type: beacon.Track, Event: "SMS Delivered"}, ImpressionDelivery, beacon.ChannelSMS, ""},
		{"a catalogue mailed", beacon.Event{Type: beacon.Track, Event: "mail_sent", Properties: json.RawMessage(`{"campaign":"Autumn catalogue"}`)},
			ImpressionSent, beacon.ChannelMail, "Autumn catalogue"},
		{"a call-centre call", beacon.Event{Type: beacon.Track, Event: "Call Completed"}, ImpressionTalk, beacon.ChannelPhone, ""},
		{"GA4's ad_impression", beacon.Event{Type: beacon.Track, Event: "ad_impression"}, ImpressionAd, "", ""},
		{"an ad impression with its campaign in the context", beacon.Event{Type: beacon.Track, Event: "Ad Impression",
			Enrichment: &beacon.Enrichment{Campaign: &beacon.Campaign{Source: "dv360", Medium: "display", Name: "autumn"}, Channel: beacon.ChannelDisplay}},
			ImpressionAd, beacon.ChannelDisplay, "autumn"},
		{"the pixel, any name", beacon.Event{Type: beacon.Track, Event: "Newsletter Seen", Pixel: true, Properties: json.RawMessage(`{"campaign":"weekly"}`)},
			ImpressionAd, "", "weekly"},
		{"the pixel, an email open", beacon.Event{Type: beacon.Track, Event: "Email Opened", Pixel: true}, ImpressionOpen, beacon.ChannelEmail, ""},
		{"the pixel, a page (a banner)", beacon.Event{Type: beacon.Page, Name: "Banner", Pixel: true}, ImpressionAd, "", ""},
		{"the pixel, a product shown in an email", beacon.Event{Type: beacon.Track, Event: "Product Viewed", Pixel: true,
			Properties: json.RawMessage(`{"product_id":"p1"}`)}, ImpressionAd, "", ""},
		{"the pixel, a conversion", beacon.Event{Type: beacon.Track, Event: "Order Completed", Pixel: true}, "", "", ""},
		{"a page view", beacon.Event{Type: beacon.Page}, "", "", ""},
		{"a click landing on the site", beacon.Event{Type: beacon.Page,
			Enrichment: &beacon.Enrichment{Campaign: &beacon.Campaign{Source: "newsletter", Medium: "email"}, Channel: beacon.ChannelEmail}}, "", beacon.ChannelEmail, ""},
		{"an on-site promotion", beacon.Event{Type: beacon.Track, Event: "Promotion Viewed"}, "", "", ""},
		{"an identify", beacon.Event{Type: beacon.Identify}, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.e
			e.MessageID, e.AnonymousID, e.Timestamp = "m1", "A", t0
			a, err := FromEvent(e)
			if err != nil {
				t.Fatal(err)
			}
			if a.Impression != tc.kind || a.Channel != tc.channel || (tc.kind != "" && a.Campaign.Name != tc.cp) {
				t.Errorf("kind %q channel %q campaign %q, want %q %q %q", a.Impression, a.Channel, a.Campaign.Name, tc.kind, tc.channel, tc.cp)
			}
			if tc.kind != "" && (len(a.Products) > 0 || a.OrderID != "") {
				t.Errorf("an impression carries commerce: %+v", a)
			}
		})
	}
}

func impressionAt(t *testing.T, name string, min int, campaign string) Activity {
	t.Helper()
	serial++
	a, err := FromEvent(beacon.Event{Type: beacon.Track, Event: name, MessageID: fmt.Sprintf("i%d", serial), AnonymousID: "A",
		Timestamp: at(min), Properties: json.RawMessage(fmt.Sprintf(`{"campaign_name":%q}`, campaign))})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// An impression is counted and kept apart: the visits, sessions, engaged time, page views, first
// and last seen, products and basket are what the site's events made them.
func TestImpressionsAreNotVisits(t *testing.T) {
	site := activities(t, pageAt("/", 0), trackAt("Product Viewed", 1, `{"product_id":"p1"}`), pageAt("/b", 2))
	before := applyAll(t, site, inOrder(len(site)))

	p := before
	for _, a := range []Activity{
		impressionAt(t, "Email Opened", 20, "spring"), // inside the session's timeout
		impressionAt(t, "Email Opened", 60*24*40, "spring"),
		impressionAt(t, "Email Link Clicked", 60*24*40+1, "spring"),
		impressionAt(t, "Ad Impression", -60, "brand"), // before the first visit
	} {
		p = Apply(p, a, []identity.ID{identity.AnonymousID("A")})
	}
	pixelProduct, err := FromEvent(beacon.Event{Type: beacon.Track, Event: "Product Viewed", Pixel: true, MessageID: "px", AnonymousID: "A",
		Timestamp: at(30), Properties: json.RawMessage(`{"product_id":"p2"}`)})
	if err != nil {
		t.Fatal(err)
	}
	p = Apply(p, pixelProduct, nil)

	if p.Visits != before.Visits || !reflect.DeepEqual(p.Session, before.Session) || !reflect.DeepEqual(p.Hits, before.Hits) ||
		p.EngagedSeconds != before.EngagedSeconds || p.LastChannel != before.LastChannel {
		t.Errorf("impressions changed the sessions: %d visits, session %+v", p.Visits, p.Session)
	}
	if !p.FirstSeen.Equal(before.FirstSeen) || !p.LastSeen.Equal(before.LastSeen) {
		t.Errorf("impressions moved first/last seen: %v, %v", p.FirstSeen, p.LastSeen)
	}
	if !reflect.DeepEqual(p.Products, before.Products) {
		t.Errorf("a product shown in an email counted as viewed: %+v", p.Products)
	}
	if p.Counts.PageViews != before.Counts.PageViews || p.Counts.Events != before.Counts.Events+5 || p.Counts.Tracks != before.Counts.Tracks+5 {
		t.Errorf("counts %+v, want the page views of the site and every event", p.Counts)
	}
	im := p.Impressions
	if im.Count != 5 || !im.First.Equal(at(-60)) || !im.Last.Equal(at(60*24*40+1)) {
		t.Errorf("impressions %d from %v to %v", im.Count, im.First, im.Last)
	}
	want := []ImpressionGroup{
		{Kind: ImpressionClick, Channel: beacon.ChannelEmail, Campaign: "spring", Count: 1, First: at(60*24*40 + 1), Last: at(60*24*40 + 1)},
		{Kind: ImpressionAd, Campaign: "", Count: 1, First: at(30), Last: at(30)},
		{Kind: ImpressionAd, Campaign: "brand", Count: 1, First: at(-60), Last: at(-60)},
		{Kind: ImpressionOpen, Channel: beacon.ChannelEmail, Campaign: "spring", Count: 2, First: at(20), Last: at(60 * 24 * 40)},
	}
	if !reflect.DeepEqual(im.Groups, want) {
		t.Errorf("groups\n%+v\nwant\n%+v", im.Groups, want)
	}
	if len(im.Recent) != 5 || im.Recent[0].Event != "Ad Impression" || im.Recent[4].Kind != ImpressionClick {
		t.Errorf("recent %+v", im.Recent)
	}
}

// What a profile keeps of impressions is bounded: the groups seen last and the latest few; the
// totals still count every one.
func TestImpressionsAreBounded(t *testing.T) {
	p := Profile{ID: "p"}
	n := MaxImpressionGroups + 5
	for i := range n {
		p = Apply(p, impressionAt(t, "Email Opened", i, fmt.Sprint("campaign-", 100+i)), nil)
	}
	im := p.Impressions
	if im.Count != n || len(im.Groups) != MaxImpressionGroups || im.Other != 5 || len(im.Recent) != MaxRecentImpressions {
		t.Fatalf("count %d, %d groups, other %d, %d recent", im.Count, len(im.Groups), im.Other, len(im.Recent))
	}
	if im.Groups[0].Campaign != "campaign-105" || im.Recent[0].At != at(n-MaxRecentImpressions) {
		t.Errorf("kept %q first and recent from %v: the oldest should go", im.Groups[0].Campaign, im.Recent[0].At)
	}
	long := impressionAt(t, "Email Opened", n, fmt.Sprintf("%0300d", 1))
	if got := Apply(p, long, nil).Impressions.Recent; len(got[len(got)-1].Campaign) > MaxPageLength {
		t.Errorf("a campaign of %d bytes kept", len(got[len(got)-1].Campaign))
	}
}

// Within the bounds, impressions are order-independent, and folding two profiles keeps them as
// recording all on one would.
func TestImpressionsFoldAndReorder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	names := []string{"Email Opened", "Email Delivered", "Ad Impression", "Email Link Clicked"}
	for range 200 {
		var acts []Activity
		for range 1 + r.IntN(12) {
			acts = append(acts, impressionAt(t, names[r.IntN(len(names))], r.IntN(1000), fmt.Sprint("c", r.IntN(4))))
		}
		acts = append(acts, activities(t, pageAt("/", r.IntN(1000)))...)
		all := applyAll(t, acts, inOrder(len(acts)))
		if shuffled := applyAll(t, acts, r.Perm(len(acts))); !reflect.DeepEqual(shuffled.Impressions, all.Impressions) {
			t.Fatalf("order changed the impressions:\n%+v\n%+v", shuffled.Impressions, all.Impressions)
		}
		cut := r.IntN(len(acts) + 1)
		a, b := applyAll(t, acts[:cut], inOrder(cut)), applyAll(t, acts[cut:], inOrder(len(acts)-cut))
		folded, err := Fold(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(folded.Impressions, all.Impressions) {
			t.Fatalf("fold:\n%+v\nwant\n%+v", folded.Impressions, all.Impressions)
		}
		if folded.Visits != all.Visits || !folded.LastSeen.Equal(all.LastSeen) {
			t.Fatalf("fold: %d visits last seen %v, want %d, %v", folded.Visits, folded.LastSeen, all.Visits, all.LastSeen)
		}
	}
}

// A folded profile whose groups overflowed brings its uncounted impressions into Other.
func TestFoldKeepsOverflowedTotals(t *testing.T) {
	var a, b Profile
	for i := range MaxImpressionGroups + 3 {
		b = Apply(b, impressionAt(t, "Email Opened", i, fmt.Sprint("b", 100+i)), nil)
	}
	a = Apply(a, impressionAt(t, "Ad Impression", 5000, "a"), nil)
	got, err := Fold(a, b)
	if err != nil {
		t.Fatal(err)
	}
	im := got.Impressions
	if im.Count != MaxImpressionGroups+4 || im.Other != 4 || len(im.Groups) != MaxImpressionGroups || groupTotal(im.Groups)+im.Other != im.Count {
		t.Errorf("count %d, other %d, %d groups", im.Count, im.Other, len(im.Groups))
	}
	if !im.First.Equal(at(0)) || !im.Last.Equal(at(5000)) {
		t.Errorf("from %v to %v", im.First, im.Last)
	}
	c := got.Clone()
	c.Impressions.add(Impression{At: at(1), Kind: ImpressionOpen})
	c.Impressions.Groups[0].Count = 99
	if got.Impressions.Count != im.Count || got.Impressions.Groups[0].Count == 99 {
		t.Error("a clone's impressions are shared")
	}
}
