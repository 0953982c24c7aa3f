package rfm

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/datasets"
)

// rfmDataOrders reads ../shared/datasets/rfm/rfm_data_orders.csv (relative to the repository
// root): the data set rfm_data_orders of the R package rfm 0.3.0, 4,906 orders of 995 customers.
func rfmDataOrders(t testing.TB) []Order {
	t.Helper()
	f, err := os.Open(datasets.Path("rfm", "rfm_data_orders.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	orders, err := ReadOrders(f)
	if err != nil {
		t.Fatal(err)
	}
	return orders
}

var analysisDate = time.Date(2006, 12, 31, 0, 0, 0, 0, time.UTC)

// TestRPackageValidation reproduces the published output of the R package rfm 0.3.0 on its own
// data set, rfm_data_orders with analysis date 2006-12-31: the first ten rows of
// rfm_table_order(rfm_data_orders, customer_id, order_date, revenue, analysis_date), their
// segments, and the segment summary (rfm_segment_summary), all from the vignette
// "RFM - Introduction" (vignettes/rfm-introduction.Rmd; pkgdown site rfm.rsquaredacademy.com,
// articles/rfm-introduction.html, built 2024-02-26, version label 0.3.0.9000). The vignette
// renders "O'Reilly" and "O'Keefe" with a typographic apostrophe; the data has a plain one.
func TestRPackageValidation(t *testing.T) {
	orders := rfmDataOrders(t)
	if len(orders) != 4906 {
		t.Fatalf("read %d orders, want 4906", len(orders))
	}
	customers, ignored := Customers(orders, analysisDate)
	if len(customers) != 995 || ignored != 0 {
		t.Fatalf("%d customers, %d orders ignored; want 995, 0", len(customers), ignored)
	}
	scores, cp, err := ScoreAll(customers, analysisDate, ConventionR)
	if err != nil {
		t.Fatal(err)
	}

	type row struct {
		id                string
		recency, count    int
		amount            float64
		rfmScore, r, f, m int
		segment           string
	}
	published := []row{
		{"Abbey O'Reilly", 205, 6, 472, 343, 3, 4, 3, "Potential Loyalist"},
		{"Add Senger", 140, 3, 340, 412, 4, 1, 2, "New Customers"},
		{"Aden Lesch", 194, 4, 405, 323, 3, 2, 3, "Loyal Customers"},
		{"Aden Murphy", 98, 7, 596, 544, 5, 4, 4, "Potential Loyalist"},
		{"Admiral Senger", 132, 5, 448, 433, 4, 3, 3, "Potential Loyalist"},
		{"Agness O'Keefe", 90, 9, 843, 555, 5, 5, 5, "Champions"},
		{"Aileen Barton", 84, 9, 763, 555, 5, 5, 5, "Champions"},
		{"Ailene Hermann", 281, 8, 699, 355, 3, 5, 5, "Potential Loyalist"},
		{"Aiyanna Bruen", 246, 4, 157, 321, 3, 2, 1, "About To Sleep"},
		{"Akeelah Walsh", 160, 7, 779, 445, 4, 4, 5, "Potential Loyalist"},
	}
	for i, want := range published {
		s := scores[i]
		got := row{s.ID, s.RecencyDays, s.Frequency, s.Monetary, s.RFM(), s.R, s.F, s.M, DefaultSegments.Name(s)}
		if got != want {
			t.Errorf("row %d = %+v\nwant     %+v", i+1, got, want)
		}
	}

	// rfm_segment_summary(segments): customers, orders, revenue per segment (no "Others").
	type summary struct{ customers, orders, revenue int }
	wantSummary := map[string]summary{
		"About To Sleep":     {102, 283, 23449},
		"At Risk":            {28, 216, 22227},
		"Can't Lose Them":    {47, 274, 32446},
		"Champions":          {35, 316, 31646},
		"Lost":               {148, 393, 35324},
		"Loyal Customers":    {170, 799, 76562},
		"Need Attention":     {10, 57, 4562},
		"New Customers":      {104, 329, 28837},
		"Potential Loyalist": {342, 2211, 204856},
		"Promising":          {9, 28, 4249},
	}
	gotSummary := map[string]summary{}
	for _, s := range scores {
		g := gotSummary[DefaultSegments.Name(s)]
		g.customers++
		g.orders += s.Frequency
		g.revenue += int(s.Monetary)
		gotSummary[DefaultSegments.Name(s)] = g
	}
	if !reflect.DeepEqual(gotSummary, wantSummary) {
		t.Errorf("segment summary = %v\nwant %v", gotSummary, wantSummary)
	}

	// The package's reference example for rfm_table_order passes "custom thresholds"
	// recency_bins = c(115, 181, 297, 482), frequency_bins = c(4, 5, 6, 8),
	// monetary_bins = c(256, 382, 506, 666): the default cut points on this data, rounded.
	for _, c := range []struct {
		name string
		got  [Bins - 1]float64
		want [Bins - 1]float64
	}{
		{"recency", cp.Recency, [4]float64{115, 181, 297, 482}},
		{"frequency", cp.Frequency, [4]float64{4, 5, 6, 8}},
		{"monetary", cp.Monetary, [4]float64{256, 382, 506, 666}},
	} {
		for i := range c.got {
			if d := c.got[i] - c.want[i]; d < -0.5 || d > 0.5 {
				t.Errorf("%s cut points %v, want %v rounded", c.name, c.got, c.want)
				break
			}
		}
	}
}

// TestFitThenScoreEqualsScoreAll stores cut points fitted on a population as JSON, reads them
// back and scores each customer alone: the result equals scoring the population in one go, and
// fitting does not depend on the population's order.
func TestFitThenScoreEqualsScoreAll(t *testing.T) {
	customers, _ := Customers(rfmDataOrders(t), analysisDate)
	for _, conv := range []Convention{ConventionR, ConventionNTile} {
		all, _, err := ScoreAll(customers, analysisDate, conv)
		if err != nil {
			t.Fatal(err)
		}
		shuffled := slices.Clone(customers)
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		fitted, err := Fit(shuffled, analysisDate, conv)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := json.Marshal(fitted)
		if err != nil {
			t.Fatal(err)
		}
		var loaded CutPoints
		if err := json.Unmarshal(stored, &loaded); err != nil {
			t.Fatal(err)
		}
		if err := loaded.Validate(); err != nil {
			t.Fatal(err)
		}
		for i, c := range customers {
			one, err := loaded.Score(c, analysisDate)
			if err != nil {
				t.Fatal(err)
			}
			if one != all[i] {
				t.Fatalf("%s: %s scored alone %+v, in the population %+v", conv, c.ID, one, all[i])
			}
		}
	}
}

// population makes n customers with continuous revenue (distinct values), integer recency and
// heavily tied order counts.
func population(n int, seed uint64) []Customer {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]Customer, n)
	for i := range out {
		out[i] = Customer{
			ID:        string(rune('a'+i%26)) + time.Duration(i).String(),
			LastOrder: analysisDate.AddDate(0, 0, -rng.IntN(1000)),
			Orders:    1 + int(rng.ExpFloat64()*2),
			Revenue:   rng.Float64() * 10000,
		}
	}
	return out
}

