package profile

import (
	"cmp"
	"slices"
	"strconv"
	"time"
)

// Sessions.
//
// A session (a visit) is a run of a profile's page, screen and track events in which no two
// consecutive events are more than SessionTimeout apart and no event brings a campaign other than
// the session's own: an event with campaign tags (UTM source, medium, name or an ad click id) that
// differ from the session's starts a new session; an event without tags never does (it continues
// the session it falls in, as internal navigation does). Identify, group and alias calls are not
// activity: they neither start nor extend a session. Every page, screen and track event is, from
// whatever source: events flagged as automated count too (they are flagged, never dropped), and a
// server's track event far from any browser activity makes a visit of its own.
//
// Sessions are derived, not accumulated: a profile keeps its most recent activity as a sorted list
// of at most MaxHits hits (time, campaign, channel, page, engaged seconds) and recomputes its
// sessions from that list after every change, so an event that arrives late, or a profile folded
// in, re-sessionises the window exactly as if the events had come in order.
//
// Beyond the window: when the list outgrows MaxHits, its oldest whole sessions are settled (their
// visits and engaged seconds are added to Settled and their hits dropped; only when the latest
// session alone exceeds MaxHits is it cut inside). The last settled hit still counts as the
// predecessor of the first kept one, so a session cut inside continues rather than counting twice
// (its summary then starts at the first kept hit). An event at or before the last settled hit
// arrives too late to re-sessionise: its engaged seconds are added to the settled total and it
// counts no visit (it most likely belongs to a settled session). Hits of a folded-in profile that
// are that old are sessionised among themselves and their visits added.

// SessionTimeout is the inactivity after which the next event starts a new session.
const SessionTimeout = 30 * time.Minute

// MaxHits bounds the recent activity a profile keeps to derive its sessions from.
const MaxHits = 200

// Engaged time comes from page pings: track events named "Page Ping" (Segment style) or
// "page_ping" (Snowplow style), matched without regard to case, spaces, underscores or hyphens.
// A ping counts properties.engagedSeconds (a number, or a numeric string) seconds, at most
// MaxPingSeconds; a ping without a usable value counts DefaultPingSeconds, the heartbeat interval.
const (
	DefaultPingSeconds = 10
	MaxPingSeconds     = 1800
)

// MaxPageLength bounds the page path kept per hit, each of its campaign tags and its channel (and
// the ids commerce and forms keep).
const MaxPageLength = 256

// Campaign is the campaign an event came with: the tags that decide whether it starts a session.
type Campaign struct {
	Source  string `json:"source,omitempty"`
	Medium  string `json:"medium,omitempty"`
	Name    string `json:"name,omitempty"`
	ClickID string `json:"clickId,omitempty"`
}

// IsZero tells whether the event came without campaign tags.
func (c Campaign) IsZero() bool { return c == Campaign{} }

// Hit is one unit of activity: a page, screen or track event as sessions see it.
type Hit struct {
	At       time.Time
	PageView bool     // a page or screen event
	Engaged  int      // seconds of engagement it reports (page pings)
	Campaign Campaign // its campaign tags; zero when it has none
	Channel  string   // its marketing channel, as enrichment classified it
	Page     string   // page views: the path of the page, or the screen's name
}

func compareHits(a, b Hit) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	var ap, bp int
	if a.PageView {
		ap = 1
	}
	if b.PageView {
		bp = 1
	}
	return cmp.Or(cmp.Compare(bp, ap), cmp.Compare(a.Engaged, b.Engaged),
		cmp.Compare(a.Campaign.Source, b.Campaign.Source), cmp.Compare(a.Campaign.Medium, b.Campaign.Medium),
		cmp.Compare(a.Campaign.Name, b.Campaign.Name), cmp.Compare(a.Campaign.ClickID, b.Campaign.ClickID),
		cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Page, b.Page))
}

// Settled is what the hits dropped from the window contributed (see Sessions).
type Settled struct {
	Until          time.Time // the last dropped hit; zero when none was dropped
	Campaign       Campaign  // the campaign of the session that hit belongs to
	Channel        string    // the channel of the latest dropped session that had one
	Visits         int
	EngagedSeconds int
	// Orders and Revenue are the orders dropped from the order list (see Order), up to OrdersUntil;
	// FirstOrder and LastOrder the earliest and latest of them.
	Orders      int
	Revenue     float64
	OrdersUntil time.Time
	FirstOrder  Touch
	LastOrder   Touch
}

// Session summarises one visit.
type Session struct {
	ID             string    `json:"id"` // derived from its start: it changes if an earlier event joins it
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	Events         int       `json:"events"`
	PageViews      int       `json:"pageViews"`
	EngagedSeconds int       `json:"engagedSeconds"`
	LandingPage    string    `json:"landingPage,omitempty"` // the first page viewed
	Channel        string    `json:"channel,omitempty"`     // the channel of its first event that has one
	Campaign       *Campaign `json:"campaign,omitempty"`
}

// span is a session as a range of the hit list.
type span struct {
	from, to  int
	continues bool // continues the last settled session: not a new visit
	campaign  Campaign
}

