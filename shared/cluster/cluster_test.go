package cluster

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blobs is k spherical Gaussian blobs of n rows each in d linear features: blob b is centred on
// sep × the binary digits of b+1 (coordinate j takes digit j mod the number of digits k needs, so
// every coordinate tells blobs apart), standard deviation 1. The truth is each row's blob.
func blobs(k, n, d int, sep float64, seed uint64) (Table, []int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	t := Table{}
	for j := range d {
		t.Features = append(t.Features, Feature{Name: "x" + string(rune('a'+j)), Transform: Linear})
	}
	bits := 1
	for k+1 > 1<<bits {
		bits++
	}
	var truth []int
	for b := range k {
		for range n {
			r := make([]float64, d)
			for j := range d {
				if (b+1)>>(j%bits)&1 == 1 {
					r[j] = sep
				}
				r[j] += rng.NormFloat64()
			}
			t.Rows = append(t.Rows, r)
			truth = append(truth, b)
		}
	}
	// Interleave the blobs so that row order says nothing.
	perm := rng.Perm(len(t.Rows))
	rows, tr := make([][]float64, len(perm)), make([]int, len(perm))
	for i, p := range perm {
		rows[i], tr[i] = t.Rows[p], truth[p]
	}
	t.Rows = rows
	return t, tr
}

func TestPlantedK(t *testing.T) {
	for _, d := range []int{2, 5} {
		tb, truth := blobs(4, 250, d, 10, 1)
		m, labels, err := Fit(tb, Options{Seed: 42})
		require.NoError(t, err)
		assert.Equal(t, 4, m.K, "d=%d: candidates %+v", d, m.Candidates)
		assert.Equal(t, "silhouette", m.Criterion)
		assert.Len(t, m.Candidates, 7) // k = 2..8
		ari, err := AdjustedRand(labels, truth)
		require.NoError(t, err)
		assert.Equal(t, 1.0, ari)
		for i, c := range m.Candidates {
			assert.Equal(t, i+2, c.K)
			if c.K != 4 {
				assert.Less(t, c.Silhouette, m.Candidates[2].Silhouette)
			}
		}
		// Calinski–Harabasz agrees here; the elbow: inertia falls steeply up to 4, little after.
		best := 0
		for i, c := range m.Candidates {
			if c.CalinskiHarabasz > m.Candidates[best].CalinskiHarabasz {
				best = i
			}
		}
		assert.Equal(t, 4, m.Candidates[best].K)
		assert.Greater(t, m.Candidates[1].Inertia-m.Candidates[2].Inertia, 10*(m.Candidates[2].Inertia-m.Candidates[3].Inertia))
		for _, c := range m.Clusters {
			assert.Equal(t, 250, c.Size)
			assert.Equal(t, 0.25, c.Share)
		}
	}
}

func TestPlantedKVariousK(t *testing.T) {
	for k := 2; k <= 6; k++ {
		tb, truth := blobs(k, 120, 4, 12, uint64(k))
		m, labels, err := Fit(tb, Options{Seed: 9})
		require.NoError(t, err)
		assert.Equal(t, k, m.K, "planted %d: %+v", k, m.Candidates)
		ari, _ := AdjustedRand(labels, truth)
		assert.Equal(t, 1.0, ari, "planted %d", k)
	}
}

func TestSameSeedIdentical(t *testing.T) {
	tb, _ := blobs(5, 200, 3, 3, 3) // overlapping blobs: the seed matters
	m1, l1, err := Fit(tb, Options{Seed: 7})
	require.NoError(t, err)
	m2, l2, err := Fit(tb, Options{Seed: 7})
	require.NoError(t, err)
	assert.Equal(t, l1, l2)
	j1, _ := json.Marshal(m1)
	j2, _ := json.Marshal(m2)
	assert.Equal(t, string(j1), string(j2))
	assert.True(t, reflect.DeepEqual(m1, m2))
}

