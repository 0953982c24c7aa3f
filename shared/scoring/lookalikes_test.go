package scoring

import (
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/lookalike"
	"github.com/dcrm-project/dcrm/shared/profile"
)

func mustParse(t *testing.T, js string) audience.Definition {
	t.Helper()
	d, err := audience.Parse([]byte(js))
	require.NoError(t, err)
	return d
}

// A rule names a look-alike of the repeat buyers: the daily fit trains it on the sample's repeat
// buyers against the rest, and every score says how much each customer resembles them. The
// customers most like the seed are its members and the one-off buyers closest to them; a seed
// whose rule needs more than the profile (a count of recent events) is not trained, and the
// notes say so.
func TestLookalikesOfTheSeedsRulesName(t *testing.T) {
	repeat := mustParse(t, `{"id": "repeat-buyers", "name": "Repeat buyers", "rule": {"field": "orders", "op": ">=", "value": 2}}`)
	viewers := mustParse(t, `{"id": "viewers", "name": "Viewers", "rule": {"field": "event.productviewed.count", "op": ">=", "value": 1, "within": "7d"}}`)
	like := mustParse(t, `{"id": "like-repeat", "name": "Like repeat buyers", "rule": {"any": [
		{"field": "lookalike.repeat-buyers", "op": ">=", "value": 0.7}, {"field": "lookalike.viewers", "op": ">=", "value": 0.5}]}}`)
	seeds := Seeds([]audience.Definition{like, viewers, repeat})
	require.Equal(t, []string{"repeat-buyers", "viewers"}, []string{seeds[0].ID, seeds[1].ID}, "the seeds a rule names, by id")

	ps := population(300) // every third buys, every sixth twice
	s := Sample{Seeds: seeds}
	for _, p := range ps {
		s.Count(p)
		switch KindOf(p) {
		case Buyer:
			require.NoError(t, s.AddBuyer(p, asOf))
		case Visitor:
			require.NoError(t, s.AddVisitor(p, asOf))
		}
	}
	m := Default.Fit(s, asOf, nil)
	require.NoError(t, m.Validate())
	require.Len(t, m.Lookalikes, 1)
	part := m.Lookalikes["repeat-buyers"]
	require.NotNil(t, part)
	require.Equal(t, 50, part.Model.Training.Seed, "the sample's repeat buyers")
	require.True(t, slices.ContainsFunc(m.Notes, func(n string) bool {
		return n == `no look-alike model of viewers: its rule needs more than the profile: `+s.Lookalike.Failed["viewers"]
	}), "%q", m.Notes)

	var scores []float64
	var members []bool
	for _, p := range ps {
		sc, _, err := Default.Rate(p, &m, asOf)
		require.NoError(t, err)
		require.Len(t, sc.Lookalikes, 1)
		v := sc.Lookalikes["repeat-buyers"]
		require.True(t, v >= 0 && v <= 1)
		scores = append(scores, v)
		members = append(members, p.OrderCount >= 2)
		// The score is what audience rules read.
		in, err := like.Match(audience.FromProfile(profile.Profile{ID: p.ID, Score: &sc}, nil, nil), asOf)
		require.NoError(t, err)
		require.Equal(t, v >= 0.7, in)
	}
	auc, err := lookalike.AUC(scores, members)
	require.NoError(t, err)
	require.Greater(t, auc, 0.9, "the seed's members score above the rest")

	// The next fit without a rule naming a look-alike drops the models.
	again := Default.Fit(sampleOf(ps, asOf.Add(day)), asOf.Add(day), &m)
	require.Nil(t, again.Lookalikes)
}

