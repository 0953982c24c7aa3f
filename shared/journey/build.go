package journey

import (
	"cmp"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// KindSession is the kind of a touch made by a session; an impression's touch has the
// impression's kind (profile.ImpressionOpen, ImpressionClick, ImpressionAd, ImpressionTalk,
// ImpressionSent, ImpressionDelivery).
const KindSession = "session"

// DefaultImpressionChannel is the channel of an ad impression that names none (the pixel's URL
// without campaign tags): display, as GA4 calls ads shown.
const DefaultImpressionChannel = beacon.ChannelDisplay

// Touch is one touch of a path: a session's channel and campaign, or an impression.
type Touch struct {
	At       time.Time
	Channel  string
	Campaign string // the campaign's name (else its id); "" when there is none
	Kind     string // KindSession or the impression's kind
}

// Journey is the path of touches that led to one conversion, or (Converted false) the touches
// after a person's last conversion of the goal, in the lookback before the window's end.
type Journey struct {
	Person    string
	Goal      string
	Converted bool
	// At is when the conversion happened; for a journey that did not convert, the window's end.
	At        time.Time
	Value     float64 // the conversion's value (0 for a journey that did not convert)
	MessageID string  // the conversion event's messageId
	Touches   []Touch // in time order; none when the conversion had no touch in its lookback
}

// Person is what Build makes of one person's events.
type Person struct {
	ID string // the live profile id (merged-away ids resolved), or "anonymousId:…" for events on no profile
	// Device is the device class (desktop, mobile, tablet …) of the person's first activity that
	// names one.
	Device string
	// Journeys are the person's journeys, goal by goal in the configuration's order, each goal's in
	// time order (its journey that did not convert, if any, last).
	Journeys []Journey
	// FunnelSteps is how many of the funnel's steps the person went through in order within the
	// funnel's window (0 without a funnel).
	FunnelSteps int
}

// Options tune a Builder. The zero value reads everything with the documented defaults.
type Options struct {
	// Since and Until bound the conversions that count (both included). Events after Until are
	// ignored; events before Since still make touches of the paths of conversions after it. Until
	// zero: the time of the latest event added; Since zero: no bound.
	Since, Until time.Time
	// SessionTimeout is the inactivity that ends a session (profile.SessionTimeout when 0).
	SessionTimeout time.Duration
	// MemoryHits is how many events the builder keeps in memory before it moves them to temporary
	// files (DefaultMemoryHits when 0); Build then reads back one part of the people at a time.
	MemoryHits int
	// TempDir is where those files go (os.TempDir() when "").
	TempDir string
}

// DefaultMemoryHits bounds the events kept in memory at about 200 MB (some 200 bytes each).
const DefaultMemoryHits = 1 << 20

// parts is how many parts people are split into by a hash of their id; Build handles one at a
// time, so at most about 1/parts of the spilled events is in memory at once.
const parts = 64

// Stats count what Add did with the rows it was given.
type Stats struct {
	Rows        int // rows given to Add
	Bots        int // left out: flagged as automated (isBot)
	Late        int // left out: after Until
	NoPerson    int // left out: on no profile and with no anonymousId or userId
	NotActivity int // left out: identify, group, alias calls, impressions that are not touches
	Resolved    int // rows whose profile was merged into another, counted on the live one
	Kept        int
	Duplicates  int // rows of a messageId already kept for the person (counted by Build)
}

// Builder collects archive rows and builds every person's journeys. Not safe for concurrent use.
type Builder struct {
	cfg     Config
	opts    Options
	match   *matcher
	merged  map[string]string
	mem     [parts][]hit
	inMem   int
	spill   [parts]*spillFile
	latest  time.Time
	stats   Stats
	strings map[string]string // interned low-cardinality strings (channels, campaigns, devices)
}

// hit is what a row becomes: an activity (a page, screen or track event) or an impression that
// is a touch. Fields are exported for encoding/gob (spilled parts).
type hit struct {
	Person, ID string
	At         int64 // Unix nanoseconds
	Impression string
	Channel    string
	Campaign   string
	Tags       string // the campaign tags that decide sessions (source, medium, name, click id)
	Device     string
	Convs      []conversion
	Steps      uint32
}

type spillFile struct {
	f   *os.File
	enc *gob.Encoder
}

// NewBuilder returns a builder for the goals of cfg (validated), resolving profile ids through
// merges (a merges table's rows: a merged-away id to the live profile holding it).
func NewBuilder(cfg Config, merges []archive.Merge, opts Options) (*Builder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = profile.SessionTimeout
	}
	if opts.MemoryHits <= 0 {
		opts.MemoryHits = DefaultMemoryHits
	}
	b := &Builder{cfg: cfg, opts: opts, match: newMatcher(cfg), merged: map[string]string{}, strings: map[string]string{}}
	for _, m := range merges {
		if m.MergedID != "" && m.ProfileID != "" && m.MergedID != m.ProfileID {
			b.merged[m.MergedID] = m.ProfileID
		}
	}
	return b, nil
}

