package lookalike

import (
	"math"
	"math/rand/v2"
	"testing"
)

// benchData is a synthetic population of n profiles with 15 columns: the first eight of
// ProfileColumns and a noise column (synthetic), then engaged seconds, RFM scores, P(alive) and
// CLV; the seed is a tenth of it.
func benchData(n int) (Features, []string) {
	f, seed := synthetic(n, 0.1, 11)
	f.Columns = append(f.Columns, ProfileColumns[8:14]...)
	rng := rand.New(rand.NewPCG(12, 13))
	for i := range f.Rows {
		f.Rows[i] = append(f.Rows[i],
			math.Floor(math.Exp(4+rng.NormFloat64())),
			float64(1+rng.IntN(5)), float64(1+rng.IntN(5)), float64(1+rng.IntN(5)),
			rng.Float64(),
			math.Exp(4+1.2*rng.NormFloat64()))
	}
	return f, seed
}

const benchRows = 100_000

// BenchmarkScore scores one profile per operation, walking 100,000 rows (about 13 MB, more than
// the CPU cache) in order.
func BenchmarkScore(b *testing.B) {
	data, seed := benchData(benchRows)
	for _, method := range []Method{Logistic, Centroid} {
		m, err := Train(seed, data, Options{Method: method})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(method), func(b *testing.B) {
			var sink float64
			i := 0
			for b.Loop() {
				sink += m.Score(data.Rows[i])
				if i++; i == len(data.Rows) {
					i = 0
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "profiles/s")
			if math.IsNaN(sink) {
				b.Fatal(sink)
			}
		})
	}
}

// BenchmarkTrain trains on 100,000 profiles (10,000 in the seed, 15 columns): "sampled" with the
// default bounds (every seed member, 50,000 of the others), "all" on every row, "centroid" the
// centroid model on the default sample.
func BenchmarkTrain(b *testing.B) {
	data, seed := benchData(benchRows)
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"sampled", Options{}},
		{"all", Options{MaxNegatives: benchRows}},
		{"centroid", Options{Method: Centroid}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var m Model
			for b.Loop() {
				var err error
				if m, err = Train(seed, data, c.opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(m.Training.Iterations), "iterations")
		})
	}
}

// BenchmarkTopN offers 100,000 scores per operation to a TopN keeping 1,000.
func BenchmarkTopN(b *testing.B) {
	data, seed := benchData(benchRows)
	m, err := Train(seed, data, Options{})
	if err != nil {
		b.Fatal(err)
	}
	scores := make([]float64, len(data.Rows))
	for i, r := range data.Rows {
		scores[i] = m.Score(r)
	}
	for b.Loop() {
		t := NewTopN(1000)
		for i, s := range scores {
			t.Add(data.IDs[i], s)
		}
		if len(t.Result()) != 1000 {
			b.Fatal("kept", len(t.Result()))
		}
	}
}
