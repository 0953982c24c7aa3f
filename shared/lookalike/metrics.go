package lookalike

import (
	"fmt"
	"math"
	"slices"
)

// labelled is a score and its label.
type labelled struct {
	score float64
	label bool
}

// byScore is the scores with their labels sorted by score, lowest first, after checking the
// inputs; and the number of positives. The order within ties is left open: both metrics treat a
// tie as a group.
func byScore(scores []float64, labels []bool) ([]labelled, int, error) {
	if len(scores) != len(labels) {
		return nil, 0, fmt.Errorf("%w: %d scores for %d labels", ErrInvalid, len(scores), len(labels))
	}
	pos := 0
	for i, s := range scores {
		if math.IsNaN(s) {
			return nil, 0, fmt.Errorf("%w: score %d is NaN", ErrInvalid, i)
		}
		if labels[i] {
			pos++
		}
	}
	if pos == 0 || pos == len(labels) {
		return nil, 0, fmt.Errorf("%w: %d positives among %d: need both classes", ErrInvalid, pos, len(labels))
	}
	sorted := make([]labelled, len(scores))
	for i, s := range scores {
		sorted[i] = labelled{s, labels[i]}
	}
	slices.SortFunc(sorted, func(a, b labelled) int { // no NaN here
		switch {
		case a.score < b.score:
			return -1
		case a.score > b.score:
			return 1
		}
		return 0
	})
	return sorted, pos, nil
}

// AUC is the area under the ROC curve of scores (higher = more likely positive) against labels:
// the probability that a random positive scores above a random negative, a tie counting one
// half. Exact: the Mann-Whitney U over the number of pairs, with tied scores given their average
// rank. Both classes must be present and no score NaN.
func AUC(scores []float64, labels []bool) (float64, error) {
	sorted, pos, err := byScore(scores, labels)
	if err != nil {
		return 0, err
	}
	neg := len(scores) - pos
	var rankSum float64 // of the positives, ranks from 1
	for i := 0; i < len(sorted); {
		j, gPos := i, 0
		for j < len(sorted) && sorted[j].score == sorted[i].score {
			if sorted[j].label {
				gPos++
			}
			j++
		}
		rankSum += float64(gPos) * float64(i+1+j) / 2 // each at the mean of ranks i+1 .. j
		i = j
	}
	u := rankSum - float64(pos)*float64(pos+1)/2
	return u / (float64(pos) * float64(neg)), nil
}

// LiftAt is the lift in the top fraction (0 < fraction ≤ 1) of scores: the share of positives
// among the k = ⌈fraction·n⌉ highest scores over the share among all n. Scores tied across the
// k-th place count with the share of their group that fits (the expectation over the orders of
// the tie), so the figure does not depend on the order of the input.
func LiftAt(scores []float64, labels []bool, fraction float64) (float64, error) {
	if !(fraction > 0 && fraction <= 1) {
		return 0, fmt.Errorf("%w: fraction %v (want 0 < fraction ≤ 1)", ErrInvalid, fraction)
	}
	sorted, pos, err := byScore(scores, labels)
	if err != nil {
		return 0, err
	}
	n := len(scores)
	k := int(math.Ceil(fraction*float64(n) - 1e-9))
	k = min(max(k, 1), n)
	var hits float64
	taken := 0
	for i := n - 1; i >= 0 && taken < k; {
		j, gPos := i, 0
		for j >= 0 && sorted[j].score == sorted[i].score {
			if sorted[j].label {
				gPos++
			}
			j--
		}
		group := i - j // sorted[j+1 .. i]
		take := min(group, k-taken)
		hits += float64(gPos) * float64(take) / float64(group)
		taken += take
		i = j
	}
	return (hits / float64(k)) / (float64(pos) / float64(n)), nil
}