// Stats says what happened to the rows so far.
func (b *Builder) Stats() Stats { return b.stats }

// person resolves a row's profile to the live one (following chains, safe against loops).
func (b *Builder) person(e *archive.Event) string {
	id := e.ProfileID
	if id == "" {
		switch {
		case e.UserID != "":
			return "userId:" + e.UserID
		case e.AnonymousID != "":
			return "anonymousId:" + e.AnonymousID
		}
		return ""
	}
	for range len(b.merged) + 1 {
		next, ok := b.merged[id]
		if !ok {
			break
		}
		id = next
	}
	if id != e.ProfileID {
		b.stats.Resolved++
	}
	return id
}

func (b *Builder) intern(s string) string {
	if s == "" || len(s) > 256 {
		return s
	}
	if v, ok := b.strings[s]; ok {
		return v
	}
	if len(b.strings) < 1<<16 {
		b.strings[s] = s
	}
	return s
}

// touchImpression tells whether an impression of that kind and channel is a touch: an open, a
// click, an ad shown, a conversation; a message sent or delivered only on a channel that reports
// no opens (a letter, a text message).
func touchImpression(kind, channel string) bool {
	switch kind {
	case profile.ImpressionOpen, profile.ImpressionClick, profile.ImpressionAd, profile.ImpressionTalk:
		return true
	case profile.ImpressionSent, profile.ImpressionDelivery:
		return channel == beacon.ChannelMail || channel == beacon.ChannelSMS
	}
	return false
}

// Add takes one archive row.
func (b *Builder) Add(e archive.Event) error {
	b.stats.Rows++
	switch {
	case e.IsBot:
		b.stats.Bots++
		return nil
	case !b.opts.Until.IsZero() && e.Timestamp.After(b.opts.Until):
		b.stats.Late++
		return nil
	}
	person := b.person(&e)
	if person == "" {
		b.stats.NoPerson++
		return nil
	}
	if e.Type != beacon.Track && e.Type != beacon.Page && e.Type != beacon.Screen {
		b.stats.NotActivity++
		return nil
	}
	h := hit{Person: person, ID: e.MessageID, At: e.Timestamp.UnixNano(), Device: b.intern(e.DeviceClass)}
	if kind, implied := profile.ImpressionOf(e.Type, e.Event, e.Pixel); kind != "" {
		channel := cmp.Or(e.Channel, implied)
		if kind == profile.ImpressionAd {
			channel = cmp.Or(channel, DefaultImpressionChannel)
		}
		if !touchImpression(kind, channel) || channel == "" {
			b.stats.NotActivity++
			return nil
		}
		h.Impression, h.Channel = kind, b.intern(channel)
		h.Campaign = b.intern(cmp.Or(e.CampaignName, e.CampaignID, impressionCampaign(e.Properties)))
	} else {
		h.Channel, h.Campaign = b.intern(e.Channel), b.intern(cmp.Or(e.CampaignName, e.CampaignID))
		if e.CampaignSource != "" || e.CampaignMedium != "" || e.CampaignName != "" || e.ClickID != "" {
			h.Tags = b.intern(strings.Join([]string{e.CampaignSource, e.CampaignMedium, e.CampaignName, e.ClickID}, "\x00"))
		}
		h.Convs, h.Steps = b.match.match(&e)
	}
	if e.Timestamp.After(b.latest) {
		b.latest = e.Timestamp
	}
	b.stats.Kept++
	p := partOf(person)
	b.mem[p] = append(b.mem[p], h)
	b.inMem++
	if b.inMem >= b.opts.MemoryHits {
		return b.spillAll()
	}
	return nil
}

