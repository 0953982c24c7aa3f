// Package profile is the Single Customer View: one profile per customer, with the identifiers they
// are known by, their traits, when they were first and last seen and how active they are. It holds
// the rules for recording an event on a profile and for folding one profile into another; both are
// order-independent (first seen is a minimum, last seen a maximum, each trait keeps its latest
// value, sessions are derived again from the sorted recent activity), so events may arrive late
// or out of order. Traits, sessions, commerce and forms are bounded, so that no sender can grow a
// profile without end; what happens past their bounds is said with them (see Traits, Sessions,
// and Commerce and forms). The profile as a whole is held to MaxProfileBytes, well inside
// DynamoDB's item limit, by shedding its oldest and least valuable parts first, so that it can
// always be written and always records the newest activity (see Budget). Email opens and ad
// impressions are recorded apart from visits (see Impressions).
package profile

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
)

// ErrInvalidEvent is returned for an event that cannot be recorded on a profile.
var ErrInvalidEvent = errors.New("invalid event")

// ErrNotFound is returned by stores for a profile or identifier they do not hold.
var ErrNotFound = errors.New("profile not found")

// MaxIDLength bounds message ids and identifiers, well inside the key size of any store.
const MaxIDLength = 512

// MaxGroups bounds the groups a profile remembers; group calls for further groups still count.
const MaxGroups = 50

// Counts are how many events of each type a profile has seen.
type Counts struct {
	Events     int `json:"events"`
	PageViews  int `json:"pageViews"`
	Tracks     int `json:"tracks"`
	Identifies int `json:"identifies"`
	Screens    int `json:"screens"`
}

// Profile is one customer.
type Profile struct {
	ID           string
	UserID       string   // "" while the customer is anonymous
	AnonymousIDs []string // sorted, without duplicates
	Traits       map[string]any
	TraitTimes   map[string]time.Time // when each trait was set, by event time
	// FirstSeen and LastSeen are when the person was first and last seen on a site or an app (or
	// identified); impressions move neither (see Impressions).
	FirstSeen time.Time
	LastSeen  time.Time
	Counts    Counts
	// Groups are the groups (accounts, companies) the customer was placed in by group calls: sorted,
	// at most MaxGroups.
	Groups []string
	// MergedInto is set on a profile that joined another; the other holds its history from then on.
	MergedInto string
	// MergedFrom are the profiles that joined this one, sorted.
	MergedFrom []string
	UpdatedAt  time.Time

	// Consent is the person's latest answer per purpose (PurposeAnalytics, PurposeMarketing).
	Consent map[string]Consent

	Score          *Score    // nil until first scored
	LapseAlertedAt time.Time // when the last lapse alert was raised, zero if never

	// Hits are the recent activity sessions are derived from, sorted, at most MaxHits; Settled
	// holds what older activity and older orders contributed (see Sessions).
	Hits    []Hit
	Settled Settled
	// Visits, EngagedSeconds, Session (the latest session, nil before the first) and LastChannel
	// (the channel of the latest session that has one) are derived from Hits and Settled.
	Visits         int
	EngagedSeconds int
	Session        *Session
	LastChannel    string

	Products Products
	// Orders are the latest orders, sorted by time, one per order id, at most MaxOrders;
	// OrderCount and Revenue count them with the settled ones, Revenue net of Returns, and
	// FirstOrder and LastOrder are the earliest and latest of all (see Commerce and forms).
	Orders     []Order
	OrderCount int
	Revenue    float64
	Returns    Returns
	FirstOrder Touch
	LastOrder  Touch
	// Acquisition is the customer's first touch: the earliest activity on a site or an app that has
	// a channel, or order placed on a sales channel other than online (an imported offline
	// order); emails and ads met away from the sites are not touches of acquisition.
	Acquisition Touch
	Basket      Basket
	Forms       map[string]Form // by form id, at most MaxForms
	// Cases are the customer's service cases, by case id, at most MaxCases (see Service cases).
	Cases map[string]Case

	// Impressions are the emails and ads the person met away from the sites (see Impressions).
	Impressions Impressions

	// Audiences are the audiences the person is in, sorted by id (see Membership). Recording
	// evaluates them; profile.Apply never changes them.
	Audiences []Membership
	// EventTimes are the times of the person's recent events of the names audience rules count
	// ("event.<name>.count"), by EventKey, oldest first: recording keeps them (see
	// AddEventTimes), as many as the rules' windows need. A name absent was never counted; an
	// empty list counted none.
	EventTimes map[string][]time.Time
	// Computed are the states of the computed traits (package computed) by trait id, as JSON
	// that package recording reads and writes (the definition's fingerprint and its state): an
	// id absent, or of another definition, is computed again from the history.
	Computed map[string]json.RawMessage
	// AudiencesDue is when the memberships next change by the clock alone (a window expiring:
	// audience.Set's Next), as of their last evaluation; zero when they cannot. Recording puts
	// the profile in its due index for then.
	AudiencesDue time.Time
}

