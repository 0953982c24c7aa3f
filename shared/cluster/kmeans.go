package cluster

import (
	"math"
	"math/rand/v2"
	"slices"
)

// points is a row-major matrix of n rows of d coordinates.
type points struct {
	n, d int
	x    []float64
}

func (p points) row(i int) []float64 { return p.x[i*p.d : (i+1)*p.d : (i+1)*p.d] }

// kmResult is one k-means fit: labels are the nearest centre of each row (as nearest computes it),
// dist the squared distance to it.
type kmResult struct {
	k       int
	centres [][]float64
	labels  []int
	inertia float64
	iters   int
}

// rngFor is the random source of restart r for k: its own PCG stream of the seed, so a result does
// not depend on which other k or restarts were tried.
func rngFor(seed uint64, k, r int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(k)<<32|uint64(r)))
}

// bestOf runs the restarts for k and keeps the lowest inertia (the earliest among equals). ok is
// false when the rows have fewer than k distinct points.
func bestOf(p points, k int, o Options, tol float64) (best kmResult, ok bool) {
	for r := range o.Restarts {
		centres, found := seedPlusPlus(p, k, rngFor(o.Seed, k, r))
		if !found {
			return kmResult{}, false
		}
		res := lloyd(p, centres, o.MaxIter, tol)
		if r == 0 || res.inertia < best.inertia {
			best = res
		}
	}
	return best, true
}

// seedPlusPlus picks k initial centres by k-means++ (Arthur & Vassilvitskii 2007): the first
// uniformly, each next one with probability proportional to its squared distance to the nearest
// centre chosen so far. It fails when fewer than k distinct points exist.
func seedPlusPlus(p points, k int, rng *rand.Rand) ([][]float64, bool) {
	centres := make([][]float64, 0, k)
	centres = append(centres, append([]float64(nil), p.row(rng.IntN(p.n))...))
	dist := make([]float64, p.n)
	for i := range p.n {
		dist[i] = sqdist(p.row(i), centres[0])
	}
	for len(centres) < k {
		var total float64
		for _, v := range dist {
			total += v
		}
		if !(total > 0) {
			return nil, false
		}
		u := rng.Float64() * total
		pick, cum := -1, 0.0
		for i, v := range dist {
			if v == 0 {
				continue
			}
			pick = i
			cum += v
			if cum > u {
				break
			}
		}
		c := append([]float64(nil), p.row(pick)...)
		centres = append(centres, c)
		for i := range p.n {
			if v := sqdist(p.row(i), c); v < dist[i] {
				dist[i] = v
			}
		}
	}
	return centres, true
}

// lloyd alternates assignment and update steps from the given centres until no row changes
// cluster, the centres move less than tol in all (the sum of their squared shifts), or maxIter
// updates. It always ends on an assignment step, so labels are the nearest centres; when no row
// changed, the centres are also the means of their rows. A cluster left empty by an assignment step
// is re-seeded with the row farthest from its centre (taken from a cluster of at least two rows).
func lloyd(p points, centres [][]float64, maxIter int, tol float64) kmResult {
	k, d := len(centres), p.d
	labels := make([]int, p.n)
	for i := range labels {
		labels[i] = -1
	}
	dist := make([]float64, p.n)
	counts := make([]int, k)
	sums := make([]float64, k*d)
	it, settled := 0, false
	for {
		it++
		changed := 0
		clear(counts)
		for i := range p.n {
			c, dd := nearest(p.row(i), centres)
			if c != labels[i] {
				changed++
				labels[i] = c
			}
			dist[i] = dd
			counts[c]++
		}
		if changed == 0 || settled || it > maxIter {
			break
		}
		reseedEmpty(p, centres, labels, dist, counts)
		clear(sums)
		for i := range p.n {
			s := sums[labels[i]*d : (labels[i]+1)*d]
			for j, v := range p.row(i) {
				s[j] += v
			}
		}
		var shift float64
		for c, ctr := range centres {
			n := float64(counts[c])
			for j := range ctr {
				v := sums[c*d+j] / n
				e := v - ctr[j]
				shift += float64(e * e)
				ctr[j] = v
			}
		}
		settled = shift <= tol
	}
	var inertia float64
	for _, v := range dist {
		inertia += v
	}
	return kmResult{k: k, centres: centres, labels: labels, inertia: inertia, iters: it - 1}
}

// reseedEmpty moves each empty cluster's centre (in index order) onto the row farthest from its
// own centre among the rows of clusters that keep at least one row; that row joins it.
func reseedEmpty(p points, centres [][]float64, labels []int, dist []float64, counts []int) {
	for c := range centres {
		if counts[c] > 0 {
			continue
		}
		far, farD := -1, -1.0
		for i, v := range dist {
			if counts[labels[i]] > 1 && v > farD {
				far, farD = i, v
			}
		}
		if far < 0 {
			return
		}
		copy(centres[c], p.row(far))
		counts[labels[far]]--
		labels[far], dist[far] = c, 0
		counts[c] = 1
	}
}

// silhouettes computes the mean silhouette (Rousseeuw 1987) of each fit over the same sample of
// rows, exactly: one pass over the sample's pairs adds each distance to the per-cluster sums of
// every fit. A row alone in its cluster scores 0, as does every row when the sample holds one
// cluster only.
func silhouettes(p points, sample []int, fits []kmResult) []float64 {
	s := len(sample)
	xs := make([]float64, 0, s*p.d)
	for _, i := range sample {
		xs = append(xs, p.row(i)...)
	}
	q := points{n: s, d: p.d, x: xs}
	T := len(fits)
	off := make([]int, T+1)
	for t, f := range fits {
		off[t+1] = off[t] + s*f.k
	}
	sums := make([]float64, off[T])
	lab := make([][]int, T)
	counts := make([][]int, T)
	for t, f := range fits {
		lab[t] = make([]int, s)
		counts[t] = make([]int, f.k)
		for a, i := range sample {
			lab[t][a] = f.labels[i]
			counts[t][f.labels[i]]++
		}
	}
	for a := range s {
		xa := q.row(a)
		for b := a + 1; b < s; b++ {
			dd := math.Sqrt(sqdist(xa, q.row(b)))
			for t, f := range fits {
				sums[off[t]+a*f.k+lab[t][b]] += dd
				sums[off[t]+b*f.k+lab[t][a]] += dd
			}
		}
	}
	out := make([]float64, T)
	for t, f := range fits {
		var total float64
		for a := range s {
			own := lab[t][a]
			if counts[t][own] < 2 {
				continue
			}
			row := sums[off[t]+a*f.k : off[t]+(a+1)*f.k]
			in := row[own] / float64(counts[t][own]-1)
			out1 := math.Inf(1)
			for c, n := range counts[t] {
				if c != own && n > 0 {
					out1 = min(out1, row[c]/float64(n))
				}
			}
			if math.IsInf(out1, 1) {
				continue
			}
			if m := max(in, out1); m > 0 {
				total += (out1 - in) / m
			}
		}
		out[t] = total / float64(s)
	}
	return out
}

// sampleRows is a seeded uniform sample of m of n row indices without replacement (all of them
// when m ≥ n), in ascending order.
func sampleRows(n, m int, seed uint64) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if m >= n {
		return idx
	}
	rng := rand.New(rand.NewPCG(seed, 1<<63))
	for i := range m {
		j := i + rng.IntN(n-i)
		idx[i], idx[j] = idx[j], idx[i]
	}
	idx = idx[:m]
	slices.Sort(idx)
	return idx
}