// spans splits hits (sorted) into sessions, the last settled hit counting as their predecessor.
func spans(s Settled, hits []Hit) []span {
	var out []span
	prev, current := s.Until, s.Campaign
	for i, h := range hits {
		starts := h.At.Sub(prev) > SessionTimeout || (!h.Campaign.IsZero() && h.Campaign != current) ||
			(i == 0 && s.Until.IsZero())
		switch {
		case starts:
			current = h.Campaign
			out = append(out, span{from: i, campaign: current})
		case i == 0:
			out = append(out, span{from: 0, continues: true, campaign: current})
		}
		out[len(out)-1].to = i + 1
		prev = h.At
	}
	return out
}

func summarise(hits []Hit, c Campaign) Session {
	s := Session{Start: hits[0].At, End: hits[len(hits)-1].At, Events: len(hits)}
	s.ID = "ses_" + strconv.FormatInt(s.Start.UnixMilli(), 36)
	for _, h := range hits {
		if h.PageView {
			s.PageViews++
			if s.LandingPage == "" {
				s.LandingPage = h.Page
			}
		}
		s.EngagedSeconds += h.Engaged
		if s.Channel == "" {
			s.Channel = h.Channel
		}
	}
	if !c.IsZero() {
		s.Campaign = &c
	}
	return s
}

// addHit puts a hit into the window (or, when it is older than the window, into the settled
// totals), settles what no longer fits and derives the sessions again.
func (p *Profile) addHit(h Hit) {
	if !p.Settled.Until.IsZero() && !h.At.After(p.Settled.Until) {
		p.Settled.EngagedSeconds += h.Engaged
		p.deriveSessions()
		return
	}
	i, _ := slices.BinarySearchFunc(p.Hits, h, compareHits)
	p.Hits = slices.Insert(p.Hits, i, h)
	p.settle()
	p.deriveSessions()
}

// foldHits adds another profile's window and settled totals to p's.
func (p *Profile) foldHits(s Settled, hits []Hit) {
	p.Settled.Visits += s.Visits
	p.Settled.EngagedSeconds += s.EngagedSeconds
	if s.Until.After(p.Settled.Until) {
		p.Settled.Until, p.Settled.Campaign = s.Until, s.Campaign
		if s.Channel != "" {
			p.Settled.Channel = s.Channel
		}
	}
	all := slices.SortedFunc(slices.Values(append(slices.Clone(p.Hits), hits...)), compareHits)
	// Hits at or before the settled point can no longer join the window: they count among
	// themselves.
	old := 0
	for old < len(all) && !p.Settled.Until.IsZero() && !all[old].At.After(p.Settled.Until) {
		old++
	}
	for _, sp := range spans(Settled{}, all[:old]) {
		p.Settled.Visits++
		for _, h := range all[sp.from:sp.to] {
			p.Settled.EngagedSeconds += h.Engaged
		}
	}
	p.Hits = all[old:]
	p.settle()
	p.deriveSessions()
}

// settle moves the oldest whole sessions out of the window until it holds at most MaxHits.
func (p *Profile) settle() { p.settleTo(MaxHits) }

// settleTo moves the oldest whole sessions out of the window until it holds at most limit hits
// (at least one): only when the latest session alone holds more is it cut inside.
func (p *Profile) settleTo(limit int) {
	limit = max(limit, 1)
	if len(p.Hits) <= limit {
		return
	}
	sp := spans(p.Settled, p.Hits)
	cut := len(p.Hits) - limit
	for _, s := range sp {
		if s.from >= cut {
			cut = s.from
			break
		}
	}
	for _, s := range sp {
		if s.from >= cut {
			break
		}
		sess := summarise(p.Hits[s.from:min(s.to, cut)], s.campaign)
		if !s.continues {
			p.Settled.Visits++
		}
		p.Settled.EngagedSeconds += sess.EngagedSeconds
		if sess.Channel != "" {
			p.Settled.Channel = sess.Channel
		}
		p.Settled.Campaign = s.campaign
	}
	p.Settled.Until = p.Hits[cut-1].At
	p.Hits = slices.Clone(p.Hits[cut:])
}

// deriveSessions computes visits, engaged time, the last session and the last channel.
func (p *Profile) deriveSessions() {
	p.Visits, p.EngagedSeconds, p.LastChannel = p.Settled.Visits, p.Settled.EngagedSeconds, p.Settled.Channel
	p.Session = nil
	for _, s := range spans(p.Settled, p.Hits) {
		sess := summarise(p.Hits[s.from:s.to], s.campaign)
		if !s.continues {
			p.Visits++
		}
		p.EngagedSeconds += sess.EngagedSeconds
		if sess.Channel != "" {
			p.LastChannel = sess.Channel
		}
		p.Session = &sess
	}
}

// Sessions returns the sessions of the window, oldest first (see Sessions).
func (p Profile) Sessions() []Session {
	var out []Session
	for _, s := range spans(p.Settled, p.Hits) {
		out = append(out, summarise(p.Hits[s.from:s.to], s.campaign))
	}
	return out
}
