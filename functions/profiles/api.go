package main

import (
	"cmp"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// The profile API's responses: the public contract, described in events/openapi/openapi.yaml
// (schemas of these types' names and fields; tests hold real responses to it). Each is built from
// the domain by one function, so the domain can change without the contract changing unseen.

// profileView is a customer's Single Customer View.
type profileView struct {
	ProfileID    string             `json:"profileId"`
	UserID       string             `json:"userId,omitempty"`
	AnonymousIDs []string           `json:"anonymousIds"`
	Traits       map[string]any     `json:"traits"`
	FirstSeen    time.Time          `json:"firstSeen,omitzero"` // absent while only impressions reached the person
	LastSeen     time.Time          `json:"lastSeen,omitzero"`
	Counts       counts             `json:"counts"`
	Groups       []string           `json:"groups,omitempty"`
	Score        *score             `json:"score,omitempty"`
	Consent      map[string]consent `json:"consent"`
	MergedFrom   []string           `json:"mergedFrom,omitempty"`
	UpdatedAt    time.Time          `json:"updatedAt"`

	Visits         int     `json:"visits"`
	Depth          float64 `json:"depth"` // page and screen views per visit, to two decimals
	EngagedSeconds int     `json:"engagedSeconds"`
	// Session is the current or last session.
	Session     *session  `json:"session,omitempty"`
	LastChannel string    `json:"lastChannel,omitempty"`
	Products    *products `json:"products,omitempty"`
	Orders      int       `json:"orders"`
	Revenue     float64   `json:"revenue"` // net of returns
	// Returns are the refunds and returns: how many, and their value.
	Returns *profile.Returns `json:"returns,omitempty"`
	// FirstOrder and LastOrder are when the first and last orders were placed, and on which sales
	// channel ("online", "store" …); Acquisition is the first touch's time and channel.
	FirstOrder  *profile.Touch `json:"firstOrder,omitempty"`
	LastOrder   *profile.Touch `json:"lastOrder,omitempty"`
	Acquisition *profile.Touch `json:"acquisition,omitempty"`
	Basket      *openBasket    `json:"basket,omitempty"`
	// Cases are the service cases, the latest updated first.
	Cases     []serviceCase `json:"cases,omitempty"`
	OpenForms []openForm    `json:"openForms,omitempty"`
	// Impressions are the emails and ads the person met away from the sites, never visits.
	Impressions *impressions `json:"impressions,omitempty"`
	// Audiences are the audiences the person is in, by id, with when they entered.
	Audiences []profile.Membership `json:"audiences"`
	// Computed are the computed traits' values, by trait id (absent when none is defined; a
	// trait without a value, or not computed yet, is left out).
	Computed map[string]any `json:"computed,omitempty"`
}

type impressions struct {
	Count  int               `json:"count"`
	First  time.Time         `json:"first"`
	Last   time.Time         `json:"last"`
	Groups []impressionGroup `json:"groups"`          // by kind, channel and campaign
	Other  int               `json:"other,omitempty"` // of groups no longer listed
	Recent []impression      `json:"recent"`          // newest first
}

type impressionGroup struct {
	Kind     string    `json:"kind"`
	Channel  string    `json:"channel,omitempty"`
	Campaign string    `json:"campaign,omitempty"`
	Count    int       `json:"count"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

type impression struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"`
	Channel  string    `json:"channel,omitempty"`
	Campaign string    `json:"campaign,omitempty"`
	Event    string    `json:"event,omitempty"`
}

func impressionsOf(im profile.Impressions) *impressions {
	if im.IsZero() {
		return nil
	}
	out := &impressions{Count: im.Count, First: im.First, Last: im.Last, Other: im.Other,
		Groups: make([]impressionGroup, 0, len(im.Groups)), Recent: make([]impression, 0, len(im.Recent))}
	for _, g := range im.Groups {
		out.Groups = append(out.Groups, impressionGroup(g))
	}
	for _, i := range slices.Backward(im.Recent) {
		out.Recent = append(out.Recent, impression(i))
	}
	return out
}

type counts struct {
	Events     int `json:"events"`
	PageViews  int `json:"pageViews"`
	Tracks     int `json:"tracks"`
	Identifies int `json:"identifies"`
	Screens    int `json:"screens"`
}

type consent struct {
	Granted bool      `json:"granted"`
	At      time.Time `json:"at"`
	Source  string    `json:"source,omitempty"`
}

type score struct {
	ScoredAt     time.Time          `json:"scoredAt"`
	ModelVersion int                `json:"modelVersion,omitempty"`
	FirstOrderAt time.Time          `json:"firstOrderAt,omitzero"`
	RFM          *rfmScore          `json:"rfm,omitempty"`
	Value        *value             `json:"value,omitempty"`
	Lapse        *lapseRisk         `json:"lapse,omitempty"`
	NextActions  []nextAction       `json:"nextActions,omitempty"`
	Cluster      string             `json:"cluster,omitempty"`
	Lookalikes   map[string]float64 `json:"lookalikes,omitempty"`
	// LookalikeRanks are the estimated ranks among each seed's candidates, 1 = the most alike.
	LookalikeRanks map[string]int `json:"lookalikeRanks,omitempty"`
}

type rfmScore struct {
	Variant     string  `json:"variant"`
	RecencyDays int     `json:"recencyDays"`
	Frequency   int     `json:"frequency"`
	Monetary    float64 `json:"monetary"`
	R           int     `json:"r"`
	F           int     `json:"f"`
	M           int     `json:"m"`
	Score       int     `json:"score"`
	Segment     string  `json:"segment"`
}

type value struct {
	PAlive            float64 `json:"pAlive"`
	PAlivePareto      float64 `json:"pAlivePareto,omitempty"`
	ExpectedPurchases float64 `json:"expectedPurchases"`
	ExpectedSpend     float64 `json:"expectedSpend"`
	CLV               float64 `json:"clv"`
	CLVPareto         float64 `json:"clvPareto,omitempty"`
	HorizonWeeks      float64 `json:"horizonWeeks"`
}

type lapseRisk struct {
	Risk           float64 `json:"risk"`
	PAlive         float64 `json:"pAlive"`
	Activity       float64 `json:"activity"`
	RecentVisits   int     `json:"recentVisits"`
	ExpectedVisits float64 `json:"expectedVisits"`
	Above          bool    `json:"above"`
}

type nextAction struct {
	Kind     string  `json:"kind"`
	Case     string  `json:"case,omitempty"`
	Product  string  `json:"product,omitempty"`
	Category string  `json:"category,omitempty"`
	Form     string  `json:"form,omitempty"`
	Score    float64 `json:"score"`
	Reason   string  `json:"reason"`
}

type session struct {
	ID             string    `json:"id"`
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	Events         int       `json:"events"`
	PageViews      int       `json:"pageViews"`
	EngagedSeconds int       `json:"engagedSeconds"`
	LandingPage    string    `json:"landingPage,omitempty"`
	Channel        string    `json:"channel,omitempty"`
	Campaign       *campaign `json:"campaign,omitempty"`
}

type campaign struct {
	Source  string `json:"source,omitempty"`
	Medium  string `json:"medium,omitempty"`
	Name    string `json:"name,omitempty"`
	ClickID string `json:"clickId,omitempty"`
}

type products struct {
	Viewed     map[string]int       `json:"viewed,omitempty"`
	Carted     map[string]int       `json:"carted,omitempty"`
	Bought     map[string]int       `json:"bought,omitempty"`
	Last       map[string]time.Time `json:"last,omitempty"`
	Categories *categories          `json:"categories,omitempty"`
}

type categories struct {
	Viewed map[string]int       `json:"viewed,omitempty"`
	Carted map[string]int       `json:"carted,omitempty"`
	Bought map[string]int       `json:"bought,omitempty"`
	Last   map[string]time.Time `json:"last,omitempty"`
}

type openBasket struct {
	Items     []basketItem `json:"items"`
	Value     float64      `json:"value"`
	UpdatedAt time.Time    `json:"updatedAt"`
}

type basketItem struct {
	ProductID string  `json:"productId"`
	Quantity  int     `json:"quantity"`
	Price     float64 `json:"price,omitempty"`
}

type serviceCase struct {
	CaseID    string    `json:"caseId"`
	Status    string    `json:"status"`
	Open      bool      `json:"open"`
	Topic     string    `json:"topic,omitempty"`
	OpenedAt  time.Time `json:"openedAt"`
	ClosedAt  time.Time `json:"closedAt,omitzero"` // the last time it was closed
	UpdatedAt time.Time `json:"updatedAt"`
}

func casesOf(cs map[string]profile.Case) []serviceCase {
	var out []serviceCase
	for id, c := range cs {
		out = append(out, serviceCase{CaseID: id, Status: c.Status, Open: c.Open(), Topic: c.Topic, OpenedAt: c.OpenedAt.UTC(),
			ClosedAt: c.ClosedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()})
	}
	slices.SortFunc(out, func(a, b serviceCase) int {
		return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), cmp.Compare(a.CaseID, b.CaseID))
	})
	return out
}

