// Package attribution credits conversions and their value to the channels on the paths that led
// to them: first touch, last touch, last non-direct touch, linear, position-based, time decay, an
// exact first-order Markov chain (with and without the paths that did not convert) and Shapley
// values over channel sets. Pure Go, no clock, no I/O beyond the PathData reader.
//
// # Paths
//
// A Path is an ordered list of channel touches (repeats kept, as they happened) with the number of
// journeys that followed it to a conversion (Conversions), their total conversion value (Value) and
// the number that followed it without converting (Nulls). An aggregated row of PathData
// ("a > b > a", 3 conversions, value 12.5, 7 nulls) is one Path; a single person's journey is a
// Path with Conversions 1 or Nulls 1. Times (optional, one per touch, non-decreasing) and
// ConvertedAt (optional) are used by time decay only.
//
// # Conventions
//
// Every model splits each path's conversions and value over its touches with the same weights, so
// a channel's credited value is the value-weighted counterpart of its credited conversions (the
// Markov and Shapley models compute value with their own value game, see below). Every channel
// that appears on any path is listed, sorted by name (byte order), with zero credit where the
// model gives it none.
//
//   - First touch: all to the first touch. Last touch: all to the last touch.
//   - Last non-direct touch: all to the last touch whose channel is not in the direct set
//     (compared case-insensitively; default DefaultDirect); a path that is all direct gives it to
//     its last touch, like last touch.
//   - Linear: each touch gets 1/n of the path, n = number of touches, repeats included (a > b > a
//     gives a 2/3, b 1/3). Computed as ChannelAttribution's heuristic_models does: per channel,
//     the path's conversions (and value) added once per touch of that channel, divided by n.
//   - Position-based (40/20/40): one touch gets 100 %; two touches 50 % each; with n ≥ 3 the first
//     and the last touch get 40 % each and the n − 2 touches between share 20 % equally.
//   - Time decay: touch i gets weight 2^(−Δtᵢ/h), normalised over the path, where Δtᵢ is the time
//     from the touch to the conversion and h the half-life (default 7 days). The time from the last
//     touch to the conversion multiplies every weight alike and cancels in the normalisation, so
//     only the gaps between touches count (ConvertedAt, when set, must not be before the last
//     touch). Without Times, touches are one half-life apart: the last gets 1, the one before ½,
//     then ¼ …, normalised.
//   - Markov (order 1, exact): see Markov. Shapley: see Shapley.
//
// # Determinism
//
// Results depend only on the input: channels are indexed in sorted order, paths are summed in
// input order, sums over channels and states run in index order, nothing depends on the order of a
// map, and products that are added are rounded explicitly so that no platform fuses them into a
// multiply-add. The same input gives the same figures to the last digit.
package attribution

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"
)

// ErrInvalid marks input a model cannot use: a path without touches, an empty channel name, a
// negative or non-finite count, times out of order.
var ErrInvalid = errors.New("invalid input")

// Path is one channel path and the journeys that followed it.
type Path struct {
	// Channels are the touches in the order they happened, repeats kept.
	Channels []string
	// Times, when not nil, holds the time of each touch (same length as Channels, non-decreasing).
	Times []time.Time
	// ConvertedAt is when the conversion happened (time decay measures from it); zero: the last
	// touch's time.
	ConvertedAt time.Time
	// Conversions is the number of journeys on this path that converted.
	Conversions float64
	// Value is the total conversion value of those conversions.
	Value float64
	// Nulls is the number of journeys on this path that did not convert.
	Nulls float64
}

// Credit is what a model attributes to one channel.
type Credit struct {
	Channel     string
	Conversions float64
	Value       float64
	// RemovalEffect is, for the Markov models, 1 − P(conversion without the channel)/P(conversion);
	// ValueRemovalEffect the same for the expected conversion value. Zero for the other models.
	RemovalEffect      float64
	ValueRemovalEffect float64
}

// Result is a model's attribution: one Credit per channel of the input, sorted by channel.
type Result struct {
	Model   string
	Credits []Credit
	// ConversionProbability is, for the Markov models, the probability that a journey from the
	// start state converts; ValuePerJourney its expected conversion value.
	ConversionProbability float64
	ValuePerJourney       float64
	// Method says how the Shapley values were computed.
	Method string
}