func TestLookalikeRow(t *testing.T) {
	p := newBuilder("p").order(asOf.Add(-30*day), 40, "sku-1").order(asOf.Add(-10*day), 60, "sku-2").p
	sc := &profile.Score{RFM: &profile.RFMScore{Variant: profile.VariantRFM, R: 5, F: 4, M: 3}, Value: &profile.Value{PAlive: 0.9, CLV: 120}}
	row := LookalikeRow(p, sc, asOf)
	require.Len(t, row, len(lookalike.ProfileColumns))
	want := map[string]float64{"recency_days": 10, "orders": 2, "revenue": 100, "average_order_value": 50, "tenure_days": 30,
		"mean_gap_days": 20, "rfm_r": 5, "rfm_f": 4, "rfm_m": 3, "p_alive": 0.9, "clv": 120}
	for i, c := range lookalike.ProfileColumns {
		if w, ok := want[c.Name]; ok {
			require.InDelta(t, w, row[i], 1e-9, c.Name)
		}
	}
	visitor := LookalikeRow(newBuilder("v").visit(asOf.Add(-day)).p, nil, asOf)
	require.True(t, visitor[0] != visitor[0], "no order: recency unknown (NaN)")
	require.Equal(t, 0.0, visitor[1])
}

// fitScored fits on ps (the population, counted as population), then rates everyone and fits
// again on the profiles as scored: the second fit reads each profile's rows as a score does.
func fitScored(t *testing.T, ps []profile.Profile, seeds []audience.Definition, population int64) Models {
	t.Helper()
	sample := func() Sample {
		s := Sample{Seeds: seeds, Population: population}
		for _, p := range ps {
			s.Count(p)
			switch KindOf(p) {
			case Buyer:
				require.NoError(t, s.AddBuyer(p, asOf))
			case Visitor:
				require.NoError(t, s.AddVisitor(p, asOf))
			}
		}
		return s
	}
	m := Default.Fit(sample(), asOf, nil)
	for i := range ps {
		sc, _, err := Default.Rate(ps[i], &m, asOf)
		require.NoError(t, err)
		ps[i].Score = &sc
	}
	return Default.Fit(sample(), asOf, &m)
}

// A rule naming the rank of a seed's look-alike (the top N) trains the seed's model; the fit keeps
// how its scores spread over the sample's candidates, and every score ranks the candidates among
// the population's. When the sample is the population the rank is exact: 1 + the candidates
// scoring strictly higher. The seed's members get no rank; a population ten times the sample
// scales the ranks by ten.
func TestLookalikeRanksAreExactWhenTheSampleIsThePopulation(t *testing.T) {
	repeat := mustParse(t, `{"id": "repeat-buyers", "name": "Repeat buyers", "rule": {"field": "orders", "op": ">=", "value": 2}}`)
	top := mustParse(t, `{"id": "top-50", "name": "The 50 most like the repeat buyers", "rule": {"field": "lookalikeRank.repeat-buyers", "op": "<=", "value": 50}}`)
	seeds := Seeds([]audience.Definition{top, repeat})
	require.Len(t, seeds, 1, "a rank names its seed as a score does")

	ps := population(300) // everyone visited: the sample is everyone
	m := fitScored(t, ps, seeds, 300)
	require.NoError(t, m.Validate())
	require.Equal(t, int64(300), m.Population, "the fit's count is kept")
	r := m.LookalikeRanks["repeat-buyers"]
	require.NotNil(t, r)
	require.Equal(t, 50, r.Members)
	require.Equal(t, 250, r.Candidates.N)
	require.True(t, r.Candidates.Exact)
	require.Equal(t, "repeat-buyers", r.Seed.ID)

	// Stored and read back as the models document is.
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	var back Models
	require.NoError(t, json.Unmarshal(raw, &back))
	require.NoError(t, back.Validate())
	require.Equal(t, r.Candidates, back.LookalikeRanks["repeat-buyers"].Candidates)

	var candidates []float64
	scores := make([]profile.Score, len(ps))
	for i, p := range ps {
		sc, _, err := Default.Rate(p, &back, asOf)
		require.NoError(t, err)
		scores[i] = sc
		if p.OrderCount >= 2 {
			require.NotContains(t, sc.LookalikeRanks, "repeat-buyers", "%s is in the seed: no rank", p.ID)
			continue
		}
		candidates = append(candidates, sc.Lookalikes["repeat-buyers"])
	}
	inTop := 0
	for i, p := range ps {
		if p.OrderCount >= 2 {
			continue
		}
		score := scores[i].Lookalikes["repeat-buyers"]
		above := 0
		for _, s := range candidates {
			if s > score {
				above++
			}
		}
		require.Equal(t, 1+above, scores[i].LookalikeRanks["repeat-buyers"], "%s: score %v", p.ID, score)
		in, err := top.Match(audience.FromProfile(profile.Profile{ID: p.ID, Score: &scores[i]}, nil, nil), asOf)
		require.NoError(t, err)
		require.Equal(t, above < 50, in)
		if in {
			inTop++
		}
	}
	require.GreaterOrEqual(t, inTop, 50, "the top 50, and those tied with the 50th (this population has many equal profiles)")

	// Ten times as many profiles as the sample: ten times the candidates above.
	for i, p := range ps[:30] {
		sc, _, err := Default.Rate(p, back.WithPopulation(3000), asOf)
		require.NoError(t, err)
		if rank, ok := scores[i].LookalikeRanks["repeat-buyers"]; ok {
			require.Equal(t, 1+10*(rank-1), sc.LookalikeRanks["repeat-buyers"], p.ID)
		}
	}
	require.Equal(t, int64(300), back.Population, "WithPopulation copies")
	// Without a population there is no rank (the score stays).
	sc, _, err := Default.Rate(ps[1], back.WithPopulation(0), asOf)
	require.NoError(t, err)
	require.Nil(t, sc.LookalikeRanks)
	require.Contains(t, sc.Lookalikes, "repeat-buyers")
}