type openForm struct {
	FormID    string    `json:"formId"`
	StartedAt time.Time `json:"startedAt"`
}

// touchOf is nil for no touch.
func touchOf(t profile.Touch) *profile.Touch {
	if t == (profile.Touch{}) {
		return nil
	}
	t.At = t.At.UTC()
	return &t
}

// viewOf is the API view of a profile.
func viewOf(p profile.Profile) profileView {
	v := profileView{
		ProfileID: p.ID, UserID: p.UserID, AnonymousIDs: nonNil(p.AnonymousIDs), Traits: maps.Clone(p.Traits),
		FirstSeen: p.FirstSeen, LastSeen: p.LastSeen, Counts: counts(p.Counts), Groups: slices.Clone(p.Groups),
		Score: scoreOf(p.Score), Consent: consentOf(p.Consent), MergedFrom: slices.Clone(p.MergedFrom), UpdatedAt: p.UpdatedAt,
		Visits: p.Visits, EngagedSeconds: p.EngagedSeconds, LastChannel: p.LastChannel, Orders: p.OrderCount, Revenue: p.Revenue,
		Impressions: impressionsOf(p.Impressions), Audiences: slices.Clone(p.Audiences),
	}
	if v.Audiences == nil {
		v.Audiences = []profile.Membership{}
	}
	if v.Traits == nil {
		v.Traits = map[string]any{}
	}
	if r := p.Returns; r != (profile.Returns{}) {
		v.Returns = &r
	}
	v.FirstOrder, v.LastOrder, v.Acquisition = touchOf(p.FirstOrder), touchOf(p.LastOrder), touchOf(p.Acquisition)
	v.Cases = casesOf(p.Cases)
	if p.Visits > 0 {
		v.Depth = math.Round(float64(p.Counts.PageViews+p.Counts.Screens)/float64(p.Visits)*100) / 100
	}
	if s := p.Session; s != nil {
		v.Session = &session{ID: s.ID, Start: s.Start, End: s.End, Events: s.Events, PageViews: s.PageViews,
			EngagedSeconds: s.EngagedSeconds, LandingPage: s.LandingPage, Channel: s.Channel}
		if s.Campaign != nil {
			c := campaign(*s.Campaign)
			v.Session.Campaign = &c
		}
	}
	if ps := p.Products; len(ps.Viewed)+len(ps.Carted)+len(ps.Bought) > 0 {
		v.Products = &products{Viewed: maps.Clone(ps.Viewed), Carted: maps.Clone(ps.Carted), Bought: maps.Clone(ps.Bought), Last: maps.Clone(ps.Last)}
		if c := ps.Categories; len(c.Viewed)+len(c.Carted)+len(c.Bought)+len(c.Last) > 0 {
			v.Products.Categories = &categories{Viewed: maps.Clone(c.Viewed), Carted: maps.Clone(c.Carted), Bought: maps.Clone(c.Bought), Last: maps.Clone(c.Last)}
		}
	}
	if b := p.Basket.Open(); b != nil {
		v.Basket = &openBasket{Value: b.Value, UpdatedAt: b.UpdatedAt, Items: []basketItem{}}
		for _, it := range b.Items {
			v.Basket.Items = append(v.Basket.Items, basketItem(it))
		}
	}
	for _, f := range p.OpenForms() {
		v.OpenForms = append(v.OpenForms, openForm(f))
	}
	return v
}

