package lookalike

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// synthetic is a population of n profiles with the columns of ProfileColumns' first eight plus
// an irrelevant noise column; the seed (about share of it) is drawn with a probability rising
// in orders and revenue and falling in recency.
func synthetic(n int, share float64, seed uint64) (Features, []string) {
	rng := rand.New(rand.NewPCG(seed, 99))
	cols := append(slices.Clone(ProfileColumns[:8]), Column{Name: "noise", Transform: Linear})
	f := Features{Columns: cols}
	type scored struct {
		id string
		s  float64
	}
	var lat []scored
	for i := range n {
		orders := math.Floor(math.Exp(rng.NormFloat64() * 0.9))
		aov := math.Exp(3 + 0.6*rng.NormFloat64())
		revenue := orders * aov
		recency := math.Floor(math.Exp(4 + rng.NormFloat64()))
		tenure := recency + math.Floor(math.Exp(5+rng.NormFloat64()))
		gap := tenure / math.Max(orders, 1)
		visits := math.Floor(math.Exp(1 + rng.NormFloat64()))
		pages := visits * math.Floor(1+rng.ExpFloat64()*3)
		id := fmt.Sprintf("p%07d", i)
		f.IDs = append(f.IDs, id)
		f.Rows = append(f.Rows, []float64{recency, orders, revenue, aov, tenure, gap, visits, pages, rng.NormFloat64()})
		latent := 1.2*math.Log1p(orders) + 0.8*math.Log1p(revenue) - 0.5*math.Log1p(recency) + rng.NormFloat64()
		lat = append(lat, scored{id, latent})
	}
	slices.SortFunc(lat, func(a, b scored) int {
		if a.s != b.s {
			if a.s > b.s {
				return -1
			}
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
	var ids []string
	for _, s := range lat[:int(math.Ceil(share*float64(n)))] {
		ids = append(ids, s.id)
	}
	return f, ids
}

func TestAUCHandComputed(t *testing.T) {
	for _, c := range []struct {
		scores []float64
		labels []bool
		want   float64
	}{
		// Pairs (positive, negative): 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4: 3 of 4.
		{[]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}, 0.75},
		// Positive 1 ties negative 1 (½) and loses to 2; positive 3 beats both: 2.5 of 4.
		{[]float64{1, 1, 2, 3}, []bool{true, false, false, true}, 0.625},
		{[]float64{7, 7, 7, 7, 7}, []bool{true, false, true, false, false}, 0.5},
		{[]float64{1, 2, 3, 4}, []bool{false, false, true, true}, 1},
		{[]float64{4, 3, 2, 1}, []bool{false, false, true, true}, 0},
		// Ranks: 1 (0, neg), 2.5 (1, pos), 2.5 (1, neg), 4.5 (2, pos), 4.5 (2, pos), 6 (3, neg).
		// Positives' rank sum 11.5, U = 11.5 - 3·4/2 = 5.5 of 9.
		{[]float64{0, 1, 1, 2, 2, 3}, []bool{false, true, false, true, true, false}, 5.5 / 9},
	} {
		got, err := AUC(c.scores, c.labels)
		require.NoError(t, err)
		assert.InDelta(t, c.want, got, 1e-15, "%v %v", c.scores, c.labels)
		// The order of the input does not matter.
		s, l := slices.Clone(c.scores), slices.Clone(c.labels)
		slices.Reverse(s)
		slices.Reverse(l)
		again, err := AUC(s, l)
		require.NoError(t, err)
		assert.Equal(t, got, again)
	}
	for _, c := range []struct {
		scores []float64
		labels []bool
	}{
		{[]float64{1, 2}, []bool{true}},
		{[]float64{1, 2}, []bool{true, true}},
		{[]float64{1, 2}, []bool{false, false}},
		{[]float64{1, math.NaN()}, []bool{true, false}},
		{nil, nil},
	} {
		_, err := AUC(c.scores, c.labels)
		assert.ErrorIs(t, err, ErrInvalid, "%v %v", c.scores, c.labels)
	}
}

func TestLiftAtHandComputed(t *testing.T) {
	scores := []float64{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}
	labels := []bool{true, false, false, false, false, false, false, false, true, false}
	for _, c := range []struct{ fraction, want float64 }{
		{0.1, 5},    // top 1 holds 1 of 2 positives: 1/1 over 2/10
		{0.2, 2.5},  // top 2: 1/2 over 0.2
		{0.15, 2.5}, // ⌈1.5⌉ = 2
		{0.9, 1.0 / 0.9 * 2 / 2},
		{1, 1},
	} {
		got, err := LiftAt(scores, labels, c.fraction)
		require.NoError(t, err)
		assert.InDelta(t, c.want, got, 1e-12, "fraction %v", c.fraction)
	}
	// Ties across the boundary count with the share that fits: top 2 of 5 = the 2 and one of
	// the three 1s, a third of a positive expected; (1/3)/2 over 2/5 = 5/12.
	got, err := LiftAt([]float64{2, 1, 1, 1, 0}, []bool{false, true, false, false, true}, 0.4)
	require.NoError(t, err)
	assert.InDelta(t, 5.0/12, got, 1e-12)
	for _, f := range []float64{0, -0.1, 1.5, math.NaN()} {
		_, err := LiftAt(scores, labels, f)
		assert.ErrorIs(t, err, ErrInvalid, "fraction %v", f)
	}
}

func TestTrainRefusesBadInput(t *testing.T) {
	data, seed := synthetic(200, 0.1, 1)
	mutate := func(change func(f *Features)) Features {
		f := Features{Columns: slices.Clone(data.Columns), IDs: slices.Clone(data.IDs)}
		for _, r := range data.Rows {
			f.Rows = append(f.Rows, slices.Clone(r))
		}
		change(&f)
		return f
	}
	for _, c := range []struct {
		name string
		seed []string
		data Features
		opts Options
		want string
	}{
		{"empty seed", nil, data, Options{}, "no seed member"},
		{"seed not in the data", []string{"nobody"}, data, Options{}, "no seed member"},
		{"seed covers everything", data.IDs, data, Options{}, "covers all 200"},
		{"NaN", seed, mutate(func(f *Features) { f.Rows[3][1] = math.NaN() }), Options{}, `row "p0000003", column "orders": NaN`},
		{"+Inf", seed, mutate(func(f *Features) { f.Rows[4][0] = math.Inf(1) }), Options{}, "+Inf is not a finite number"},
		{"-Inf", seed, mutate(func(f *Features) { f.Rows[4][8] = math.Inf(-1) }), Options{}, "-Inf is not a finite number"},
		{"short row", seed, mutate(func(f *Features) { f.Rows[5] = f.Rows[5][:3] }), Options{}, "3 values for 9 columns"},
		{"long row", seed, mutate(func(f *Features) { f.Rows[5] = append(f.Rows[5], 1) }), Options{}, "10 values for 9 columns"},
		{"ids and rows", seed, mutate(func(f *Features) { f.IDs = f.IDs[:10] }), Options{}, "10 ids for 200 rows"},
		{"duplicate id", seed, mutate(func(f *Features) { f.IDs[1] = f.IDs[0] }), Options{}, "twice"},
		{"empty id", seed, mutate(func(f *Features) { f.IDs[1] = "" }), Options{}, "no id"},
		{"no columns", seed, Features{}, Options{}, "no columns"},
		{"duplicate column", seed, mutate(func(f *Features) { f.Columns[1].Name = f.Columns[0].Name }), Options{}, "twice"},
		{"unnamed column", seed, mutate(func(f *Features) { f.Columns[1].Name = "" }), Options{}, "no name"},
		{"bad transform", seed, mutate(func(f *Features) { f.Columns[1].Transform = "sqrt" }), Options{}, "transform"},
		{"too large", seed, mutate(func(f *Features) { f.Rows[0][8], f.Rows[1][8] = 1e308, 1e308 }), Options{}, "too large"},
		{"negative L2", seed, data, Options{L2: -1}, "L2"},
		{"NaN L2", seed, data, Options{L2: math.NaN()}, "L2"},
		{"method", seed, data, Options{Method: "forest"}, "method"},
		{"clip", seed, data, Options{Clip: -1}, "clip"},
		{"negative bound", seed, data, Options{MaxNegatives: -1}, "negative bound"},
	} {
		_, err := Train(c.seed, c.data, c.opts)
		if assert.ErrorIs(t, err, ErrInvalid, c.name) {
			assert.Contains(t, err.Error(), c.want, c.name)
		}
	}
}

func TestTrainLearnsTheSeedAndExplainsIt(t *testing.T) {
	data, seed := synthetic(5000, 0.1, 2)
	m, err := Train(seed, data, Options{})
	require.NoError(t, err)
	assert.Equal(t, Training{Population: 5000, Seed: 500, Positives: 500, Negatives: 4500, L2: 0.01, Iterations: m.Training.Iterations}, m.Training)
	assert.Less(t, m.Training.Iterations, 20)

	inSeed := map[string]bool{}
	for _, id := range seed {
		inSeed[id] = true
	}
	var scores []float64
	var labels []bool
	for i, id := range data.IDs {
		s := m.Score(data.Rows[i])
		require.True(t, s >= 0 && s <= 1)
		scores = append(scores, s)
		labels = append(labels, inSeed[id])
	}
	auc, err := AUC(scores, labels)
	require.NoError(t, err)
	assert.Greater(t, auc, 0.9)

	// The explanation names what made the seed: orders or revenue up, recency down; the
	// columns that played no part (visits, page views, noise) last, with small weights.
	ex := m.Explain(0)
	require.Len(t, ex, 9)
	assert.Contains(t, []string{"orders", "revenue"}, ex[0].Column)
	assert.Positive(t, ex[0].Weight)
	for _, c := range ex {
		if c.Column == "recency_days" {
			assert.Negative(t, c.Weight)
			assert.True(t, strings.HasPrefix(c.Text, "profiles with lower days since the last order look more like the seed: -"), c.Text)
		}
	}
	var last []string
	for _, c := range ex[len(ex)-3:] {
		last = append(last, c.Column)
		assert.Less(t, math.Abs(c.Weight), 0.15, c.Column)
	}
	assert.ElementsMatch(t, []string{"visits", "page_views", "noise"}, last)
	for i := 1; i < len(ex); i++ {
		assert.GreaterOrEqual(t, math.Abs(ex[i-1].Weight), math.Abs(ex[i].Weight))
	}
	assert.Len(t, m.Explain(3), 3)
	assert.Len(t, m.Explain(99), 9)

	// A profile's contributions add up to its log-odds.
	for i := range 20 {
		row := data.Rows[i]
		sum := m.Intercept
		for _, c := range m.ExplainRow(row, 0) {
			sum += c.Weight
		}
		assert.InDelta(t, m.Score(row), sigmoid(sum), 1e-12)
	}
	assert.Len(t, m.ExplainRow(data.Rows[0], 2), 2)
}

// At the solution the gradient of the penalised, class-balanced log-loss is zero.
func TestNewtonReachesTheOptimum(t *testing.T) {
	data, seed := synthetic(2000, 0.2, 3)
	for _, l2 := range []float64{1e-4, 0.01, 1} {
		m, err := Train(seed, data, Options{L2: l2})
		require.NoError(t, err)
		inSeed := map[string]bool{}
		for _, id := range seed {
			inSeed[id] = true
		}
		d := len(m.Columns)
		grad := make([]float64, d+1)
		nPos := float64(len(seed))
		nNeg := float64(len(data.IDs)) - nPos
		for i, id := range data.IDs {
			z := make([]float64, d)
			eta := m.Intercept
			for j := range d {
				z[j] = m.z(j, m.Columns[j].Transform.apply(data.Rows[i][j]))
				eta += m.Weights[j] * z[j]
			}
			w, y := 1/(2*nNeg), 0.0
			if inSeed[id] {
				w, y = 1/(2*nPos), 1
			}
			g := w * (sigmoid(eta) - y)
			for j := range d {
				grad[j] += g * z[j]
			}
			grad[d] += g
		}
		for j := range d {
			grad[j] += l2 * m.Weights[j]
		}
		for j, g := range grad {
			assert.InDelta(t, 0, g, 1e-9, "λ=%v, component %d", l2, j)
		}
	}
}

// The same population gives the same model to the last bit, whatever the order of its rows,
// with and without sampling; another sampling seed gives another sample.
func TestTrainIsDeterministicAndOrderFree(t *testing.T) {
	data, seed := synthetic(3000, 0.1, 4)
	shuffled := Features{Columns: data.Columns}
	perm := rand.New(rand.NewPCG(7, 8)).Perm(len(data.IDs))
	for _, i := range perm {
		shuffled.IDs = append(shuffled.IDs, data.IDs[i])
		shuffled.Rows = append(shuffled.Rows, data.Rows[i])
	}
	seedShuffled := slices.Clone(seed)
	slices.Reverse(seedShuffled)
	for _, opts := range []Options{{}, {MaxNegatives: 500, MaxPositives: 100, Seed: 42}, {Method: Centroid, MaxNegatives: 700}} {
		a, err := Train(seed, data, opts)
		require.NoError(t, err)
		b, err := Train(seedShuffled, shuffled, opts)
		require.NoError(t, err)
		ja, _ := a.Encode()
		jb, _ := b.Encode()
		assert.True(t, bytes.Equal(ja, jb), "%+v:\n%s\n%s", opts, ja, jb)
		for i := range 50 {
			assert.Equal(t, math.Float64bits(a.Score(data.Rows[i])), math.Float64bits(b.Score(data.Rows[i])))
		}
	}
	a, err := Train(seed, data, Options{MaxNegatives: 500, Seed: 1})
	require.NoError(t, err)
	assert.Equal(t, 500, a.Training.Negatives)
	b, err := Train(seed, data, Options{MaxNegatives: 500, Seed: 2})
	require.NoError(t, err)
	assert.NotEqual(t, a.Weights, b.Weights)
	// Sampled or not, the model is much the same: the standardisation estimates the population.
	full, err := Train(seed, data, Options{})
	require.NoError(t, err)
	for j := range full.Mean {
		assert.InDelta(t, full.Mean[j], a.Mean[j], 0.15*full.Scale[j]+1e-9, full.Columns[j].Name)
	}
}

func TestModelJSONRoundTrip(t *testing.T) {
	data, seed := synthetic(1000, 0.1, 5)
	for _, method := range []Method{Logistic, Centroid} {
		m, err := Train(seed, data, Options{Method: method})
		require.NoError(t, err)
		b, err := m.Encode()
		require.NoError(t, err)
		assert.Contains(t, string(b), `"version":1`)
		back, err := Decode(b)
		require.NoError(t, err)
		assert.Equal(t, m, back)
		for i := range data.Rows {
			require.Equal(t, m.Score(data.Rows[i]), back.Score(data.Rows[i]))
		}
	}
	m, err := Train(seed, data, Options{})
	require.NoError(t, err)
	for _, c := range []struct {
		name   string
		change func(m *Model)
	}{
		{"version", func(m *Model) { m.Version = 2 }},
		{"method", func(m *Model) { m.Method = "forest" }},
		{"weights", func(m *Model) { m.Weights = m.Weights[:2] }},
		{"mean", func(m *Model) { m.Mean = nil }},
		{"scale", func(m *Model) { m.Scale[0] = -1 }},
		{"clip", func(m *Model) { m.Clip = 0 }},
		{"columns", func(m *Model) { m.Columns = nil }},
		{"centroid", func(m *Model) { m.Method = Centroid }},
	} {
		bad := m
		bad.Weights, bad.Mean, bad.Scale = slices.Clone(m.Weights), slices.Clone(m.Mean), slices.Clone(m.Scale)
		c.change(&bad)
		b, err := bad.Encode()
		require.NoError(t, err)
		_, err = Decode(b)
		assert.ErrorIs(t, err, ErrInvalid, c.name)
	}
	_, err = Decode([]byte(`{"version":1,`))
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestScoreUnknownValues(t *testing.T) {
	data, seed := synthetic(1000, 0.1, 6)
	m, err := Train(seed, data, Options{})
	require.NoError(t, err)
	// A NaN or a missing value counts as the population's typical value: no contribution.
	row := slices.Clone(data.Rows[0])
	row[2] = math.NaN()
	mean := slices.Clone(data.Rows[0])
	mean[2] = math.Copysign(math.Expm1(math.Abs(m.Mean[2])), m.Mean[2]) // inverse of the log transform
	assert.InDelta(t, m.Score(mean), m.Score(row), 1e-12)
	unknown := make([]float64, len(m.Columns))
	for j := range unknown {
		unknown[j] = math.NaN()
	}
	assert.Equal(t, sigmoid(m.Intercept), m.Score(unknown))
	assert.Equal(t, sigmoid(m.Intercept), m.Score(nil))
	assert.Equal(t, m.Score(data.Rows[0]), m.Score(append(slices.Clone(data.Rows[0]), 1, 2, 3)))

	// Row builds the row by column name.
	values := map[string]float64{}
	for j, c := range m.Columns {
		values[c.Name] = data.Rows[7][j]
	}
	values["not a column"] = 5
	assert.Equal(t, data.Rows[7], m.Row(values))
	delete(values, "revenue")
	r := m.Row(values)
	assert.True(t, math.IsNaN(r[2]))
}

func TestCentroid(t *testing.T) {
	f := Features{
		Columns: []Column{{Name: "a", Transform: Linear}, {Name: "b", Transform: Linear}},
		IDs:     []string{"s1", "s2", "o1", "o2", "o3", "o4"},
		Rows:    [][]float64{{2, 2}, {2, 2}, {0, 0}, {0, 0}, {-1, -1}, {-1, -1}},
	}
	m, err := Train([]string{"s1", "s2"}, f, Options{Method: Centroid})
	require.NoError(t, err)
	assert.InDelta(t, 1, m.Score([]float64{5, 5}), 1e-12)           // same direction as the seed
	assert.InDelta(t, 0, m.Score([]float64{-5, -5}), 1e-12)         // opposite
	assert.InDelta(t, 0.5, m.Score([]float64{3, 2.0/3 - 3}), 1e-12) // orthogonal, about the mean 1/3
	ex := m.Explain(1)
	require.Len(t, ex, 1)
	assert.Contains(t, ex[0].Text, "the seed has higher")
	assert.Equal(t, 0.5, m.Score(m.Mean)) // at the mean: no direction
}

func TestConstantColumn(t *testing.T) {
	data, seed := synthetic(500, 0.1, 7)
	for i := range data.Rows {
		data.Rows[i][8] = 3
	}
	m, err := Train(seed, data, Options{})
	require.NoError(t, err)
	assert.Equal(t, 0.0, m.Scale[8])
	assert.Equal(t, 0.0, m.Weights[8])
	ex := m.Explain(0)
	assert.Equal(t, "noise does not tell the seed from the rest", ex[len(ex)-1].Text)
}

func TestTopAndAbove(t *testing.T) {
	scores := []Scored{{"e", 0.2}, {"b", 0.9}, {"a", 0.5}, {"d", 0.9}, {"c", 0.5}, {"n", math.NaN()}, {"f", 0.1}}
	assert.Equal(t, []Scored{{"b", 0.9}, {"d", 0.9}, {"a", 0.5}}, Top(scores, 3))
	assert.Equal(t, []Scored{{"b", 0.9}, {"d", 0.9}, {"a", 0.5}, {"c", 0.5}, {"e", 0.2}, {"f", 0.1}}, Top(scores, 100))
	assert.Empty(t, Top(scores, 0))
	assert.Empty(t, Top(scores, -1))
	assert.Equal(t, []Scored{{"b", 0.9}, {"d", 0.9}, {"a", 0.5}, {"c", 0.5}}, Above(scores, 0.5))
	assert.Empty(t, Above(scores, 0.95))

	// A stream kept in parts and merged gives what Top of the whole gives, in any order.
	rng := rand.New(rand.NewPCG(1, 1))
	var all []Scored
	for i := range 5000 {
		all = append(all, Scored{fmt.Sprintf("id%05d", i), math.Round(rng.Float64()*100) / 100}) // many ties
	}
	want := Top(all, 250)
	parts := []*TopN{NewTopN(250), NewTopN(250), NewTopN(250)}
	for _, i := range rng.Perm(len(all)) {
		parts[i%3].Add(all[i].ID, all[i].Score)
	}
	merged := NewTopN(250)
	for _, p := range parts {
		merged.Merge(p)
	}
	assert.Equal(t, want, merged.Result())
}

func TestErrorsAreSentinels(t *testing.T) {
	_, err := Train(nil, Features{}, Options{})
	assert.True(t, errors.Is(err, ErrInvalid))
	assert.False(t, errors.Is(err, ErrNoConvergence))
}
