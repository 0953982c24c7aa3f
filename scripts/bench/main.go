// Command bench summarises `go test -bench` output (read from the files named, or standard input):
// the median of every metric of every benchmark over its runs, for the collect handler the
// ratio of its cost per event to the encoding/json floor (BenchmarkCollect/<case> over
// BenchmarkJSONFloor/<case>), and the CPU seconds per million events of the collect process that
// scripts/bench/collectcpu measures. `make bench` runs the benchmarks and then this; README.md in this
// folder has the method and the figures.
package main

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(files []string, stdin io.Reader, out io.Writer) error {
	var results Results
	if len(files) == 0 {
		r, err := Parse(stdin)
		if err != nil {
			return err
		}
		results = r
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		r, err := Parse(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		results = results.merge(r)
	}
	if len(results) == 0 {
		return fmt.Errorf("no benchmark results in the input")
	}
	return Report(out, results)
}

// Results holds, by benchmark name (without the -GOMAXPROCS suffix), each metric's values over
// the runs.
type Results map[string]map[string][]float64

func (r Results) merge(o Results) Results {
	if r == nil {
		r = Results{}
	}
	for name, metrics := range o {
		if r[name] == nil {
			r[name] = map[string][]float64{}
		}
		for unit, vs := range metrics {
			r[name][unit] = append(r[name][unit], vs...)
		}
	}
	return r
}

// Parse reads benchmark result lines ("BenchmarkX-8  100  12 ns/op  3 allocs/op ...") and ignores
// every other line.
func Parse(r io.Reader) (Results, error) {
	res := Results{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: value %q: %w", name, f[i], err)
			}
			if res[name] == nil {
				res[name] = map[string][]float64{}
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	return res, sc.Err()
}

// Median of vs (the mean of the middle two for an even count); 0 for none.
func Median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Report writes the medians of every benchmark, then the collect handler's ratios to the floor.
func Report(w io.Writer, r Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	units := []string{"ns/event", "events/s", "allocs/event", "ns/op", "B/op", "allocs/op"}
	fmt.Fprintln(tw, "benchmark (median of runs)\truns\t"+strings.Join(units, "\t")+"\t")
	for _, name := range slices.Sorted(maps.Keys(r)) {
		row := []string{name, strconv.Itoa(len(r[name]["ns/op"]))}
		for _, u := range units {
			if vs, ok := r[name][u]; ok {
				row = append(row, format(Median(vs)))
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t")
	fmt.Fprintln(tw, "collect ÷ encoding/json floor\ttime per event\tallocs per event\t")
	for _, name := range slices.Sorted(maps.Keys(r)) {
		c, ok := strings.CutPrefix(name, "BenchmarkCollect/")
		floor := r["BenchmarkJSONFloor/"+c]
		if !ok || floor == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.2f×\t%.2f×\t\n", c,
			ratio(r[name]["ns/event"], floor["ns/event"]), ratio(r[name]["allocs/event"], floor["allocs/event"]))
	}
	// The collect process under the local host (collectcpu): CPU time per million events.
	cpu := []string{"collect-cpu-s/Mevents", "host-cpu-s/Mevents", "kinesis-cpu-s/Mevents", "events/s", "retries"}
	header := false
	for _, name := range slices.Sorted(maps.Keys(r)) {
		if _, ok := r[name][cpu[0]]; !ok {
			continue
		}
		if !header {
			fmt.Fprintln(tw, "\t\t\t")
			fmt.Fprintln(tw, "process CPU-s per million events (median)\truns\tcollect\tlocal host\tKinesis server\tevents/s\tretries\t")
			header = true
		}
		row := []string{name, strconv.Itoa(len(r[name][cpu[0]]))}
		for _, u := range cpu {
			row = append(row, format(Median(r[name][u])))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	return tw.Flush()
}

func ratio(a, b []float64) float64 {
	if Median(b) == 0 {
		return 0
	}
	return Median(a) / Median(b)
}

func format(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
