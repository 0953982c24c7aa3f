package cluster

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/datasets"
)

// retailFeatures are the per-customer features of the online retail set, with their words.
var retailFeatures = []Feature{
	{Name: "recency_days", Transform: Log1p, High: "lapsed", Low: "recent", Shows: "last order {} days ago", ShowsOne: "last order {} day ago"},
	{Name: "orders", Transform: Log1p, High: "frequent", Low: "one-off", Shows: "{} orders", ShowsOne: "{} order"},
	{Name: "spend", Transform: Log1p, High: "high-spending", Low: "low-spending", Shows: "spend £{}"},
	{Name: "order_value", Transform: Log1p, High: "big-basket", Low: "small-basket", Shows: "£{} an order"},
	{Name: "tenure_days", Transform: Linear, High: "long-standing", Low: "new", Shows: "first order {} days ago", ShowsOne: "first order {} day ago"},
	{Name: "cancel_share", Transform: Share, High: "cancelling", Low: "rarely cancelling", Shows: "{} of invoices cancelled"},
}

// retailTable reads the invoices and builds one row per customer who ordered, as of the file's
// last date (2011-12-09), in calendar days (an invoice's date, its time of day dropped):
//
//   - recency_days: days from the customer's last order to the as-of date (0: ordered that day);
//   - orders: distinct order invoices (invoice number without the 'C' of a cancellation; an invoice
//     split over two rows of the file counts once);
//   - spend: Σ Quantity × UnitPrice over the order rows (gross: before cancellations);
//   - order_value: spend / orders;
//   - tenure_days: days from the first order to the as-of date;
//   - cancel_share: cancellation invoices / (order invoices + cancellation invoices);
//   - gap_days: the mean days between consecutive orders, (last − first) / (orders − 1), for a
//     customer with two orders or more; for a one-order customer, the days since that order (the
//     gap is open: it is at least that long).
//
// Rows without a customer ("(blank)") are left out, as are customers with cancellations only.
func retailTable(path string) (Table, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return Table{}, time.Time{}, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	if _, err := r.Read(); err != nil {
		return Table{}, time.Time{}, err
	}
	type acc struct {
		orders, cancels map[string]bool
		spend           float64
		first, last     time.Time
	}
	byID := map[string]*acc{}
	var ids []string
	var asOf time.Time
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Table{}, time.Time{}, err
		}
		at, err := time.Parse("1/2/2006 15:04", rec[1])
		if err != nil {
			return Table{}, time.Time{}, err
		}
		day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
		if day.After(asOf) {
			asOf = day
		}
		id := rec[2]
		if id == "(blank)" {
			continue
		}
		q, err1 := strconv.ParseFloat(rec[4], 64)
		p, err2 := strconv.ParseFloat(rec[5], 64)
		if err1 != nil || err2 != nil {
			return Table{}, time.Time{}, err
		}
		a := byID[id]
		if a == nil {
			a = &acc{orders: map[string]bool{}, cancels: map[string]bool{}}
			byID[id] = a
			ids = append(ids, id)
		}
		if strings.HasPrefix(rec[0], "C") {
			a.cancels[rec[0]] = true
			continue
		}
		a.orders[rec[0]] = true
		a.spend += q * p
		if a.first.IsZero() || day.Before(a.first) {
			a.first = day
		}
		if day.After(a.last) {
			a.last = day
		}
	}
	slices.Sort(ids)
	days := func(from, to time.Time) float64 { return float64(to.Sub(from) / (24 * time.Hour)) }
	t := Table{Features: retailFeatures}
	for _, id := range ids {
		a := byID[id]
		n := float64(len(a.orders))
		if n == 0 {
			continue
		}
		t.IDs = append(t.IDs, id)
		t.Rows = append(t.Rows, []float64{
			days(a.last, asOf), n, a.spend, a.spend / n, days(a.first, asOf),
			float64(len(a.cancels)) / (n + float64(len(a.cancels))),
		})
	}
	return t, asOf, nil
}

type retailFitted struct {
	table  Table
	asOf   time.Time
	model  *Model
	labels []int
}

var (
	retailOnce sync.Once
	retailFit  retailFitted
	retailErr  error
)

// fittedRetail is the set read and fitted once for all tests: default options, seed 1.
func fittedRetail(t testing.TB) retailFitted {
	t.Helper()
	retailOnce.Do(func() {
		tb, asOf, err := retailTable(datasets.OnlineRetail())
		if err != nil {
			retailErr = err
			return
		}
		m, labels, err := Fit(tb, Options{Seed: 1})
		retailFit, retailErr = retailFitted{tb, asOf, m, labels}, err
	})
	if retailErr != nil {
		t.Fatal(retailErr)
	}
	return retailFit
}