func TestSeedsRecoverSamePartition(t *testing.T) {
	tb, truth := blobs(4, 200, 3, 10, 11)
	var first []int
	for seed := uint64(1); seed <= 6; seed++ {
		m, labels, err := Fit(tb, Options{Seed: seed})
		require.NoError(t, err)
		assert.Equal(t, 4, m.K)
		ari, _ := AdjustedRand(labels, truth)
		assert.Equal(t, 1.0, ari, "seed %d", seed)
		if first == nil {
			first = labels
		}
		// Clusters are ordered by size, then centre: the same partition has the same labels.
		assert.Equal(t, first, labels, "seed %d", seed)
	}
	// Unequal, overlapping blobs: different seeds may land in different local optima, but they
	// agree almost everywhere.
	tb, _ = blobs(3, 300, 2, 4, 5)
	var ref []int
	for seed := uint64(1); seed <= 4; seed++ {
		_, labels, err := Fit(tb, Options{K: 3, Seed: seed})
		require.NoError(t, err)
		if ref == nil {
			ref = labels
			continue
		}
		ari, _ := AdjustedRand(ref, labels)
		assert.GreaterOrEqual(t, ari, 0.99, "seed %d", seed)
	}
}

func TestAssignReproducesFit(t *testing.T) {
	tb, _ := blobs(3, 150, 4, 2, 4) // overlapping: many rows near a boundary
	tb.Features[1].Transform = Log1p
	tb.Features[2].Weight = 2
	for _, r := range tb.Rows {
		r[1] = math.Abs(r[1]) * 100
	}
	m, labels, err := Fit(tb, Options{Seed: 1})
	require.NoError(t, err)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	var back Model
	require.NoError(t, json.Unmarshal(b, &back))
	assert.True(t, reflect.DeepEqual(m, &back), "JSON round trip")
	for i, r := range tb.Rows {
		c, dist, err := back.Assign(r)
		require.NoError(t, err)
		require.Equal(t, labels[i], c, "row %d", i)
		// The distance is to the centre in weighted z-scores.
		z := make([]float64, len(r))
		for j, f := range back.Features {
			z[j] = (f.transform(r[j]) - back.Scales[j].Mean) / back.Scales[j].SD * f.weight()
		}
		assert.InDelta(t, math.Sqrt(sqdist(z, back.Centres[c])), dist, 1e-9)
	}
	// Sizes are those of the labels.
	sizes := make([]int, m.K)
	for _, l := range labels {
		sizes[l]++
	}
	for c, cl := range m.Clusters {
		assert.Equal(t, sizes[c], cl.Size)
		if c > 0 {
			assert.LessOrEqual(t, cl.Size, m.Clusters[c-1].Size, "largest first")
		}
	}
}

// describeTable is three groups whose words are known: 50 recent, frequent, high-value customers
// (12 days, 9 orders, 2,300), 30 lapsed one-order low spenders (300 days, 1 order, 40) and 20
// recent one-order low spenders (12 days, 1 order, 40), plus a constant feature.
func describeTable() Table {
	t := Table{Features: []Feature{
		{Name: "recency_days", Transform: Log1p, High: "lapsed", Low: "recent", Shows: "recency {} days"},
		{Name: "orders", Transform: Log1p, High: "frequent", Low: "one-order", Shows: "{} orders", ShowsOne: "{} order"},
		{Name: "spend", Transform: Log1p, High: "high-value", Low: "low-value", Shows: "spend {}"},
		{Name: "country", Transform: Share, Shows: "{} abroad"},
	}}
	add := func(n int, r ...float64) {
		for range n {
			t.Rows = append(t.Rows, append([]float64(nil), r...))
			t.IDs = append(t.IDs, "c"+string(rune('A'+len(t.IDs)%26))+strings.Repeat("x", len(t.IDs)))
		}
	}
	add(50, 12, 9, 2300, 0.1)
	add(30, 300, 1, 40, 0.1)
	add(20, 12, 1, 40, 0.1)
	return t
}