// impressionCampaign is the campaign an email tool or an import names in the properties.
func impressionCampaign(props string) string {
	if props == "" || !strings.Contains(props, "ampaign") {
		return ""
	}
	var p struct {
		Name  any `json:"campaign_name"`
		Name2 any `json:"campaignName"`
		ID    any `json:"campaign_id"`
		ID2   any `json:"campaignId"`
	}
	if err := jsonUnmarshal(props, &p); err != nil {
		return ""
	}
	for _, v := range []any{p.Name, p.Name2, p.ID, p.ID2} {
		if s, ok := v.(string); ok && s != "" {
			return s
		}
	}
	return ""
}

func partOf(person string) int {
	h := fnv.New32a()
	h.Write([]byte(person))
	return int(h.Sum32() % parts)
}

func (b *Builder) spillAll() error {
	for p := range b.mem {
		if len(b.mem[p]) == 0 {
			continue
		}
		s := b.spill[p]
		if s == nil {
			f, err := os.CreateTemp(b.opts.TempDir, "journey-*.gob")
			if err != nil {
				return fmt.Errorf("spill events: %w", err)
			}
			s = &spillFile{f: f, enc: gob.NewEncoder(f)}
			b.spill[p] = s
		}
		if err := s.enc.Encode(b.mem[p]); err != nil {
			return fmt.Errorf("spill events: %w", err)
		}
		b.mem[p] = nil
	}
	b.inMem = 0
	return nil
}

// Close removes the builder's temporary files. Build closes it too.
func (b *Builder) Close() error {
	var errs []error
	for i, s := range b.spill {
		if s != nil {
			errs = append(errs, s.f.Close(), os.Remove(s.f.Name()))
			b.spill[i] = nil
		}
	}
	return errors.Join(errs...)
}

func (b *Builder) load(p int) ([]hit, error) {
	hits := b.mem[p]
	b.mem[p] = nil
	s := b.spill[p]
	if s == nil {
		return hits, nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read spilled events: %w", err)
	}
	dec := gob.NewDecoder(s.f)
	var all []hit
	for {
		var chunk []hit
		err := dec.Decode(&chunk)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read spilled events: %w", err)
		}
		all = append(all, chunk...)
	}
	return append(all, hits...), nil
}

// Build makes every person's journeys and hands each person to fn, people in a fixed order (by a
// hash of their id, then by id), each once. It can be called once; it removes the temporary files.
func (b *Builder) Build(fn func(*Person) error) error {
	defer b.Close()
	until := b.opts.Until
	if until.IsZero() {
		until = b.latest
	}
	w := window{since: b.opts.Since, until: until, lookback: b.cfg.LookbackOrDefault(), timeout: b.opts.SessionTimeout, cfg: b.cfg}
	for p := range parts {
		hits, err := b.load(p)
		if err != nil {
			return err
		}
		slices.SortFunc(hits, compareHits)
		for i := 0; i < len(hits); {
			j := i + 1
			for j < len(hits) && hits[j].Person == hits[i].Person {
				j++
			}
			own := dedupe(hits[i:j])
			b.stats.Duplicates += j - i - len(own)
			person := w.person(own)
			if err := fn(&person); err != nil {
				return err
			}
			i = j
		}
	}
	return nil
}

// Collect builds everything and returns the people, sorted by id.
func (b *Builder) Collect() ([]Person, error) {
	var out []Person
	err := b.Build(func(p *Person) error {
		out = append(out, *p)
		return nil
	})
	slices.SortFunc(out, func(a, b Person) int { return strings.Compare(a.ID, b.ID) })
	return out, err
}

func compareHits(a, b hit) int {
	return cmp.Or(strings.Compare(a.Person, b.Person), cmp.Compare(a.At, b.At), strings.Compare(a.ID, b.ID),
		strings.Compare(a.Impression, b.Impression), strings.Compare(a.Channel, b.Channel))
}

// dedupe drops the rows of a messageId already seen (an event archived by two flushes is two
// rows). Rows of one message have one time, so they are next to each other once sorted.
func dedupe(hits []hit) []hit {
	out := hits[:0:0]
	for i, h := range hits {
		if i > 0 && h.ID != "" && h.ID == hits[i-1].ID && h.At == hits[i-1].At {
			continue
		}
		out = append(out, h)
	}
	return out
}

