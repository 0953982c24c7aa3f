package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/btyd"
	"github.com/dcrm-project/dcrm/shared/datasets"
)

// cdnowCSV converts ../shared/datasets/cdnow/CDNOW_sample.txt (master_id sample_id yyyymmdd
// n_cds dollars) into the CSV the command reads, in a temporary directory.
func cdnowCSV(t *testing.T) string {
	t.Helper()
	in, err := os.Open(datasets.Path("cdnow", "CDNOW_sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var b strings.Builder
	b.WriteString("customer_id,order_date,revenue\n")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 5 {
			t.Fatalf("CDNOW_sample.txt line %q", sc.Text())
		}
		b.WriteString(f[1] + "," + f[2][:4] + "-" + f[2][4:6] + "-" + f[2][6:] + "," + f[4] + "\n")
	}
	path := filepath.Join(t.TempDir(), "cdnow.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFitCommandCDNOW fits the CDNOW sample with the papers' calibration period (weeks 1-39, to
// 1997-09-30) and checks the printed parameters against the published ones: BG/NBD r = 0.243,
// α = 4.414, a = 0.793, b = 2.426, LL = -9582.4 and Pareto/NBD r = 0.553, α = 10.578, s = 0.606,
// β = 11.669, LL = -9595.0 (Fader, Hardie & Lee 2005, Marketing Science 24(2), sec. 7);
// Gamma-Gamma p = 6.25, q = 3.74, γ = 15.44 on 946 customers (Fader & Hardie 2013, "The
// Gamma-Gamma model of monetary value").
func TestFitCommandCDNOW(t *testing.T) {
	dir := t.TempDir()
	outPath, modelsPath := filepath.Join(dir, "scores.csv"), filepath.Join(dir, "models.json")
	var stdout, notes bytes.Buffer
	err := fitBTYD(context.Background(), []string{"--transactions", cdnowCSV(t), "--calibration-end", "1997-09-30",
		"--horizon", "39", "--out", outPath, "--models", modelsPath}, &stdout, &notes)
	if err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 {
		t.Errorf("with --out, standard output got %q", stdout.String())
	}
	printed := notes.String()
	params := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^(BG/NBD|Pareto/NBD|Gamma-Gamma) +(.*?) +(\d+) +(-[\d.]+)$`).FindAllStringSubmatch(printed, -1) {
		for _, kv := range strings.Fields(m[2]) {
			k, v, _ := strings.Cut(kv, "=")
			params[m[1]+" "+k], _ = strconv.ParseFloat(v, 64)
		}
		params[m[1]+" n"], _ = strconv.ParseFloat(m[3], 64)
		params[m[1]+" LL"], _ = strconv.ParseFloat(m[4], 64)
	}
	for _, p := range []struct {
		name      string
		published float64
		tolerance float64 // the published rounding
	}{
		{"BG/NBD r", 0.243, 5e-4}, {"BG/NBD alpha", 4.414, 5e-4}, {"BG/NBD a", 0.793, 5e-4}, {"BG/NBD b", 2.426, 5e-4},
		{"BG/NBD LL", -9582.4, 0.05}, {"BG/NBD n", 2357, 0},
		{"Pareto/NBD r", 0.553, 5e-4}, {"Pareto/NBD alpha", 10.578, 5e-4}, {"Pareto/NBD s", 0.606, 5e-4},
		{"Pareto/NBD beta", 11.669, 5e-4}, {"Pareto/NBD LL", -9595.0, 0.05},
		{"Gamma-Gamma p", 6.25, 5e-3}, {"Gamma-Gamma q", 3.74, 5e-3}, {"Gamma-Gamma gamma", 15.44, 5e-3}, {"Gamma-Gamma n", 946, 0},
	} {
		got, ok := params[p.name]
		// The printed figure has 4 decimals (2 for the LL): allow for its rounding too.
		if !ok || math.Abs(got-p.published) > p.tolerance+5e-3*math.Abs(p.tolerance) {
			t.Errorf("printed %s = %v (found %v), published %v ± %v", p.name, got, ok, p.published, p.tolerance)
		}
	}
	if t.Failed() {
		t.Logf("printed:\n%s", printed)
	}

	raw, err := os.ReadFile(modelsPath)
	if err != nil {
		t.Fatal(err)
	}
	var models btyd.Models
	if err := json.Unmarshal(raw, &models); err != nil {
		t.Fatal(err)
	}
	if models.Unit != btyd.Week || models.Customers != 2357 || !models.CalibrationEnd.Equal(time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)) ||
		models.BGNBD == nil || math.Abs(models.BGNBD.R-params["BG/NBD r"]) > 5e-5 || models.GammaGamma == nil {
		t.Errorf("models file: %s", raw)
	}

	data, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"customer_id", "x", "t_x", "T", "p_alive_bgnbd", "p_alive_pareto",
		"expected_purchases_bgnbd", "expected_purchases_pareto", "expected_spend", "clv_bgnbd", "clv_pareto"}
	if len(rows) != 2358 || strings.Join(rows[0], ",") != strings.Join(want, ",") {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	// Customer 0001 (x = 2, t_x = 30.43, T = 38.86) is expected to buy 1.226 times in the 39
	// weeks after the calibration (FHL 2005 BG/NBD workbook, note 004).
	r := rows[1]
	num := func(i int) float64 { v, _ := strconv.ParseFloat(r[i], 64); return v }
	if r[0] != "0001" || r[1] != "2" || math.Abs(num(2)-30.43) > 0.005 || math.Abs(num(3)-38.86) > 0.005 ||
		math.Abs(num(6)-1.226) > 5e-4 || !(num(4) > 0 && num(4) < 1) || !(num(9) > 0 && num(9) < num(6)*num(8)) {
		t.Errorf("customer 0001: %v", r)
	}
}

func TestReadTransactionsColumns(t *testing.T) {
	for _, c := range []struct {
		name, data, format string
	}{
		{"named, any order and case", "Revenue,Order-Date,Customer ID\n12.5,2024-03-01,c1\n", ""},
		{"unnamed: the first three", "who,when,how much\nc1,2024-03-01,12.5\n", ""},
		{"byte order mark", "\ufeffcustomer_id,date,amount\nc1,2024-03-01,12.5\n", ""},
		{"extra columns", "country,customer,amount,date\nUK,c1,12.5,20240301\n", ""},
		{"date and time", "customer_id,date,amount\nc1,2024-03-01T23:30:00Z,12.5\n", ""},
		{"layout", "customer_id,date,amount\nc1,01/03/2024,12.5\n", "02/01/2006"},
	} {
		txs, err := readTransactions(strings.NewReader(c.data), c.format)
		if err != nil || len(txs) != 1 || txs[0].CustomerID != "c1" || txs[0].Amount != 12.5 ||
			txs[0].At.Year() != 2024 || txs[0].At.Month() != 3 || txs[0].At.Day() != 1 {
			t.Errorf("%s: %+v, %v", c.name, txs, err)
		}
	}
}

func TestFitCommandErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		data string
		want string // in the error
	}{
		{"bad date", "customer_id,date,amount\na,2024-01-01,1\nb,2024-13-45,2\n", "line 3: date \"2024-13-45\""},
		{"bad amount", "customer_id,date,amount\na,2024-01-01,1\nb,2024-01-02,ten\n", "line 3: amount \"ten\""},
		{"NaN amount", "customer_id,date,amount\na,2024-01-01,NaN\n", "line 2: amount"},
		{"empty id", "customer_id,date,amount\na,2024-01-01,1\n ,2024-01-02,1\n", "line 3: empty customer id"},
		{"short row", "customer_id,date,amount\na,2024-01-01,1\nb,2024-01-02\n", "line 3"},
		{"some names", "customer_id,when,amount\na,2024-01-01,1\n", "some but not all"},
		{"two columns", "customer_id,date\n", "2 columns"},
		{"empty", "", "empty"},
		{"no repeat purchase", "customer_id,date,amount\na,2024-01-01,1\nb,2024-01-02,1\n", btyd.ErrTooFewRepeat.Error()},
		{"nothing before the calibration end", "customer_id,date,amount\na,2025-01-01,1\n", btyd.ErrNoCustomers.Error()},
	} {
		var out, notes bytes.Buffer
		err := fitBTYD(ctx, []string{"--transactions", write(c.name, c.data), "--calibration-end", "2024-06-30"}, &out, &notes)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to say %q", c.name, err, c.want)
		}
	}
	good := write("good.csv", "customer_id,date,amount\na,2024-01-01,1\na,2024-02-01,1\n")
	for _, args := range [][]string{
		{},
		{"--transactions", good},
		{"--calibration-end", "2024-06-30"},
		{"--transactions", good, "--calibration-end", "2024-06-30", "extra"},
	} {
		if err := fitBTYD(ctx, args, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v, want usage", args, err)
		}
	}
	for _, args := range [][]string{
		{"--calibration-end", "30/06/2024"},
		{"--calibration-end", "2024-06-30", "--unit", "month"},
		{"--calibration-end", "2024-06-30", "--horizon", "-1"},
		{"--calibration-end", "2024-06-30", "--discount-rate", "-1"},
		{"--calibration-end", "2024-06-30", "--margin", "NaN"},
	} {
		err := fitBTYD(ctx, append([]string{"--transactions", good}, args...), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v, want a reason", args, err)
		}
	}
	if err := fitBTYD(ctx, []string{"--transactions", filepath.Join(dir, "missing.csv"), "--calibration-end", "2024-06-30"},
		&bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	if err := run(ctx, []string{"fit"}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
		t.Errorf("dcrm fit: err = %v, want usage", err)
	}
}

func FuzzReadTransactions(f *testing.F) {
	for _, seed := range []string{
		"customer_id,date,amount\na,2024-01-01,1\na,2024-02-01,2.5\n",
		"Revenue,Order-Date,Customer ID\n12.5,2024-03-01,c1\n",
		"a,b,c\n\"x\"\"y\",2024-01-01T10:00:00+02:00,-3e2\n",
		"\ufeffid,date,amount\n,,\n",
		"customer_id,date,amount\na,20240101,Inf\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		txs, err := readTransactions(strings.NewReader(data), "")
		if err != nil {
			return
		}
		for _, tx := range txs {
			if strings.TrimSpace(tx.CustomerID) == "" || math.IsNaN(tx.Amount) || math.IsInf(tx.Amount, 0) || tx.At.IsZero() {
				t.Fatalf("accepted %+v from %q", tx, data)
			}
		}
		// Whatever is accepted can be summarised without a panic.
		btyd.Summarise(txs, btyd.Summary{CalibrationEnd: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)})
	})
}
