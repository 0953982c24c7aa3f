package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/cost"
)

// Summary is what a run measured; written as JSON and as text.
type Summary struct {
	Started     time.Time `json:"started"`
	Seconds     float64   `json:"seconds"` // sending, from the first request to the last answer
	Machine     Machine   `json:"machine"`
	TargetRate  float64   `json:"targetEventsPerSecond"`
	Concurrency int       `json:"concurrency"`
	Copies      int       `json:"copies"` // copies of the base population planned
	Seed        uint64    `json:"seed"`
	Traits      int       `json:"computedTraits"` // defined for the run (-definitions)
	Audiences   int       `json:"audiences"`

	EventsSent      int     `json:"eventsSent"`     // in requests answered 200
	EventsAccepted  int     `json:"eventsAccepted"` // taken by the endpoint
	EventsPerSecond float64 `json:"eventsPerSecond"`
	Requests        int     `json:"requests"` // answered 200
	BrowserRequests int     `json:"browserRequests"`
	ServerRequests  int     `json:"serverRequests"`
	Attempts        int     `json:"attempts"` // retries included
	Errors          int     `json:"errors"`
	Retries         int     `json:"retries"` // 429 and 503 answers waited out
	LastError       string  `json:"lastError,omitempty"`
	Collect         Latency `json:"collectLatency"`
	StitchLag       Lag     `json:"stitchLag"`
	Drained         bool    `json:"drained"`       // the stream was read to its end before usage was taken
	PeakToMean      float64 `json:"runPeakToMean"` // busiest second's accepted events over the run's mean

	PerEvent   map[string]float64     `json:"perEvent"`             // units per accepted event
	CPUSeconds map[string]float64     `json:"cpuSeconds"`           // by process, over the run and its drain
	Bottleneck string                 `json:"bottleneck"`           // the process that used the most CPU
	Cost       map[string]CostSummary `json:"costPerMillionEvents"` // by cost.Setup

	Assumption cost.Assumptions `json:"costAssumptions"`
	Usage      usage.Snapshot   `json:"usage"`    // the run's usage, as metered
	Timeline   []Tick           `json:"timeline"` // each second of sending and draining
}

// Latency is Latencies in milliseconds, for people and JSON readers.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

func ms(l Latencies) Latency {
	return Latency{Count: l.Count, P50: millis(l.P50), P90: millis(l.P90), P99: millis(l.P99), Max: millis(l.Max)}
}

// CostSummary is one set-up's estimate.
type CostSummary struct {
	USD      float64    `json:"usd"`
	Dominant string     `json:"dominant"`
	Lines    []CostLine `json:"lines"`
}

// CostLine is one line of it.
type CostLine struct {
	Item     string  `json:"item"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"`
	USD      float64 `json:"usd"`
	Share    float64 `json:"share"`
}

func perEvent(u cost.Usage, d usage.Snapshot) map[string]float64 {
	if u.Events == 0 {
		return nil
	}
	per := func(v float64) float64 { return v / u.Events }
	out := map[string]float64{
		"apiRequests": per(u.APIRequests), "lambdaInvocations": per(u.LambdaRequests), "lambdaGBSeconds": per(u.LambdaGBSeconds),
		"logBytes": per(u.LogBytes), "apiLogBytes": per(u.APILogBytes), "kinesisRecords": per(u.KinesisRecords), "kinesisBilledKB": per(u.KinesisBilledKB),
		"kinesisPayloadUnits": per(u.KinesisPayloadUnits), "dynamodbWRU": per(u.DynamoWRU), "dynamodbRRU": per(u.DynamoRRU),
		"sqsRequests": per(u.SQSRequests), "firehoseRecords": per(float64(d.Firehose.Records)), "firehoseBilledBytes": per(u.FirehoseBilledBytes),
	}
	for name, f := range d.Lambda {
		out["lambdaGBSeconds:"+name] = per(f.GBSeconds)
	}
	for op, n := range d.DynamoDB.Requests { // where a local server's CPU goes: it is paid per request
		out["dynamodbRequests:"+op] = per(float64(n))
	}
	return out
}