func logModel(t *testing.T, m *Model) {
	t.Helper()
	for _, c := range m.Candidates {
		t.Logf("k=%d silhouette %.4f inertia %.1f Calinski-Harabasz %.1f iterations %d", c.K, c.Silhouette, c.Inertia, c.CalinskiHarabasz, c.Iterations)
	}
	t.Log("\n" + m.Summary())
	for i, c := range m.Clusters {
		var v, z []string
		for j, f := range m.Features {
			v = append(v, f.Name+" "+strconv.FormatFloat(c.Values[j], 'f', 2, 64))
			z = append(z, strconv.FormatFloat(c.Z[j], 'f', 2, 64))
		}
		t.Logf("cluster %d centre: %s; z %s", i, strings.Join(v, ", "), strings.Join(z, " "))
	}
}

// TestOnlineRetailClusters fits the customers of the online retail set and describes the clusters
// found (recorded in README.md).
func TestOnlineRetailClusters(t *testing.T) {
	r := fittedRetail(t)
	m := r.model
	t.Logf("%d customers as of %s", len(r.table.Rows), r.asOf.Format(time.DateOnly))
	logModel(t, m)
	require.Len(t, r.table.Rows, 4339)
	assert.Equal(t, "2011-12-09", r.asOf.Format(time.DateOnly))

	// The criterion: k = 2 has the best mean silhouette, k = 4 the next best.
	assert.Equal(t, "silhouette", m.Criterion)
	require.Len(t, m.Candidates, 7)
	assert.Equal(t, 2, m.K)
	byScore := slices.Clone(m.Candidates)
	slices.SortFunc(byScore, func(a, b Candidate) int { return cmpFloat(b.Silhouette, a.Silhouette) })
	assert.Equal(t, []int{2, 4}, []int{byScore[0].K, byScore[1].K})
	for i := 1; i < len(m.Candidates); i++ {
		assert.Less(t, m.Candidates[i].Inertia, m.Candidates[i-1].Inertia, "inertia falls with k")
	}

	// Every cluster holds customers; the sizes add up; the larger first.
	total := 0
	for _, c := range m.Clusters {
		assert.Positive(t, c.Size)
		total += c.Size
	}
	assert.Equal(t, len(r.table.Rows), total)

	// The high-spending cluster is the minority, and it is also the recent and frequent one.
	const recency, orders, spend = 0, 1, 2
	top := 0
	for i, c := range m.Clusters {
		if c.Values[spend] > m.Clusters[top].Values[spend] {
			top = i
		}
	}
	other := 1 - top
	assert.Less(t, m.Clusters[top].Share, 0.5)
	assert.Less(t, m.Clusters[top].Values[recency], m.Clusters[other].Values[recency])
	assert.Greater(t, m.Clusters[top].Values[orders], m.Clusters[other].Values[orders])

	var got []string
	for _, c := range m.Clusters {
		got = append(got, strconv.Itoa(c.Size)+" "+c.Name+": "+c.Description)
	}
	assert.Equal(t, []string{
		"2597 low-spending one-off: Low-spending, one-off customers (spend £502, 1.5 orders, last order 78 days ago)",
		"1742 high-spending frequent recent: High-spending, frequent, recent customers (spend £3,700, 6.1 orders, last order 18 days ago)",
	}, got)

	// The same seed gives the same model to the last digit; another seed the same partition.
	again, labels, err := Fit(r.table, Options{Seed: 1})
	require.NoError(t, err)
	j1, _ := json.Marshal(m)
	j2, _ := json.Marshal(again)
	assert.Equal(t, string(j1), string(j2))
	assert.Equal(t, r.labels, labels)
	for seed := uint64(2); seed <= 3; seed++ {
		_, labels2, err := Fit(r.table, Options{K: 2, Seed: seed})
		require.NoError(t, err)
		ari, _ := AdjustedRand(r.labels, labels2)
		assert.GreaterOrEqual(t, ari, 0.99)
		t.Logf("seed %d, k = 2: adjusted Rand index against seed 1: %.6f", seed, ari)
	}

	// The stored model assigns every customer to the cluster the fit gave them.
	var back Model
	require.NoError(t, json.Unmarshal(j1, &back))
	for i, row := range r.table.Rows {
		c, _, err := back.Assign(row)
		require.NoError(t, err)
		require.Equal(t, r.labels[i], c, r.table.IDs[i])
	}
}

// TestOnlineRetailRunnerUp fits k = 4, the runner-up of the criterion, and describes it: what a
// fixed k of 4 would give (recorded in README.md).
func TestOnlineRetailRunnerUp(t *testing.T) {
	r := fittedRetail(t)
	m, _, err := Fit(r.table, Options{K: 4, Seed: 1})
	require.NoError(t, err)
	logModel(t, m)
	var got []string
	for _, c := range m.Clusters {
		got = append(got, strconv.Itoa(c.Size)+" "+c.Name)
		assert.Positive(t, c.Size)
	}
	assert.Equal(t, []string{
		"1289 lapsed low-spending rarely cancelling", "1254 frequent high-spending recent",
		"1169 new one-off rarely cancelling", "627 cancelling",
	}, got)
	// The cancelling customers cancel 42% of their invoices; the population 9%.
	assert.InDelta(t, 0.42, m.Clusters[3].Values[5], 0.005)
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
