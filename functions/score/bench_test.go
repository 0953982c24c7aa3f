package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/datasets"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/scoring"
)

// Benchmarks (method and figures in README.md):
//
//	GOMAXPROCS=1 go test ./functions/score -run '^$' -bench . -benchmem -count 6
//
// The population is the CDNOW sample's 2,357 customers (their orders to 1997-09-30, each with one
// to three products of a 500-product catalogue) plus as many visitors who never bought; everyone
// gets 1-12 visits of 1-8 page views with page pings, and 0-8 product views, spread over the 200
// days before the as-of date (1997-10-01). The models are fitted on the whole population.

var benchAsOf = time.Date(1997, 10, 1, 12, 0, 0, 0, time.UTC)

// benchActivities is the population's activities, per person, in time order.
var benchActivities = sync.OnceValues(func() ([][]profile.Activity, error) {
	f, err := os.Open(datasets.Path("cdnow", "CDNOW_sample.txt"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	orders := map[string][]profile.Activity{}
	rng := rand.New(rand.NewPCG(1, 2))
	product := func() profile.Line {
		n := rng.IntN(500)
		return profile.Line{ProductID: fmt.Sprintf("sku-%03d", n), Quantity: 1, Price: float64(5 + n%60), Category: fmt.Sprintf("cat-%02d", n%25)}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		day, err := time.Parse("20060102", fs[2])
		if err != nil {
			return nil, err
		}
		amount, err := strconv.ParseFloat(fs[4], 64)
		if err != nil {
			return nil, err
		}
		if day.After(benchAsOf) {
			continue
		}
		user := "cdnow-" + fs[1]
		a := profile.Activity{Type: beacon.Track, UserID: user, At: day.Add(12 * time.Hour), Event: "Order Completed",
			OrderID: fmt.Sprintf("o-%s-%d", user, len(orders[user])), Revenue: amount}
		for range 1 + rng.IntN(3) {
			a.Products = append(a.Products, product())
		}
		orders[user] = append(orders[user], a)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	people := slices.Sorted(func(yield func(string) bool) {
		for u := range orders {
			if !yield(u) {
				return
			}
		}
	})
	var out [][]profile.Activity
	browse := func(id profile.Activity) []profile.Activity {
		var acts []profile.Activity
		for range 1 + rng.IntN(12) {
			at := benchAsOf.Add(-time.Duration(1+rng.IntN(200*24)) * time.Hour)
			for v := range 1 + rng.IntN(8) {
				a := id
				a.Type, a.At, a.Page = beacon.Page, at.Add(time.Duration(v)*time.Minute), fmt.Sprintf("/p/%d", rng.IntN(50))
				acts = append(acts, a)
				ping := id
				ping.Type, ping.At, ping.Event, ping.Engaged = beacon.Track, a.At.Add(30*time.Second), "Page Ping", 10+rng.IntN(50)
				acts = append(acts, ping)
			}
		}
		for range rng.IntN(9) {
			a := id
			a.Type, a.At, a.Event, a.Products = beacon.Track, benchAsOf.Add(-time.Duration(1+rng.IntN(200*24))*time.Hour), "Product Viewed", []profile.Line{product()}
			acts = append(acts, a)
		}
		return acts
	}
	for _, u := range people {
		acts := append(browse(profile.Activity{UserID: u}), orders[u]...)
		slices.SortFunc(acts, func(a, b profile.Activity) int { return a.At.Compare(b.At) })
		out = append(out, acts)
	}
	for i := range len(people) {
		acts := browse(profile.Activity{AnonymousID: fmt.Sprintf("visitor-%04d", i)})
		slices.SortFunc(acts, func(a, b profile.Activity) int { return a.At.Compare(b.At) })
		out = append(out, acts)
	}
	return out, nil
})

// benchProfiles are the population's profiles, built in memory as stitch builds them, and the
// models fitted on them.
type benchPopulation struct {
	profiles []profile.Profile
	models   *scoring.Models
}

var benchProfiles = sync.OnceValues(func() (benchPopulation, error) {
	people, err := benchActivities()
	if err != nil {
		return benchPopulation{}, err
	}
	var ps []profile.Profile
	var sample scoring.Sample
	for i, acts := range people {
		p := profile.Profile{ID: fmt.Sprintf("prf_%06d", i)}
		for j, a := range acts {
			a.MessageID = fmt.Sprintf("%d-%d", i, j)
			p = profile.Apply(p, a, attachOf(a))
		}
		ps = append(ps, p)
		sample.Count(p)
		switch scoring.KindOf(p) {
		case scoring.Buyer:
			_ = sample.AddBuyer(p, benchAsOf)
		case scoring.Visitor:
			_ = sample.AddVisitor(p, benchAsOf)
		}
	}
	m := scoring.Default.Fit(sample, benchAsOf, nil)
	m.Version = 1
	if m.Purchase == nil || m.RFM == nil || m.Engagement == nil {
		return benchPopulation{}, fmt.Errorf("models not fitted: %v", m.Notes)
	}
	return benchPopulation{ps, &m}, nil
})

func attachOf(a profile.Activity) []identity.ID {
	if a.UserID != "" {
		return []identity.ID{identity.UserID(a.UserID)}
	}
	return []identity.ID{identity.AnonymousID(a.AnonymousID)}
}

func BenchmarkScoreCompute(b *testing.B) {
	pop, err := benchProfiles()
	if err != nil {
		b.Fatal(err)
	}
	ps, m, cfg := pop.profiles, pop.models, scoring.Default
	parts := map[string]func(p profile.Profile){
		"all": func(p profile.Profile) { _, _, _ = cfg.Rate(p, m, benchAsOf) },
		"rfm": func(p profile.Profile) {
			if c, err := scoring.Customer(p); err == nil {
				_, _ = m.RFM.Model.Score(c, benchAsOf)
			} else if v, err := scoring.VisitorOf(p); err == nil {
				_, _ = m.Engagement.Model.Score(v, benchAsOf)
			}
		},
		"btyd": func(p profile.Profile) {
			if scoring.KindOf(p) == scoring.Buyer {
				if h, err := scoring.History(p, scoring.FirstOrder(p), benchAsOf); err == nil {
					_, _ = m.Purchase.Model.Score(h, cfg.Valuation)
				}
			}
		},
		"lapse": func(p profile.Profile) { _, _ = cfg.Lapse.Assess(p, 0.5, benchAsOf) },
		"nextaction": func(p profile.Profile) {
			_ = cfg.NextAction.Recommend(p, m.CoOccurrence.Model, benchAsOf, cfg.Actions)
		},
	}
	for _, name := range []string{"all", "rfm", "btyd", "lapse", "nextaction"} {
		b.Run(name, func(b *testing.B) {
			fn := parts[name]
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				fn(ps[i%len(ps)])
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "profiles/s")
		})
	}
}

// benchStored is part of the population recorded in DynamoDB Local through the store, once per
// test binary (TestMain deletes its tables): the first 500 buyers and the first 500 visitors.
var benchStored = sync.OnceValues(func() (*benchTables, error) {
	people, err := benchActivities()
	if err != nil {
		return nil, err
	}
	people = append(slices.Clip(people[:500]), people[len(people)/2:len(people)/2+500]...)
	e := localaws.DefaultEndpoints()
	ctx := context.Background()
	bt := &benchTables{db: e.DynamoDBClient(), n: int64(len(people))}
	top := topology.Default()
	names := map[string]string{}
	for _, logical := range []string{topology.ProfileTable, topology.IdentityTable} {
		tb, _ := top.Table(logical)
		name := localawstest.UniqueName("bench-" + logical)
		if err := localaws.CreateTable(ctx, bt.db, name, tb); err != nil {
			return nil, err
		}
		names[logical] = name
		benchCreated.Lock()
		benchCreated.db, benchCreated.names = bt.db, append(benchCreated.names, name)
		benchCreated.Unlock()
	}
	bt.profiles = names[topology.ProfileTable]
	bt.store = profilestore.New(e.Dynamo(), profilestore.Tables{Profiles: bt.profiles, Identities: names[topology.IdentityTable]})
	engine := recording.New(bt.store)
	batches := make(chan []recording.Input)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for in := range batches {
				for _, o := range engine.RecordAll(ctx, in) {
					if o.Err != nil {
						select {
						case errs <- o.Err:
						default:
						}
					}
				}
			}
		})
	}
	var in []recording.Input
	for i, acts := range people {
		for j, a := range acts {
			a.MessageID = fmt.Sprintf("%d-%d", i, j)
			in = append(in, recording.Input{Activity: a})
		}
		if len(in) > 500 || i == len(people)-1 {
			batches <- in
			in = nil
		}
	}
	close(batches)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return bt, nil
})

