package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/attribution"
	"github.com/dcrm-project/dcrm/shared/attribution/picture"
	"github.com/dcrm-project/dcrm/shared/importing"
)

// attribute is `dcrm attribute`: the attribution of the paths in a PathData file by every model
// (or the one named), one CSV row per model and channel. What it read, and each Markov model's
// conversion probability and the Shapley method, go to notes.
func attribute(args []string, out, notes io.Writer) error {
	fs := flag.NewFlagSet("attribute", flag.ContinueOnError)
	pathsFile := fs.String("paths", "", "aggregated paths: CSV path,total_conversions[,total_conversion_value][,total_null], channels separated by \" > \"")
	modelName := fs.String("model", "", "one model (default: all): "+modelNames())
	direct := fs.String("direct", strings.Join(attribution.DefaultDirect, ","), "last-non-direct: the direct channels, comma-separated, any case")
	halfLifeText := fs.String("half-life", "7d", "time-decay: the half-life, as 7d or a Go duration (36h); paths without times count touches one half-life apart")
	outPath := fs.String("out", "", "write the CSV to this file instead of standard output")
	spendFile := fs.String("spend", "", "marketing spend as the import writes it (spend/<key>.jsonl in the archive bucket): print each model's spend, CPA and ROAS per channel instead")
	from := fs.String("from", "", "with --spend: the first day of spend counted, YYYY-MM-DD (default: the file's first)")
	to := fs.String("to", "", "with --spend: the last day of spend counted, YYYY-MM-DD (default: the file's last)")
	svgPath := fs.String("svg", "", "also draw the results as a picture (SVG) in this file: each channel's conversions under every model; with --spend, the spend, CPA and ROAS under markov (else the first model)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *pathsFile == "" {
		return errUsage
	}
	models := attribution.Models()
	if *modelName != "" {
		m, err := attribution.ModelNamed(*modelName)
		if err != nil {
			return err
		}
		models = []attribution.Model{m}
	}
	halfLife, err := parseHalfLife(*halfLifeText)
	if err != nil {
		return err
	}
	opts := attribution.Options{Direct: strings.Split(*direct, ","), HalfLife: halfLife}
	paths, err := readFile(*pathsFile, attribution.ReadPathData)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("%s: no paths", *pathsFile)
	}
	results := make([]attribution.Result, 0, len(models))
	for _, m := range models {
		r, err := m.Run(paths, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		results = append(results, r)
	}

	write := func(w io.Writer) error { return writeAttribution(w, results) }
	pic := picture.FromResults("Attribution by model", "paths of "+filepath.Base(*pathsFile)+" (no dates)", results)
	if *spendFile != "" {
		spent, currency, first, last, err := readSpent(*spendFile, *from, *to)
		if err != nil {
			return err
		}
		fmt.Fprintf(notes, "spend in %s by channel, %s to %s\n", currency, cmp.Or(*from, "the first day"), cmp.Or(*to, "the last"))
		write = func(w io.Writer) error { return writeReturns(w, results, spent) }
		pic.Period = fmt.Sprintf("spend from %s to %s; paths of %s", first, last, filepath.Base(*pathsFile))
		chosen := results[0]
		for _, r := range results {
			if r.Model == "markov" {
				chosen = r
			}
		}
		pic = pic.WithReturns(chosen.Model, currency, attribution.Returns(chosen, spent))
	}
	if err := writeTo(*outPath, out, write); err != nil {
		return fmt.Errorf("write attribution: %w", err)
	}
	if *svgPath != "" {
		if err := createFile(*svgPath, func(w io.Writer) error { return picture.SVG(w, pic) }); err != nil {
			return fmt.Errorf("write the picture: %w", err)
		}
	}
	var conv, value, nulls float64
	for _, p := range paths {
		conv += p.Conversions
		value += p.Value
		nulls += p.Nulls
	}
	fmt.Fprintf(notes, "read %d paths over %d channels: %s conversions, value %s, %s journeys without conversion\n",
		len(paths), len(results[0].Credits), formatNumber(conv), formatNumber(value), formatNumber(nulls))
	for _, r := range results {
		switch {
		case r.Method != "":
			fmt.Fprintf(notes, "%s: %s\n", r.Model, r.Method)
		case r.HasRemovalEffects():
			fmt.Fprintf(notes, "%s: P(conversion) %s, expected value per journey %s\n", r.Model, formatNumber(r.ConversionProbability), formatNumber(r.ValuePerJourney))
		}
	}
	return nil
}

