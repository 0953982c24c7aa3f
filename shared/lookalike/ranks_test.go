package lookalike

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// greater counts the scores strictly above s.
func greater(scores []float64, s float64) int {
	n := 0
	for _, x := range scores {
		if x > s {
			n++
		}
	}
	return n
}

// A sample with no more distinct scores than the points kept is kept whole: every count is exact,
// ties share the best rank, and ranking the sample among itself gives each score its rank.
func TestDistributionOfFewScoresIsExact(t *testing.T) {
	scores := []float64{0.9, 0.1, 0.5, 0.5, 0.7, 0.5, 0.2, math.NaN()}
	d := NewDistribution(scores, 0)
	require.True(t, d.Exact)
	require.Equal(t, 7, d.N, "NaN left out")
	require.Equal(t, []float64{0.9, 0.7, 0.5, 0.2, 0.1}, d.Scores)
	require.Equal(t, []int{0, 1, 2, 5, 6}, d.Above)
	require.NoError(t, d.Validate())
	for _, s := range []float64{1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.2, 0.15, 0.1, 0} {
		require.Equal(t, float64(greater(scores[:7], s)), d.Greater(s), "score %v", s)
	}
	// The sample as the population: rank = 1 + the scores above.
	require.Equal(t, 1, d.Rank(0.9, 7))
	require.Equal(t, 3, d.Rank(0.5, 7), "the three at 0.5 share rank 3")
	require.Equal(t, 3, d.Rank(0.55, 7), "between 0.7 and 0.5: two above")
	require.Equal(t, 8, d.Rank(0.05, 7), "below everyone")
	// Scaled: a population ten times the sample.
	require.Equal(t, 1+20, d.Rank(0.5, 70))
	require.Zero(t, d.Rank(0.5, 0))
	require.Zero(t, NewDistribution(nil, 0).Rank(0.5, 100))
}

// A sample of 200,000 scores (to 4 decimals, as scores are stored: up to 10,001 distinct) is thinned
// to 1,000: the top 100 exactly, the rest within the gap between kept scores, under 1.1 % of the
// count above (plus one).
func TestThinnedDistributionStaysWithinItsBound(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	scores := make([]float64, 200_000)
	for i := range scores {
		// A skewed spread, as look-alike scores are: most low, a long tail towards 1.
		scores[i] = math.Round(math.Pow(r.Float64(), 3)*1e4) / 1e4
	}
	d := NewDistribution(scores, 0)
	require.False(t, d.Exact)
	require.LessOrEqual(t, len(d.Scores), MaxPoints)
	require.NoError(t, d.Validate())
	raw, err := json.Marshal(d)
	require.NoError(t, err)
	require.Less(t, len(raw), 16<<10, "about 13 KB of JSON a seed")
	var back Distribution
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Equal(t, d, back)

	desc := slices.Clone(scores)
	slices.SortFunc(desc, func(a, b float64) int { return -cmpFloat(a, b) })
	worst := 0.0
	for q := 0.0; q <= 1.00005; q += 0.0001 {
		s := math.Round(q*1e4) / 1e4
		want := float64(greaterDesc(desc, s))
		got := d.Greater(s)
		if want < exactTop {
			require.Equal(t, want, got, "the top %d are exact: score %v", exactTop, s)
			continue
		}
		require.InDelta(t, want, got, 0.011*want+1, "score %v", s)
		worst = max(worst, math.Abs(got-want)/want)
	}
	t.Logf("worst relative error of the thinned count: %.4f %%", 100*worst)
	// Scores not kept, between two that are.
	for _, s := range []float64{0.00005, 0.12345, 0.54321, 0.99995} {
		require.InDelta(t, float64(greaterDesc(desc, s)), d.Greater(s), 0.011*float64(greaterDesc(desc, s))+1, "score %v", s)
	}
}

// greaterDesc counts the scores strictly above s in scores sorted highest first.
func greaterDesc(desc []float64, s float64) int {
	i, _ := slices.BinarySearchFunc(desc, s, func(x, s float64) int {
		if x > s {
			return -1
		}
		return 1
	})
	return i
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// The rank among a population estimated from a sample of it is off by the sampling error: with n
// sampled and a share p of them above, the share's standard error is √(p(1−p)/n). Over many
// profiles, the estimates fall within 3 standard errors (plus the thinning's 1.1 %) nearly always.
func TestRankFromASampleIsWithinTheSamplingError(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const population, n = 500_000, 20_000
	all := make([]float64, population)
	for i := range all {
		all[i] = math.Round((r.Float64()+r.Float64()*r.Float64())/2*1e4) / 1e4
	}
	sample := make([]float64, n)
	for i, j := range r.Perm(population)[:n] {
		sample[i] = all[j]
	}
	d := NewDistribution(sample, 0)
	desc := slices.Clone(all)
	slices.SortFunc(desc, func(a, b float64) int { return -cmpFloat(a, b) })
	outside := 0
	const tries = 400
	for k := range tries {
		s := all[r.IntN(population)]
		if k < 40 {
			s = desc[r.IntN(population/100)] // the top 1 %, where top-N audiences are
		}
		truth := 1 + greaterDesc(desc, s)
		got := d.Rank(s, population)
		p := float64(truth-1) / population
		se := population * math.Sqrt(p*(1-p)/n)
		if math.Abs(float64(got-truth)) > 3*se+0.011*float64(truth)+population/float64(n) {
			outside++
		}
	}
	require.LessOrEqual(t, outside, tries/100, "within 3 standard errors, but for about 0.3 %% of the profiles")
}
