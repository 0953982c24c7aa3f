package main

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// tableModels are the attribution models the demo's table shows, in the order of the reports
// (shared/attribution's Models names them so); a model the report does not have is left out.
var tableModels = []string{"first-touch", "last-touch", "linear", "position-based", "time-decay", "markov"}

// sortModel orders the rows (most credit first) and gives the value column.
const sortModel = "markov"

// AttributionTable is one goal's attribution at one level (channel or campaign), as the report's
// attribution.csv has it: per name, the conversions credited under each model and the value
// credited under markov.
type AttributionTable struct {
	Goal, By string
	Models   []string // the columns: those of tableModels the report has, in that order
	Rows     []AttributionRow
}

// AttributionRow is one channel (or campaign) of the table.
type AttributionRow struct {
	Name        string
	Conversions map[string]float64 // by model
	Value       float64            // under markov
}

// ParseAttribution reads a report's attribution.csv (goal,by,model,name,conversions,value,
// removal_effect,spend,cpa,roas; columns found by name) and keeps the rows of goal at level by
// under the models of the table. Rows come sorted by their markov credit, most first, then by name.
func ParseAttribution(r io.Reader, goal, by string) (AttributionTable, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return AttributionTable{}, fmt.Errorf("attribution.csv: header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	for _, want := range []string{"goal", "by", "model", "name", "conversions", "value"} {
		if _, ok := col[want]; !ok {
			return AttributionTable{}, fmt.Errorf("attribution.csv: no column %q in header %q", want, strings.Join(header, ","))
		}
	}
	t := AttributionTable{Goal: goal, By: by}
	rows := map[string]*AttributionRow{}
	seen := map[string]bool{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return AttributionTable{}, fmt.Errorf("attribution.csv: %w", err)
		}
		field := func(name string) string {
			if i := col[name]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		model := field("model")
		if field("goal") != goal || field("by") != by || !slices.Contains(tableModels, model) {
			continue
		}
		conv, err := number(field("conversions"))
		if err != nil {
			return AttributionTable{}, fmt.Errorf("attribution.csv line %d: conversions: %w", line, err)
		}
		value, err := number(field("value"))
		if err != nil {
			return AttributionTable{}, fmt.Errorf("attribution.csv line %d: value: %w", line, err)
		}
		name := field("name")
		row := rows[name]
		if row == nil {
			row = &AttributionRow{Name: name, Conversions: map[string]float64{}}
			rows[name] = row
		}
		row.Conversions[model] += conv
		if model == sortModel {
			row.Value += value
		}
		seen[model] = true
	}
	if len(rows) == 0 {
		return AttributionTable{}, fmt.Errorf("attribution.csv has no credits of goal %q by %s", goal, by)
	}
	for _, m := range tableModels {
		if seen[m] {
			t.Models = append(t.Models, m)
		}
	}
	for _, row := range rows {
		t.Rows = append(t.Rows, *row)
	}
	slices.SortFunc(t.Rows, func(a, b AttributionRow) int {
		return cmp.Or(cmp.Compare(b.Conversions[sortModel], a.Conversions[sortModel]), strings.Compare(a.Name, b.Name))
	})
	return t, nil
}

// number reads a figure of the report; an empty cell is 0.
func number(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseFloat(s, 64)
}

// Total is the conversions credited under model over every row, and whether the table has it.
func (t AttributionTable) Total(model string) (float64, bool) {
	if !slices.Contains(t.Models, model) {
		return 0, false
	}
	sum := 0.0
	for _, r := range t.Rows {
		sum += r.Conversions[model]
	}
	return sum, true
}

// String is the table as text: a row per name, a column per model (credited conversions) and the
// value under markov, to 2 decimals, right-aligned, with a total row.
func (t AttributionTable) String() string {
	header := append([]string{t.By}, t.Models...)
	header = append(header, "value ("+sortModel+")")
	cells := [][]string{header}
	total := make([]float64, len(t.Models)+1)
	for _, r := range t.Rows {
		line := []string{r.Name}
		for i, m := range t.Models {
			line = append(line, fmt.Sprintf("%.2f", r.Conversions[m]))
			total[i] += r.Conversions[m]
		}
		line = append(line, fmt.Sprintf("%.2f", r.Value))
		total[len(t.Models)] += r.Value
		cells = append(cells, line)
	}
	last := []string{"total"}
	for _, v := range total {
		last = append(last, fmt.Sprintf("%.2f", v))
	}
	cells = append(cells, last)

	width := make([]int, len(header))
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, line := range cells {
		for i, c := range line {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
