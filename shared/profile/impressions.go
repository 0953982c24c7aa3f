package profile

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// Impressions.
//
// An impression is the person meeting a message or an ad away from the sites: an email sent,
// delivered, opened or clicked in the mail client, a push notification received, an ad shown, and
// the contacts a CRM keeps (a text message, a letter, a call, a chat or a meeting). It says the
// message reached them, not that they came: it is never a visit. Impressions are the profile's
// history of contacts. An event is an impression when
//
//   - it is a track event named as one (eventKey's spellings): "Email Sent", "Email Delivered",
//     "Email Opened", "Email Link Clicked", "Email Bounced", "Email Marked as Spam",
//     "Unsubscribed" (Segment's email spec, as email tools send them), "Push Notification Sent",
//     "Push Notification Received", "Push Notification Tapped" (its mobile spec), "SMS Sent",
//     "SMS Delivered", "SMS Link Clicked", "Mail Sent" (a letter or a catalogue), "Call
//     Completed", "Chat Completed", "Meeting Held" (conversations a CRM imports), "Ad
//     Impression" or "Impression" (GA4 and Snowplow's ad_impression), from whatever source; or
//   - it was loaded through the pixel API (beacon.Event.Pixel), which exists for images in emails
//     and ads: any page or track event but an order (a conversion pixel on a thank-you page
//     reports a real purchase).
//
// The email link clicked an email tool reports is the click in the mail client (link scanners
// click too); the visit is the page view of the landing page, which the site records.
//
// An impression counts among the profile's events (Counts.Events, and Counts.Tracks or
// PageViews by its type) and its identifiers, consent and history are recorded as for any event;
// but it starts or extends no session, counts no visit nor engaged time, moves neither FirstSeen
// nor LastSeen (when the person was seen on a site or an app), and feeds no products, orders,
// basket or forms. So recency, engagement scores, lapse risk and triggers, which read those, see
// only real activity. What the profile keeps of impressions is bounded (Impressions): totals,
// first and last time, counts per kind, channel and campaign, and the latest few; the touchpoint
// keeps each one with its channel and campaign, for attribution.

// Kinds of impression.
const (
	ImpressionSent     = "sent"         // an email, a text message or a letter sent
	ImpressionDelivery = "delivery"     // an email or a text message delivered, a push notification received
	ImpressionTalk     = "conversation" // a call, a chat or a meeting
	ImpressionBounce   = "bounce"       // an email that did not arrive
	ImpressionOptOut   = "opt-out"      // marked as spam, unsubscribed
	ImpressionOpen     = "open"         // an email opened
	ImpressionClick    = "click"        // a link clicked in an email, in the mail client
	ImpressionAd       = "impression"
)

// Bounds of what a profile keeps of its impressions.
const (
	MaxImpressionGroups  = 20
	MaxRecentImpressions = 10
)

// impressionNames are the track events that are impressions wherever they come from, by eventKey,
// with their kind and the channel they imply.
var impressionNames = map[string]struct{ kind, channel string }{
	"emailsent":                {ImpressionSent, beacon.ChannelEmail},
	"emaildelivered":           {ImpressionDelivery, beacon.ChannelEmail},
	"smssent":                  {ImpressionSent, beacon.ChannelSMS},
	"smsdelivered":             {ImpressionDelivery, beacon.ChannelSMS},
	"smslinkclicked":           {ImpressionClick, beacon.ChannelSMS},
	"emailbounced":             {ImpressionBounce, beacon.ChannelEmail},
	"emailmarkedasspam":        {ImpressionOptOut, beacon.ChannelEmail},
	"unsubscribed":             {ImpressionOptOut, beacon.ChannelEmail},
	"pushnotificationsent":     {ImpressionSent, beacon.ChannelPush},
	"pushnotificationtapped":   {ImpressionClick, beacon.ChannelPush},
	"mailsent":                 {ImpressionSent, beacon.ChannelMail},
	"callcompleted":            {ImpressionTalk, beacon.ChannelPhone},
	"chatcompleted":            {ImpressionTalk, beacon.ChannelChat},
	"meetingheld":              {ImpressionTalk, beacon.ChannelInPerson},
	"emailopened":              {ImpressionOpen, beacon.ChannelEmail},
	"emaillinkclicked":         {ImpressionClick, beacon.ChannelEmail},
	"pushnotificationreceived": {ImpressionDelivery, beacon.ChannelPush},
	"adimpression":             {ImpressionAd, ""},
	"impression":               {ImpressionAd, ""},
}

// impressionOf returns the kind of impression an event is, and the channel its name implies ("" for
// an event that is not an impression; see Impressions).
func impressionOf(typ, event string, pixel bool) (kind, channel string) {
	if typ == beacon.Track {
		if n, ok := impressionNames[eventKey(event)]; ok {
			return n.kind, n.channel
		}
		if eventKey(event) == eventOrderCompleted {
			return "", ""
		}
	}
	if pixel && (typ == beacon.Track || typ == beacon.Page) {
		return ImpressionAd, ""
	}
	return "", ""
}

