package main

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"slices"

	"github.com/dcrm-project/dcrm/shared/cost"
)

// The generated parts of BENCHMARKS.md sit between these markers; the rest is written by people.
const (
	headlineBegin = "<!-- load:headline:begin -->"
	headlineEnd   = "<!-- load:headline:end -->"
	runBegin      = "<!-- load:run:begin -->"
	runEnd        = "<!-- load:run:end -->"
)

// UpdateBenchmarks rewrites the generated parts of the file at path with the run's figures.
func UpdateBenchmarks(path string, s Summary) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cheapest := slices.MinFunc(cost.Setups, func(a, b cost.Setup) int { return cmp.Compare(s.Cost[a.String()].USD, s.Cost[b.String()].USD) })
	headline := fmt.Sprintf("**USD %.3f per million events** (%s; the default deployment, on-demand behind the HTTP API: %.3f) and **%.0f events/s** accepted locally, from the last load run (%s, %s).",
		s.Cost[cheapest.String()].USD, cheapest, s.Cost[cost.Setups[0].String()].USD, s.EventsPerSecond, s.Started.Format("2006-01-02"), s.Machine.CPU)
	if b, err = replaceBetween(b, headlineBegin, headlineEnd, headline); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if b, err = replaceBetween(b, runBegin, runEnd, s.Markdown()); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}

// replaceBetween puts text between the begin and end markers, on lines of its own.
func replaceBetween(doc []byte, begin, end, text string) ([]byte, error) {
	i := bytes.Index(doc, []byte(begin))
	j := bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		return nil, fmt.Errorf("markers %s … %s not found in order", begin, end)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(begin)])
	out.WriteString("\n" + text + "\n")
	out.Write(doc[j:])
	return out.Bytes(), nil
}