func costSummary(e cost.Estimate) CostSummary {
	s := CostSummary{USD: e.USD, Dominant: cost.Describe(e.Dominant().Price)}
	for _, l := range e.Lines {
		// Quantities are whole units ("WRU"), prices per million or thousand of them.
		unit := strings.TrimPrefix(strings.TrimPrefix(cost.UnitOf(l.Price), "million "), "thousand ")
		s.Lines = append(s.Lines, CostLine{Item: cost.Describe(l.Price), Quantity: l.Quantity, Unit: unit, USD: l.USD, Share: e.Share(l)})
	}
	return s
}

// bottleneck names the process that used the most CPU.
func bottleneck(cpu map[string]float64) string {
	best, most := "", 0.0
	for _, k := range slices.Sorted(maps.Keys(cpu)) {
		if cpu[k] > most {
			best, most = k, cpu[k]
		}
	}
	return best
}

// WriteText prints the summary as tables.
func (s Summary) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "load replay\t%s, %.0f s, target %.0f events/s, concurrency %d, %d copies, seed %d\n", s.Started.Format(time.RFC3339), s.Seconds, s.TargetRate, s.Concurrency, s.Copies, s.Seed)
	if s.Traits+s.Audiences > 0 {
		fmt.Fprintf(tw, "definitions\t%d computed traits, %d audiences kept on every profile\n", s.Traits, s.Audiences)
	}
	fmt.Fprintf(tw, "machine\t%s, %d cores, load average %.2f → %.2f\n", s.Machine.CPU, s.Machine.Cores, s.Machine.LoadStart, s.Machine.LoadEnd)
	fmt.Fprintf(tw, "accepted\t%d events (%.0f events/s) in %d requests (%d browser, %d server); %d errors, %d retries\n",
		s.EventsAccepted, s.EventsPerSecond, s.Requests, s.BrowserRequests, s.ServerRequests, s.Errors, s.Retries)
	if s.LastError != "" {
		fmt.Fprintf(tw, "last error\t%.200s\n", s.LastError)
	}
	c := s.Collect
	fmt.Fprintf(tw, "collect latency\tp50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms  (%d requests)\n", c.P50, c.P90, c.P99, c.Max, c.Count)
	l := s.StitchLag
	fmt.Fprintf(tw, "stitch lag\tp50 %s  p90 %s  p99 %s  max %s  (%d of %d sampled visitors complete; %d missing, %d short, %d over; drained %v)\n",
		l.P50.Round(time.Millisecond), l.P90.Round(time.Millisecond), l.P99.Round(time.Millisecond), l.Max.Round(time.Millisecond),
		l.Complete, l.Samples, l.Missing, l.Short, l.Over, s.Drained)
	fmt.Fprintln(tw, "\nper event\t")
	for _, k := range slices.Sorted(maps.Keys(s.PerEvent)) {
		fmt.Fprintf(tw, "  %s\t%.4g\n", k, s.PerEvent[k])
	}
	fmt.Fprintln(tw, "\nCPU seconds\t")
	for _, k := range slices.Sorted(maps.Keys(s.CPUSeconds)) {
		perM := 0.0
		if s.EventsAccepted > 0 {
			perM = s.CPUSeconds[k] / float64(s.EventsAccepted) * 1e6
		}
		fmt.Fprintf(tw, "  %s\t%.2f s\t(%.0f CPU-s per million events)\n", k, s.CPUSeconds[k], perM)
	}
	fmt.Fprintf(tw, "bottleneck\t%s\n", s.Bottleneck)
	fmt.Fprintf(tw, "run's peak second\t%.2f × its mean\n", s.PeakToMean)
	for _, setup := range cost.Setups {
		cs, ok := s.Cost[setup.String()]
		if !ok {
			continue
		}
		fmt.Fprintf(tw, "\ncost per million events, %s\tUSD %.4f (dominant: %s)\n", setup, cs.USD, cs.Dominant)
		for _, line := range cs.Lines {
			fmt.Fprintf(tw, "  %s\t%.4g %s\tUSD %.4f\t%.0f %%\n", line.Item, line.Quantity, line.Unit, line.USD, line.Share*100)
		}
	}
	fmt.Fprintf(tw, "\nassumptions\t%s\n", s.assumptions())
	tw.Flush()
}

