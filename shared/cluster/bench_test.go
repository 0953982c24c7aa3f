package cluster

import (
	"testing"
)

// benchTable is 100,000 rows of 10 features: 6 overlapping Gaussian blobs (centres 3 standard
// deviations apart on the coordinates that tell them apart), rows interleaved.
func benchTable(n int) Table {
	t, _ := blobs(6, n/6, 10, 3, 1)
	return t
}

// BenchmarkFit100k chooses k in 2..8 on 100,000 rows × 10 features with the default options
// (5 restarts per k, silhouette on 5,000 rows).
func BenchmarkFit100k(b *testing.B) {
	t := benchTable(100_000)
	b.ResetTimer()
	for b.Loop() {
		m, _, err := Fit(t, Options{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(m.K), "k")
	}
}

// BenchmarkFit100kFixedK fits k = 8 only: the cost of one k, 5 restarts, no criterion to compare.
func BenchmarkFit100kFixedK(b *testing.B) {
	t := benchTable(100_000)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Fit(t, Options{K: 8, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAssign100k assigns 100,000 rows of 10 features to one of 8 clusters per operation,
// reporting the time per row.
func BenchmarkAssign100k(b *testing.B) {
	t := benchTable(100_000)
	m, _, err := Fit(t, Options{K: 8, Seed: 1, Restarts: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range t.Rows {
			if _, _, err := m.Assign(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(t.Rows)), "ns/row")
}
