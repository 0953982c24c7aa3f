package trigger

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// received records an event as it comes off the stream (profile.FromEvent), so that what decides
// whether it is an impression is the real rule.
func (c *customer) received(t *testing.T, e beacon.Event, when time.Duration) *customer {
	t.Helper()
	c.n++
	e.MessageID, e.AnonymousID, e.Timestamp = "r"+time.Duration(c.n).String(), "A", at(when)
	a, err := profile.FromEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	c.p = profile.Apply(c.p, a, []identity.ID{identity.AnonymousID("A")})
	return c
}

// The impressions an email tool, an ad server or the pixel reports: none is a visit.
var impressions = map[string]beacon.Event{
	"an email open from an email tool": {Type: beacon.Track, Event: "Email Opened", Properties: json.RawMessage(`{"campaign_name":"spring"}`)},
	"an email-client click":            {Type: beacon.Track, Event: "email_link_clicked"},
	"an ad impression":                 {Type: beacon.Track, Event: "Ad Impression"},
	"a pixel open of any name":         {Type: beacon.Track, Event: "Newsletter Seen", Pixel: true},
	"a pixel page (a banner)":          {Type: beacon.Page, Name: "Banner", Pixel: true},
}

// A prospect or a lapsed customer who only opens an email (or sees an ad) long after their last
// visit has not come back: nothing fires. A real page view after it does.
func TestImpressionsAreNotReturns(t *testing.T) {
	for name, imp := range impressions {
		t.Run(name, func(t *testing.T) {
			prospect := newCustomer(true).page(0).received(t, imp, 40*day)
			if got := Default.Fire(prospect.p, 1, nil, at(40*day+minute)); len(got) > 0 {
				t.Fatalf("prospect: fired %v on an impression", kindsOf(got))
			}
			if due, ok := Default.Due(prospect.p, 1, nil, at(40*day+minute)); ok {
				t.Fatalf("prospect: due at %v on an impression", due)
			}
			prospect.page(40*day + 5*minute)
			got := Default.Fire(prospect.p, 1, nil, at(40*day+6*minute))
			if k := kindsOf(got); !reflect.DeepEqual(k, []string{ReturningProspect}) {
				t.Fatalf("prospect back on the site: fired %v", k)
			}
			if !got[0].Since.Equal(at(40*day + 5*minute)) {
				t.Errorf("the return starts at the page view, not the impression: since %v", got[0].Since)
			}

			lapsed := newCustomer(true).order("o1", 0).page(160*day).received(t, imp, 200*day)
			if got := Default.Fire(lapsed.p, 1, nil, at(200*day+minute)); len(got) > 0 {
				t.Fatalf("lapsed: fired %v on an impression", kindsOf(got))
			}
			lapsed.page(200*day + 5*minute)
			if k := kindsOf(Default.Fire(lapsed.p, 1, nil, at(200*day+6*minute))); !reflect.DeepEqual(k, []string{ReturningLapsed}) {
				t.Fatalf("lapsed back on the site: fired %v", k)
			}
		})
	}
}

// An open while a basket, a browse or a form waits is not being on the site: it neither postpones
// the reminder nor joins the session that was browsed.
func TestImpressionsDoNotPostponeAbandonments(t *testing.T) {
	for name, imp := range impressions {
		t.Run(name, func(t *testing.T) {
			basket := newCustomer(true).cart("p1", 25, 0).received(t, imp, 30*minute)
			if due, ok := Default.Due(basket.p, 1, nil, at(30*minute)); !ok || !due.Equal(at(hour)) {
				t.Errorf("basket due at %v (%v), want an hour after the last change", due, ok)
			}
			browse := newCustomer(true).view("p1", 0).view("p2", minute).received(t, imp, 20*minute)
			if due, ok := Default.Due(browse.p, 1, nil, at(20*minute)); !ok || !due.Equal(at(minute+2*hour)) {
				t.Errorf("browse due at %v (%v), want two hours after the last view", due, ok)
			}
			got := Default.Fire(browse.p, 1, nil, at(minute+2*hour))
			if k := kindsOf(got); !reflect.DeepEqual(k, []string{AbandonedBrowse}) {
				t.Fatalf("browse: fired %v", k)
			}
			if got[0].LastSeen != at(minute) {
				t.Errorf("last seen %v, want the last view", got[0].LastSeen)
			}
			form := newCustomer(true).form("Form Started", "quote", 0).received(t, imp, 20*minute)
			if due, ok := Default.Due(form.p, 1, nil, at(20*minute)); !ok || !due.Equal(at(30*minute)) {
				t.Errorf("form due at %v (%v), want half an hour after its start", due, ok)
			}
		})
	}
}
