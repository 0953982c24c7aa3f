package cluster

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Fit standardises the table, runs k-means for each candidate k (Options.K, or MinK..MaxK), keeps
// the k with the best mean silhouette (ties to the smaller k), orders the clusters largest first
// and describes them. It returns the model and each row's cluster, which is what Assign returns
// for that row. A range of k stops early at the last k the rows allow (k distinct rows once
// standardised); fewer distinct rows than the least k is an error.
func Fit(t Table, o Options) (*Model, []int, error) {
	if err := t.check(); err != nil {
		return nil, nil, err
	}
	n, d := len(t.Rows), len(t.Features)
	o, err := o.withDefaults(n)
	if err != nil {
		return nil, nil, err
	}
	scales := fitScales(t)
	p := points{n: n, d: d, x: make([]float64, n*d)}
	for i, r := range t.Rows {
		standardise(t.Features, scales, r, p.row(i))
	}

	// The tolerance is relative to the coordinates' mean variance (1 without weights and constant
	// features), as scikit-learn's.
	tol := -1.0
	if o.Tol > 0 {
		tol = o.Tol * meanVariance(p)
	}
	var fits []kmResult
	for k := o.MinK; k <= o.MaxK; k++ {
		res, ok := bestOf(p, k, o, tol)
		if !ok {
			break
		}
		fits = append(fits, res)
	}
	if len(fits) == 0 {
		return nil, nil, invalid("fewer than %d distinct rows once standardised", o.MinK)
	}

	cands := make([]Candidate, len(fits))
	tss := totalSS(p)
	for i, f := range fits {
		cands[i] = Candidate{K: f.k, Inertia: f.inertia, Iterations: f.iters, CalinskiHarabasz: calinskiHarabasz(tss, f.inertia, n, f.k)}
	}
	if o.MaxK >= 2 && n >= 3 {
		sil := silhouettes(p, sampleRows(n, o.SilhouetteSample, o.Seed), fits)
		for i := range cands {
			cands[i].Silhouette = sil[i]
		}
	}
	chosen, criterion := 0, "fixed"
	if o.K == 0 {
		criterion = "silhouette"
		for i, c := range cands {
			if c.Silhouette > cands[chosen].Silhouette {
				chosen = i
			}
		}
	}
	m := build(t.Features, scales, fits[chosen], o)
	m.Criterion, m.Candidates, m.Rows = criterion, cands, n

	labels := make([]int, n)
	sizes := make([]int, m.K)
	for i := range n {
		labels[i], _ = nearest(p.row(i), m.Centres)
		sizes[labels[i]]++
	}
	for c := range m.Clusters {
		m.Clusters[c].Size = sizes[c]
		m.Clusters[c].Share = float64(sizes[c]) / float64(n)
	}
	describeAll(m)
	return m, labels, nil
}

// build makes the model of one fit, its clusters ordered by size (largest first), then by centre.
func build(fs []Feature, scales []Scale, f kmResult, o Options) *Model {
	sizes := make([]int, f.k)
	for _, c := range f.labels {
		sizes[c]++
	}
	order := make([]int, f.k)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := cmp.Compare(sizes[b], sizes[a]); c != 0 {
			return c
		}
		return slices.Compare(f.centres[a], f.centres[b])
	})
	m := &Model{Version: Version, Features: slices.Clone(fs), Scales: scales, K: f.k, Seed: o.Seed, Noun: o.Noun}
	for _, c := range order {
		ctr := f.centres[c]
		cl := Cluster{Values: make([]float64, len(fs)), Z: make([]float64, len(fs))}
		for j, ft := range fs {
			z := ctr[j] / ft.weight()
			if scales[j].SD == 0 {
				z = 0
			}
			cl.Z[j] = z
			cl.Values[j] = ft.inverse(z*scales[j].SD + scales[j].Mean)
		}
		m.Centres = append(m.Centres, slices.Clone(ctr))
		m.Clusters = append(m.Clusters, cl)
	}
	return m
}

// meanVariance is the mean over coordinates of their variance.
func meanVariance(p points) float64 {
	return totalSS(p) / float64(p.n) / float64(p.d)
}

// totalSS is the sum of squared distances of the rows to their mean.
func totalSS(p points) float64 {
	mean := make([]float64, p.d)
	for i := range p.n {
		for j, v := range p.row(i) {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(p.n)
	}
	var ss float64
	for i := range p.n {
		ss += sqdist(p.row(i), mean)
	}
	return ss
}

func calinskiHarabasz(tss, within float64, n, k int) float64 {
	if k < 2 || n <= k || !(within > 1e-12*tss) {
		return 0
	}
	between := max(tss-within, 0)
	return (between / float64(k-1)) / (within / float64(n-k))
}

// Summary is the model in a few lines: the criterion, then one line per cluster with its name,
// size, share and description.
func (m *Model) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d clusters of %d %s (%s)", m.K, m.Rows, m.Noun, m.Criterion)
	for _, c := range m.Candidates {
		if c.K == m.K {
			fmt.Fprintf(&b, ", silhouette %.3f", c.Silhouette)
		}
	}
	b.WriteString("\n")
	for i, c := range m.Clusters {
		fmt.Fprintf(&b, "%d. %s: %s %s (%.1f%%). %s\n", i, c.Name, groupDigits(float64(c.Size)), m.Noun, 100*c.Share, c.Description)
	}
	return b.String()
}

// AdjustedRand is the adjusted Rand index of two labellings of the same rows (Hubert & Arabie
// 1985): 1 for the same partition whatever the label numbers, about 0 for unrelated ones. Two
// labellings that each put every row in one cluster score 1.
func AdjustedRand(a, b []int) (float64, error) {
	if len(a) != len(b) || len(a) == 0 {
		return 0, invalid("labellings of %d and %d rows", len(a), len(b))
	}
	if len(a) == 1 {
		return 1, nil
	}
	type pair struct{ a, b int }
	joint := map[pair]int64{}
	ca, cb := map[int]int64{}, map[int]int64{}
	for i := range a {
		joint[pair{a[i], b[i]}]++
		ca[a[i]]++
		cb[b[i]]++
	}
	// Integer sums: exact whatever the maps' order.
	choose2 := func(m int64) int64 { return m * (m - 1) / 2 }
	var sj, sa, sb int64
	for _, v := range joint {
		sj += choose2(v)
	}
	for _, v := range ca {
		sa += choose2(v)
	}
	for _, v := range cb {
		sb += choose2(v)
	}
	total := float64(choose2(int64(len(a))))
	expected := float64(sa) * float64(sb) / total
	maxIndex := (float64(sa) + float64(sb)) / 2
	if maxIndex == expected {
		return 1, nil
	}
	return (float64(sj) - expected) / (maxIndex - expected), nil
}
