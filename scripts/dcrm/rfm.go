package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/rfm"
)

// rfmScores is `dcrm rfm`: RFM scores and segments of the customers in an orders file, one CSV
// row per customer. What it did (counts, ignored orders, cut points) goes to notes.
func rfmScores(args []string, out, notes io.Writer) error {
	fs := flag.NewFlagSet("rfm", flag.ContinueOnError)
	ordersPath := fs.String("orders", "", "CSV of orders with a header: customer id, order date, revenue")
	asOfText := fs.String("as-of", "", "analysis date, YYYY-MM-DD; later orders are ignored")
	segmentsPath := fs.String("segments", "", "CSV segment table: segment,r_min,r_max,f_min,f_max,m_min,m_max (default: the R rfm package's)")
	convText := fs.String("convention", string(rfm.ConventionR), "cut points: r (R package rfm) or ntile (equal-size bins)")
	outPath := fs.String("out", "", "write the scores to this file instead of standard output")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *ordersPath == "" || *asOfText == "" {
		return errUsage
	}
	asOf, err := time.Parse(time.DateOnly, *asOfText)
	if err != nil {
		return fmt.Errorf("--as-of %q: want YYYY-MM-DD", *asOfText)
	}
	conv, err := rfm.ParseConvention(*convText)
	if err != nil {
		return err
	}
	segments := rfm.DefaultSegments
	if *segmentsPath != "" {
		if segments, err = readFile(*segmentsPath, rfm.ReadSegments); err != nil {
			return err
		}
	}
	orders, err := readFile(*ordersPath, rfm.ReadOrders)
	if err != nil {
		return err
	}
	customers, ignored := rfm.Customers(orders, asOf)
	if len(customers) == 0 {
		return fmt.Errorf("%s: no orders on or before %s", *ordersPath, *asOfText)
	}
	scores, cp, err := rfm.ScoreAll(customers, asOf, conv)
	if err != nil {
		return err
	}

	if err := writeTo(*outPath, out, func(w io.Writer) error { return writeScores(w, scores, segments) }); err != nil {
		return fmt.Errorf("write scores: %w", err)
	}
	fmt.Fprintf(notes, "scored %d customers from %d orders as of %s, convention %s\n", len(scores), len(orders)-ignored, *asOfText, conv)
	if ignored > 0 {
		fmt.Fprintf(notes, "ignored %d orders dated after %s\n", ignored, *asOfText)
	}
	fmt.Fprintf(notes, "cut points: recency days %s, orders %s, revenue %s\n", cutText(cp.Recency), cutText(cp.Frequency), cutText(cp.Monetary))
	return nil
}

func cutText(cuts [rfm.Bins - 1]float64) string {
	parts := make([]string, len(cuts))
	for i, c := range cuts {
		parts[i] = strconv.FormatFloat(c, 'g', 6, 64)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// readFile opens path and reads it with read, naming the file in any error.
func readFile[T any](path string, read func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	v, err := read(f)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// createFile writes a new file at path with write.
func createFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeTo writes with write to a new file at path, or to out when path is empty.
func writeTo(path string, out io.Writer, write func(io.Writer) error) error {
	if path != "" {
		return createFile(path, write)
	}
	return write(out)
}

// writeCSV writes a header line and the rows that rows passes to row, buffered.
func writeCSV(out io.Writer, header []string, rows func(row func([]string) error) error) error {
	bw := bufio.NewWriter(out)
	w := csv.NewWriter(bw)
	if err := w.Write(header); err != nil {
		return err
	}
	if err := rows(w.Write); err != nil {
		return err
	}
	w.Flush()
	return errors.Join(w.Error(), bw.Flush())
}

func writeScores(out io.Writer, scores []rfm.Score, segments rfm.Segments) error {
	header := []string{"customer_id", "recency_days", "frequency", "monetary", "r", "f", "m", "rfm", "segment"}
	return writeCSV(out, header, func(row func([]string) error) error {
		for _, s := range scores {
			if err := row([]string{
				s.ID, strconv.Itoa(s.RecencyDays), strconv.Itoa(s.Frequency), strconv.FormatFloat(s.Monetary, 'f', -1, 64),
				strconv.Itoa(s.R), strconv.Itoa(s.F), strconv.Itoa(s.M), strconv.Itoa(s.RFM()), segments.Name(s),
			}); err != nil {
				return err
			}
		}
		return nil
	})
}
