package scoring

import (
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