// Live tells whether the profile holds a customer's history (it was not merged into another).
func (p Profile) Live() bool { return p.MergedInto == "" }

// Addressable tells whether dcrm may raise anything about the profile (a lapse alert, a trigger):
// it is live and still has identifiers, which an erased profile has not.
func (p Profile) Addressable() bool { return p.Live() && (p.UserID != "" || len(p.AnonymousIDs) > 0) }

// Identifiers lists the identifiers the profile is known by.
func (p Profile) Identifiers() []identity.ID {
	var ids []identity.ID
	if p.UserID != "" {
		ids = append(ids, identity.UserID(p.UserID))
	}
	for _, a := range p.AnonymousIDs {
		ids = append(ids, identity.AnonymousID(a))
	}
	return ids
}

// Activity is an event as it bears on a profile.
type Activity struct {
	MessageID   string
	Type        string // a beacon event type: beacon.Track, beacon.Page, beacon.Identify …
	AnonymousID string
	UserID      string
	At          time.Time // when it happened
	// ClientAt is when the sender's clock says it happened (originalTimestamp, or timestamp), as
	// sent: unlike At, which corrects the sender's clock by when it was received, it is the same
	// every time the event is sent again. Zero when the sender said nothing.
	ClientAt   time.Time
	Traits     map[string]any
	PreviousID string // alias: the earlier anonymous id or user id that UserID joins
	GroupID    string // group: the group the customer belongs to

	// What sessions read (see Sessions): the event's campaign tags and channel (from its
	// enrichment), the page a page or screen event shows, the seconds a page ping reports.
	Campaign Campaign
	Channel  string
	Page     string
	Engaged  int
	// What commerce and forms read from a track event (see Commerce and forms).
	Event    string // track: the event name
	Products []Line
	OrderID  string
	Revenue  float64 // of an order; of a refund, its positive amount
	// SalesChannel and Store are where an order or a refund was placed, as properties.channel and
	// properties.store say ("" when they do not).
	SalesChannel string
	Store        string
	FormID       string
	// Case is what a case event says of its case (see Service cases); nil for other events.
	Case *CaseActivity
	// Impression is the kind of impression the event is (ImpressionOpen …), "" for activity on a
	// site or an app (see Impressions).
	Impression string
	// Consent is what the event's context.consent says, per purpose (the tracker's consent state).
	Consent map[string]Consent
}

// FromEvent checks an event from the stream and returns its activity. Errors wrap ErrInvalidEvent
// and say what is wrong.
func FromEvent(e beacon.Event) (Activity, error) {
	invalid := func(format string, args ...any) (Activity, error) {
		return Activity{}, fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
	}
	switch e.Type {
	case beacon.Track, beacon.Page, beacon.Screen, beacon.Identify, beacon.Group, beacon.Alias:
	case "":
		return invalid("no type")
	default:
		return invalid("unsupported type %q", e.Type)
	}
	if e.MessageID == "" {
		return invalid("no messageId")
	}
	if e.AnonymousID == "" && e.UserID == "" {
		return invalid("neither anonymousId nor userId")
	}
	switch {
	case e.Type == beacon.Alias && (e.PreviousID == "" || e.UserID == ""):
		return invalid("alias without previousId and userId")
	case e.Type == beacon.Group && e.GroupID == "":
		return invalid("group without groupId")
	}
	for name, v := range map[string]string{"messageId": e.MessageID, string(identity.Anonymous): e.AnonymousID, string(identity.User): e.UserID,
		"previousId": e.PreviousID, "groupId": e.GroupID} {
		if len(v) > MaxIDLength {
			return invalid("%s longer than %d bytes", name, MaxIDLength)
		}
	}
	at := e.Timestamp
	if at.IsZero() {
		at = e.ReceivedAt
	}
	if at.IsZero() {
		return invalid("neither timestamp nor receivedAt")
	}
	a := Activity{MessageID: e.MessageID, Type: e.Type, AnonymousID: e.AnonymousID, UserID: e.UserID, At: at.UTC()}
	if t := e.SenderTime(); t != nil { // not a time far ahead that collect did not believe
		a.ClientAt = t.UTC()
	}
	switch e.Type {
	case beacon.Alias:
		// An alias joins previousId and userId; its own anonymousId (if any) only routed it.
		a.AnonymousID, a.PreviousID = "", e.PreviousID
	case beacon.Group:
		a.GroupID = e.GroupID // its traits are the group's, not the customer's
	}
	readDetails(e, &a)
	if e.Type == beacon.Identify && len(e.Traits) > 0 && string(e.Traits) != "null" {
		if err := json.Unmarshal(e.Traits, &a.Traits); err != nil {
			return invalid("traits are not a JSON object")
		}
		if _, empty := a.Traits[""]; empty {
			return invalid("a trait has an empty name")
		}
	}
	return a, nil
}

