// Package report makes the attribution and journey reports of a period from the people
// shared/journey builds: every goal's conversions attributed to channels and to campaigns by every
// model of shared/attribution, spend and return, the same by channel among the people of each
// segment (RFM segment, acquisition channel, device; in attribution.json only, without spend),
// the base each channel acquired, the journeys
// by segment (RFM segment, acquisition channel, device) and the funnel. Pure Go: the reports
// function reads the archive and writes what this package makes (documents, CSV, the picture).
//
//	r := report.New(cfg, report.Options{From: "2026-11-01", To: "2026-11-30"}, profiles)
//	err := builder.Build(func(p *journey.Person) error { r.Add(p); return nil })
//	rep, err := r.Finish(spend, time.Now())
//	rep.WriteAttributionCSV(w); rep.WritePicture(w) …
package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/attribution"
	"github.com/dcrm-project/dcrm/shared/journey"
)

// Levels: what the touches of a path are named by.
const (
	ByChannel  = "channel"
	ByCampaign = "campaign"
)

// Segment dimensions of the journeys report.
const (
	SegmentRFM         = "rfm"
	SegmentAcquisition = "acquisition"
	SegmentDevice      = "device"
)

// Bounds that keep a report's size, and the exact Markov model's cost, bounded whatever the data.
const (
	// MaxCampaigns is how many campaign labels (channel / campaign) a goal's campaign level keeps,
	// those with the most touches; the others of a channel are counted as "channel / (other)".
	MaxCampaigns = 40
	// MaxSegments is how many segments of each segmentation (RFM segment, acquisition channel,
	// device) a goal's attribution by segment keeps: those with the most conversions (ties by name).
	// An RFM segment or a device class is one of a short list anyway; acquisition channels are the
	// channel groups' (some 20). The bound keeps the document's size and the models' runs (every
	// model on each segment's channel-level paths) at most 3 × 12 per goal whatever the data.
	MaxSegments = 12
	// MaxSegmentCredits bounds the credits of every goal's segment levels together (a credit is
	// one model's figures for one channel: ~200 bytes of indented JSON at that depth), so that
	// attribution.json stays well under the profile API's 4 MiB bound on a served report object:
	// 10,000 credits are ~2 MB. A shop of 10 channels, 4 goals and 11 RFM segments, 10 acquisition
	// channels and 3 devices makes ~8,600 (measured: 2.3 MB with the rest of the document); with 19
	// channels in every segment the budget leaves out the last goals' last segments (2.6 MB in all).
	// Goals are served in the configuration's order (the first is the one the console and the
	// picture show first); a segment level past the budget is left out.
	MaxSegmentCredits = 10000
	// timeDecayBatch is how many paths the time-decay model is run on at a time: its credits add
	// up path by path, so the paths with their times need not all be kept.
	timeDecayBatch = 4096
)

// OtherCampaigns names the campaigns of a channel past MaxCampaigns.
const OtherCampaigns = "(other)"

// Options are a report's period and model settings.
type Options struct {
	From, To    string // the days of the conversions counted, YYYY-MM-DD, both included
	Lookback    time.Duration
	Attribution attribution.Options
	TopPaths    int // journey.DefaultTopPaths when 0
}

// Builder takes the people of a period one at a time and makes the report.
type Builder struct {
	cfg      journey.Config
	opts     Options
	profiles map[string]archive.Profile
	goals    []*goalPaths
	byGoal   map[string]*goalPaths
	segments []segmentReport
	people   int
	// acquired are the customers who first ordered in the period, by profile id; the acquisition
	// channel is the snapshot's, else the earliest touch read of the person.
	acquired []attribution.Customer
}

type segmentReport struct {
	by     string
	seg    journey.Segmenter
	report *journey.Report
}

// goalPaths accumulates one goal's paths at both levels.
type goalPaths struct {
	name                string
	conversions, value  float64
	journeys, untouched int
	levels              [2]*levelPaths // ByChannel, ByCampaign (every campaign label until Finish bounds them)
	decayed             [2]*decay      // the time-decay model at each level
	campaignTouches     map[string]int // for the campaign level's bound
	// segments are the goal's channel-level paths of each (segmentation, segment): the people a
	// segmenter puts in no segment ("") are in none, as in the journeys by segment.
	segments map[segmentKey]*segmentPaths
}

type segmentKey struct{ by, segment string }

