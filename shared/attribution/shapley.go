package attribution

import (
	"fmt"
	"math/bits"
)

// MaxShapleyEnumeration is the largest number of players for which Shapley enumerates coalitions;
// beyond it, it uses the closed form (exact too, see Shapley).
const MaxShapleyEnumeration = 20

// Shapley attributes conversions and value with Shapley values over channel sets.
//
// Players are the channels; a path's coalition is the set of its distinct channels (order and
// repeats do not count). The characteristic function is the one of Zhao, Mahboobi and Bagheri,
// "Shapley Value Methods for Attribution Modeling in Online Advertising" (2018, arXiv:1804.05327),
// the usual one in marketing attribution: the worth of a set S of channels is the conversions (for
// value: the conversion value) of all paths whose channel set is a subset of S,
//
//	v(S) = Σ_{T ⊆ S} R(T),   R(T) = conversions of the paths whose channel set is exactly T,
//
// so v(∅) = 0, v(all channels) = all conversions, and the values add up to the total. Channel j
// gets φⱼ = Σ_{S ∌ j} |S|!(n−|S|−1)!/n! · (v(S ∪ {j}) − v(S)).
//
// Exact by enumeration: with at most MaxShapleyEnumeration players it computes v for all 2ⁿ
// coalitions (a subset-sum transform of R, n·2ⁿ additions) and φ by the definition (n·2ⁿ⁻¹ terms
// per value). Players are the channels of the paths with conversions or value; the others are
// null players, whose value is 0 and whose presence changes no one else's.
//
// Exact beyond: v is a sum of unanimity games (R(T) on each coalition T), whose Shapley value splits
// R(T) equally among T's members, so φⱼ = Σ_{T ∋ j} R(T)/|T| — each path's conversions shared
// equally among its distinct channels. With more than MaxShapleyEnumeration players Shapley uses
// this closed form, in O(touches). Both methods agree to rounding (tested); Result.Method says
// which one ran.
//
// Paths' Nulls are not used: v counts conversions only.
func Shapley(paths []Path) (Result, error) {
	chs, err := index(paths)
	if err != nil {
		return Result{}, err
	}
	// players: channels on paths that carry conversions or value.
	player := make([]int, len(chs.names))
	for i := range player {
		player[i] = -1
	}
	var players []int // channel index of each player, in channel order
	for _, p := range paths {
		if p.Conversions == 0 && p.Value == 0 {
			continue
		}
		for _, name := range p.Channels {
			player[chs.pos[name]] = 0
		}
	}
	for ch, v := range player {
		if v == 0 {
			player[ch] = len(players)
			players = append(players, ch)
		}
	}
	n := len(players)
	t := newTally(len(chs.names))
	var method string
	if n <= MaxShapleyEnumeration {
		method = fmt.Sprintf("exact: coalitions of %d channels enumerated", n)
		shapleyEnumerate(paths, chs, player, players, t)
	} else {
		method = fmt.Sprintf("exact: closed form over %d channels (more than %d)", n, MaxShapleyEnumeration)
		shapleyClosedForm(paths, chs, t)
	}
	r := t.result("shapley", chs)
	r.Method = method
	return r, nil
}

// shapleyEnumerate computes the Shapley values by their definition over all coalitions of players.
func shapleyEnumerate(paths []Path, chs channels, player, players []int, t tally) {
	n := len(players)
	size := 1 << n
	vc, vv := make([]float64, size), make([]float64, size)
	for _, p := range paths {
		if p.Conversions == 0 && p.Value == 0 {
			continue
		}
		var set uint32
		for _, name := range p.Channels {
			set |= 1 << player[chs.pos[name]]
		}
		vc[set] += p.Conversions
		vv[set] += p.Value
	}
	// v(S) = Σ_{T⊆S} R(T): add, bit by bit, the worth of S without the bit.
	for bit := range n {
		for s := range size {
			if s&(1<<bit) != 0 {
				vc[s] += vc[s&^(1<<bit)]
				vv[s] += vv[s&^(1<<bit)]
			}
		}
	}
	// weight[k] = k!(n−k−1)!/n! = 1/(n·C(n−1, k)).
	weight := make([]float64, n)
	binom := 1.0 // C(n−1, k)
	for k := range n {
		weight[k] = 1 / (float64(n) * binom)
		binom = binom * float64(n-1-k) / float64(k+1)
	}
	for j, ch := range players {
		bit := 1 << j
		var sc, sv float64
		for s := range size {
			if s&bit != 0 {
				continue
			}
			w := weight[bits.OnesCount(uint(s))]
			sc += float64(w * (vc[s|bit] - vc[s]))
			sv += float64(w * (vv[s|bit] - vv[s]))
		}
		t.conv[ch], t.value[ch] = sc, sv
	}
}

// shapleyClosedForm shares each path's conversions and value equally among its distinct channels.
func shapleyClosedForm(paths []Path, chs channels, t tally) {
	d := newDistinct(len(chs.names))
	for _, p := range paths {
		for _, name := range p.Channels {
			d.add(chs.pos[name])
		}
		share := 1 / float64(len(d.order))
		d.drain(func(ch int) { t.addShare(ch, share, p) })
	}
}