func TestDescribe(t *testing.T) {
	m, _, err := Fit(describeTable(), Options{K: 3, Seed: 1})
	require.NoError(t, err)
	assert.Equal(t, "fixed", m.Criterion)
	var got []string
	for _, c := range m.Clusters {
		got = append(got, c.Name+" | "+c.Description)
	}
	// z-scores of the three centres (log1p, population sd): recency −0.82 / +1.22 / −0.82,
	// orders +1.00 / −1.00 / −1.00, spend +1.00 / −1.00 / −1.00; words in order of |z| (equal
	// magnitudes in the features' order), at |z| ≥ 0.5; the constant feature never speaks.
	want := []string{
		"frequent high-value recent | Frequent, high-value, recent customers (9 orders, spend 2,300, recency 12 days)",
		"lapsed one-order low-value | Lapsed, one-order, low-value customers (recency 300 days, 1 order, spend 40)",
		"one-order low-value recent | One-order, low-value, recent customers (1 order, spend 40, recency 12 days)",
	}
	assert.Equal(t, want, got)
	assert.Equal(t, []int{50, 30, 20}, []int{m.Clusters[0].Size, m.Clusters[1].Size, m.Clusters[2].Size})
	assert.InDeltaSlice(t, []float64{12, 9, 2300, 0.1}, m.Clusters[0].Values, 1e-9)
	assert.Equal(t, Scale{Mean: 0.1, SD: 0}, Scale{Mean: math.Round(m.Scales[3].Mean*1e12) / 1e12, SD: m.Scales[3].SD})
	t.Log("\n" + m.Summary())
	assert.Contains(t, m.Summary(), "0. frequent high-value recent: 50 customers (50.0%). Frequent")
}

func TestDescribeUniqueNames(t *testing.T) {
	// Two groups differ only in a feature below the word threshold: the names would be alike.
	tb := Table{Features: []Feature{{Name: "a", Transform: Linear}, {Name: "b", Transform: Linear}}}
	for i := range 40 {
		tb.Rows = append(tb.Rows, []float64{0, float64(i % 2)}, []float64{10, float64(i % 2)})
	}
	m, _, err := Fit(tb, Options{K: 4, Seed: 3})
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, c := range m.Clusters {
		assert.False(t, seen[c.Name], c.Name)
		seen[c.Name] = true
	}
	t.Log("\n" + m.Summary())

	// No feature reaches the threshold: "typical".
	m1, _, err := Fit(tb, Options{K: 1})
	require.NoError(t, err)
	assert.Equal(t, "typical", m1.Clusters[0].Name)
	assert.Equal(t, "Typical customers (a 5, b 0.5)", m1.Clusters[0].Description)
}

func TestNumberWords(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 0.001: "0", 0.042: "0.042", 0.5: "0.5", 1: "1", 2.44: "2.4", 9: "9", 9.96: "10",
		12: "12", 340.4: "340", 999.4: "999", 999.6: "1,000", 2314: "2,300", 15_499: "15,000",
		123_456: "120,000", 999_999: "1 million", 1_234_567: "1.2 million", 2.5e9: "2.5 billion",
		-2314: "-2,300", -0.001: "0",
	} {
		assert.Equal(t, want, number(v), "%v", v)
	}
	for v, want := range map[float64]string{0: "0%", 0.025: "2.5%", 0.35: "35%", 1: "100%"} {
		assert.Equal(t, want, percent(v), "%v", v)
	}
	assert.Equal(t, "1,234,567", groupDigits(1234567))
	assert.Equal(t, "spend 12", show(Feature{Name: "s", Shows: "spend"}, 12))
	assert.Equal(t, "s 12", show(Feature{Name: "s"}, 12))
}

func TestConstantFeature(t *testing.T) {
	tb, _ := blobs(3, 50, 2, 10, 2)
	tb.Features = append(tb.Features, Feature{Name: "same", Transform: Log1p})
	for i := range tb.Rows {
		tb.Rows[i] = append(tb.Rows[i], 7)
	}
	m, labels, err := Fit(tb, Options{Seed: 5})
	require.NoError(t, err)
	assert.Equal(t, 3, m.K)
	assert.Equal(t, 0.0, m.Scales[2].SD)
	for _, c := range m.Centres {
		assert.Equal(t, 0.0, c[2])
	}
	// A new row's value of a constant feature does not matter.
	c1, d1, _ := m.Assign([]float64{tb.Rows[0][0], tb.Rows[0][1], 7})
	c2, d2, _ := m.Assign([]float64{tb.Rows[0][0], tb.Rows[0][1], 1e6})
	assert.Equal(t, labels[0], c1)
	assert.Equal(t, c1, c2)
	assert.Equal(t, d1, d2)
	for _, c := range m.Clusters {
		assert.NotContains(t, c.Description, "same")
	}
}

