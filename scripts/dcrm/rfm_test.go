package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/shared/datasets"
)

// rfmDataset is ../shared/datasets/rfm/rfm_data_orders.csv relative to the repository root: the
// data set rfm_data_orders of the R package rfm 0.3.0 (4,906 orders of 995 customers).
func rfmDataset() string {
	return datasets.Path("rfm", "rfm_data_orders.csv")
}

func readScores(t *testing.T, data []byte) map[string][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"customer_id", "recency_days", "frequency", "monetary", "r", "f", "m", "rfm", "segment"}; !slices.Equal(rows[0], want) {
		t.Fatalf("header %v, want %v", rows[0], want)
	}
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[0]] = r[1:]
	}
	return byID
}

// TestRFMCommand scores the R package's data set as its vignette does (analysis date 2006-12-31)
// and finds the published rows (rfm 0.3.0, vignette "RFM - Introduction").
func TestRFMCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "scores.csv")
	var stdout, notes bytes.Buffer
	if err := rfmScores([]string{"--orders", rfmDataset(), "--as-of", "2006-12-31", "--out", out}, &stdout, &notes); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 {
		t.Errorf("wrote to standard output despite --out: %q", stdout.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	scores := readScores(t, data)
	if len(scores) != 995 {
		t.Errorf("%d customers, want 995", len(scores))
	}
	for id, want := range map[string]string{
		"Abbey O'Reilly": "205,6,472,3,4,3,343,Potential Loyalist",
		"Add Senger":     "140,3,340,4,1,2,412,New Customers",
		"Aiyanna Bruen":  "246,4,157,3,2,1,321,About To Sleep",
		"Agness O'Keefe": "90,9,843,5,5,5,555,Champions",
	} {
		if got := strings.Join(scores[id], ","); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	if !strings.Contains(notes.String(), "scored 995 customers from 4906 orders as of 2006-12-31, convention r") ||
		strings.Contains(notes.String(), "ignored") {
		t.Errorf("notes: %q", notes.String())
	}
}

// TestRFMCommandOptions: an earlier as-of date ignores later orders (and says how many), ntile
// convention, a custom segment table, output to standard output through run.
func TestRFMCommandOptions(t *testing.T) {
	dataset := rfmDataset()
	raw, err := os.ReadFile(dataset)
	if err != nil {
		t.Fatal(err)
	}
	later := 0
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n")[1:] {
		if strings.Split(line, ",")[1] > "2005-12-31" {
			later++
		}
	}
	segments := filepath.Join(t.TempDir(), "segments.csv")
	if err := os.WriteFile(segments, []byte("segment,r_min,r_max,f_min,f_max,m_min,m_max\nBig spenders,1,5,1,5,5,5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, notes bytes.Buffer
	if err := rfmScores([]string{"--orders", dataset, "--as-of", "2005-12-31", "--convention", "ntile", "--segments", segments}, &stdout, &notes); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notes.String(), "ignored "+strconv.Itoa(later)+" orders dated after 2005-12-31") {
		t.Errorf("notes %q do not say that %d later orders were ignored", notes.String(), later)
	}
	counts := map[string]int{}
	for _, row := range readScores(t, stdout.Bytes()) {
		if row[7] == "Big spenders" && row[5] != "5" || row[7] != "Big spenders" && row[7] != "Others" {
			t.Fatalf("row %v: segment does not follow the custom table", row)
		}
		counts[row[5]]++ // m
	}
	// ntile: equal-size bins, so each monetary score holds about a fifth (ties share a bin).
	total := counts["1"] + counts["2"] + counts["3"] + counts["4"] + counts["5"]
	for m, n := range counts {
		if n*5 < total*8/10 || n*5 > total*12/10 {
			t.Errorf("monetary score %s holds %d of %d customers", m, n, total)
		}
	}

	var viaRun bytes.Buffer
	if err := run(context.Background(), []string{"rfm", "--orders", dataset, "--as-of", "2006-12-31"}, &viaRun); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(viaRun.String(), "customer_id,recency_days,") {
		t.Errorf("dcrm rfm wrote %.80q", viaRun.String())
	}
}

func TestRFMCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("customer_id,order_date,revenue\na,2006-01-01,10\nb,2006-01-02,ten\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badSegments := filepath.Join(dir, "segments.csv")
	if err := os.WriteFile(badSegments, []byte("segment,r_min,r_max,f_min,f_max,m_min,m_max\nA,0,5,1,5,1,5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataset := rfmDataset()
	for _, c := range []struct {
		args      []string
		usage     bool
		wantInErr string
	}{
		{args: []string{"--as-of", "2006-12-31"}, usage: true},
		{args: []string{"--orders", dataset}, usage: true},
		{args: []string{"--orders", dataset, "--as-of", "2006-12-31", "extra"}, usage: true},
		{args: []string{"--orders", dataset, "--as-of", "31/12/2006"}, wantInErr: `--as-of "31/12/2006": want YYYY-MM-DD`},
		{args: []string{"--orders", dataset, "--as-of", "2006-12-31", "--convention", "median"}, wantInErr: `convention "median"`},
		{args: []string{"--orders", bad, "--as-of", "2006-12-31"}, wantInErr: `bad.csv: orders line 3: revenue "ten": not a finite number`},
		{args: []string{"--orders", filepath.Join(dir, "missing.csv"), "--as-of", "2006-12-31"}, wantInErr: "missing.csv"},
		{args: []string{"--orders", dataset, "--as-of", "2006-12-31", "--segments", badSegments}, wantInErr: `segments.csv: segment table line 2: segment "A": range 0-5`},
		{args: []string{"--orders", dataset, "--as-of", "1999-01-01"}, wantInErr: "no orders on or before 1999-01-01"},
	} {
		err := rfmScores(c.args, &bytes.Buffer{}, &bytes.Buffer{})
		if c.usage && !errors.Is(err, errUsage) || !c.usage && (err == nil || !strings.Contains(err.Error(), c.wantInErr)) {
			t.Errorf("dcrm rfm %v: err = %v, want %s", c.args, err, map[bool]string{true: "usage", false: c.wantInErr}[c.usage])
		}
	}
}
