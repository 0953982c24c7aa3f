package scoring

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// Two kinds of people, far apart on every feature: recent, frequent, big buyers, and browsers
// seen once long ago who never bought. The daily fit finds the two groups, names them from their
// centres, and every score places each person in their own group.
func TestClustersGroupTheCustomersAndNameThem(t *testing.T) {
	var ps []profile.Profile
	for i := range 60 {
		b := newBuilder(fmt.Sprintf("big%02d", i))
		for v := range 8 + i%4 {
			b.visit(asOf.Add(-time.Duration(1+v*3+i%2) * day))
		}
		for o := range 5 + i%3 {
			b.order(asOf.Add(-time.Duration(2+o*6)*day), float64(150+i), fmt.Sprintf("sku-%d", o%5))
		}
		ps = append(ps, b.p)
	}
	for i := range 60 {
		b := newBuilder(fmt.Sprintf("once%02d", i))
		b.visit(asOf.Add(-time.Duration(150+i) * day))
		ps = append(ps, b.p)
	}
	m := Default.Fit(sampleOf(ps, asOf), asOf, nil)
	require.NotNil(t, m.Clusters)
	require.Equal(t, 2, m.Clusters.Model.K, "two groups: %s", m.Clusters.Model.Summary())
	require.NoError(t, m.Validate())

	names := map[string]string{}
	for _, p := range ps {
		sc, _, err := Default.Rate(p, &m, asOf)
		require.NoError(t, err)
		require.NotEmpty(t, sc.Cluster)
		kind := p.ID[:3]
		if prev, ok := names[kind]; ok {
			require.Equal(t, prev, sc.Cluster, "%s is in its kind's group", p.ID)
		}
		names[kind] = sc.Cluster
	}
	require.NotEqual(t, names["big"], names["onc"])
	require.Contains(t, names["big"], "recent", "the buyers' group is named for what sets it apart")
	require.Contains(t, names["onc"], "lapsed")
	for _, c := range m.Clusters.Model.Clusters {
		require.Equal(t, 60, c.Size)
		require.NotEmpty(t, c.Description)
	}

	// A change of group is a drift, written at the profile's daily refresh (the clock alone may
	// move a person across the edge of two groups), not at once.
	old, _, err := Default.Rate(ps[0], &m, asOf)
	require.NoError(t, err)
	moved := old
	moved.Cluster = names["onc"]
	require.False(t, material(&old, moved))
	require.True(t, drifted(&old, moved))
	require.False(t, drifted(&old, old))
}

func TestClusterRow(t *testing.T) {
	p := newBuilder("p").visit(asOf.Add(-10*day)).visit(asOf.Add(-2*day)).order(asOf.Add(-2*day), 40, "sku-1").p
	row := ClusterRow(p, asOf)
	require.Len(t, row, len(ClusterFeatures))
	require.Equal(t, 2.0, row[0], "recency: days since last seen")
	require.Equal(t, 10.0, row[1], "tenure: days since first seen")
	require.Equal(t, float64(p.Visits), row[2])
	require.Equal(t, 1.0, row[4], "orders")
	require.Equal(t, 40.0, row[5], "revenue")
	require.Equal(t, make([]float64, len(ClusterFeatures)), ClusterRow(profile.Profile{}, asOf), "nothing known: zeros")
}