func TestQuintileSizesForContinuousData(t *testing.T) {
	const n = 10000
	for _, conv := range []Convention{ConventionR, ConventionNTile} {
		scores, _, err := ScoreAll(population(n, 1), analysisDate, conv)
		if err != nil {
			t.Fatal(err)
		}
		var sizes [Bins + 1]int
		for _, s := range scores {
			sizes[s.M]++
		}
		for m := 1; m <= Bins; m++ {
			// ntile: exactly n/5. R: the +1 on each cut point moves about one customer per
			// unit of revenue here (density 1 per unit).
			if want := n / Bins; (conv == ConventionNTile && sizes[m] != want) || sizes[m] < want-20 || sizes[m] > want+20 {
				t.Errorf("%s: monetary score %d holds %d customers, want about %d", conv, m, sizes[m], want)
			}
		}
	}
}

func TestTiesShareABin(t *testing.T) {
	for _, conv := range []Convention{ConventionR, ConventionNTile} {
		scores, _, err := ScoreAll(population(5000, 2), analysisDate, conv)
		if err != nil {
			t.Fatal(err)
		}
		byOrders, byDays := map[int]int{}, map[int]int{}
		for _, s := range scores {
			if f, ok := byOrders[s.Frequency]; ok && f != s.F {
				t.Fatalf("%s: customers with %d orders scored F=%d and F=%d", conv, s.Frequency, f, s.F)
			}
			if r, ok := byDays[s.RecencyDays]; ok && r != s.R {
				t.Fatalf("%s: customers %d days since last order scored R=%d and R=%d", conv, s.RecencyDays, r, s.R)
			}
			byOrders[s.Frequency], byDays[s.RecencyDays] = s.F, s.R
		}
		if len(byOrders) < 5 {
			t.Fatalf("population has only %d distinct order counts; the test needs ties across cut points", len(byOrders))
		}
	}
}