// segmentPaths accumulate one goal's channel-level paths among the people of one segment.
type segmentPaths struct {
	conversions, value  float64
	journeys, untouched int
	paths               *levelPaths
	decayed             *decay
}

type levelPaths struct {
	rows map[string]*attribution.Path // aggregated by channels
}

// decay sums the time-decay model's credits over batches of paths.
type decay struct {
	halfLife time.Duration
	batch    []attribution.Path
	credits  map[string]*attribution.Credit
	err      error
}

// New starts the report of the people of a period; profiles are the latest snapshot's (for the
// RFM segment, the acquisition channel and the customers' worth).
func New(cfg journey.Config, opts Options, profiles []archive.Profile) *Builder {
	b := &Builder{cfg: cfg, opts: opts, profiles: make(map[string]archive.Profile, len(profiles)), byGoal: map[string]*goalPaths{}}
	for _, p := range profiles {
		b.profiles[p.ProfileID] = p
	}
	for _, g := range cfg.Goals {
		gp := &goalPaths{
			name:            g.Name,
			levels:          [2]*levelPaths{{rows: map[string]*attribution.Path{}}, {rows: map[string]*attribution.Path{}}},
			decayed:         [2]*decay{newDecay(opts.Attribution.HalfLife), newDecay(opts.Attribution.HalfLife)},
			campaignTouches: map[string]int{},
			segments:        map[segmentKey]*segmentPaths{},
		}
		b.goals = append(b.goals, gp)
		b.byGoal[g.Name] = gp
	}
	rfm := func(p *journey.Person) string { return b.profiles[p.ID].RFMSegment }
	acq := func(p *journey.Person) string { return b.acquisitionChannel(p) }
	for _, s := range []struct {
		by  string
		seg journey.Segmenter
	}{{SegmentRFM, rfm}, {SegmentAcquisition, acq}, {SegmentDevice, journey.SegmentByDevice}} {
		b.segments = append(b.segments, segmentReport{s.by, s.seg, journey.NewReport(cfg, journey.ReportOptions{Segment: s.seg, TopPaths: opts.TopPaths})})
	}
	return b
}

func newDecay(halfLife time.Duration) *decay {
	return &decay{halfLife: halfLife, credits: map[string]*attribution.Credit{}}
}

// acquisitionChannel is the snapshot's acquisition channel of the person, else the channel of the
// earliest touch of theirs read ("" when none).
func (b *Builder) acquisitionChannel(p *journey.Person) string {
	if c := b.profiles[p.ID].AcquisitionChannel; c != "" {
		return c
	}
	var first journey.Touch
	for _, j := range p.Journeys {
		if len(j.Touches) > 0 && (first.At.IsZero() || j.Touches[0].At.Before(first.At)) {
			first = j.Touches[0]
		}
	}
	return first.Channel
}

// Add counts one person's journeys (journey.Builder.Build hands them over).
func (b *Builder) Add(p *journey.Person) {
	b.people++
	var segments []segmentKey // the person's segment in each segmentation that puts them in one
	for _, s := range b.segments {
		s.report.Add(p)
		if name := s.seg(p); name != "" {
			segments = append(segments, segmentKey{s.by, name})
		}
	}
	for _, j := range p.Journeys {
		g := b.byGoal[j.Goal]
		g.journeys++
		if j.Converted {
			g.conversions++
			g.value += j.Value
		}
		path, ok := j.Path(journey.ByChannel)
		for _, k := range segments {
			g.segment(k, b.opts.Attribution.HalfLife).add(&j, path, ok)
		}
		if !ok {
			if j.Converted {
				g.untouched++
			}
			continue
		}
		campaign, _ := j.Path(journey.ByCampaign)
		for _, c := range campaign.Channels {
			g.campaignTouches[c]++
		}
		for i, p := range []attribution.Path{path, campaign} {
			g.levels[i].add(p)
			g.decayed[i].add(p)
		}
	}
	if prof := b.profiles[p.ID]; prof.FirstOrderAt != nil {
		if d := prof.FirstOrderAt.UTC().Format(time.DateOnly); d >= b.opts.From && d <= b.opts.To {
			c := attribution.Customer{AcquisitionChannel: b.acquisitionChannel(p), Revenue: prof.Revenue}
			if prof.CLV != nil {
				c.CLV = *prof.CLV
			}
			b.acquired = append(b.acquired, c)
		}
	}
}

