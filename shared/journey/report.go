package journey

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// AllSegments is the segment of every person together.
const AllSegments = "(all)"

// Transition-matrix states besides the channels.
const (
	StateStart      = "(start)"
	StateConversion = "(conversion)"
	StateNull       = "(null)"
	// NoTouch is the path of a conversion with no touch in its lookback.
	NoTouch = "(no touch)"
)

// Segmenter names a person's segment (an RFM segment, an acquisition channel, a device class …);
// "" puts the person in no segment (still counted in AllSegments).
type Segmenter func(*Person) string

// SegmentByMap segments people by their id in m (profile id → segment).
func SegmentByMap(m map[string]string) Segmenter { return func(p *Person) string { return m[p.ID] } }

// SegmentByDevice segments people by the device class of their first activity.
func SegmentByDevice(p *Person) string { return p.Device }

// ReportOptions tune a Report.
type ReportOptions struct {
	Segment  Segmenter // nil: AllSegments alone
	Label    Label     // how touches are named (ByChannel when nil)
	TopPaths int       // how many paths each top list keeps (DefaultTopPaths when 0)
}

// DefaultTopPaths is how many paths a top list keeps.
const DefaultTopPaths = 20

// TimeBucket is a bucket of the time-to-conversion distribution: times below Below (and at or
// above the bucket before's).
type TimeBucket struct {
	Label string
	Below time.Duration
}

// TimeBuckets are the bounds of the time-to-conversion distribution: a conversion falls in the
// first bucket whose bound is more than its time from the path's first touch.
var TimeBuckets = []TimeBucket{
	{"< 1 hour", time.Hour}, {"1 hour – 1 day", 24 * time.Hour}, {"1 – 3 days", 72 * time.Hour},
	{"3 – 7 days", 7 * 24 * time.Hour}, {"7 – 14 days", 14 * 24 * time.Hour}, {"14 – 30 days", 30 * 24 * time.Hour},
	{"30 days or more", 1<<63 - 1},
}

// Report accumulates the journeys of people as Build hands them over, by goal and segment.
type Report struct {
	cfg   Config
	opts  ReportOptions
	goals []map[string]*journeys // by goal index, by segment
	steps map[string][]int       // funnel: by segment, people who reached step i
}

// journeys is the accumulation of one goal's journeys in one segment.
type journeys struct {
	paths       map[string]*PathCount
	lengths     map[int]*LengthCount
	times       []time.Duration
	transitions map[[2]string]int
}

// NewReport returns an empty report for the goals and funnel of cfg.
func NewReport(cfg Config, opts ReportOptions) *Report {
	if opts.TopPaths <= 0 {
		opts.TopPaths = DefaultTopPaths
	}
	if opts.Label == nil {
		opts.Label = ByChannel
	}
	r := &Report{cfg: cfg, opts: opts, goals: make([]map[string]*journeys, len(cfg.Goals)), steps: map[string][]int{}}
	for i := range r.goals {
		r.goals[i] = map[string]*journeys{}
	}
	return r
}

// Add counts a person's journeys and funnel progress.
func (r *Report) Add(p *Person) {
	segments := []string{AllSegments}
	if r.opts.Segment != nil {
		if s := r.opts.Segment(p); s != "" {
			segments = append(segments, s)
		}
	}
	goal := map[string]int{}
	for i, g := range r.cfg.Goals {
		goal[g.Name] = i
	}
	for _, j := range p.Journeys {
		for _, s := range segments {
			acc := r.goals[goal[j.Goal]][s]
			if acc == nil {
				acc = &journeys{paths: map[string]*PathCount{}, lengths: map[int]*LengthCount{}, transitions: map[[2]string]int{}}
				r.goals[goal[j.Goal]][s] = acc
			}
			acc.add(j, r.opts.Label)
		}
	}
	if f := r.cfg.Funnel; f != nil && p.FunnelSteps > 0 {
		for _, s := range segments {
			counts := r.steps[s]
			if counts == nil {
				counts = make([]int, len(f.Steps))
				r.steps[s] = counts
			}
			for i := range p.FunnelSteps {
				counts[i]++
			}
		}
	}
}

func (a *journeys) add(j Journey, label Label) {
	names := make([]string, len(j.Touches))
	for i, t := range j.Touches {
		names[i] = label(t)
	}
	key := strings.Join(names, pathSeparator)
	if len(names) == 0 {
		key = NoTouch
	}
	pc := a.paths[key]
	if pc == nil {
		pc = &PathCount{Path: key}
		a.paths[key] = pc
	}
	lc := a.lengths[len(names)]
	if lc == nil {
		lc = &LengthCount{Touches: len(names)}
		a.lengths[len(names)] = lc
	}
	pc.Journeys++
	end := StateNull
	if j.Converted {
		pc.Conversions++
		pc.Value += j.Value
		lc.Conversions++
		end = StateConversion
		if len(j.Touches) > 0 {
			a.times = append(a.times, j.At.Sub(j.Touches[0].At))
		}
	} else {
		lc.Nulls++
	}
	prev := StateStart
	for _, n := range names {
		a.transitions[[2]string{prev, n}]++
		prev = n
	}
	a.transitions[[2]string{prev, end}]++
}

// PathCount is one path of a top list.
type PathCount struct {
	Path        string  // channels joined by " > ", NoTouch for conversions without touches
	Journeys    int     // journeys on the path
	Conversions int     // of which converted
	Value       float64 // their value
	Rate        float64 // Conversions / Journeys
}

// LengthCount is how many journeys had a number of touches.
type LengthCount struct {
	Touches     int
	Conversions int
	Nulls       int
}

// TimeCount is a bucket of the time-to-conversion distribution.
type TimeCount struct {
	Label       string
	Conversions int
}