// TestMonotone scores customers the fitting sample never saw, including values beyond its range:
// more orders or revenue never lowers a score, more days since the last order never raises R.
func TestMonotone(t *testing.T) {
	for _, conv := range []Convention{ConventionR, ConventionNTile} {
		cp, err := Fit(population(2000, 3), analysisDate, conv)
		if err != nil {
			t.Fatal(err)
		}
		prev := Score{R: Bins, F: 1, M: 1}
		for i := range 1500 {
			c := Customer{ID: "x", LastOrder: analysisDate.AddDate(0, 0, -i+10), Orders: 1 + i/50, Revenue: float64(i*10) - 500}
			s, err := cp.Score(c, analysisDate)
			if err != nil {
				t.Fatal(err)
			}
			if s.R > prev.R || s.F < prev.F || s.M < prev.M || s.R < 1 || s.F > Bins || s.M > Bins {
				t.Fatalf("%s: %+v after %+v", conv, s, prev)
			}
			prev = s
		}
		if prev.R != 1 || prev.F != Bins || prev.M != Bins {
			t.Errorf("%s: the oldest, most frequent, biggest customer scored %+v, want R1 F5 M5", conv, prev)
		}
	}
}

// TestNTile checks the ntile convention on distinct values against dplyr::ntile's documented rule
// (dplyr reference, ntile: "the size of the buckets will differ by up to one, with larger buckets
// coming first"), and its one deliberate difference: tied values share the lower bin.
func TestNTile(t *testing.T) {
	for _, c := range []struct {
		revenue []float64
		want    []int
	}{
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8}, []int{1, 1, 2, 2, 3, 3, 4, 5}},
		{[]float64{7, 6, 5, 4, 3, 2, 1}, []int{5, 4, 3, 2, 2, 1, 1}},
		{[]float64{10, 30, 20}, []int{1, 3, 2}},
		// dplyr::ntile(c(5, 1, 3, 2, 2), 5) is 5 1 4 2 3: it splits the tie.
		{[]float64{5, 1, 3, 2, 2}, []int{5, 1, 4, 2, 2}},
	} {
		customers := make([]Customer, len(c.revenue))
		for i, v := range c.revenue {
			customers[i] = Customer{ID: "c", LastOrder: analysisDate, Orders: 1, Revenue: v}
		}
		scores, _, err := ScoreAll(customers, analysisDate, ConventionNTile)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]int, len(scores))
		for i, s := range scores {
			got[i] = s.M
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("ntile of %v = %v, want %v", c.revenue, got, c.want)
		}
	}
}