func (g *goalPaths) segment(k segmentKey, halfLife time.Duration) *segmentPaths {
	s := g.segments[k]
	if s == nil {
		s = &segmentPaths{paths: &levelPaths{rows: map[string]*attribution.Path{}}, decayed: newDecay(halfLife)}
		g.segments[k] = s
	}
	return s
}

// add counts one journey of the segment's people; touched says whether it has a channel-level path.
func (s *segmentPaths) add(j *journey.Journey, path attribution.Path, touched bool) {
	s.journeys++
	if j.Converted {
		s.conversions++
		s.value += j.Value
	}
	if !touched {
		if j.Converted {
			s.untouched++
		}
		return
	}
	s.paths.add(path)
	s.decayed.add(path)
}

func (l *levelPaths) add(p attribution.Path) {
	key := strings.Join(p.Channels, "\x00")
	r := l.rows[key]
	if r == nil {
		r = &attribution.Path{Channels: slices.Clone(p.Channels)}
		l.rows[key] = r
	}
	r.Conversions += p.Conversions
	r.Value += p.Value
	r.Nulls += p.Nulls
}

// paths are the aggregated rows in the order of their channels (deterministic whatever the
// order people came in).
func (l *levelPaths) paths() []attribution.Path {
	keys := slices.Sorted(maps.Keys(l.rows))
	out := make([]attribution.Path, len(keys))
	for i, k := range keys {
		out[i] = *l.rows[k]
	}
	return out
}

func (d *decay) add(p attribution.Path) {
	if p.Conversions == 0 || d.err != nil {
		return
	}
	d.batch = append(d.batch, p)
	if len(d.batch) == timeDecayBatch {
		d.flush()
	}
}

func (d *decay) flush() {
	if len(d.batch) == 0 || d.err != nil {
		return
	}
	r, err := attribution.TimeDecay(d.batch, d.halfLife)
	d.batch = d.batch[:0]
	if err != nil {
		d.err = err
		return
	}
	for _, c := range r.Credits {
		acc := d.credits[c.Channel]
		if acc == nil {
			acc = &attribution.Credit{Channel: c.Channel}
			d.credits[c.Channel] = acc
		}
		acc.Conversions += c.Conversions
		acc.Value += c.Value
	}
}

// result is the summed time-decay result over channels (every channel of the level, credited 0
// when no conversion's path held it, as the other models list them).
func (d *decay) result(channels []string) (attribution.Result, error) {
	d.flush()
	if d.err != nil {
		return attribution.Result{}, d.err
	}
	r := attribution.Result{Model: "time-decay"}
	for _, ch := range channels {
		c := attribution.Credit{Channel: ch}
		if acc := d.credits[ch]; acc != nil {
			c = *acc
		}
		r.Credits = append(r.Credits, c)
	}
	return r, nil
}

// rename merges the rows whose labels become the same (rename is applied to every touch).
func (l *levelPaths) rename(rename func(string) string) {
	rows := l.rows
	l.rows = make(map[string]*attribution.Path, len(rows))
	for _, k := range slices.Sorted(maps.Keys(rows)) { // sums in a fixed order: the same digits every run
		p := *rows[k]
		for i, c := range p.Channels {
			p.Channels[i] = rename(c)
		}
		l.add(p)
	}
}

// rename merges the credits of labels that become the same: time decay's credits are a sum over
// touches, so crediting the new label is exactly what running the model on renamed paths gives.
func (d *decay) rename(rename func(string) string) {
	d.flush()
	credits := d.credits
	d.credits = make(map[string]*attribution.Credit, len(credits))
	for _, k := range slices.Sorted(maps.Keys(credits)) {
		name := rename(k)
		acc := d.credits[name]
		if acc == nil {
			acc = &attribution.Credit{Channel: name}
			d.credits[name] = acc
		}
		acc.Conversions += credits[k].Conversions
		acc.Value += credits[k].Value
	}
}

// boundCampaigns keeps the MaxCampaigns campaign labels with the most touches (ties by name) and
// names the others of their channel "channel / (other)"; a label without a campaign is its channel
// and always kept.
func boundCampaigns(touches map[string]int) func(string) string {
	labels := slices.Collect(maps.Keys(touches))
	slices.SortFunc(labels, func(a, b string) int { return cmp.Or(cmp.Compare(touches[b], touches[a]), strings.Compare(a, b)) })
	keep := map[string]bool{}
	for i, l := range labels {
		if i < MaxCampaigns || !strings.Contains(l, " / ") {
			keep[l] = true
		}
	}
	return func(l string) string {
		if keep[l] {
			return l
		}
		channel, _, _ := strings.Cut(l, " / ")
		return channel + " / " + OtherCampaigns
	}
}

