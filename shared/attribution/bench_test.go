package attribution

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
)

// Benchmarks; method and results in README.md. Synthetic path sets are generated deterministically
// (synthetic) once, outside the timed loops.
//
//	GOMAXPROCS=1 go test ./shared/attribution -run '^$' -bench . -count 6

var million = sync.OnceValue(func() []Path { return synthetic(1_000_000, 15, 1) })

// synthetic returns n single-journey paths over the given number of channels, from a fixed seed:
// channel k is drawn with probability ∝ 1/(k+1) (a few big channels, a long tail), a path has
// 1 + Geometric(⅓) touches (mean 3, at most 20), and converts with probability
// 1 − Π(1 − bₖ) over its distinct channels, bₖ between 1 % and 8 % by channel, for a value uniform
// in 10–100; otherwise it counts one null.
func synthetic(n, channels int, seed uint64) []Path {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	names := make([]string, channels)
	cum := make([]float64, channels)
	boost := make([]float64, channels)
	var total float64
	for k := range channels {
		names[k] = fmt.Sprintf("ch%03d", k)
		total += 1 / float64(k+1)
		cum[k] = total
		boost[k] = 0.01 + 0.07*rng.Float64()
	}
	paths := make([]Path, n)
	for i := range paths {
		length := 1
		for length < 20 && rng.IntN(3) != 0 {
			length++
		}
		p := Path{Channels: make([]string, length)}
		notConverting := 1.0
		var seen uint64
		for j := range p.Channels {
			u := rng.Float64() * total
			k := 0
			for k < channels-1 && cum[k] < u {
				k++
			}
			p.Channels[j] = names[k]
			if k < 64 && seen&(1<<k) == 0 {
				seen |= 1 << k
				notConverting *= 1 - boost[k]
			}
		}
		if rng.Float64() >= notConverting {
			p.Conversions, p.Value = 1, 10+90*rng.Float64()
		} else {
			p.Nulls = 1
		}
		paths[i] = p
	}
	return paths
}

// BenchmarkModels runs every model on PathData (10,000 aggregated paths) and on a million synthetic
// single-journey paths over 15 channels; paths/s is per core with GOMAXPROCS=1.
func BenchmarkModels(b *testing.B) {
	sets := []struct {
		name  string
		paths func() []Path
	}{
		{"PathData", func() []Path { return pathData(b) }},
		{"synthetic-1M", million},
	}
	for _, set := range sets {
		for _, m := range Models() {
			b.Run(set.name+"/"+m.Name, func(b *testing.B) {
				if _, err := os.Stat(pathDataFile()); set.name == "PathData" && err != nil {
					b.Skip("PathData.csv missing:", err)
				}
				paths := set.paths()
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					if _, err := m.Run(paths, Options{}); err != nil {
						b.Fatal(err)
					}
					n += len(paths)
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "paths/s")
			})
		}
	}
}

// BenchmarkShapleyChannels measures Shapley as the number of channels grows, on 100,000 synthetic
// paths each: by enumeration up to 20 channels (n·2ⁿ), by the closed form beyond.
func BenchmarkShapleyChannels(b *testing.B) {
	benchmarkChannels(b, []int{4, 8, 12, 14, 16, 18, 20, 21, 50, 200}, Shapley)
}

// BenchmarkMarkovChannels measures the exact Markov model as the number of channels grows, on
// 100,000 synthetic paths each: counting is O(touches), the solve O(channels³).
func BenchmarkMarkovChannels(b *testing.B) {
	benchmarkChannels(b, []int{15, 100, 300, 1000}, Markov)
}

func benchmarkChannels(b *testing.B, counts []int, model func([]Path) (Result, error)) {
	for _, n := range counts {
		b.Run(fmt.Sprintf("channels=%d", n), func(b *testing.B) {
			paths := synthetic(100_000, n, uint64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := model(paths); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
