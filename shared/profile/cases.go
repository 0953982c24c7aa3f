package profile

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Service cases.
//
// A service case (a complaint, a question, a repair: the tickets of a help desk or a call
// centre) comes from the track events "Case Opened", "Case Updated" and "Case Closed" (eventKey's
// spellings), naming the case by properties.case_id (or caseId, ticket_id), with its status and
// topic (properties.status; properties.topic, else subject or category). A profile keeps, per
// case, when it was opened (its earliest event), when it was last closed, its latest status and
// topic (by event time; "Case Opened" says open and "Case Closed" closed when they state none) and
// when it was last updated, so that the same case reported in any order ends the same. At most
// MaxCases cases are kept: past that, the closed case updated longest ago goes first, then the
// open one. Case events, refunds and orders placed on a sales channel other than online happen
// away from the sites: like impressions they start no session and move neither FirstSeen nor
// LastSeen (see AwayFromSites).

// MaxCases bounds the service cases a profile keeps.
const MaxCases = 20

// Case statuses the case events imply.
const (
	CaseOpen   = "open"
	CaseClosed = "closed"
)

// Event names of case events, normalised (see eventKey).
const (
	eventCaseOpened  = "caseopened"
	eventCaseUpdated = "caseupdated"
	eventCaseClosed  = "caseclosed"
)

// Case is a service case as the profile keeps it.
type Case struct {
	OpenedAt  time.Time
	ClosedAt  time.Time // the latest "Case Closed"; zero if never
	UpdatedAt time.Time // the latest event
	Status    string
	StatusAt  time.Time
	Topic     string
	TopicAt   time.Time
}

// Open tells whether the case's latest status is neither closed nor solved.
func (c Case) Open() bool { return c.Status != CaseClosed && c.Status != "solved" }

// OpenCase is an open case with its id.
type OpenCase struct {
	ID string
	Case
}

// OpenCases are the customer's open cases, opened earliest first (then by id). Triggers hold
// their marketing, the next best action puts resolving them first, and a lapse alert names them:
// someone waiting on a complaint is not sold to, and may be why a customer is slipping away.
func (p Profile) OpenCases() []OpenCase {
	var out []OpenCase
	for id, c := range p.Cases {
		if c.Open() {
			out = append(out, OpenCase{ID: id, Case: c})
		}
	}
	slices.SortFunc(out, func(a, b OpenCase) int { return cmp.Or(a.OpenedAt.Compare(b.OpenedAt), cmp.Compare(a.ID, b.ID)) })
	return out
}

// Describe says which case it is in words: "case C-17 (delivery)".
func (c OpenCase) Describe() string {
	if c.Topic == "" {
		return "case " + c.ID
	}
	return "case " + c.ID + " (" + c.Topic + ")"
}

// CaseActivity is what a case event says (in Activity.Case).
type CaseActivity struct {
	ID     string `json:"id"`
	Status string `json:"status,omitempty"` // as stated, else what the event implies; "" for an update that states none
	Topic  string `json:"topic,omitempty"`
}

// readCase sets a.Case from a case event's properties.
func readCase(event string, props map[string]any, a *Activity) {
	var implied string
	switch eventKey(event) {
	case eventCaseOpened:
		implied = CaseOpen
	case eventCaseClosed:
		implied = CaseClosed
	case eventCaseUpdated:
	default:
		return
	}
	id := bounded(text(props["case_id"], props["caseId"], props["ticket_id"], props["ticketId"]))
	if id == "" {
		return
	}
	a.Case = &CaseActivity{ID: id, Status: cmp.Or(bounded(text(props["status"])), implied),
		Topic: bounded(text(props["topic"], props["subject"], props["category"]))}
}

// merge folds one occurrence of a case into c: earliest opening, latest closing, update, status
// and topic (of equal times, the greater value, so that any order ends the same).
func (c *Case) merge(o Case) {
	if c.OpenedAt.IsZero() || (!o.OpenedAt.IsZero() && o.OpenedAt.Before(c.OpenedAt)) {
		c.OpenedAt = o.OpenedAt
	}
	if o.ClosedAt.After(c.ClosedAt) {
		c.ClosedAt = o.ClosedAt
	}
	if o.UpdatedAt.After(c.UpdatedAt) {
		c.UpdatedAt = o.UpdatedAt
	}
	later := func(v string, at time.Time, cur *string, curAt *time.Time) {
		if v != "" && (*cur == "" || at.After(*curAt) || (at.Equal(*curAt) && v > *cur)) {
			*cur, *curAt = v, at
		}
	}
	later(o.Status, o.StatusAt, &c.Status, &c.StatusAt)
	later(o.Topic, o.TopicAt, &c.Topic, &c.TopicAt)
}

// applyCase records a case event.
func (p *Profile) applyCase(a Activity) {
	if a.Case == nil {
		return
	}
	o := Case{OpenedAt: a.At, UpdatedAt: a.At, Status: a.Case.Status, StatusAt: a.At, Topic: a.Case.Topic, TopicAt: a.At}
	if a.Case.Status == CaseClosed {
		o.ClosedAt = a.At
	}
	p.addCase(a.Case.ID, o)
}

func (p *Profile) addCase(id string, o Case) {
	if p.Cases == nil {
		p.Cases = map[string]Case{}
	}
	c := p.Cases[id]
	c.merge(o)
	p.Cases[id] = c
	p.trimCases(MaxCases)
}

// trimCases drops cases until at most limit are left: closed before open, updated longest ago
// first (of equal times, the greater id).
func (p *Profile) trimCases(limit int) {
	if len(p.Cases) <= limit {
		return
	}
	ids := slices.SortedFunc(maps.Keys(p.Cases), func(a, b string) int {
		x, y := p.Cases[a], p.Cases[b]
		if x.Open() != y.Open() {
			if x.Open() {
				return 1
			}
			return -1
		}
		return cmp.Or(x.UpdatedAt.Compare(y.UpdatedAt), cmp.Compare(b, a))
	})
	for _, id := range ids[:len(ids)-limit] {
		delete(p.Cases, id)
	}
}

// foldCases adds another profile's cases to p's.
func (p *Profile) foldCases(from map[string]Case) {
	for _, id := range slices.Sorted(maps.Keys(from)) {
		p.addCase(id, from[id])
	}
}

// AwayFromSites tells whether an activity happened away from the sites and apps: an impression,
// a service case, a refund, or an order placed on a sales channel other than online. It records
// what it says, but starts no session and moves neither FirstSeen nor LastSeen.
func AwayFromSites(a Activity) bool {
	switch {
	case a.Impression != "", a.Case != nil, IsRefund(a):
		return true
	case IsPurchase(a):
		return !Online(a.SalesChannel)
	}
	return false
}