// window holds what turns one person's hits into journeys.
type window struct {
	since, until time.Time
	lookback     time.Duration
	timeout      time.Duration
	cfg          Config
}

func (w window) person(hits []hit) Person {
	p := Person{ID: hits[0].Person}
	touches := w.touches(hits)
	for _, h := range hits {
		if h.Impression == "" && h.Device != "" {
			p.Device = h.Device
			break
		}
	}
	for g, goal := range w.cfg.Goals {
		var prev time.Time // the previous conversion of the goal
		for _, h := range hits {
			for _, c := range h.Convs {
				if c.Goal != g {
					continue
				}
				at := time.Unix(0, h.At).UTC()
				if !at.Before(w.since) {
					p.Journeys = append(p.Journeys, Journey{Person: p.ID, Goal: goal.Name, Converted: true, At: at,
						Value: c.Value, MessageID: h.ID, Touches: within(touches, prev, at, w.lookback)})
				}
				prev = at
			}
		}
		if ts := within(touches, prev, w.until, w.lookback); len(ts) > 0 {
			p.Journeys = append(p.Journeys, Journey{Person: p.ID, Goal: goal.Name, At: w.until, Touches: ts})
		}
	}
	if f := w.cfg.Funnel; f != nil {
		p.FunnelSteps = w.funnel(hits, len(f.Steps), cmp.Or(time.Duration(f.Within), DefaultFunnelWindow))
	}
	return p
}

// within returns the touches after prev (all when prev is zero), at or before at, and no more
// than lookback before at.
func within(touches []Touch, prev, at time.Time, lookback time.Duration) []Touch {
	from := at.Add(-lookback)
	i, _ := slices.BinarySearchFunc(touches, from, func(t Touch, x time.Time) int { return t.At.Compare(x) })
	var out []Touch
	for _, t := range touches[i:] {
		if t.At.After(at) {
			break
		}
		if prev.IsZero() || t.At.After(prev) {
			out = append(out, t)
		}
	}
	return out
}

// touches are a person's touches in time order: one per session that has a channel (at its first
// event with one, with that event's campaign), and one per impression that is a touch.
//
// A session is a run of activity (page, screen and track events; impressions are not activity)
// in which no two consecutive events are more than the session timeout apart and no event brings
// campaign tags other than the session's own, as profile sessions are cut.
func (w window) touches(hits []hit) []Touch {
	var out []Touch
	var last int64
	var tags string
	touched, started := false, false
	for _, h := range hits {
		at := time.Unix(0, h.At).UTC()
		if h.Impression != "" {
			out = append(out, Touch{At: at, Channel: h.Channel, Campaign: h.Campaign, Kind: h.Impression})
			continue
		}
		if !started || h.At-last > int64(w.timeout) || (h.Tags != "" && h.Tags != tags) {
			started, touched, tags = true, false, h.Tags
		}
		last = h.At
		if !touched && h.Channel != "" {
			touched = true
			out = append(out, Touch{At: at, Channel: h.Channel, Campaign: h.Campaign, Kind: KindSession})
		}
	}
	slices.SortStableFunc(out, func(a, b Touch) int { return a.At.Compare(b.At) })
	return out
}

// funnel returns how many steps (in order, each at or after the one before, all within window of
// the first) the person went through, starting at or after since. For each step it keeps the
// latest start of a run that has reached it: a later start leaves more of the window for the
// steps after.
func (w window) funnel(hits []hit, steps int, within time.Duration) int {
	start := make([]int64, steps)
	reached := make([]bool, steps)
	best := 0
	for _, h := range hits {
		if h.Steps == 0 || h.Impression != "" {
			continue
		}
		for s := steps - 1; s >= 0; s-- { // downwards: one event is not two consecutive steps
			if h.Steps&(1<<s) == 0 {
				continue
			}
			switch {
			case s == 0:
				if !time.Unix(0, h.At).Before(w.since) {
					start[0], reached[0] = h.At, true
				}
			case reached[s-1] && h.At-start[s-1] <= int64(within):
				if !reached[s] || start[s-1] > start[s] {
					start[s], reached[s] = start[s-1], true
				}
			default:
				continue
			}
			best = max(best, s+1)
		}
	}
	return best
}
