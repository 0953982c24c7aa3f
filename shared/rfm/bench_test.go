package rfm

import (
	"sync"
	"testing"
)

// Benchmarks; method and results in README.md. Populations are synthetic (population, visitors)
// and built once, outside the timed loops.

var (
	million         = sync.OnceValue(func() []Customer { return population(1_000_000, 42) })
	millionVisitors = sync.OnceValue(func() []Visitor { return visitors(1_000_000, 42) })
)

// BenchmarkScore applies stored cut points to one customer per operation.
func BenchmarkScore(b *testing.B) {
	pop := million()
	cp, err := Fit(pop[:10_000], analysisDate, ConventionR)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := cp.Score(pop[n%len(pop)], analysisDate); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "customers/s")
}

// BenchmarkFit1e6 computes cut points on a million customers per operation.
func BenchmarkFit1e6(b *testing.B) {
	for _, conv := range []Convention{ConventionR, ConventionNTile} {
		b.Run(string(conv), func(b *testing.B) {
			pop := million()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if _, err := Fit(pop, analysisDate, conv); err != nil {
					b.Fatal(err)
				}
				n += len(pop)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "customers/s")
		})
	}
}

// BenchmarkEngagementScore applies stored engagement cut points to one visitor per operation.
func BenchmarkEngagementScore(b *testing.B) {
	pop := millionVisitors()
	e, err := FitEngagement(pop[:10_000], analysisDate, ConventionR)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := e.Score(pop[n%len(pop)], analysisDate); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "visitors/s")
}

// BenchmarkFitEngagement1e6 computes the index and cut points on a million visitors per operation.
func BenchmarkFitEngagement1e6(b *testing.B) {
	pop := millionVisitors()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := FitEngagement(pop, analysisDate, ConventionR); err != nil {
			b.Fatal(err)
		}
		n += len(pop)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "visitors/s")
}