func scoreOf(s *profile.Score) *score {
	if s == nil {
		return nil
	}
	out := &score{ScoredAt: s.ScoredAt, ModelVersion: s.ModelVersion, FirstOrderAt: s.FirstOrderAt, Cluster: s.Cluster,
		Lookalikes: maps.Clone(s.Lookalikes), LookalikeRanks: maps.Clone(s.LookalikeRanks)}
	if s.RFM != nil {
		r := rfmScore(*s.RFM)
		out.RFM = &r
	}
	if s.Value != nil {
		v := value(*s.Value)
		out.Value = &v
	}
	if s.Lapse != nil {
		l := lapseRisk(*s.Lapse)
		out.Lapse = &l
	}
	for _, a := range s.NextActions {
		out.NextActions = append(out.NextActions, nextAction(a))
	}
	return out
}

func consentOf(m map[string]profile.Consent) map[string]consent {
	out := make(map[string]consent, len(m))
	for k, c := range m {
		out[k] = consent(c)
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return slices.Clone(s)
}

// touchpoint is one event in a person's history.
type touchpoint struct {
	ProfileID           string          `json:"profileId"` // the profile it was recorded on
	MessageID           string          `json:"messageId"`
	Type                string          `json:"type"`
	Event               string          `json:"event,omitempty"`
	Timestamp           time.Time       `json:"timestamp"`
	Channel             string          `json:"channel,omitempty"`
	Campaign            *campaign       `json:"campaign,omitempty"`
	Impression          string          `json:"impression,omitempty"` // its kind, when the event was an impression
	Properties          json.RawMessage `json:"properties,omitempty"`
	PropertiesTruncated bool            `json:"propertiesTruncated,omitempty"`
	Purchase            bool            `json:"purchase,omitempty"`
	OrderID             string          `json:"orderId,omitempty"`
	Revenue             float64         `json:"revenue,omitempty"`
	ExpiresAt           *time.Time      `json:"expiresAt,omitempty"` // absent: kept (purchases)
}

func touchpointsOf(ts []history.Touchpoint) []touchpoint {
	out := make([]touchpoint, 0, len(ts))
	for _, t := range ts {
		tp := touchpoint{ProfileID: t.ProfileID, MessageID: t.MessageID, Type: t.Type, Event: t.Event, Timestamp: t.At,
			Channel: t.Channel, Impression: t.Impression, PropertiesTruncated: t.PropertiesTruncated, Purchase: t.Purchase, OrderID: t.OrderID, Revenue: t.Revenue}
		if c := t.Activity.Campaign; !c.IsZero() {
			tp.Campaign = &campaign{Source: c.Source, Medium: c.Medium, Name: c.Name, ClickID: c.ClickID}
		}
		if len(t.Properties) > 0 {
			tp.Properties = t.Properties
		}
		if !t.ExpiresAt.IsZero() {
			exp := t.ExpiresAt.UTC()
			tp.ExpiresAt = &exp
		}
		out = append(out, tp)
	}
	return out
}

// historyPage is a page of a person's history, newest first; next continues it
// (?cursor=<next>), absent on the last page.
type historyPage struct {
	ProfileID   string       `json:"profileId"`
	Touchpoints []touchpoint `json:"touchpoints"`
	Next        string       `json:"next,omitempty"`
}

func historyPageOf(p history.Page) historyPage {
	return historyPage{ProfileID: p.ProfileID, Touchpoints: touchpointsOf(p.Touchpoints), Next: p.Next}
}

// merge explains how a merged profile joined the live one.
type merge struct {
	From      string    `json:"from"`
	Into      string    `json:"into"`
	At        time.Time `json:"at"`
	MessageID string    `json:"messageId,omitempty"`
	Via       string    `json:"via,omitempty"`
	Trusted   bool      `json:"trusted"`
}

func mergesOf(ms []identity.Merge) []merge {
	out := make([]merge, 0, len(ms))
	for _, m := range ms {
		via := ""
		if !m.Via.IsZero() {
			via = m.Via.String()
		}
		out = append(out, merge{From: m.From, Into: m.Into, At: m.At, MessageID: m.MessageID, Via: via, Trusted: m.Trusted})
	}
	return out
}

// mergeLog is the answer of GET /{profileId}/merges.
type mergeLog struct {
	ProfileID string  `json:"profileId"` // the live profile
	Merges    []merge `json:"merges"`    // oldest first
}

// exportDocument is the answer of GET /{profileId}/export: everything held about a person.
type exportDocument struct {
	ProfileID      string       `json:"profileId"`
	Profile        profileView  `json:"profile"`
	MergedProfiles []string     `json:"mergedProfiles"`
	Merges         []merge      `json:"merges"` // how each merged profile joined
	Identifiers    []exportedID `json:"identifiers"`
	Touchpoints    []touchpoint `json:"touchpoints"` // newest first, one page
	// Next continues the touchpoints: GET …/export?cursor=<next> (absent on the last page).
	Next string `json:"next,omitempty"`
}

type exportedID struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

func exportOf(p recording.Person) exportDocument {
	doc := exportDocument{
		ProfileID: p.Profile.ID, Profile: viewOf(p.Profile), MergedProfiles: nonNil(p.Merged), Merges: mergesOf(p.Merges),
		Identifiers: []exportedID{}, Touchpoints: touchpointsOf(p.Touchpoints), Next: p.Next,
	}
	for _, id := range p.Identifiers {
		doc.Identifiers = append(doc.Identifiers, exportedID{Type: string(id.Kind), Value: id.Value})
	}
	return doc
}

// erasure is the answer of DELETE /{profileId}: how far the erasure has gone, counting the work
// of every request, with 202 while it is in progress and 200 once complete.
type erasure struct {
	ProfileID             string     `json:"profileId"` // the live profile
	State                 string     `json:"state"`     // "in progress" or "complete"
	StartedAt             time.Time  `json:"startedAt"`
	CompletedAt           *time.Time `json:"completedAt,omitempty"`
	ProfilesErased        int        `json:"profilesErased"`
	IdentifiersTombstoned int        `json:"identifiersTombstoned"`
	TouchpointsDeleted    int        `json:"touchpointsDeleted"`
}

func erasureOf(e recording.Erasure) erasure {
	out := erasure{ProfileID: e.ProfileID, State: e.State, StartedAt: e.StartedAt.UTC(),
		ProfilesErased: e.Profiles, IdentifiersTombstoned: e.Identifiers, TouchpointsDeleted: e.Touchpoints}
	if !e.CompletedAt.IsZero() {
		at := e.CompletedAt.UTC()
		out.CompletedAt = &at
	}
	return out
}

// status is 202 while the erasure is in progress: the caller repeats the request.
func (e erasure) status() int {
	if e.State == recording.ErasureComplete {
		return http.StatusOK
	}
	return http.StatusAccepted
}

// separation is the answer of POST /{profileId}/split.
type separation struct {
	ProfileID   string `json:"profileId"`   // the live profile the other was split from
	SplitID     string `json:"splitId"`     // the profile that is live again
	Identifiers int    `json:"identifiers"` // identifiers that went back to it
	Touchpoints int    `json:"touchpoints"` // events moved back with them
}

// consentState is the answer of PUT /{profileId}/consent.
type consentState struct {
	ProfileID string             `json:"profileId"`
	Consent   map[string]consent `json:"consent"`
}

// problem is the answer to a request that fails: what is wrong, for a person.
type problem struct {
	Error string `json:"error"`
}

// reportList is the answer of GET /v1/reports: the reports kept, newest first, and the period
// GET /v1/reports/latest answers (null before the first report).
type reportList struct {
	Latest  *string         `json:"latest"`
	Reports []reportSummary `json:"reports"`
}

// reportSummary is a report kept: its period and the period's first and last days.
type reportSummary struct {
	Period string `json:"period"` // YYYY-MM-DD_YYYY-MM-DD, as the routes take it
	From   string `json:"from"`
	To     string `json:"to"`
}

func reportListOf(latest *string, ps []period) reportList {
	out := reportList{Latest: latest, Reports: make([]reportSummary, 0, len(ps))}
	for _, p := range ps {
		out.Reports = append(out.Reports, reportSummary{Period: p.String(), From: p.from, To: p.to})
	}
	return out
}

// audienceView is an audience definition as kept: its id, name, description and flag, its
// bookkeeping, and the definition itself (shared/audience's JSON, as stored).
type audienceView struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Public      bool            `json:"public"`
	Version     int             `json:"version"`
	CreatedAt   time.Time       `json:"createdAt"`
	UpdatedAt   time.Time       `json:"updatedAt"`
	UpdatedBy   string          `json:"updatedBy"` // the id of the key that wrote it last
	Definition  json.RawMessage `json:"definition"`
	// Size is the members the latest whole scoring run counted (GET of one audience only);
	// absent when no run of today or yesterday (UTC) counted them all.
	Size *int64 `json:"size,omitempty"`
}