type benchTables struct {
	db       *dynamodb.Client
	profiles string
	store    *profilestore.Store
	n        int64
}

// benchCreated are the tables benchStored created, if it ran.
var benchCreated struct {
	sync.Mutex
	db    *dynamodb.Client
	names []string
}

func TestMain(m *testing.M) {
	code := m.Run()
	benchCreated.Lock()
	for _, name := range benchCreated.names {
		_, _ = benchCreated.db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	}
	benchCreated.Unlock()
	os.Exit(code)
}

// discard takes the alerts a benchmark raises.
type discard struct{}

func (discard) Send(context.Context, message.Message) error { return nil }

// BenchmarkScoreEndToEnd scores profiles stored in DynamoDB Local: scan, score and save, as an
// invocation does (Segments scan segments, Workers workers). "written" saves every score (each
// iteration a day later than the one before: every score drifted); "skipped" saves none (the same
// time again: nothing changed); "scan" only reads. cpu-µs/profile is the CPU this process spent
// per profile (decoding, scoring, encoding, the SDK), DynamoDB Local's own excluded.
func BenchmarkScoreEndToEnd(b *testing.B) {
	localawstest.Reachable(b)
	pop, err := benchProfiles()
	if err != nil {
		b.Fatal(err)
	}
	bt, err := benchStored()
	if err != nil {
		b.Fatal(err)
	}
	ctx, n := context.Background(), bt.n
	sizesOnce.Do(func() { b.Logf("%d profiles; %s", n, itemSizes(b, bt.db, bt.profiles)) })

	h := &handler{store: bt.store, alerts: discard{}, cfg: scoring.Default, size: defaultSizing, log: quiet}
	segs := make([]int, h.size.Segments)
	for i := range segs {
		segs[i] = i
	}
	for _, mode := range []string{"written", "skipped"} {
		b.Run(mode, func(b *testing.B) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu := cpuSeconds()
			for b.Loop() {
				if mode == "written" {
					benchClock = benchClock.Add(26 * time.Hour)
				}
				var c counters
				if err := h.scoreSegments(ctx, segs, len(segs), pop.models, benchClock, &c); err != nil {
					b.Fatal(err)
				}
				if c.scored.Load() != n || mode == "skipped" && c.written.Load() != 0 || mode == "written" && c.written.Load() != n {
					b.Fatalf("scored %d, written %d of %d", c.scored.Load(), c.written.Load(), n)
				}
			}
			cpu = cpuSeconds() - cpu
			runtime.ReadMemStats(&after)
			profiles := float64(n) * float64(b.N)
			b.ReportMetric(profiles/b.Elapsed().Seconds(), "profiles/s")
			b.ReportMetric(cpu/profiles*1e6, "cpu-µs/profile")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/profiles, "B/profile")
		})
	}
	b.Run("scan", func(b *testing.B) {
		cpu := cpuSeconds()
		for b.Loop() {
			var read atomic.Int64
			var wg sync.WaitGroup
			for _, s := range segs {
				wg.Go(func() {
					_ = bt.store.ScanSegment(ctx, s, len(segs), func(context.Context, profile.Profile) (bool, error) { read.Add(1); return true, nil }, nil)
				})
			}
			wg.Wait()
			if read.Load() != n {
				b.Fatalf("read %d of %d", read.Load(), n)
			}
		}
		profiles := float64(n) * float64(b.N)
		b.ReportMetric(profiles/b.Elapsed().Seconds(), "profiles/s")
		b.ReportMetric((cpuSeconds()-cpu)/profiles*1e6, "cpu-µs/profile")
	})
}

