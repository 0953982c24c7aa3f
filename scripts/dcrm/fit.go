package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dcrm-project/dcrm/shared/btyd"
)

// fitBTYD is `dcrm fit`: fits the BG/NBD, Pareto/NBD and Gamma-Gamma models to a transactions
// file and writes one CSV row per customer to out (or --out). Progress, the fitted parameters and
// their log-likelihoods go to notes, so that the CSV stays clean.
func fitBTYD(ctx context.Context, args []string, out, notes io.Writer) error {
	fs := flag.NewFlagSet("fit", flag.ContinueOnError)
	txPath := fs.String("transactions", "", "CSV of transactions with a header: customer id, date, amount")
	calText := fs.String("calibration-end", "", "last day of the calibration period, YYYY-MM-DD; later transactions are ignored")
	horizon := fs.Float64("horizon", 52, "forecast horizon in --unit")
	unitText := fs.String("unit", string(btyd.Week), "time unit of the models: week or day")
	rate := fs.Float64("discount-rate", 0.1, "annual discount rate of the CLV")
	margin := fs.Float64("margin", 1, "share of spend that is profit (1: the CLV counts revenue)")
	outPath := fs.String("out", "", "write the per-customer CSV to this file instead of standard output")
	modelsPath := fs.String("models", "", "also write the fitted models as JSON to this file")
	dateFormat := fs.String("date-format", "", "Go time layout of the dates, e.g. 02/01/2006 (default: YYYY-MM-DD, RFC 3339, YYYY-MM-DD HH:MM:SS, YYYYMMDD or YYYY/MM/DD)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *txPath == "" || *calText == "" {
		return errUsage
	}
	calEnd, err := time.Parse(time.DateOnly, *calText)
	if err != nil {
		return fmt.Errorf("--calibration-end %q: want YYYY-MM-DD", *calText)
	}
	unit := btyd.Unit(*unitText)
	if _, err := unit.Days(); err != nil {
		return fmt.Errorf("--unit: %w", err)
	}
	v := btyd.Valuation{Horizon: *horizon, AnnualRate: *rate, Margin: *margin}
	if !(v.Horizon >= 0) || math.IsInf(v.Horizon, 0) || !(v.AnnualRate > -1) || math.IsInf(v.AnnualRate, 0) || math.IsNaN(v.Margin) || math.IsInf(v.Margin, 0) {
		return fmt.Errorf("--horizon %g, --discount-rate %g, --margin %g: want a horizon >= 0, a rate > -1 and a finite margin", *horizon, *rate, *margin)
	}

	f, err := os.Open(*txPath)
	if err != nil {
		return err
	}
	txs, err := readTransactions(f, *dateFormat)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *txPath, err)
	}
	customers, err := btyd.Summarise(txs, btyd.Summary{CalibrationEnd: calEnd, Unit: unit})
	if err != nil {
		return fmt.Errorf("%s: %w", *txPath, err)
	}
	repeat := 0
	for _, c := range customers {
		if c.X > 0 {
			repeat++
		}
	}
	fmt.Fprintf(notes, "read %d transactions: %d customers bought on or before %s, %d of them again\n",
		len(txs), len(customers), *calText, repeat)

	models := btyd.Models{Unit: unit, CalibrationEnd: calEnd, FittedAt: time.Now().UTC(), Customers: len(customers)}
	fits := []struct {
		name string
		fit  func() error
	}{
		{"BG/NBD", func() error { m, err := btyd.FitBGNBD(customers); models.BGNBD = &m; return err }},
		{"Pareto/NBD", func() error { m, err := btyd.FitParetoNBD(customers); models.ParetoNBD = &m; return err }},
		{"Gamma-Gamma", func() error { m, err := btyd.FitGammaGamma(customers); models.GammaGamma = &m; return err }},
	}
	for _, f := range fits {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Fprintf(notes, "fitting %s ... ", f.name)
		start := time.Now()
		if err := f.fit(); err != nil {
			fmt.Fprintln(notes, "failed")
			return err
		}
		fmt.Fprintf(notes, "%.1fs\n", time.Since(start).Seconds())
	}
	printModels(notes, models)

	if *modelsPath != "" {
		raw, err := json.MarshalIndent(models, "", "  ")
		if err != nil {
			return fmt.Errorf("encode models: %w", err)
		}
		if err := os.WriteFile(*modelsPath, append(raw, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *outPath == "" {
		return writeCustomerScores(out, models, customers, v)
	}
	file, err := os.Create(*outPath)
	if err != nil {
		return err
	}
	if err := writeCustomerScores(file, models, customers, v); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

// printModels writes the fitted parameters as a small table.
func printModels(w io.Writer, m btyd.Models) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	fmt.Fprintf(tw, "model\tparameters (%s)\tcustomers\tlog-likelihood\n", m.Unit)
	b, pn, g := m.BGNBD, m.ParetoNBD, m.GammaGamma
	fmt.Fprintf(tw, "BG/NBD\tr=%s alpha=%s a=%s b=%s\t%d\t%.2f\n", p(b.R), p(b.Alpha), p(b.A), p(b.B), b.N, b.LogLik)
	fmt.Fprintf(tw, "Pareto/NBD\tr=%s alpha=%s s=%s beta=%s\t%d\t%.2f\n", p(pn.R), p(pn.Alpha), p(pn.S), p(pn.Beta), pn.N, pn.LogLik)
	fmt.Fprintf(tw, "Gamma-Gamma\tp=%s q=%s gamma=%s\t%d\t%.2f\n", p(g.P), p(g.Q), p(g.Gamma), g.N, g.LogLik)
	tw.Flush()
}

// writeCustomerScores writes one CSV row per customer.
func writeCustomerScores(w io.Writer, m btyd.Models, customers []btyd.Customer, v btyd.Valuation) error {
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	cw.Write([]string{"customer_id", "x", "t_x", "T", "p_alive_bgnbd", "p_alive_pareto",
		"expected_purchases_bgnbd", "expected_purchases_pareto", "expected_spend", "clv_bgnbd", "clv_pareto"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	for _, c := range customers {
		s, err := m.Score(c, v)
		if err != nil {
			return fmt.Errorf("score %s: %w", c.ID, err)
		}
		cw.Write([]string{c.ID, strconv.Itoa(c.X), f(c.Tx), f(c.T), f(s.PAliveBGNBD), f(s.PAlivePareto),
			f(s.ExpectedBGNBD), f(s.ExpectedPareto), f(s.ExpectedSpend), f(s.CLVBGNBD), f(s.CLVPareto)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write scores: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write scores: %w", err)
	}
	return nil
}

// Column names the reader recognises, compared without case, spaces, '_' and '-'.
var (
	idColumns     = []string{"customerid", "customer", "id", "userid", "clientid"}
	dateColumns   = []string{"date", "orderdate", "purchasedate", "transactiondate", "invoicedate", "timestamp", "time"}
	amountColumns = []string{"amount", "revenue", "spend", "value", "sales", "monetary", "total"}
	dateLayouts   = []string{time.DateOnly, time.RFC3339, time.DateTime, "2006-01-02T15:04:05", "20060102", "2006/01/02"}
)

var errTransactionsFile = errors.New("bad transactions file")

// readTransactions reads a CSV with a header row. The customer id, date and amount columns are
// found by name (customer_id, date, amount and the like), or are the first three when no column
// has a known name. dateFormat is a Go time layout; empty tries the layouts in dateLayouts.
// Errors name the line and the reason.
func readTransactions(r io.Reader, dateFormat string) ([]btyd.Transaction, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty, want a header row", errTransactionsFile)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTransactionsFile, err)
	}
	if len(header) < 3 {
		return nil, fmt.Errorf("%w: line 1: %d columns, want customer id, date and amount", errTransactionsFile, len(header))
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff") // spreadsheet exports start with a BOM
	id, date, amount := findColumn(header, idColumns), findColumn(header, dateColumns), findColumn(header, amountColumns)
	switch {
	case id < 0 && date < 0 && amount < 0:
		id, date, amount = 0, 1, 2
	case id < 0 || date < 0 || amount < 0:
		return nil, fmt.Errorf("%w: line 1: header %q names some but not all of customer id, date and amount", errTransactionsFile, strings.Join(header, ","))
	}
	layouts := dateLayouts
	if dateFormat != "" {
		layouts = []string{dateFormat}
	}
	var txs []btyd.Transaction
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return txs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errTransactionsFile, err)
		}
		line, _ := cr.FieldPos(0)
		t, err := parseTransaction(rec[id], rec[date], rec[amount], layouts)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", errTransactionsFile, line, err)
		}
		txs = append(txs, t)
	}
}

func parseTransaction(id, date, amount string, layouts []string) (btyd.Transaction, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return btyd.Transaction{}, errors.New("empty customer id")
	}
	date = strings.TrimSpace(date)
	var at time.Time
	var err error
	for _, l := range layouts {
		if at, err = time.Parse(l, date); err == nil {
			break
		}
	}
	if err != nil {
		return btyd.Transaction{}, fmt.Errorf("date %q does not match %s (see --date-format)", date, strings.Join(layouts, " or "))
	}
	a, err := strconv.ParseFloat(strings.TrimSpace(amount), 64)
	if err != nil || math.IsNaN(a) || math.IsInf(a, 0) {
		return btyd.Transaction{}, fmt.Errorf("amount %q is not a number", amount)
	}
	return btyd.Transaction{CustomerID: id, At: at, Amount: a}, nil
}

// findColumn is the index of the first header cell with one of the names, or -1.
func findColumn(header []string, names []string) int {
	for _, n := range names {
		for i, h := range header {
			key := strings.Map(func(r rune) rune {
				if r == ' ' || r == '_' || r == '-' {
					return -1
				}
				return r
			}, strings.ToLower(h))
			if key == n {
				return i
			}
		}
	}
	return -1
}