// ImpressionOf returns the kind of impression an event of that type, name and pixel flag is, and
// the channel its name implies ("" for an event that is not an impression; see Impressions).
func ImpressionOf(typ, event string, pixel bool) (kind, channel string) {
	return impressionOf(typ, event, pixel)
}

// ImpressionNamed returns the kind of impression a track event of that name is from any source,
// "" when it is none (see Impressions).
func ImpressionNamed(event string) string {
	kind, _ := impressionOf(beacon.Track, event, false)
	return kind
}

// Impression is one impression as the profile keeps it.
type Impression struct {
	At       time.Time
	Kind     string
	Channel  string
	Campaign string // the campaign's name (or id), "" when the event named none
	Event    string // the track event's name, or the page's
}

func compareImpressions(a, b Impression) int {
	return cmp.Or(a.At.Compare(b.At), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Channel, b.Channel),
		strings.Compare(a.Campaign, b.Campaign), strings.Compare(a.Event, b.Event))
}

// ImpressionGroup counts the impressions of one kind, channel and campaign.
type ImpressionGroup struct {
	Kind     string
	Channel  string
	Campaign string
	Count    int
	First    time.Time
	Last     time.Time
}

func (g ImpressionGroup) key() [3]string { return [3]string{g.Kind, g.Channel, g.Campaign} }

func compareGroups(a, b ImpressionGroup) int {
	return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Channel, b.Channel), strings.Compare(a.Campaign, b.Campaign))
}

// Impressions is what a profile keeps of its impressions. Count, First and Last cover them all;
// Groups count them by kind, channel and campaign, sorted so, at most MaxImpressionGroups: past
// the bound the group last seen longest ago is dropped and its count moves to Other (a later
// impression of it starts it again). Recent are the latest MaxRecentImpressions, oldest first.
type Impressions struct {
	Count  int
	First  time.Time
	Last   time.Time
	Groups []ImpressionGroup
	Other  int
	Recent []Impression
}

// IsZero tells whether the profile has no impression.
func (im Impressions) IsZero() bool { return im.Count == 0 }

func (im Impressions) clone() Impressions {
	im.Groups = slices.Clone(im.Groups)
	im.Recent = slices.Clone(im.Recent)
	return im
}

// add records one impression.
func (im *Impressions) add(i Impression) {
	im.addGroup(ImpressionGroup{Kind: i.Kind, Channel: i.Channel, Campaign: i.Campaign, Count: 1, First: i.At, Last: i.At})
	im.addRecent(i)
}

// addGroup adds a group's counts (one impression, or a folded profile's group).
func (im *Impressions) addGroup(g ImpressionGroup) {
	im.Count += g.Count
	im.First, im.Last = earlier(im.First, g.First), later(im.Last, g.Last)
	i, found := slices.BinarySearchFunc(im.Groups, g, compareGroups)
	if found {
		h := &im.Groups[i]
		h.Count += g.Count
		h.First, h.Last = earlier(h.First, g.First), later(h.Last, g.Last)
		return
	}
	im.Groups = slices.Insert(im.Groups, i, g)
	im.trimGroups(MaxImpressionGroups)
}

// trimGroups moves the groups last seen longest ago to Other until at most limit are left.
func (im *Impressions) trimGroups(limit int) {
	for len(im.Groups) > limit {
		oldest := 0
		for j, h := range im.Groups {
			if h.Last.Before(im.Groups[oldest].Last) {
				oldest = j
			}
		}
		im.Other += im.Groups[oldest].Count
		im.Groups = slices.Delete(im.Groups, oldest, oldest+1)
	}
}

func (im *Impressions) addRecent(i Impression) {
	at, _ := slices.BinarySearchFunc(im.Recent, i, compareImpressions)
	im.Recent = slices.Insert(im.Recent, at, i)
	if n := len(im.Recent); n > MaxRecentImpressions {
		im.Recent = slices.Delete(im.Recent, 0, n-MaxRecentImpressions)
	}
}

// fold adds another profile's impressions.
func (im *Impressions) fold(from Impressions) {
	for _, g := range from.Groups {
		im.addGroup(g)
	}
	// Impressions of groups from dropped: in the totals, in no group.
	im.Count += from.Count - groupTotal(from.Groups)
	im.Other += from.Count - groupTotal(from.Groups)
	if from.Count > 0 {
		im.First, im.Last = earlier(im.First, from.First), later(im.Last, from.Last)
	}
	for _, i := range from.Recent {
		im.addRecent(i)
	}
}

func groupTotal(gs []ImpressionGroup) int {
	n := 0
	for _, g := range gs {
		n += g.Count
	}
	return n
}

func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