// benchClock is the time the "written" runs last scored at.
var benchClock = benchAsOf

// cpuSeconds is the CPU time (user and system) this process has used, from /proc/self/stat in
// clock ticks of 1/100 s (Linux's USER_HZ); 0 where there is no /proc.
func cpuSeconds() float64 {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses): state is field 3, utime 14, stime 15.
	fs := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(fs) < 13 {
		return 0
	}
	user, _ := strconv.ParseFloat(fs[11], 64)
	system, _ := strconv.ParseFloat(fs[12], 64)
	return (user + system) / 100
}

var sizesOnce sync.Once

// itemSizes measures what saving a score costs: the write units of an update of each profile
// (DynamoDB charges an update by the size of the whole item, 1 KB per unit).
func itemSizes(b *testing.B, db *dynamodb.Client, table string) string {
	ctx := context.Background()
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ProjectionExpression: aws.String("profileId"), Limit: aws.Int32(300)})
	if err != nil {
		b.Fatal(err)
	}
	var units []float64
	for _, it := range out.Items {
		r, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(table), Key: map[string]types.AttributeValue{"profileId": it["profileId"]},
			UpdateExpression:          aws.String("SET probe = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberN{Value: "1"}},
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			b.Fatal(err)
		}
		units = append(units, aws.ToFloat64(r.ConsumedCapacity.CapacityUnits))
	}
	slices.Sort(units)
	var sum float64
	for _, u := range units {
		sum += u
	}
	return fmt.Sprintf("write units per update of %d profiles: mean %.2f, median %.0f, 90th percentile %.0f, max %.0f",
		len(units), sum/float64(len(units)), units[len(units)/2], units[len(units)*9/10], units[len(units)-1])
}