func TestCustomers(t *testing.T) {
	d := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	orders := []Order{
		{"b", d("2006-12-30T10:00:00Z"), 10},
		{"a", d("2006-01-01T00:00:00Z"), 5},
		{"b", d("2006-06-01T00:00:00Z"), 2.5},
		{"a", d("2006-12-31T23:59:59Z"), 1},       // on the as-of day: counts, 0 days
		{"a", d("2007-01-01T00:00:00Z"), 100},     // after: ignored
		{"c", d("2006-12-31T22:00:00-05:00"), 7},  // 31 December where it happened
		{"c", d("2007-01-01T01:00:00+02:00"), 70}, // 1 January where it happened: ignored
		{"d", d("2007-03-01T00:00:00Z"), 1},       // nothing left of d
	}
	got, ignored := Customers(orders, analysisDate)
	if ignored != 3 {
		t.Errorf("ignored %d orders, want 3", ignored)
	}
	want := []Customer{
		{"a", d("2006-12-31T23:59:59Z"), 2, 6},
		{"b", d("2006-12-30T10:00:00Z"), 2, 12.5},
		{"c", d("2006-12-31T22:00:00-05:00"), 1, 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Customers = %+v\nwant %+v", got, want)
	}
	cp, err := Fit(got, analysisDate, ConventionR)
	if err != nil {
		t.Fatal(err)
	}
	for i, days := range []int{0, 1, 0} {
		if s, _ := cp.Score(got[i], analysisDate); s.RecencyDays != days {
			t.Errorf("%s: %d days since last order, want %d", got[i].ID, s.RecencyDays, days)
		}
	}
	// A last order after the as-of date (clock skew) counts as on it.
	if s, err := cp.Score(Customer{ID: "e", LastOrder: analysisDate.AddDate(0, 0, 3), Orders: 1, Revenue: 1}, analysisDate); err != nil || s.RecencyDays != 0 || s.R != Bins {
		t.Errorf("future last order scored %+v, %v; want 0 days, R5", s, err)
	}
}

func TestErrors(t *testing.T) {
	good := Customer{ID: "a", LastOrder: analysisDate, Orders: 1, Revenue: 1}
	if _, err := Fit(nil, analysisDate, ConventionR); !errors.Is(err, ErrEmpty) {
		t.Errorf("Fit(nil) err = %v, want ErrEmpty", err)
	}
	if _, err := Fit([]Customer{good}, analysisDate, "median"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Fit with an unknown convention: err = %v, want ErrInvalid", err)
	}
	if _, err := ParseConvention(" NTile "); err != nil {
		t.Errorf("ParseConvention(NTile): %v", err)
	}
	for _, bad := range []Customer{
		{ID: "no date", Orders: 1},
		{ID: "no orders", LastOrder: analysisDate},
		{ID: "nan", LastOrder: analysisDate, Orders: 1, Revenue: math.NaN()},
	} {
		if _, err := Fit([]Customer{good, bad}, analysisDate, ConventionR); !errors.Is(err, ErrInvalid) {
			t.Errorf("Fit with %+v: err = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := (CutPoints{}).Score(good, analysisDate); !errors.Is(err, ErrInvalid) {
		t.Errorf("scoring with unfitted cut points: err = %v, want ErrInvalid", err)
	}
	descending := CutPoints{Convention: ConventionR, Recency: [4]float64{4, 3, 2, 1}}
	if err := descending.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate(descending cut points) = %v, want ErrInvalid", err)
	}
}

// Single customers and tiny populations never panic and score within 1-5.
func TestTinyPopulations(t *testing.T) {
	for n := 1; n <= 6; n++ {
		for _, conv := range []Convention{ConventionR, ConventionNTile} {
			scores, _, err := ScoreAll(population(n, uint64(n)), analysisDate, conv)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range scores {
				if min(s.R, s.F, s.M) < 1 || max(s.R, s.F, s.M) > Bins {
					t.Errorf("%s, %d customers: %+v", conv, n, s)
				}
			}
		}
	}
}
