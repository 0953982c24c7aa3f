package lookalike

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// checkScore fails unless s is a finite number in [0, 1].
func checkScore(t *testing.T, what string, s float64) {
	t.Helper()
	if !(s >= 0 && s <= 1) || math.IsNaN(s) || math.IsInf(s, 0) {
		t.Fatalf("%s: score %v", what, s)
	}
}

var extremes = []float64{0, math.Copysign(0, -1), 1, -1, 1e-308, -1e-308, math.SmallestNonzeroFloat64,
	1e15, -1e15, 1e308, -1e308, math.MaxFloat64, -math.MaxFloat64, math.NaN(), math.Inf(1), math.Inf(-1)}

// Scores are finite and in [0, 1] for any input, finite or not, for both methods.
func TestScoreAlwaysInUnitInterval(t *testing.T) {
	data, seed := synthetic(1000, 0.1, 8)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, method := range []Method{Logistic, Centroid} {
		m, err := Train(seed, data, Options{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20_000 {
			row := make([]float64, rng.IntN(len(m.Columns)+3))
			for j := range row {
				if rng.IntN(2) == 0 {
					row[j] = extremes[rng.IntN(len(extremes))]
				} else {
					row[j] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-10))
				}
			}
			checkScore(t, fmt.Sprintf("%s row %d %v", method, i, row), m.Score(row))
			for _, c := range m.ExplainRow(row, 0) {
				if math.IsNaN(c.Weight) || math.IsInf(c.Weight, 0) {
					t.Fatalf("%s row %v: contribution %+v", method, row, c)
				}
			}
		}
	}
}

func FuzzScore(f *testing.F) {
	data, seed := synthetic(500, 0.1, 10)
	var models []Model
	for _, method := range []Method{Logistic, Centroid} {
		m, err := Train(seed, data, Options{Method: method})
		if err != nil {
			f.Fatal(err)
		}
		models = append(models, m)
	}
	f.Add(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
	f.Add(1e308, -1e308, 5.0, 1.0, math.MaxFloat64, -math.MaxFloat64, 3.0, 2.0, 1.0)
	f.Add(math.NaN(), math.Inf(1), math.Inf(-1), 1e-320, 7.0, 0.5, 100.0, 1e9, -3.0)
	f.Fuzz(func(t *testing.T, a, b, c, d, e, g, h, i, j float64) {
		row := []float64{a, b, c, d, e, g, h, i, j}
		for _, m := range models {
			checkScore(t, fmt.Sprintf("%s %v", m.Method, row), m.Score(row))
		}
	})
}

// FuzzTrain builds a small population from the bytes: either any float64 bit patterns
// (NaN, ±Inf, huge) or small integers. Train either refuses it with ErrInvalid (or, never
// seen, ErrNoConvergence) or gives a valid model whose scores are in [0, 1].
func FuzzTrain(f *testing.F) {
	f.Add([]byte{1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180}, uint64(0b1011), false)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint64(1), true)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}, uint64(3), false)
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0xff, 1, 2, 3, 4, 5, 6, 7, 8}, uint64(1), false)
	f.Fuzz(func(t *testing.T, raw []byte, mask uint64, centroid bool) {
		if len(raw) < 2 {
			return
		}
		const d = 3
		ints := raw[0]%2 == 1
		var vals []float64
		if ints {
			for _, b := range raw[1:] {
				vals = append(vals, float64(int(b)-128))
			}
		} else {
			for k := 1; k+8 <= len(raw); k += 8 {
				vals = append(vals, math.Float64frombits(binary.LittleEndian.Uint64(raw[k:])))
			}
		}
		n := min(len(vals)/d, 64)
		if n == 0 {
			return
		}
		data := Features{Columns: []Column{{Name: "a", Transform: Log}, {Name: "b", Transform: Linear}, {Name: "c", Transform: Log}}}
		var seed []string
		for i := range n {
			id := fmt.Sprint(i)
			data.IDs = append(data.IDs, id)
			data.Rows = append(data.Rows, vals[i*d:(i+1)*d])
			if mask>>(i%64)&1 == 1 {
				seed = append(seed, id)
			}
		}
		opts := Options{}
		if centroid {
			opts.Method = Centroid
		}
		m, err := Train(seed, data, opts)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNoConvergence) {
				t.Fatalf("error %v is neither ErrInvalid nor ErrNoConvergence", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("trained model does not validate: %v", err)
		}
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatal(err)
		}
		for _, row := range data.Rows {
			checkScore(t, fmt.Sprint(row), m.Score(row))
		}
		for _, x := range extremes {
			checkScore(t, fmt.Sprint(x), m.Score([]float64{x, x, x}))
		}
	})
}
