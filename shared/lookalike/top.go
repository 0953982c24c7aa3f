package lookalike

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
)

// Scored is a profile's look-alike score.
type Scored struct {
	ID    string  `json:"id"`
	Score float64 `json:"score"`
}

// before orders scores: the higher score first, equal scores by id. NaN comes last.
func before(a, b Scored) int {
	an, bn := math.IsNaN(a.Score), math.IsNaN(b.Score)
	switch {
	case an && !bn:
		return 1
	case bn && !an:
		return -1
	}
	return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.ID, b.ID))
}

// Top is the n highest scores (all if n exceeds them; none if n ≤ 0), highest first, equal scores
// by id; NaN scores are left out.
func Top(scores []Scored, n int) []Scored {
	t := NewTopN(n)
	for _, s := range scores {
		t.Add(s.ID, s.Score)
	}
	return t.Result()
}

// Above is every score at or above threshold, highest first, equal scores by id.
func Above(scores []Scored, threshold float64) []Scored {
	var out []Scored
	for _, s := range scores {
		if s.Score >= threshold {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, before)
	return out
}

// TopN keeps the n highest scores of a stream in O(n) memory (a min-heap): each part of a scan
// keeps its own and Merge combines them. The result does not depend on the order of the stream.
type TopN struct {
	n int
	h minHeap
}

// NewTopN keeps the n highest scores.
func NewTopN(n int) *TopN { return &TopN{n: max(n, 0)} }

// Add offers one score; NaN is ignored.
func (t *TopN) Add(id string, score float64) {
	if t.n == 0 || math.IsNaN(score) {
		return
	}
	s := Scored{ID: id, Score: score}
	if len(t.h) < t.n {
		heap.Push(&t.h, s)
		return
	}
	if before(s, t.h[0]) < 0 {
		t.h[0] = s
		heap.Fix(&t.h, 0)
	}
}

// Merge offers every score another TopN kept.
func (t *TopN) Merge(o *TopN) {
	for _, s := range o.h {
		t.Add(s.ID, s.Score)
	}
}

// Result is the scores kept, highest first, equal scores by id.
func (t *TopN) Result() []Scored {
	out := slices.Clone([]Scored(t.h))
	slices.SortFunc(out, before)
	return out
}

// minHeap has the worst kept score at the root.
type minHeap []Scored

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return before(h[i], h[j]) > 0 }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(Scored)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