// From a sample of half the population, a candidate's rank is off by the sampling error: with n
// candidates sampled, the share above has a standard error of √(p(1−p)/n).
func TestLookalikeRanksFromASampleAreWithinTheSamplingError(t *testing.T) {
	repeat := mustParse(t, `{"id": "repeat-buyers", "name": "Repeat buyers", "rule": {"field": "orders", "op": ">=", "value": 2}}`)
	seeds := []audience.Definition{repeat}
	ps := population(540) // 180 buyers: no purchase models, whose fit takes long
	// The whole population scored, as the runs before the fit did.
	all := fitScored(t, slices.Clone(ps), seeds, 540)
	for i := range ps {
		sc, _, err := Default.Rate(ps[i], &all, asOf)
		require.NoError(t, err)
		ps[i].Score = &sc
	}
	// The fit samples half of the profiles.
	var half []profile.Profile
	for i, p := range ps {
		if i%4 < 2 {
			half = append(half, p)
		}
	}
	s := Sample{Seeds: seeds, Population: 540}
	for _, p := range half {
		s.Count(p)
		if KindOf(p) == Buyer {
			require.NoError(t, s.AddBuyer(p, asOf))
		} else {
			require.NoError(t, s.AddVisitor(p, asOf))
		}
	}
	m := Default.Fit(s, asOf, &all)
	r := m.LookalikeRanks["repeat-buyers"]
	n := float64(r.Candidates.N)
	require.Equal(t, 225, r.Candidates.N, "270 sampled, 45 of them repeat buyers")

	// The truth: ranks among all the population's candidates, under the sample's model.
	var rated []profile.Score
	var candidates []float64
	for _, p := range ps {
		sc, _, err := Default.Rate(p, &m, asOf)
		require.NoError(t, err)
		rated = append(rated, sc)
		if p.OrderCount < 2 {
			candidates = append(candidates, sc.Lookalikes["repeat-buyers"])
		}
	}
	outside := 0
	for i, p := range ps {
		if p.OrderCount >= 2 {
			continue
		}
		truth := 1
		for _, s := range candidates {
			if s > rated[i].Lookalikes["repeat-buyers"] {
				truth++
			}
		}
		q := float64(truth-1) / float64(len(candidates))
		se := float64(len(candidates)) * math.Sqrt(q*(1-q)/n)
		if math.Abs(float64(rated[i].LookalikeRanks["repeat-buyers"]-truth)) > 3*se+2 {
			outside++
		}
	}
	require.LessOrEqual(t, outside, len(candidates)/50, "within 3 standard errors (and 2 for rounding and ties)")
}