// readSpent reads a spend file and sums it by channel over from..to (the file's own first and
// last days when not given), and returns the days it counted.
func readSpent(path, from, to string) (spent map[string]float64, currency, fromDay, toDay string, err error) {
	records, err := readFile(path, importing.ReadSpend)
	if err != nil {
		return nil, "", "", "", err
	}
	spend := make([]attribution.Spend, len(records))
	first, last := "9999-12-31", "0000-01-01"
	for i, r := range records {
		spend[i] = attribution.Spend{Date: r.Date, Channel: r.Channel, Campaign: cmp.Or(r.CampaignName, r.CampaignID), Cost: r.Cost, Currency: r.Currency}
		first, last = min(first, r.Date), max(last, r.Date)
	}
	fromDay, toDay = cmp.Or(from, first), cmp.Or(to, last)
	spent, currency, err = attribution.Spent(spend, fromDay, toDay, attribution.ByChannel)
	if err != nil {
		return nil, "", "", "", fmt.Errorf("%s: %w", path, err)
	}
	return spent, currency, fromDay, toDay, nil
}

// writeReturns writes model,channel,spend,conversions,value,cpa,roas to full precision; CPA and
// ROAS are empty where they have no denominator (no conversion, no spend figures).
func writeReturns(out io.Writer, results []attribution.Result, spent map[string]float64) error {
	header := []string{"model", "channel", "spend", "conversions", "value", "cpa", "roas"}
	return writeCSV(out, header, func(row func([]string) error) error {
		for _, r := range results {
			for _, ret := range attribution.Returns(r, spent) {
				if err := row([]string{r.Model, ret.Channel, formatNumber(ret.Spend), formatNumber(ret.Conversions), formatNumber(ret.Value),
					optional(ret.CPA), optional(ret.ROAS)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func optional(v *float64) string {
	if v == nil {
		return ""
	}
	return formatNumber(*v)
}

func modelNames() string {
	var names []string
	for _, m := range attribution.Models() {
		names = append(names, m.Name)
	}
	return strings.Join(names, ", ")
}

// parseHalfLife reads 7d, 1.5d or a Go duration; it must be positive.
func parseHalfLife(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(days, 64)
		if err == nil && f > 0 && f < 1e5 {
			d = time.Duration(f * float64(24*time.Hour))
		}
	} else if parsed, err := time.ParseDuration(s); err == nil {
		d = parsed
	}
	if d <= 0 {
		return 0, fmt.Errorf("--half-life %q: want a positive duration such as 7d or 36h", s)
	}
	return d, nil
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// writeAttribution writes model,channel,conversions,value,removal_effect,value_removal_effect, the
// numbers to full precision; the removal effects are empty for the models without them.
func writeAttribution(out io.Writer, results []attribution.Result) error {
	header := []string{"model", "channel", "conversions", "value", "removal_effect", "value_removal_effect"}
	return writeCSV(out, header, func(row func([]string) error) error {
		for _, r := range results {
			for _, c := range r.Credits {
				re, vre := "", ""
				if r.HasRemovalEffects() {
					re, vre = formatNumber(c.RemovalEffect), formatNumber(c.ValueRemovalEffect)
				}
				if err := row([]string{r.Model, c.Channel, formatNumber(c.Conversions), formatNumber(c.Value), re, vre}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
