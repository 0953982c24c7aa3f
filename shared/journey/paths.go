package journey

import (
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/attribution"
)

// Label names a touch on a path: ByChannel (the default) or ByCampaign.
type Label func(Touch) string

// ByChannel names a touch by its channel.
func ByChannel(t Touch) string { return t.Channel }

// ByCampaign names a touch by its channel and campaign ("paid search / spring sale"), by its
// channel alone when it has no campaign.
func ByCampaign(t Touch) string {
	if t.Campaign == "" {
		return t.Channel
	}
	return t.Channel + " / " + t.Campaign
}

// Path is the journey as the attribution models take it: its touches' labels (ByChannel when
// label is nil) and times, Conversions 1 and its value, or Nulls 1. A journey without touches has
// no path (ok false): a conversion nothing led to in its lookback.
func (j Journey) Path(label Label) (p attribution.Path, ok bool) {
	if len(j.Touches) == 0 {
		return attribution.Path{}, false
	}
	if label == nil {
		label = ByChannel
	}
	p.Channels = make([]string, len(j.Touches))
	p.Times = make([]time.Time, len(j.Touches))
	for i, t := range j.Touches {
		p.Channels[i], p.Times[i] = label(t), t.At
	}
	if j.Converted {
		p.ConvertedAt, p.Conversions, p.Value = j.At, 1, j.Value
	} else {
		p.Nulls = 1
	}
	return p, true
}

// Paths are the paths of the journeys of one goal (every goal when goal is ""), in the order
// given, and how many conversions had no touch in their lookback (left out: a path needs one).
func Paths(people []Person, goal string, label Label) (paths []attribution.Path, untouched int) {
	for _, person := range people {
		for _, j := range person.Journeys {
			if goal != "" && j.Goal != goal {
				continue
			}
			if p, ok := j.Path(label); ok {
				paths = append(paths, p)
			} else if j.Converted {
				untouched++
			}
		}
	}
	return paths, untouched
}

// Aggregate sums paths with the same channels into one row each, as PathData holds them
// (attribution.WritePathData writes them): conversions, value and nulls added, times dropped.
// Rows are sorted by their channels joined with " > ", values added in the order of the input.
func Aggregate(paths []attribution.Path) []attribution.Path {
	rows := map[string]*attribution.Path{}
	for _, p := range paths {
		key := strings.Join(p.Channels, pathSeparator)
		r := rows[key]
		if r == nil {
			r = &attribution.Path{Channels: slices.Clone(p.Channels)}
			rows[key] = r
		}
		r.Conversions += p.Conversions
		r.Value += p.Value
		r.Nulls += p.Nulls
	}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]attribution.Path, len(keys))
	for i, k := range keys {
		out[i] = *rows[k]
	}
	return out
}

// pathSeparator joins a path's channels, as PathData does.
const pathSeparator = " > "