func audienceViewOf(s audiencestore.Stored) audienceView {
	return audienceView{ID: s.Definition.ID, Name: s.Definition.Name, Description: s.Definition.Description,
		Public: s.Definition.Public, Version: s.Version, CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
		UpdatedBy: s.UpdatedBy, Definition: s.JSON}
}

// audienceList is every audience defined, by id.
type audienceList struct {
	Audiences []audienceView `json:"audiences"`
}

func audienceListOf(all []audiencestore.Stored) audienceList {
	out := audienceList{Audiences: make([]audienceView, 0, len(all))}
	for _, s := range all {
		out.Audiences = append(out.Audiences, audienceViewOf(s))
	}
	return out
}

// audienceSizes is an audience's member counts by scoring run, oldest first.
type audienceSizes struct {
	AudienceID string         `json:"audienceId"`
	Sizes      []audienceSize `json:"sizes"`
}

// audienceSize is the members a scoring run counted; partial while some parts of the run have not
// counted theirs (then a lower bound).
type audienceSize struct {
	At      time.Time `json:"at"`
	Members int64     `json:"members"`
	Partial bool      `json:"partial,omitempty"`
}

func audienceSizesOf(id string, sizes []audiencestore.Size) audienceSizes {
	out := audienceSizes{AudienceID: id, Sizes: make([]audienceSize, 0, len(sizes))}
	for _, s := range sizes {
		out.Sizes = append(out.Sizes, audienceSize{At: s.At.UTC(), Members: s.Members, Partial: s.Partial})
	}
	return out
}