// Attach returns p holding the given identifiers too, without an event: an identifier the graph
// gave it that it does not list yet. A user id is only attached to a profile without one.
func Attach(p Profile, ids ...identity.ID) Profile {
	p = p.Clone()
	for _, id := range ids {
		p.attach(id)
	}
	return p
}

// AttachShallow is Attach for a profile read for who it is alone (its id and identifiers): it
// copies its anonymous ids, which it may change, and shares the rest with p. Neither p nor the
// result may then be changed in place (Apply and Attach copy what they change).
func AttachShallow(p Profile, ids ...identity.ID) Profile {
	p.AnonymousIDs = slices.Clone(p.AnonymousIDs)
	for _, id := range ids {
		p.attach(id)
	}
	return p
}

// Apply records an activity on a profile and attaches the given identifiers to it (the graph's
// decision, see identity.Resolve). A user id is only attached to a profile without one.
func Apply(p Profile, a Activity, attach []identity.ID) Profile {
	p, _ = ApplyNoted(p, a, attach)
	return p
}

// ApplyNoted is Apply, and also says what it trimmed or refused of the activity's traits (see
// Traits), in words; nil when it kept them whole.
func ApplyNoted(p Profile, a Activity, attach []identity.ID) (Profile, []string) {
	p = p.Clone()
	for _, id := range attach {
		p.attach(id)
	}
	p.Counts.Events++
	if a.Impression != "" {
		if a.Type == beacon.Track {
			p.Counts.Tracks++
		}
		p.Impressions.add(Impression{At: a.At, Kind: a.Impression, Channel: a.Channel, Campaign: a.Campaign.Name, Event: bounded(cmp.Or(a.Event, a.Page))})
		p.Consent = eventConsent(p.Consent, a.Consent)
		p.fit()
		return p, nil
	}
	switch a.Type {
	case beacon.Page:
		p.Counts.PageViews++
	case beacon.Screen:
		p.Counts.Screens++
	case beacon.Track:
		p.Counts.Tracks++
		p.applyCommerce(a)
		p.applyCase(a)
	case beacon.Identify:
		p.Counts.Identifies++
	case beacon.Group:
		p.Groups = addGroups(p.Groups, a.GroupID)
	}
	if !AwayFromSites(a) {
		switch a.Type {
		case beacon.Page, beacon.Screen, beacon.Track:
			h := Hit{At: a.At, PageView: a.Type != beacon.Track, Engaged: a.Engaged, Campaign: a.Campaign, Channel: a.Channel}
			if h.PageView {
				h.Page = a.Page
			}
			p.addHit(h)
		}
		p.seen(a.At, a.At)
	}
	p.Acquisition.first(acquisitionTouch(a))
	notes := p.setTraits(a.Traits, a.At)
	p.Consent = eventConsent(p.Consent, a.Consent)
	p.fit()
	return p, notes
}

