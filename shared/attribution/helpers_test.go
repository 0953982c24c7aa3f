package attribution

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/shared/datasets"
)

// pathDataFile is ../shared/datasets/attribution/PathData.csv relative to the repository root: the
// demo data PathData of the R package ChannelAttribution 2.2.4 (10,000 aggregated paths over 12
// channels, 19,785 conversions, 68,602 non-converting journeys). It is GPL-3 / MIT and is not
// copied into this repository.
func pathDataFile() string {
	return datasets.Path("attribution", "PathData.csv")
}

// pathData reads PathData.csv with ReadPathData, failing the test clearly when it is missing.
func pathData(t testing.TB) []Path {
	t.Helper()
	f, err := os.Open(pathDataFile())
	if err != nil {
		t.Fatalf("the public data set PathData.csv must be in ../shared/datasets/attribution beside the repository: %v", err)
	}
	defer f.Close()
	paths, err := ReadPathData(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 10_000 {
		t.Fatalf("read %d paths from PathData.csv, want 10,000", len(paths))
	}
	return paths
}

// parsePaths builds paths from "a > b > a:conversions:value:nulls" lines, for hand-computed cases.
func parsePaths(t testing.TB, rows ...string) []Path {
	t.Helper()
	var b strings.Builder
	b.WriteString("path,total_conversions,total_conversion_value,total_null\n")
	for _, r := range rows {
		parts := strings.Split(r, ":")
		if len(parts) != 4 {
			t.Fatalf("row %q: want path:conversions:value:nulls", r)
		}
		b.WriteString(`"` + parts[0] + `",` + strings.Join(parts[1:], ",") + "\n")
	}
	paths, err := ReadPathData(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// credits is a result's (conversions, value) per channel.
func credits(r Result) map[string][2]float64 {
	m := map[string][2]float64{}
	for _, c := range r.Credits {
		m[c.Channel] = [2]float64{c.Conversions, c.Value}
	}
	return m
}

// near reports whether got is within tol (relative, or absolute below 1) of want.
func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// expectCredits checks a result against hand-computed (conversions, value) per channel.
func expectCredits(t *testing.T, r Result, want map[string][2]float64) {
	t.Helper()
	got := credits(r)
	if len(got) != len(want) {
		t.Errorf("%s: channels %v, want %v", r.Model, got, want)
	}
	for ch, w := range want {
		g, ok := got[ch]
		if !ok || !near(g[0], w[0], 1e-12) || !near(g[1], w[1], 1e-12) {
			t.Errorf("%s %s: (conversions, value) = %v, want %v", r.Model, ch, g, w)
		}
	}
}