// traitList is every computed trait defined, by id, each its definition (shared/computed's JSON).
type traitList struct {
	Traits []json.RawMessage `json:"traits"`
}

// visitorView is the browser-safe route's answer (POST /v1/visitor): what a page may learn of the
// visitor holding a cookie, and nothing else. It names no profile, user, trait, score or count.
type visitorView struct {
	// Audiences are the public audiences the person is in, by id, sorted; [] when none, and for
	// a cookie dcrm does not know, so that the answer does not tell whether it does.
	Audiences []string `json:"audiences"`
	// NextAction is the kind of the person's best next action a page may act on, and what it is
	// about; absent when there is none.
	NextAction *visitorAction `json:"nextAction,omitempty"`
}

// visitorAction is a next best action as a page sees it: never its score or its reason (which
// may hold figures such as the basket's value), never a service case.
type visitorAction struct {
	Kind     string `json:"kind"`
	Product  string `json:"product,omitempty"`
	Category string `json:"category,omitempty"`
	Form     string `json:"form,omitempty"`
}

// visitorViewOf is what a page may learn of profile p, given the ids of the public audiences:
// nothing when the person refused analytics; no next action when they refused marketing.
func visitorViewOf(p profile.Profile, public map[string]bool) visitorView {
	v := visitorView{Audiences: []string{}}
	if c, ok := p.Consent[profile.PurposeAnalytics]; ok && !c.Granted {
		return v
	}
	for _, id := range p.AudienceIDs() {
		if public[id] {
			v.Audiences = append(v.Audiences, id)
		}
	}
	slices.Sort(v.Audiences)
	if c, ok := p.Consent[profile.PurposeMarketing]; !ok || c.Granted {
		v.NextAction = nextActionFor(p)
	}
	return v
}