// HasRemovalEffects reports whether the result carries removal effects: those of the Markov models.
func (r Result) HasRemovalEffects() bool {
	return r.Model == "markov" || r.Model == "markov-conversions-only"
}

// Credit returns the credit of channel, and whether the result lists it.
func (r Result) Credit(channel string) (Credit, bool) {
	i, ok := slices.BinarySearchFunc(r.Credits, channel, func(c Credit, ch string) int {
		switch {
		case c.Channel < ch:
			return -1
		case c.Channel > ch:
			return 1
		}
		return 0
	})
	if !ok {
		return Credit{}, false
	}
	return r.Credits[i], true
}

// channels is the sorted list of the channels of a set of paths and their positions.
type channels struct {
	names []string
	pos   map[string]int
}

// index validates paths and lists their channels in sorted order.
func index(paths []Path) (channels, error) {
	pos := map[string]int{}
	for i, p := range paths {
		if err := p.validate(); err != nil {
			return channels{}, fmt.Errorf("path %d: %w", i+1, err)
		}
		for _, ch := range p.Channels {
			pos[ch] = 0
		}
	}
	names := make([]string, 0, len(pos))
	for ch := range pos {
		names = append(names, ch)
	}
	slices.Sort(names)
	for i, ch := range names {
		pos[ch] = i
	}
	return channels{names: names, pos: pos}, nil
}

func (p Path) validate() error {
	if len(p.Channels) == 0 {
		return fmt.Errorf("no touches: %w", ErrInvalid)
	}
	for i, ch := range p.Channels {
		if ch == "" || !utf8.ValidString(ch) {
			return fmt.Errorf("touch %d: channel %q: empty or not UTF-8: %w", i+1, ch, ErrInvalid)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"conversions", p.Conversions}, {"nulls", p.Nulls}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("%s %v: want a finite number ≥ 0: %w", f.name, f.v, ErrInvalid)
		}
	}
	if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
		return fmt.Errorf("value %v: want a finite number: %w", p.Value, ErrInvalid)
	}
	if p.Times == nil {
		return nil
	}
	if len(p.Times) != len(p.Channels) {
		return fmt.Errorf("%d times for %d touches: %w", len(p.Times), len(p.Channels), ErrInvalid)
	}
	for i := 1; i < len(p.Times); i++ {
		if p.Times[i].Before(p.Times[i-1]) {
			return fmt.Errorf("touch %d at %s is before touch %d at %s: %w", i+1, p.Times[i].Format(time.RFC3339), i, p.Times[i-1].Format(time.RFC3339), ErrInvalid)
		}
	}
	if last := p.Times[len(p.Times)-1]; !p.ConvertedAt.IsZero() && p.ConvertedAt.Before(last) {
		return fmt.Errorf("conversion at %s is before the last touch at %s: %w", p.ConvertedAt.Format(time.RFC3339), last.Format(time.RFC3339), ErrInvalid)
	}
	return nil
}

// tally accumulates credit per channel index.
type tally struct {
	conv, value []float64
}

func newTally(n int) tally {
	return tally{conv: make([]float64, n), value: make([]float64, n)}
}

// addShare credits channel ch with share (a fraction of the path) of p's conversions and value.
func (t tally) addShare(ch int, share float64, p Path) {
	t.conv[ch] += float64(share * p.Conversions)
	t.value[ch] += float64(share * p.Value)
}

func (t tally) result(model string, chs channels) Result {
	r := Result{Model: model, Credits: make([]Credit, len(chs.names))}
	for i, name := range chs.names {
		r.Credits[i] = Credit{Channel: name, Conversions: t.conv[i], Value: t.value[i]}
	}
	return r
}

// distinct gathers a path's channels once each, in the order of their first touch.
type distinct struct {
	seen  []bool
	order []int
}

func newDistinct(channels int) *distinct { return &distinct{seen: make([]bool, channels)} }

// add notes a touch of channel ch.
func (d *distinct) add(ch int) {
	if !d.seen[ch] {
		d.seen[ch] = true
		d.order = append(d.order, ch)
	}
}

// drain calls f with each channel noted since the last drain, in order, and forgets them.
func (d *distinct) drain(f func(ch int)) {
	for _, ch := range d.order {
		f(ch)
		d.seen[ch] = false
	}
	d.order = d.order[:0]
}