// Markdown is the summary as BENCHMARKS.md's generated section.
func (s Summary) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Last run** (%s): **%.0f events/s** accepted locally (target %.0f, concurrency %d, %.0f s). USD per million events:",
		s.Started.Format("2006-01-02 15:04 MST"), s.EventsPerSecond, s.TargetRate, s.Concurrency, s.Seconds)
	var costs []string
	for _, setup := range cost.Setups {
		cs := s.Cost[setup.String()]
		costs = append(costs, fmt.Sprintf("**%.3f** %s (dominant: %s)", cs.USD, setup, cs.Dominant))
	}
	b.WriteString(" " + strings.Join(costs, "; ") + ".\n\n")
	fmt.Fprintf(&b, "Machine: %s, %d cores, load average %.2f at the start and %.2f at the end; %s.\n\n", s.Machine.CPU, s.Machine.Cores, s.Machine.LoadStart, s.Machine.LoadEnd, s.Machine.Go)
	b.WriteString("| figure | value |\n|---|---|\n")
	row := func(k, f string, a ...any) { fmt.Fprintf(&b, "| %s | %s |\n", k, fmt.Sprintf(f, a...)) }
	row("events accepted", "%d in %d requests (%d browser, %d server SDK), %d errors, %d retries", s.EventsAccepted, s.Requests, s.BrowserRequests, s.ServerRequests, s.Errors, s.Retries)
	row("collect latency", "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms", s.Collect.P50, s.Collect.P90, s.Collect.P99, s.Collect.Max)
	row("stitch lag (received → on the profile)", "p50 %s, p90 %s, p99 %s, max %s; %d of %d sampled visitors complete",
		s.StitchLag.P50.Round(time.Millisecond), s.StitchLag.P90.Round(time.Millisecond), s.StitchLag.P99.Round(time.Millisecond), s.StitchLag.Max.Round(time.Millisecond), s.StitchLag.Complete, s.StitchLag.Samples)
	for _, k := range slices.Sorted(maps.Keys(s.PerEvent)) {
		if !strings.Contains(k, ":") {
			row(k+" per event", "%.4g", s.PerEvent[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.CPUSeconds)) {
		if s.EventsAccepted > 0 {
			row("CPU "+k, "%.0f CPU-s per million events", s.CPUSeconds[k]/float64(s.EventsAccepted)*1e6)
		}
	}
	row("bottleneck (most CPU)", "%s", s.Bottleneck)
	for _, setup := range cost.Setups {
		cs := s.Cost[setup.String()]
		fmt.Fprintf(&b, "\nCost per million events, %s: **USD %.4f**\n\n| item | quantity per million events | USD | share |\n|---|---|---|---|\n", setup, cs.USD)
		for _, l := range cs.Lines {
			fmt.Fprintf(&b, "| %s | %.4g %s | %.4f | %.0f %% |\n", l.Item, l.Quantity, l.Unit, l.USD, l.Share*100)
		}
	}
	fmt.Fprintf(&b, "\nAssumptions: %s.\n", s.assumptions())
	fmt.Fprintf(&b, "\nThe prices (%s, copied %s; \"secondary\": a page quoting the AWS page gave the figure; \"unverified\": no page at hand gave it, the figure is the one known):\n\n| service | what | USD | per | checked | source |\n|---|---|---|---|---|---|\n", cost.Region, cost.PricesCopied)
	for _, p := range cost.Prices {
		what := p.What
		if !p.Used {
			what += " (not yet used)"
		}
		fmt.Fprintf(&b, "| %s | %s | %g | %s | %s | %s |\n", p.Service, what, p.USD, p.Unit, p.Checked, p.Source)
	}
	return b.String()
}

// assumptions says what the estimates assume besides the run.
func (s Summary) assumptions() string {
	a := s.Assumption
	return fmt.Sprintf("%.0f million events a month (hourly prices spread over them); provisioned: Kinesis shards for a peak of %.2f × the mean at %.0f %% "+
		"utilisation, DynamoDB capacity auto scaled (70 %% target) used %.0f %% on average, at least a unit for each of %d tables and indexes; "+
		"function URL: the beacon posts to collect's function URL instead of the HTTP API; prices of %s, %s (shared/cost/prices.go)",
		a.EventsPerMonth/1e6, a.PeakToMean, a.Utilisation*100, a.ScaledUtilisation*100, a.Tables, cost.PricesCopied, cost.Region)
}
