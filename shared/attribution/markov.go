package attribution

import (
	"fmt"
)

// MaxMarkovChannels bounds the channels of the exact Markov models, which factor a dense
// (channels + 1)² matrix: 1,000 channels take about 8 MB and a second on one core.
const MaxMarkovChannels = 1000

// Markov attributes conversions with a first-order Markov chain, computed exactly as an absorbing
// chain, counting the journeys that did not convert (Nulls).
//
// The chain has a start state, one state per channel and two absorbing states, conversion and
// null. Each path, its consecutive repeats collapsed (a > a > b is a > b), contributes its
// Conversions + Nulls journeys to the transitions start → first channel → … → last channel, and
// from the last channel Conversions to conversion and Nulls to null. Transition probabilities are
// the counts divided by each state's outgoing total. Collapsing repeats changes the transition
// matrix but not the absorption probabilities (a self-loop only delays the walk), so it changes no
// figure below.
//
// With Q the transitions among start and channels, N = (I − Q)⁻¹ its fundamental matrix and r(s)
// the probability of stepping from s straight to conversion, h = N r is each state's probability of
// ending in conversion: P(conversion) = h(start), found by solving the linear system, not by
// simulation. Removing channel k (its incoming journeys go to null instead) leaves
// P₋ₖ = h(start) − N(start,k)·h(k)/N(k,k): the journeys that would have converted after reaching k,
// N(start,k)/N(k,k) being the probability of ever reaching k. The removal effect of k is
// 1 − P₋ₖ/P(conversion), which equals the probability that a converting journey passes through k;
// channel k is credited total conversions × removal effect / Σ removal effects.
//
// Value has its own chain of expectations: rᵥ(s) is the value of the conversions whose last
// channel is s divided by s's outgoing total, hᵥ = N rᵥ the expected conversion value from each
// state, the value removal effect 1 − hᵥ₋ₖ(start)/hᵥ(start), and channel k is credited total value ×
// its value removal effect / their sum. This is the expectation of what ChannelAttribution's
// simulation estimates (it draws each simulated conversion's value from the conversions that left
// the same last channel).
//
// A path with no conversions and no nulls changes nothing; the totals distributed are the sums of
// Conversions and Value over all paths.
func Markov(paths []Path) (Result, error) {
	return markov("markov", paths, true)
}

// MarkovConversionsOnly is Markov without the non-converting journeys, as ChannelAttribution's
// markov_model runs without var_null: Nulls are ignored, so every journey of the chain ends in
// conversion and P(conversion) = 1. Transitions are counted from the converting journeys only (a
// path without conversions contributes nothing), the removal effect of a channel is then the
// probability that a journey passes through it, and channels are credited in proportion to it.
// Unlike Markov, the split ignores how much traffic that did not convert each channel sent.
func MarkovConversionsOnly(paths []Path) (Result, error) {
	return markov("markov-conversions-only", paths, false)
}

func markov(model string, paths []Path, withNulls bool) (Result, error) {
	chs, err := index(paths)
	if err != nil {
		return Result{}, err
	}
	n := len(chs.names)
	if n > MaxMarkovChannels {
		return Result{}, fmt.Errorf("%d channels, the exact Markov model takes at most %d: %w", n, MaxMarkovChannels, ErrInvalid)
	}
	// States: 0 = start, 1 + i = channel i.
	m := n + 1
	trans := make([]float64, m*m)
	conv, null, value := make([]float64, m), make([]float64, m), make([]float64, m)
	var totalConv, totalValue float64
	for _, p := range paths {
		totalConv += p.Conversions
		totalValue += p.Value
		nulls := p.Nulls
		if !withNulls {
			nulls = 0
		}
		journeys := p.Conversions + nulls
		if journeys == 0 {
			continue
		}
		prev := 0
		for _, name := range p.Channels {
			s := 1 + chs.pos[name]
			if s == prev {
				continue
			}
			trans[prev*m+s] += journeys
			prev = s
		}
		conv[prev] += p.Conversions
		null[prev] += nulls
		if p.Conversions > 0 {
			value[prev] += p.Value
		}
	}

	// A = I − Q; rc, rv: one-step conversion probability and value per state.
	a := make([]float64, m*m)
	rc, rv := make([]float64, m), make([]float64, m)
	for s := range m {
		a[s*m+s] = 1
		var out float64
		for t := range m {
			out += trans[s*m+t]
		}
		out += conv[s] + null[s]
		if out == 0 {
			continue // never left: it cannot convert
		}
		for t := range m {
			if c := trans[s*m+t]; c != 0 {
				a[s*m+t] -= c / out
			}
		}
		rc[s] = conv[s] / out
		rv[s] = value[s] / out
	}
	f, err := factorLU(a, m)
	if err != nil {
		return Result{}, fmt.Errorf("markov chain: %w", err)
	}
	h, hv := f.solve(rc), f.solve(rv)
	// Row start of N (N(start,k) for every k) solves Aᵀy = e_start; N(k,k) is the k-th entry of
	// column k, which solves Ax = e_k.
	e := make([]float64, m)
	e[0] = 1
	fromStart := f.solveTransposed(e)
	reach := make([]float64, m) // probability of ever reaching state k from start
	for k := 1; k < m; k++ {
		clear(e)
		e[k] = 1
		nkk := f.solve(e)[k]
		reach[k] = fromStart[k] / nkk
	}

	r := Result{Model: model, Credits: make([]Credit, n), ConversionProbability: h[0], ValuePerJourney: hv[0]}
	var sumRE, sumVRE float64
	for i, name := range chs.names {
		c := Credit{Channel: name}
		if h[0] > 0 {
			c.RemovalEffect = float64(reach[1+i]*h[1+i]) / h[0]
		}
		if hv[0] != 0 {
			c.ValueRemovalEffect = float64(reach[1+i]*hv[1+i]) / hv[0]
		}
		sumRE += c.RemovalEffect
		sumVRE += c.ValueRemovalEffect
		r.Credits[i] = c
	}
	for i := range r.Credits {
		c := &r.Credits[i]
		if sumRE != 0 {
			c.Conversions = float64(totalConv * (c.RemovalEffect / sumRE))
		}
		if sumVRE != 0 {
			c.Value = float64(totalValue * (c.ValueRemovalEffect / sumVRE))
		}
	}
	return r, nil
}