// Transitions is the channel transition matrix: Counts[i][j] journeys went from From[i] to To[j]
// (repeats of a channel kept: a return by the same channel is a transition to itself).
type Transitions struct {
	From   []string // StateStart, then the channels
	To     []string // the channels, then StateConversion and StateNull
	Counts [][]int
}

// Probability is the share of From[i]'s transitions that go to To[j].
func (t Transitions) Probability(i, j int) float64 {
	total := 0
	for _, c := range t.Counts[i] {
		total += c
	}
	if total == 0 {
		return 0
	}
	return float64(t.Counts[i][j]) / float64(total)
}

// GoalJourneys are the journeys of one goal in one segment.
type GoalJourneys struct {
	Goal        string
	Segment     string
	Journeys    int
	Conversions int
	Nulls       int
	Value       float64
	TopPaths    []PathCount   // by journeys, then conversions, then path
	Lengths     []LengthCount // by touches
	// TimeToConversion is, for conversions with touches, the time from the path's first touch.
	TimeToConversion []TimeCount
	MedianTime       time.Duration
	Transitions      Transitions
}

// FunnelStep is one step of a funnel in a segment.
type FunnelStep struct {
	Step    string
	Reached int     // people who reached it (in order, within the window)
	Dropped int     // people who reached the step before and not this one (0 for the first)
	Rate    float64 // Reached / the previous step's Reached (1 for the first)
}

// FunnelSegment is the funnel in one segment.
type FunnelSegment struct {
	Funnel  string
	Segment string
	Steps   []FunnelStep
}

// Journeys are the goals' journeys by goal (in the configuration's order) and segment
// (AllSegments first, then by name).
func (r *Report) Journeys() []GoalJourneys {
	var out []GoalJourneys
	for i, g := range r.cfg.Goals {
		for _, s := range segmentsOf(r.goals[i]) {
			out = append(out, r.goals[i][s].result(g.Name, s, r.opts.TopPaths))
		}
	}
	return out
}

// Funnel is the funnel by segment (AllSegments first, then by name); nil without a funnel.
func (r *Report) Funnel() []FunnelSegment {
	f := r.cfg.Funnel
	if f == nil {
		return nil
	}
	if r.steps[AllSegments] == nil {
		r.steps[AllSegments] = make([]int, len(f.Steps))
	}
	var out []FunnelSegment
	for _, s := range segmentsOf(r.steps) {
		fs := FunnelSegment{Funnel: f.Name, Segment: s}
		for i, st := range f.Steps {
			step := FunnelStep{Step: st.Label(), Reached: r.steps[s][i], Rate: 1}
			if i > 0 {
				before := r.steps[s][i-1]
				step.Dropped = before - step.Reached
				step.Rate = ratio(step.Reached, before)
			}
			fs.Steps = append(fs.Steps, step)
		}
		out = append(out, fs)
	}
	return out
}

func segmentsOf[V any](m map[string]V) []string {
	var out []string
	for s := range m {
		if s != AllSegments {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	if _, ok := m[AllSegments]; ok {
		out = append([]string{AllSegments}, out...)
	}
	return out
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func (a *journeys) result(goal, segment string, top int) GoalJourneys {
	g := GoalJourneys{Goal: goal, Segment: segment}
	keys := make([]string, 0, len(a.paths))
	for k := range a.paths {
		keys = append(keys, k)
	}
	slices.Sort(keys) // values are added in this order: the same figures whatever the map's order
	paths := make([]PathCount, 0, len(keys))
	for _, k := range keys {
		p := *a.paths[k]
		p.Rate = ratio(p.Conversions, p.Journeys)
		g.Journeys += p.Journeys
		g.Conversions += p.Conversions
		g.Value += p.Value
		paths = append(paths, p)
	}
	g.Nulls = g.Journeys - g.Conversions
	slices.SortStableFunc(paths, func(x, y PathCount) int {
		return cmp.Or(cmp.Compare(y.Journeys, x.Journeys), cmp.Compare(y.Conversions, x.Conversions))
	})
	g.TopPaths = paths[:min(top, len(paths))]
	for _, lc := range a.lengths {
		g.Lengths = append(g.Lengths, *lc)
	}
	slices.SortFunc(g.Lengths, func(x, y LengthCount) int { return cmp.Compare(x.Touches, y.Touches) })
	g.TimeToConversion = make([]TimeCount, len(TimeBuckets))
	for i, b := range TimeBuckets {
		g.TimeToConversion[i].Label = b.Label
	}
	times := slices.Clone(a.times)
	slices.Sort(times)
	for _, d := range times {
		i := slices.IndexFunc(TimeBuckets, func(b TimeBucket) bool { return d < b.Below })
		g.TimeToConversion[i].Conversions++
	}
	if n := len(times); n > 0 {
		g.MedianTime = times[(n-1)/2]/2 + times[n/2]/2
	}
	g.Transitions = a.matrix()
	return g
}

func (a *journeys) matrix() Transitions {
	set := map[string]bool{}
	for k := range a.transitions {
		for _, s := range k {
			if s != StateStart && s != StateConversion && s != StateNull {
				set[s] = true
			}
		}
	}
	channels := make([]string, 0, len(set))
	for s := range set {
		channels = append(channels, s)
	}
	slices.Sort(channels)
	t := Transitions{From: append([]string{StateStart}, channels...), To: append(slices.Clone(channels), StateConversion, StateNull)}
	t.Counts = make([][]int, len(t.From))
	for i, from := range t.From {
		t.Counts[i] = make([]int, len(t.To))
		for j, to := range t.To {
			t.Counts[i][j] = a.transitions[[2]string{from, to}]
		}
	}
	return t
}