func TestNegativeLog1p(t *testing.T) {
	f := Feature{Transform: Log1p}
	for _, v := range []float64{-1000, -1, -0.5, 0, 0.5, 3, 1e6} {
		assert.InDelta(t, v, f.inverse(f.transform(v)), 1e-9*math.Max(1, math.Abs(v)))
	}
	assert.Less(t, f.transform(-2), f.transform(-1))
}

func TestEmptyClusterReseeded(t *testing.T) {
	tb, _ := blobs(2, 20, 2, 10, 1)
	p := points{n: len(tb.Rows), d: 2}
	for _, r := range tb.Rows {
		p.x = append(p.x, r...)
	}
	// The third centre is far from every row: the first assignment leaves it empty.
	res := lloyd(p, [][]float64{{0, 0}, {10, 10}, {1000, 1000}}, 100, -1)
	counts := make([]int, 3)
	for _, l := range res.labels {
		counts[l]++
	}
	for c, n := range counts {
		assert.Positive(t, n, "cluster %d", c)
	}
	assert.Less(t, res.centres[2][0], 100.0)
}

func TestSilhouetteExact(t *testing.T) {
	// Brute force on a small set, against the one-pass version with several labellings.
	rng := rand.New(rand.NewPCG(1, 2))
	p := points{n: 40, d: 3}
	for range p.n * p.d {
		p.x = append(p.x, rng.NormFloat64())
	}
	var fits []kmResult
	for k := 2; k <= 5; k++ {
		f := kmResult{k: k, labels: make([]int, p.n)}
		for i := range f.labels {
			f.labels[i] = rng.IntN(k)
		}
		f.labels[0] = 0 // a singleton-free check is not needed: singletons score 0
		fits = append(fits, f)
	}
	sample := sampleRows(p.n, p.n, 0)
	got := silhouettes(p, sample, fits)
	for t0, f := range fits {
		var total float64
		for i := range p.n {
			var in, nin float64
			out := map[int][2]float64{}
			for j := range p.n {
				if i == j {
					continue
				}
				dd := math.Sqrt(sqdist(p.row(i), p.row(j)))
				if f.labels[j] == f.labels[i] {
					in += dd
					nin++
				} else {
					o := out[f.labels[j]]
					out[f.labels[j]] = [2]float64{o[0] + dd, o[1] + 1}
				}
			}
			if nin == 0 {
				continue
			}
			a, b := in/nin, math.Inf(1)
			for _, o := range out {
				b = math.Min(b, o[0]/o[1])
			}
			total += (b - a) / math.Max(a, b)
		}
		assert.InDelta(t, total/float64(p.n), got[t0], 1e-12, "k=%d", f.k)
	}
	s := sampleRows(1000, 10, 3)
	assert.Len(t, s, 10)
	assert.Equal(t, s, sampleRows(1000, 10, 3))
	assert.NotEqual(t, s, sampleRows(1000, 10, 4))
}

