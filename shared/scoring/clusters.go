package scoring

import (
	"math"
	"time"

	"github.com/dcrm-project/dcrm/shared/cluster"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Customer clusters. The daily fit groups the sample's buyers and visitors by what they do —
// how recently and for how long they have been seen, how often they visit and engage, how often
// they buy and how much — with package cluster (k-means, the number of groups chosen by the mean
// silhouette, described in plain words from each centre); every score assigns the profile to the
// nearest group, whose short name is the profile's cluster (an audience rule's `cluster` field).
//
// The features are what every profile carries, buyer or not, so that one model places everyone;
// the scoring models' own outputs (RFM, CLV) are left out: they are fitted on the same sample and
// would count the same behaviour twice.

// ClusterFeatures are the clusters' features, in the order ClusterRow gives them.
var ClusterFeatures = []cluster.Feature{
	{Name: "recency", Transform: cluster.Log1p, High: "lapsed", Low: "recent", Shows: "last seen {} days ago", ShowsOne: "last seen {} day ago"},
	{Name: "tenure", Transform: cluster.Log1p, High: "long-standing", Low: "new", Shows: "known for {} days", ShowsOne: "known for {} day"},
	{Name: "visits", Transform: cluster.Log1p, High: "frequent-visiting", Low: "rarely visiting", Shows: "{} visits", ShowsOne: "{} visit"},
	{Name: "engagement", Transform: cluster.Log1p, High: "engaged", Low: "skimming", Shows: "{} minutes engaged", ShowsOne: "{} minute engaged"},
	{Name: "orders", Transform: cluster.Log1p, High: "frequent-buying", Low: "rarely buying", Shows: "{} orders", ShowsOne: "{} order"},
	{Name: "revenue", Transform: cluster.Log1p, High: "high-spending", Low: "low-spending", Shows: "spend {}"},
}

// MaxClusterRows bounds the rows the clusters are fitted on: the silhouette that chooses their
// number is exact on a sample of at most 5,000 of them, and k-means on 20,000 rows of six features
// takes about a second.
const MaxClusterRows = 20_000

// clusterSeed fixes the fit's random choices: the same sample gives the same groups.
const clusterSeed = 20261207

// ClusterRow is a profile's features as of asOf (days and minutes whole or fractional, money in
// the profile's currency).
func ClusterRow(p profile.Profile, asOf time.Time) []float64 {
	days := func(from, to time.Time) float64 {
		if from.IsZero() || to.Before(from) {
			return 0
		}
		return math.Round(to.Sub(from).Hours()/24*10) / 10
	}
	revenue := max(p.Revenue, 0)
	return []float64{
		days(p.LastSeen, asOf), days(p.FirstSeen, asOf), float64(max(p.Visits, 0)), float64(max(p.EngagedSeconds, 0)) / 60,
		float64(max(p.OrderCount, 0)), revenue,
	}
}

// fitClusters fits the clusters on the sample's rows.
func fitClusters(rows [][]float64) (*cluster.Model, error) {
	if len(rows) > MaxClusterRows {
		rows = rows[:MaxClusterRows]
	}
	m, _, err := cluster.Fit(cluster.Table{Features: ClusterFeatures, Rows: rows}, cluster.Options{Seed: clusterSeed})
	return m, err
}

// clusterOf is the name of the profile's group under m ("" when it cannot be placed).
func clusterOf(m *cluster.Model, p profile.Profile, asOf time.Time) (string, error) {
	i, _, err := m.Assign(ClusterRow(p, asOf))
	if err != nil {
		return "", err
	}
	return m.Clusters[i].Name, nil
}