// alertsPage is the answer of GET /v1/alerts: a day's alerts and triggers, newest first (kind:
// only those of the kind), and, on the first page, how many of each kind the day has.
type alertsPage struct {
	Day    string      `json:"day"`
	Kind   string      `json:"kind,omitempty"`
	Alerts []alertView `json:"alerts"`
	// Counts are the day's by kind, every kind named (0 for none); on the first page only.
	// CountsPartial says that a kind had more than a count reads (it is then a lower bound).
	Counts        map[string]int64 `json:"counts,omitempty"`
	CountsPartial bool             `json:"countsPartial,omitempty"`
	Next          string           `json:"next,omitempty"`
}

// alertView is an alert or trigger sent: when, what, for whom, why, its message's id and queue.
type alertView struct {
	At        time.Time          `json:"at"`
	Kind      string             `json:"kind"`
	ProfileID string             `json:"profileId"`
	Reason    string             `json:"reason"`
	Facts     map[string]float64 `json:"facts,omitempty"`
	MessageID string             `json:"messageId"`
	Channel   string             `json:"channel"`
}

// contactList is the answer of GET /v1/profiles/{profileId}/contacts: the alerts and triggers sent
// for the person, newest first.
type contactList struct {
	ProfileID string      `json:"profileId"`
	Contacts  []alertView `json:"contacts"`
}

// auditPage is the answer of GET /v1/audit: a day's changes made through this API, newest first.
type auditPage struct {
	Day     string       `json:"day"`
	Actions []actionView `json:"actions"`
	Next    string       `json:"next,omitempty"`
}

// actionView is a change made through this API: when, the route, the ids it named, who (the key
// or the console user), how it ended, and the request's id.
type actionView struct {
	At        time.Time         `json:"at"`
	Route     string            `json:"route"`
	Targets   map[string]string `json:"targets"`
	KeyID     string            `json:"keyId"`
	KeyName   string            `json:"keyName,omitempty"`
	Status    int               `json:"status"`
	Outcome   string            `json:"outcome"`
	RequestID string            `json:"requestId"`
}