// Finish runs the models and makes the report; spend is the imported spend (any days: the
// period's are counted), createdAt when the report was made.
func (b *Builder) Finish(spend []attribution.Spend, createdAt time.Time) (Report, error) {
	period := Period(b.opts.From, b.opts.To)
	rep := Report{
		Manifest: Manifest{Period: period, From: b.opts.From, To: b.opts.To, CreatedAt: createdAt.UTC(),
			Lookback: journey.Duration(b.opts.Lookback), People: b.people, Parts: Parts},
		Attribution: Attribution{Period: period, From: b.opts.From, To: b.opts.To},
		Journeys:    Journeys{Period: period, From: b.opts.From, To: b.opts.To},
	}
	spentByChannel, currency, err := attribution.Spent(spend, b.opts.From, b.opts.To, attribution.ByChannel)
	if err != nil {
		return Report{}, fmt.Errorf("spend: %w", err)
	}
	spentByCampaign, _, err := attribution.Spent(spend, b.opts.From, b.opts.To, campaignSpendKey)
	if err != nil {
		return Report{}, fmt.Errorf("spend: %w", err)
	}
	delete(spentByCampaign, "") // channel-wide spend has no campaign
	rep.Attribution.Currency = currency
	budget := MaxSegmentCredits
	for _, g := range b.goals {
		rep.Manifest.Goals = append(rep.Manifest.Goals, g.name)
		rep.Manifest.Conversions += int(g.conversions)
		bound := boundCampaigns(g.campaignTouches)
		g.levels[1].rename(bound)
		g.decayed[1].rename(bound)
		ga := GoalAttribution{Goal: g.name, Journeys: g.journeys, Conversions: g.conversions, Value: g.value, Untouched: g.untouched}
		for i, level := range []struct {
			by    string
			spent map[string]float64
		}{{ByChannel, spentByChannel}, {ByCampaign, spentByCampaign}} {
			l, err := b.level(level.by, g.levels[i].paths(), g.decayed[i], level.spent)
			if err != nil {
				return Report{}, fmt.Errorf("goal %s by %s: %w", g.name, level.by, err)
			}
			ga.Levels = append(ga.Levels, l)
		}
		if ga.Segments, err = b.segmentLevels(g, &budget); err != nil {
			return Report{}, fmt.Errorf("goal %s by segment: %w", g.name, err)
		}
		rep.Attribution.Goals = append(rep.Attribution.Goals, ga)
	}
	for _, base := range attribution.Acquired(b.acquired, spentByChannel) {
		rep.Attribution.Base = append(rep.Attribution.Base, Base{Channel: base.Channel, Customers: base.Customers, Revenue: base.Revenue,
			CLV: base.CLV, AverageCLV: base.AverageCLV, Spend: base.Spend, CAC: base.CAC, CLVToCAC: base.CLVToCAC})
	}
	// Every dimension's "(all)" segment is everyone: kept once, from the first, with no dimension.
	for i, s := range b.segments {
		for _, gj := range s.report.Journeys() {
			if gj.Segment == journey.AllSegments {
				if i == 0 {
					rep.Journeys.Goals = append(rep.Journeys.Goals, goalJourneys("", gj))
				}
				continue
			}
			rep.Journeys.Goals = append(rep.Journeys.Goals, goalJourneys(s.by, gj))
		}
		for _, f := range s.report.Funnel() {
			if f.Segment == journey.AllSegments {
				if i == 0 {
					rep.Journeys.Funnel = append(rep.Journeys.Funnel, funnelSegment("", f))
				}
				continue
			}
			rep.Journeys.Funnel = append(rep.Journeys.Funnel, funnelSegment(s.by, f))
		}
	}
	return rep, nil
}

