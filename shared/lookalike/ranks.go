package lookalike

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// MaxPoints is the most scores a Distribution keeps.
const MaxPoints = 1000

// exactTop is how many of the highest scores a thinned Distribution keeps one by one.
const exactTop = 100

// Distribution is how a model's scores spread over a sample (of the profiles that are not in the
// seed: the candidates), kept small enough to store beside the model, so that a profile's score
// says where it ranks among them: Greater counts the sample's scores strictly above a score.
//
// It keeps at most MaxPoints scores, highest first, each with the number of the sample's scores
// strictly above it. When the sample has no more distinct scores than that, it keeps them all and
// Greater is exact. Otherwise it keeps the exactTop highest one by one and then scores spaced
// geometrically by their position from the top, down to the lowest: two kept scores at positions
// i and j > i bracket every score between them, so Greater, interpolating between them, is off by
// less than j − i, which is about 1 % of i (for a sample of a million, (10⁶/100)^(1/899) − 1 ≈
// 1.03 %) — a small part of the sampling error (see README.md).
type Distribution struct {
	N      int       `json:"n"`      // scores of the sample
	Exact  bool      `json:"exact"`  // every distinct score is kept
	Scores []float64 `json:"scores"` // kept scores, highest first, distinct
	Above  []int     `json:"above"`  // for each kept score, the sample's scores strictly above it
}

// NewDistribution keeps the spread of scores (NaN left out) in at most points scores (MaxPoints
// when points ≤ 0 or above it; at least exactTop + 2).
func NewDistribution(scores []float64, points int) Distribution {
	if points <= 0 || points > MaxPoints {
		points = MaxPoints
	}
	points = max(points, exactTop+2)
	desc := slices.DeleteFunc(slices.Clone(scores), math.IsNaN)
	slices.SortFunc(desc, func(a, b float64) int { return cmp.Compare(b, a) })
	n := len(desc)
	d := Distribution{N: n}
	// The positions kept: all of them when the distinct scores fit, else the top ones and a
	// geometric progression down to the last.
	distinct := 0
	for i := range desc {
		if i == 0 || desc[i] != desc[i-1] {
			distinct++
		}
	}
	keep := func(i int) {
		s := desc[i]
		if k := len(d.Scores); k > 0 && d.Scores[k-1] == s {
			return
		}
		first := i
		for first > 0 && desc[first-1] == s {
			first--
		}
		d.Scores, d.Above = append(d.Scores, s), append(d.Above, first)
	}
	if distinct <= points {
		d.Exact = true
		for i := range desc {
			keep(i)
		}
		return d
	}
	for i := range exactTop {
		keep(i)
	}
	ratio := math.Pow(float64(n)/exactTop, 1/float64(points-exactTop-1))
	for pos := float64(exactTop); ; pos *= ratio {
		i := min(int(math.Ceil(pos)), n-1)
		if len(d.Above) > 0 && i <= d.Above[len(d.Above)-1] {
			i = d.Above[len(d.Above)-1] + 1 // at least one further
		}
		for i < n && desc[i] == d.Scores[len(d.Scores)-1] {
			i++ // past the ties of the last kept score
		}
		if i >= n-1 || len(d.Scores) >= points-1 {
			break
		}
		keep(i)
	}
	if desc[n-1] != d.Scores[len(d.Scores)-1] {
		keep(n - 1)
	}
	return d
}

// Greater is the number of the sample's scores strictly above score: exact for a kept score, for
// a score above the highest or below the lowest, and for any score when Exact; otherwise
// interpolated linearly between the kept scores either side (see Distribution).
func (d Distribution) Greater(score float64) float64 {
	k := len(d.Scores)
	if k == 0 || math.IsNaN(score) {
		return 0
	}
	// j: the first kept score at or below score.
	j, found := slices.BinarySearchFunc(d.Scores, score, func(kept, s float64) int { return cmp.Compare(s, kept) })
	switch {
	case found:
		return float64(d.Above[j])
	case j == 0:
		return 0 // above the highest
	case j == k:
		return float64(d.N) // below the lowest
	case d.Exact:
		return float64(d.Above[j]) // nothing lies between two adjacent distinct scores
	}
	// Between kept scores hi > score > lo: at least Above[hi] + 1 (hi itself), at most Above[lo].
	hi, lo := d.Scores[j-1], d.Scores[j]
	least, most := float64(d.Above[j-1]+1), float64(d.Above[j])
	return least + (most-least)*(hi-score)/(hi-lo)
}

// Validate checks a distribution read from storage.
func (d Distribution) Validate() error {
	switch {
	case d.N < 0 || len(d.Scores) > MaxPoints:
		return fmt.Errorf("%w: distribution of %d scores keeping %d", ErrInvalid, d.N, len(d.Scores))
	case len(d.Scores) != len(d.Above):
		return fmt.Errorf("%w: distribution of %d scores and %d counts", ErrInvalid, len(d.Scores), len(d.Above))
	case (d.N == 0) != (len(d.Scores) == 0):
		return fmt.Errorf("%w: distribution of %d scores keeping %d", ErrInvalid, d.N, len(d.Scores))
	}
	for i, s := range d.Scores {
		if math.IsNaN(s) || math.IsInf(s, 0) || d.Above[i] < 0 || d.Above[i] >= d.N ||
			i > 0 && (s >= d.Scores[i-1] || d.Above[i] <= d.Above[i-1]) {
			return fmt.Errorf("%w: distribution: score %d (%v, %d above) out of order", ErrInvalid, i, s, d.Above[i])
		}
	}
	if len(d.Above) > 0 && d.Above[0] != 0 {
		return errors.Join(ErrInvalid, errors.New("distribution: the highest score has scores above it"))
	}
	return nil
}

// Rank is the estimated rank, 1 = the highest, of score among a population of that many profiles
// whose scores spread as the sample's: 1 + round(population × Greater(score) / N). Exact (the rank
// among the sample, ties sharing the best) when the sample is the population and Exact; 0 when
// the sample is empty or population is not positive.
func (d Distribution) Rank(score float64, population float64) int {
	if d.N == 0 || !(population > 0) || math.IsNaN(score) {
		return 0
	}
	return 1 + int(math.Round(population*d.Greater(score)/float64(d.N)))
}