func TestAdjustedRand(t *testing.T) {
	for _, c := range []struct {
		a, b []int
		want float64
	}{
		{[]int{0, 0, 1, 1}, []int{1, 1, 0, 0}, 1},
		{[]int{0, 0, 1, 1}, []int{0, 0, 1, 2}, 0.5714285714285715}, // scikit-learn's documented example
		{[]int{0, 0, 0, 0}, []int{0, 1, 2, 3}, 0},
		{[]int{0, 0, 1, 2}, []int{0, 0, 1, 1}, 0.5714285714285715},
		{[]int{0, 0, 0}, []int{5, 5, 5}, 1},
		{[]int{3}, []int{4}, 1},
	} {
		got, err := AdjustedRand(c.a, c.b)
		require.NoError(t, err)
		assert.InDelta(t, c.want, got, 1e-15, "%v %v", c.a, c.b)
	}
	_, err := AdjustedRand([]int{1}, []int{1, 2})
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestErrors(t *testing.T) {
	good := func() Table {
		return Table{Features: []Feature{{Name: "a", Transform: Linear}, {Name: "s", Transform: Share}},
			Rows: [][]float64{{1, 0.1}, {2, 0.2}, {3, 0.3}, {4, 0.4}}}
	}
	cases := map[string]func(*Table, *Options){
		"no rows":           func(t *Table, _ *Options) { t.Rows = nil },
		"no features":       func(t *Table, _ *Options) { t.Features = nil },
		"NaN":               func(t *Table, _ *Options) { t.Rows[1][0] = math.NaN() },
		"Inf":               func(t *Table, _ *Options) { t.Rows[2][0] = math.Inf(-1) },
		"huge":              func(t *Table, _ *Options) { t.Rows[2][0] = 1e101 },
		"short row":         func(t *Table, _ *Options) { t.Rows[3] = t.Rows[3][:1] },
		"ids":               func(t *Table, _ *Options) { t.IDs = []string{"a"} },
		"repeated id":       func(t *Table, _ *Options) { t.IDs = []string{"a", "b", "a", "c"} },
		"share > 1":         func(t *Table, _ *Options) { t.Rows[0][1] = 1.5 },
		"transform":         func(t *Table, _ *Options) { t.Features[0].Transform = "sqrt" },
		"duplicate feature": func(t *Table, _ *Options) { t.Features[1].Name = "a" },
		"negative weight":   func(t *Table, _ *Options) { t.Features[0].Weight = -1 },
		"k > rows":          func(_ *Table, o *Options) { o.K = 5 },
		"k > max":           func(_ *Table, o *Options) { o.K = MaxClusters + 1 },
		"negative k":        func(_ *Table, o *Options) { o.K = -1 },
		"min k 1":           func(_ *Table, o *Options) { o.MinK = 1 },
		"min k > rows-1":    func(_ *Table, o *Options) { o.MinK = 4 },
		"max < min":         func(_ *Table, o *Options) { o.MinK, o.MaxK = 3, 2 },
		"k and range":       func(_ *Table, o *Options) { o.K, o.MaxK = 2, 3 },
		"identical rows": func(t *Table, _ *Options) {
			for _, r := range t.Rows {
				r[0], r[1] = 1, 0.5
			}
		},
	}
	for name, mutate := range cases {
		tb, o := good(), Options{}
		mutate(&tb, &o)
		_, _, err := Fit(tb, o)
		assert.ErrorIs(t, err, ErrInvalid, name)
	}
	tb := good()
	m, _, err := Fit(tb, Options{})
	require.NoError(t, err)
	assert.Equal(t, 2, m.K, "4 rows: k ≤ 3")
	for name, row := range map[string][]float64{
		"short": {1}, "NaN": {math.NaN(), 0.1}, "Inf": {1, math.Inf(1)}, "share": {1, -0.1},
	} {
		_, _, err := m.Assign(row)
		assert.ErrorIs(t, err, ErrInvalid, name)
	}
	var nilModel *Model
	_, _, err = nilModel.Assign([]float64{1, 0.1})
	assert.ErrorIs(t, err, ErrInvalid)
	bad := *m
	bad.Centres = [][]float64{{1}}
	_, _, err = bad.Assign([]float64{1, 0.1})
	assert.ErrorIs(t, err, ErrInvalid)
	assert.True(t, errors.Is(err, ErrInvalid))
}

func TestFewDistinctRows(t *testing.T) {
	// Three distinct points, many copies: k is chosen among 2..3 only.
	tb := Table{Features: []Feature{{Name: "a", Transform: Linear}}}
	for i := range 30 {
		tb.Rows = append(tb.Rows, []float64{float64(i % 3 * 10)})
	}
	m, labels, err := Fit(tb, Options{Seed: 1})
	require.NoError(t, err)
	assert.Equal(t, 3, m.K)
	assert.Len(t, m.Candidates, 2)
	assert.Equal(t, 1.0, m.Candidates[1].Silhouette)
	assert.Equal(t, 0.0, m.Candidates[1].CalinskiHarabasz, "no within-cluster spread: undefined")
	assert.Len(t, labels, 30)
	_, _, err = Fit(tb, Options{K: 4})
	assert.ErrorIs(t, err, ErrInvalid)
}