// segmentLevels run every model on the channel-level paths of each segment of a goal with a
// conversion, the MaxSegments with the most conversions of each segmentation, in the segmentations'
// order (rfm, acquisition, device) and then by segment name, as the journeys by segment; those whose
// credits would pass what is left of the budget (MaxSegmentCredits) are left out. No spend: spend
// is per channel and campaign, not per segment, so neither CPA nor ROAS here.
func (b *Builder) segmentLevels(g *goalPaths, budget *int) ([]SegmentLevel, error) {
	var out []SegmentLevel
	for _, s := range b.segments {
		var keys []segmentKey
		for k, sp := range g.segments {
			if k.by == s.by && sp.conversions > 0 {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(x, y segmentKey) int {
			return cmp.Or(cmp.Compare(g.segments[y].conversions, g.segments[x].conversions), strings.Compare(x.segment, y.segment))
		})
		keys = keys[:min(len(keys), MaxSegments)]
		slices.SortFunc(keys, func(x, y segmentKey) int { return strings.Compare(x.segment, y.segment) })
		for _, k := range keys {
			sp := g.segments[k]
			l, err := b.level(ByChannel, sp.paths.paths(), sp.decayed, nil)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", k.by, k.segment, err)
			}
			credits := 0
			for _, m := range l.Models {
				credits += len(m.Credits)
			}
			if credits > *budget {
				continue
			}
			*budget -= credits
			out = append(out, SegmentLevel{SegmentBy: k.by, Segment: k.segment, Journeys: sp.journeys, Conversions: sp.conversions,
				Value: sp.value, Untouched: sp.untouched, Level: l})
		}
	}
	return out, nil
}

// campaignSpendKey keys spend as the campaign level names touches: "channel / campaign"; spend on a
// channel as a whole has no campaign key.
func campaignSpendKey(s attribution.Spend) string {
	if s.Campaign == "" {
		return ""
	}
	return attribution.ChannelKey(s.Channel + " / " + s.Campaign)
}

// level runs every model on one level's paths.
func (b *Builder) level(by string, paths []attribution.Path, d *decay, spent map[string]float64) (Level, error) {
	l := Level{By: by}
	if len(paths) == 0 {
		return l, nil
	}
	var channels []string
	for _, m := range attribution.Models() {
		var r attribution.Result
		var err error
		if m.Name == "time-decay" {
			r, err = d.result(channels)
		} else {
			r, err = m.Run(paths, b.opts.Attribution)
		}
		if err != nil {
			return Level{}, fmt.Errorf("%s: %w", m.Name, err)
		}
		if channels == nil {
			for _, c := range r.Credits {
				channels = append(channels, c.Channel)
			}
		}
		l.Models = append(l.Models, modelOf(r, spent))
	}
	return l, nil
}

func modelOf(r attribution.Result, spent map[string]float64) ModelCredits {
	m := ModelCredits{Model: r.Model, Method: r.Method}
	if r.HasRemovalEffects() {
		p, v := r.ConversionProbability, r.ValuePerJourney
		m.ConversionProbability, m.ValuePerJourney = &p, &v
	}
	removal := map[string]attribution.Credit{}
	for _, c := range r.Credits {
		removal[c.Channel] = c
	}
	for _, ret := range attribution.Returns(r, spent) {
		row := Credit{Name: ret.Channel, Conversions: ret.Conversions, Value: ret.Value, CPA: ret.CPA, ROAS: ret.ROAS}
		if _, ok := spent[attribution.ChannelKey(ret.Channel)]; ok {
			s := ret.Spend
			row.Spend = &s
		}
		if c, ok := removal[ret.Channel]; ok && r.HasRemovalEffects() {
			e := c.RemovalEffect
			row.RemovalEffect = &e
		}
		m.Credits = append(m.Credits, row)
	}
	return m
}

// Period names the period from..to (its folder under the reports prefix).
func Period(from, to string) string { return from + "_" + to }

// ParsePeriod reads a period's name: two real dates YYYY-MM-DD joined by "_" (ASCII digits, two
// for the month and the day, nothing around), the first not after the second.
func ParsePeriod(s string) (from, to string, err error) {
	from, to, ok := strings.Cut(s, "_")
	f, ferr := time.Parse(time.DateOnly, from)
	t, terr := time.Parse(time.DateOnly, to)
	if !ok || ferr != nil || terr != nil || t.Before(f) {
		return "", "", fmt.Errorf("period %q: want YYYY-MM-DD_YYYY-MM-DD, the first day not after the last", s)
	}
	return from, to, nil
}

// Window is the period a scheduled run reports on: the days days up to the one before the run's.
func Window(run time.Time, days int) (from, to string) {
	last := run.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	return last.AddDate(0, 0, 1-days).Format(time.DateOnly), last.Format(time.DateOnly)
}
