package attribution

import (
	"math"
	"strings"
	"time"
)

// DefaultDirect is the direct set of LastNonDirectTouch when none is given.
var DefaultDirect = []string{"direct", "(direct)"}

// DefaultHalfLife is TimeDecay's half-life when none is given.
const DefaultHalfLife = 7 * 24 * time.Hour

// FirstTouch credits each path's conversions and value to its first touch.
func FirstTouch(paths []Path) (Result, error) {
	return single("first-touch", paths, func(p Path) int { return 0 })
}

// LastTouch credits each path's conversions and value to its last touch.
func LastTouch(paths []Path) (Result, error) {
	return single("last-touch", paths, func(p Path) int { return len(p.Channels) - 1 })
}

// LastNonDirectTouch credits each path to its last touch whose channel is not in direct (compared
// case-insensitively; nil: DefaultDirect), or to its last touch when all of them are direct.
func LastNonDirectTouch(paths []Path, direct []string) (Result, error) {
	if direct == nil {
		direct = DefaultDirect
	}
	isDirect := func(ch string) bool {
		for _, d := range direct {
			if strings.EqualFold(ch, d) {
				return true
			}
		}
		return false
	}
	return single("last-non-direct", paths, func(p Path) int {
		for i := len(p.Channels) - 1; i >= 0; i-- {
			if !isDirect(p.Channels[i]) {
				return i
			}
		}
		return len(p.Channels) - 1
	})
}

// single credits each path wholly to the touch pick chooses.
func single(model string, paths []Path, pick func(Path) int) (Result, error) {
	chs, err := index(paths)
	if err != nil {
		return Result{}, err
	}
	t := newTally(len(chs.names))
	for _, p := range paths {
		ch := chs.pos[p.Channels[pick(p)]]
		t.conv[ch] += p.Conversions
		t.value[ch] += p.Value
	}
	return t.result(model, chs), nil
}

// Linear gives each touch an equal share of its path, repeats included. Per path and channel it
// adds the path's conversions (and value) once per touch of the channel and divides the sum by the
// number of touches, as ChannelAttribution's heuristic_models does, so that the figures agree with
// it to the last bit.
func Linear(paths []Path) (Result, error) {
	chs, err := index(paths)
	if err != nil {
		return Result{}, err
	}
	t := newTally(len(chs.names))
	sumConv, sumValue := make([]float64, len(chs.names)), make([]float64, len(chs.names))
	d := newDistinct(len(chs.names))
	for _, p := range paths {
		for _, name := range p.Channels {
			ch := chs.pos[name]
			d.add(ch)
			sumConv[ch] += p.Conversions
			sumValue[ch] += p.Value
		}
		n := float64(len(p.Channels))
		d.drain(func(ch int) {
			t.conv[ch] += sumConv[ch] / n
			t.value[ch] += sumValue[ch] / n
			sumConv[ch], sumValue[ch] = 0, 0
		})
	}
	return t.result("linear", chs), nil
}

// PositionBased gives 40 % to the first touch, 40 % to the last and shares 20 % equally among the
// touches between; a path of one touch gives it 100 %, a path of two touches 50 % each.
func PositionBased(paths []Path) (Result, error) {
	return weighted("position-based", paths, func(p Path, w []float64) {
		n := len(w)
		switch n {
		case 1:
			w[0] = 1
		case 2:
			w[0], w[1] = 0.5, 0.5
		default:
			middle := 0.2 / float64(n-2)
			for i := range w {
				w[i] = middle
			}
			w[0], w[n-1] = 0.4, 0.4
		}
	})
}

// TimeDecay weights touch i by 2^(−Δtᵢ/halfLife), normalised over its path, Δtᵢ being the time from
// the touch to the conversion; the time from the last touch to the conversion cancels in the
// normalisation, so the weights depend on the gaps between touches only. A path without Times
// counts its touches one half-life apart: weights 1, ½, ¼ … from the last touch back.
// halfLife ≤ 0 means DefaultHalfLife.
func TimeDecay(paths []Path, halfLife time.Duration) (Result, error) {
	if halfLife <= 0 {
		halfLife = DefaultHalfLife
	}
	h := float64(halfLife)
	return weighted("time-decay", paths, func(p Path, w []float64) {
		n := len(w)
		if p.Times == nil {
			for i := range w {
				w[i] = math.Ldexp(1, i-(n-1))
			}
		} else {
			// Measured from the most recent touch rather than from the conversion: the common
			// factor 2^(−Δt_last/h) cancels in the normalisation and cannot underflow here.
			last := p.Times[n-1]
			for i, at := range p.Times {
				w[i] = math.Exp2(-float64(last.Sub(at)) / h)
			}
		}
		var sum float64
		for _, x := range w {
			sum += x
		}
		for i := range w {
			w[i] /= sum
		}
	})
}

// weighted splits each path over its touches with the weights fill writes (one per touch, summing
// to 1); a channel touched more than once gets the sum of its touches' weights, added in touch order.
func weighted(model string, paths []Path, fill func(p Path, w []float64)) (Result, error) {
	chs, err := index(paths)
	if err != nil {
		return Result{}, err
	}
	t := newTally(len(chs.names))
	share := make([]float64, len(chs.names))
	d := newDistinct(len(chs.names))
	var w []float64
	for _, p := range paths {
		if cap(w) < len(p.Channels) {
			w = make([]float64, len(p.Channels))
		}
		w = w[:len(p.Channels)]
		fill(p, w)
		for i, name := range p.Channels {
			ch := chs.pos[name]
			d.add(ch)
			share[ch] += w[i]
		}
		d.drain(func(ch int) {
			t.addShare(ch, share[ch], p)
			share[ch] = 0
		})
	}
	return t.result(model, chs), nil
}