// Fold returns into with from's history folded in: counts summed, first seen the earlier, last
// seen the later, identifiers united, each trait the later set (within the bounds of Traits),
// activity windows merged and sessions derived again from the merged window, products, orders
// (one per order id), baskets and forms combined, all within the Budget. into keeps its id,
// score and alert state.
// Profiles of two different users do not fold (identity.ErrDifferentUsers).
func Fold(into, from Profile) (Profile, error) {
	if err := identity.CanMerge(into.UserID, from.UserID); err != nil {
		return into, err
	}
	out := into.Clone()
	if out.UserID == "" {
		out.UserID = from.UserID
	}
	for _, a := range from.AnonymousIDs {
		out.attach(identity.AnonymousID(a))
	}
	out.Counts.Events += from.Counts.Events
	out.Counts.PageViews += from.Counts.PageViews
	out.Counts.Tracks += from.Counts.Tracks
	out.Counts.Identifies += from.Counts.Identifies
	out.Counts.Screens += from.Counts.Screens
	out.Groups = addGroups(out.Groups, from.Groups...)
	out.seen(from.FirstSeen, from.LastSeen)
	out.foldTraits(from.Traits, from.TraitTimes)
	out.MergedFrom = union(out.MergedFrom, append([]string{from.ID}, from.MergedFrom...)...)
	out.foldHits(from.Settled, from.Hits)
	out.foldCommerce(from)
	out.foldCases(from.Cases)
	out.Acquisition.first(from.Acquisition)
	out.Impressions.fold(from.Impressions)
	if len(from.Consent) > 0 {
		out.Consent, _ = ApplyConsent(out.Consent, from.Consent) // per purpose, the latest answer
	}
	for name, times := range from.EventTimes {
		out.EventTimes = AddEventTimes(out.EventTimes, name, times...)
	}
	out.fit()
	return out, nil
}

// acquisitionTouch is the touch an activity on a site or an app makes: its channel, or the
// sales channel of an order placed elsewhere than online.
func acquisitionTouch(a Activity) Touch {
	channel := a.Channel
	if channel == "" && IsPurchase(a) && !Online(a.SalesChannel) {
		channel = a.SalesChannel
	}
	return Touch{At: a.At, Channel: channel}
}

func (p *Profile) attach(id identity.ID) {
	switch id.Kind {
	case identity.Anonymous:
		p.AnonymousIDs = union(p.AnonymousIDs, id.Value)
	case identity.User:
		if p.UserID == "" {
			p.UserID = id.Value
		}
	}
}

func (p *Profile) seen(first, last time.Time) {
	if !first.IsZero() && (p.FirstSeen.IsZero() || first.Before(p.FirstSeen)) {
		p.FirstSeen = first
	}
	if last.After(p.LastSeen) {
		p.LastSeen = last
	}
}

// setTrait keeps the value set last by event time; of two set at the same time, the one applied
// later wins.
func (p *Profile) setTrait(k string, v any, at time.Time) {
	if prev, ok := p.TraitTimes[k]; ok && prev.After(at) {
		return
	}
	if p.Traits == nil {
		p.Traits = map[string]any{}
	}
	if p.TraitTimes == nil {
		p.TraitTimes = map[string]time.Time{}
	}
	p.Traits[k] = v
	p.TraitTimes[k] = at
}

// Clone returns a copy of the profile whose collections can be changed without changing p's.
// Values inside them (nested traits, an order's lines) are shared: nothing changes them in place.
func (p Profile) Clone() Profile {
	p.AnonymousIDs = slices.Clone(p.AnonymousIDs)
	p.MergedFrom = slices.Clone(p.MergedFrom)
	p.Groups = slices.Clone(p.Groups)
	p.Traits = maps.Clone(p.Traits)
	p.TraitTimes = maps.Clone(p.TraitTimes)
	p.Score = p.Score.clone()
	p.Hits = slices.Clone(p.Hits)
	if p.Session != nil {
		s := *p.Session
		p.Session = &s
	}
	p.Products = p.Products.clone()
	p.Orders = slices.Clone(p.Orders)
	p.Basket.Changes = slices.Clone(p.Basket.Changes)
	p.Forms = maps.Clone(p.Forms)
	p.Cases = maps.Clone(p.Cases)
	p.Consent = maps.Clone(p.Consent)
	p.Impressions = p.Impressions.clone()
	p.Audiences = slices.Clone(p.Audiences)
	p.EventTimes = maps.Clone(p.EventTimes)
	p.Computed = maps.Clone(p.Computed)
	return p
}

// addGroups adds groups to a sorted set of at most MaxGroups; groups past the bound are left out.
func addGroups(set []string, groups ...string) []string {
	for _, g := range groups {
		if len(set) >= MaxGroups {
			break
		}
		set = union(set, g)
	}
	return set
}

// union adds values to a sorted set.
func union(set []string, values ...string) []string {
	for _, v := range values {
		if i, found := slices.BinarySearch(set, v); !found && v != "" {
			set = slices.Insert(set, i, v)
		}
	}
	return set
}
