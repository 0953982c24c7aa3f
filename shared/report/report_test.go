package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/attribution"
	"github.com/dcrm-project/dcrm/shared/journey"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

var channels = []string{"paid search", "email", "organic search", "organic social", "direct", "referral"}

// shop makes a month of a small shop's archive rows: people arriving by sessions of several
// channels and campaigns, some ordering (with revenue), on two devices; and their profiles.
func shop(seed uint64, people int) ([]archive.Event, []archive.Profile) {
	rng := rand.New(rand.NewPCG(seed, 7))
	var rows []archive.Event
	var profiles []archive.Profile
	n := 0
	for p := range people {
		id := fmt.Sprintf("p%03d", p)
		device := []string{"desktop", "mobile"}[p%2]
		at := t0.Add(time.Duration(rng.IntN(20*24)) * time.Hour)
		var firstOrder *time.Time
		revenue := 0.0
		for range 1 + rng.IntN(5) {
			at = at.Add(time.Duration(1+rng.IntN(72)) * time.Hour)
			ch := channels[rng.IntN(len(channels))]
			camp := ""
			if ch == "paid search" || ch == "email" {
				camp = fmt.Sprintf("%s-%d", strings.Fields(ch)[0], rng.IntN(3))
			}
			n++
			rows = append(rows, archive.Event{Type: "page", MessageID: fmt.Sprint("m", n), ProfileID: id, Timestamp: at,
				Channel: ch, CampaignName: camp, DeviceClass: device})
			if rng.IntN(4) == 0 {
				n++
				v := float64(10 + rng.IntN(90))
				rows = append(rows, archive.Event{Type: "track", Event: "Order Completed", MessageID: fmt.Sprint("m", n), ProfileID: id,
					Timestamp: at.Add(10 * time.Minute), Properties: fmt.Sprintf(`{"revenue": %v}`, v), DeviceClass: device})
				revenue += v
				if firstOrder == nil {
					t := at.Add(10 * time.Minute)
					firstOrder = &t
				}
			}
		}
		clv := revenue * 1.5
		profiles = append(profiles, archive.Profile{ProfileID: id, RFMSegment: []string{"champions", "at risk", ""}[p%3],
			FirstOrderAt: firstOrder, Revenue: revenue, CLV: &clv})
	}
	return rows, profiles
}

// make builds the report of the rows as the reports function does (without the archive files).
func makeReport(t testing.TB, cfg journey.Config, rows []archive.Event, profiles []archive.Profile, spend []attribution.Spend) (Report, []journey.Person) {
	t.Helper()
	opts := Options{From: "2026-11-01", To: "2026-11-30", Lookback: cfg.LookbackOrDefault()}
	since, _ := time.Parse(time.DateOnly, opts.From)
	b, err := journey.NewBuilder(cfg, nil, journey.Options{Since: since, Until: since.AddDate(0, 0, 30).Add(-time.Millisecond)})
	require.NoError(t, err)
	for _, r := range rows {
		require.NoError(t, b.Add(r))
	}
	people, err := b.Collect()
	require.NoError(t, err)
	r := New(cfg, opts, profiles)
	for i := range people {
		r.Add(&people[i])
	}
	rep, err := r.Finish(spend, time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	return rep, people
}

func orderOnly() journey.Config {
	c := journey.DefaultConfig()
	c.Goals = c.Goals[:1]
	return c
}

func TestReportCreditsAreTheModelsOnEveryPath(t *testing.T) {
	rows, profiles := shop(1, 300)
	rep, people := makeReport(t, orderOnly(), rows, profiles, nil)
	paths, untouched := journey.Paths(people, "order", journey.ByChannel)
	require.NotEmpty(t, paths)
	g := rep.Attribution.Goals[0]
	require.Equal(t, "order", g.Goal)
	require.Equal(t, untouched, g.Untouched)
	conversions := 0.0
	for _, p := range paths {
		conversions += p.Conversions
	}
	require.Equal(t, conversions+float64(untouched), g.Conversions)
	require.Equal(t, ByChannel, g.Levels[0].By)
	var names []string
	for _, m := range g.Levels[0].Models {
		names = append(names, m.Model)
	}
	var want []string
	for _, m := range attribution.Models() {
		want = append(want, m.Name)
	}
	require.Equal(t, want, names, "every model, in the models' order")
	for _, m := range g.Levels[0].Models {
		model, err := attribution.ModelNamed(m.Model)
		require.NoError(t, err)
		direct, err := model.Run(paths, attribution.Options{}) // every path with its times: time decay's too
		require.NoError(t, err)
		require.Len(t, m.Credits, len(direct.Credits), m.Model)
		for i, c := range direct.Credits {
			got := m.Credits[i]
			require.Equal(t, c.Channel, got.Name)
			require.InDelta(t, c.Conversions, got.Conversions, 1e-9, "%s %s", m.Model, c.Channel)
			require.InDelta(t, c.Value, got.Value, 1e-7, "%s %s", m.Model, c.Channel)
			if direct.HasRemovalEffects() {
				require.NotNil(t, got.RemovalEffect)
				require.InDelta(t, c.RemovalEffect, *got.RemovalEffect, 1e-12)
			} else {
				require.Nil(t, got.RemovalEffect, "no removal effect outside Markov")
			}
			require.Nil(t, got.Spend, "no spend figures")
		}
	}
}

func TestReportIsDeterministic(t *testing.T) {
	rows, profiles := shop(2, 200)
	a, _ := makeReport(t, journey.DefaultConfig(), rows, profiles, nil)
	b, _ := makeReport(t, journey.DefaultConfig(), rows, profiles, nil)
	for _, write := range []func(Report) string{
		func(r Report) string { return csvOf(t, r.WriteAttributionCSV) },
		func(r Report) string { return csvOf(t, r.WritePathsCSV) },
		func(r Report) string { return csvOf(t, r.WriteFunnelCSV) },
		func(r Report) string { return csvOf(t, r.WritePicture) },
		func(r Report) string { j, _ := JSON(r.Attribution); return string(j) },
		func(r Report) string { j, _ := JSON(r.Journeys); return string(j) },
	} {
		require.Equal(t, write(a), write(b))
	}
}

func csvOf(t testing.TB, write func(io.Writer) error) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, write(&b))
	return b.String()
}

func TestCampaignLevelIsBoundedAndKeepsTheTotals(t *testing.T) {
	var rows []archive.Event
	for i := range MaxCampaigns + 15 {
		id := fmt.Sprintf("p%d", i)
		at := t0.Add(time.Duration(i) * time.Hour)
		rows = append(rows,
			archive.Event{Type: "page", MessageID: id + "a", ProfileID: id, Timestamp: at, Channel: "email", CampaignName: fmt.Sprintf("c%03d", i)},
			archive.Event{Type: "track", Event: "Order Completed", MessageID: id + "b", ProfileID: id, Timestamp: at.Add(time.Minute),
				Properties: `{"revenue": 10}`})
	}
	rep, _ := makeReport(t, orderOnly(), rows, nil, nil)
	levels := rep.Attribution.Goals[0].Levels
	require.Equal(t, ByCampaign, levels[1].By)
	for _, m := range levels[1].Models {
		require.Len(t, m.Credits, MaxCampaigns+1, "%s: %d campaigns kept, the rest as one", m.Model, MaxCampaigns)
		total, other := 0.0, 0.0
		for _, c := range m.Credits {
			total += c.Conversions
			if c.Name == "email / "+OtherCampaigns {
				other = c.Conversions
			}
		}
		require.InDelta(t, float64(MaxCampaigns+15), total, 1e-9, m.Model)
		require.InDelta(t, 15.0, other, 1e-9, "%s: the 15 campaigns past the bound", m.Model)
	}
}

func TestSpendAndReturnAtBothLevels(t *testing.T) {
	rows, profiles := shop(3, 300)
	spend := []attribution.Spend{
		{Date: "2026-11-03", Channel: "Paid_Search", Campaign: "paid-1", Cost: 120, Currency: "eur"},
		{Date: "2026-11-04", Channel: "paid search", Cost: 80, Currency: "EUR"},
		{Date: "2026-12-04", Channel: "email", Cost: 999, Currency: "EUR"}, // after the period
	}
	rep, _ := makeReport(t, orderOnly(), rows, profiles, spend)
	require.Equal(t, "EUR", rep.Attribution.Currency)
	credit := func(level int, model, name string) Credit {
		for _, m := range rep.Attribution.Goals[0].Levels[level].Models {
			if m.Model == model {
				for _, c := range m.Credits {
					if c.Name == name {
						return c
					}
				}
			}
		}
		t.Fatalf("no credit of %s for %s", model, name)
		return Credit{}
	}
	c := credit(0, "last-touch", "paid search")
	require.NotNil(t, c.Spend)
	require.Equal(t, 200.0, *c.Spend, "channel spend: both days, the campaign's too")
	require.NotNil(t, c.ROAS)
	require.InDelta(t, c.Value/200, *c.ROAS, 1e-12)
	require.InDelta(t, 200/c.Conversions, *c.CPA, 1e-12)
	require.Nil(t, credit(0, "last-touch", "email").Spend, "email's spend is after the period")
	cc := credit(1, "markov", "paid search / paid-1")
	require.NotNil(t, cc.Spend)
	require.Equal(t, 120.0, *cc.Spend, "campaign spend keyed as the campaign level names it")
	// The base: customers whose first order is in the period, by acquisition channel.
	customers := 0
	for _, b := range rep.Attribution.Base {
		customers += b.Customers
		if b.Channel == "paid search" {
			require.Equal(t, 200.0, b.Spend)
		}
	}
	want := 0
	for _, p := range profiles {
		if p.FirstOrderAt != nil && p.FirstOrderAt.Before(t0.AddDate(0, 0, 30)) {
			want++
		}
	}
	require.Equal(t, want, customers)
}

func TestJourneysBySegmentAndEveryoneOnce(t *testing.T) {
	rows, profiles := shop(4, 200)
	rep, _ := makeReport(t, journey.DefaultConfig(), rows, profiles, nil)
	everyone := map[string]int{}
	dims := map[string]bool{}
	for _, g := range rep.Journeys.Goals {
		if g.SegmentBy == "" {
			require.Equal(t, journey.AllSegments, g.Segment)
			everyone[g.Goal]++
		} else {
			dims[g.SegmentBy] = true
			require.NotEqual(t, journey.AllSegments, g.Segment)
		}
	}
	require.Equal(t, 1, everyone["order"])
	require.Equal(t, map[string]bool{SegmentRFM: true, SegmentAcquisition: true, SegmentDevice: true}, dims)
	funnels := 0
	for _, f := range rep.Journeys.Funnel {
		if f.SegmentBy == "" {
			funnels++
		}
	}
	require.Equal(t, 1, funnels)
}

func TestDocumentsMatchTheirSchemas(t *testing.T) {
	rows, profiles := shop(5, 150)
	rep, _ := makeReport(t, journey.DefaultConfig(), rows, profiles,
		[]attribution.Spend{{Date: "2026-11-05", Channel: "email", Campaign: "email-1", Cost: 50, Currency: "EUR"}})
	require.NotEmpty(t, rep.Attribution.Goals[0].Segments, "the schema is held to the segments too")
	for schema, doc := range map[string]any{
		"report-manifest.v1": rep.Manifest, "report-attribution.v1": rep.Attribution, "report-journeys.v1": rep.Journeys,
	} {
		body, err := JSON(doc)
		require.NoError(t, err)
		require.NoError(t, schemas.ValidateFile(schema, body), schema)
	}
	var bad map[string]any
	body, _ := JSON(rep.Attribution)
	require.NoError(t, json.Unmarshal(body, &bad))
	bad["goals"].([]any)[0].(map[string]any)["levels"] = "none"
	b, _ := json.Marshal(bad)
	require.Error(t, schemas.ValidateFile("report-attribution.v1", b), "the schema refuses what it should")
}

func TestCSVPartsHaveTheirHeadersAndEveryCredit(t *testing.T) {
	rows, profiles := shop(6, 120)
	rep, _ := makeReport(t, orderOnly(), rows, profiles, nil)
	records, err := csv.NewReader(strings.NewReader(csvOf(t, rep.WriteAttributionCSV))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, AttributionHeader, records[0])
	credits := 0
	for _, l := range rep.Attribution.Goals[0].Levels {
		for _, m := range l.Models {
			credits += len(m.Credits)
		}
	}
	require.Len(t, records, 1+credits)
	for _, r := range records[1:] {
		require.Equal(t, r[2] == "markov" || r[2] == "markov-conversions-only", r[6] != "", "removal effect only for Markov: %v", r)
	}
	paths, err := csv.NewReader(strings.NewReader(csvOf(t, rep.WritePathsCSV))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, PathsHeader, paths[0])
	require.Greater(t, len(paths), 1)
	funnel, err := csv.NewReader(strings.NewReader(csvOf(t, rep.WriteFunnelCSV))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, FunnelHeader, funnel[0])
	require.Greater(t, len(funnel), 4, "the default funnel's four steps, for everyone at least")
}

func TestPictureShowsTheOrderGoal(t *testing.T) {
	rows, profiles := shop(7, 150)
	rep, _ := makeReport(t, journey.DefaultConfig(), rows, profiles, nil)
	in := rep.Picture()
	require.Equal(t, "Attribution of order by channel", in.Title)
	require.Equal(t, PictureModels, in.Models)
	require.NotEmpty(t, in.Channels)
	for _, c := range in.Channels {
		require.Len(t, c.Credits, len(in.Models))
	}
	require.NotEmpty(t, in.Funnel.Steps)
	require.Equal(t, "order", in.Journeys.Goal)
	require.NotEmpty(t, in.Journeys.Paths, "the order goal's journeys, everyone's")
	svg := csvOf(t, rep.WritePicture)
	require.True(t, strings.HasPrefix(svg, "<svg") || strings.HasPrefix(svg, "<?xml"), svg[:40])
	empty, _ := makeReport(t, orderOnly(), nil, nil, nil)
	require.Equal(t, "No conversions in the period", empty.Picture().Title)
}

func TestPeriods(t *testing.T) {
	from, to := Window(time.Date(2026, 12, 7, 0, 30, 0, 0, time.UTC), 30)
	require.Equal(t, [2]string{"2026-11-07", "2026-12-06"}, [2]string{from, to}, "30 days up to the day before the run's")
	from, to = Window(time.Date(2026, 12, 7, 23, 59, 0, 0, time.FixedZone("x", -5*3600)), 1)
	require.Equal(t, [2]string{"2026-12-07", "2026-12-07"}, [2]string{from, to}, "the run's UTC day (the 8th) counts, not its local one")
	f, l, err := ParsePeriod(Period("2026-11-07", "2026-12-06"))
	require.NoError(t, err)
	require.Equal(t, [2]string{"2026-11-07", "2026-12-06"}, [2]string{f, l})
	for _, bad := range []string{"", "latest", "2026-11-07", "2026-12-06_2026-11-07", "2026-02-30_2026-03-01", "2026-11-07_2026-12-06_x", "../x_y",
		"+026-11-07_2026-12-06", "2026-1-07_2026-12-06", "２０２６-11-07_2026-12-06", " 2026-11-07_2026-12-06"} { // ASCII digits, nothing around
		_, _, err := ParsePeriod(bad)
		require.Error(t, err, bad)
	}
}

func TestTimeDecayBatchesAddUp(t *testing.T) {
	rows, profiles := shop(8, 6000)
	rep, people := makeReport(t, orderOnly(), rows, profiles, nil)
	paths, _ := journey.Paths(people, "order", journey.ByChannel)
	converted := slices.DeleteFunc(slices.Clone(paths), func(p attribution.Path) bool { return p.Conversions == 0 })
	require.Greater(t, len(converted), timeDecayBatch, "more conversions than a batch")
	direct, err := attribution.TimeDecay(paths, 0)
	require.NoError(t, err)
	for _, m := range rep.Attribution.Goals[0].Levels[0].Models {
		if m.Model != "time-decay" {
			continue
		}
		for i, c := range direct.Credits {
			require.InDelta(t, c.Conversions, m.Credits[i].Conversions, 1e-9*math.Max(1, c.Conversions))
		}
	}
}

// person makes a person with one journey of the order goal through channels (one touch an hour
// from t0), converted with value when value > 0.
func person(id, device string, value float64, channels ...string) journey.Person {
	j := journey.Journey{Person: id, Goal: "order", Converted: value > 0, Value: value, At: t0.Add(time.Duration(len(channels)+1) * time.Hour)}
	for i, c := range channels {
		j.Touches = append(j.Touches, journey.Touch{At: t0.Add(time.Duration(i+1) * time.Hour), Channel: c, Kind: journey.KindSession})
	}
	return journey.Person{ID: id, Device: device, Journeys: []journey.Journey{j}}
}

// credits are one model's credits by name (conversions and value) at a level.
func credits(t testing.TB, l Level, model string) map[string][2]float64 {
	t.Helper()
	for _, m := range l.Models {
		if m.Model == model {
			out := map[string][2]float64{}
			for _, c := range m.Credits {
				out[c.Name] = [2]float64{c.Conversions, c.Value}
			}
			return out
		}
	}
	t.Fatalf("no model %s", model)
	return nil
}

func TestAttributionBySegment(t *testing.T) {
	people := []journey.Person{
		person("a1", "desktop", 100, "email", "paid search"),
		person("a2", "mobile", 50, "organic search", "email"),
		person("a3", "desktop", 0, "direct"),
		person("b1", "mobile", 30, "paid search"),
		person("b2", "mobile", 0, "email"),
		person("c1", "desktop", 0, "email", "direct"), // hibernating: no conversion, no segment of theirs
		person("d1", "mobile", 20),                    // converted with no touch, in no RFM segment
	}
	profiles := []archive.Profile{
		{ProfileID: "a1", RFMSegment: "champions", AcquisitionChannel: "email"},
		{ProfileID: "a2", RFMSegment: "champions", AcquisitionChannel: "email"},
		{ProfileID: "a3", RFMSegment: "champions", AcquisitionChannel: "email"},
		{ProfileID: "b1", RFMSegment: "at risk", AcquisitionChannel: "paid search"},
		{ProfileID: "b2", RFMSegment: "at risk", AcquisitionChannel: "paid search"},
		{ProfileID: "c1", RFMSegment: "hibernating"}, // acquired by their earliest touch: email
	}
	b := New(orderOnly(), Options{From: "2026-11-01", To: "2026-11-30"}, profiles)
	for i := range people {
		b.Add(&people[i])
	}
	rep, err := b.Finish([]attribution.Spend{{Date: "2026-11-02", Channel: "paid search", Cost: 100, Currency: "EUR"}}, t0)
	require.NoError(t, err)
	g := rep.Attribution.Goals[0]

	// Everyone: as without segments, spend and all.
	require.Equal(t, [4]float64{7, 4, 200, 1}, [4]float64{float64(g.Journeys), g.Conversions, g.Value, float64(g.Untouched)})
	require.Len(t, g.Levels, 2)
	everyone := map[string][2]float64{"paid search": {2, 130}, "email": {1, 50}, "organic search": {0, 0}, "direct": {0, 0}}
	require.Equal(t, everyone, credits(t, g.Levels[0], "last-touch"))
	require.Equal(t, map[string][2]float64{"paid search": {1, 30}, "email": {1, 100}, "organic search": {1, 50}, "direct": {0, 0}},
		credits(t, g.Levels[0], "first-touch"))
	for _, m := range g.Levels[0].Models {
		for _, c := range m.Credits {
			require.Equal(t, c.Name == "paid search", c.Spend != nil, "%s %s: spend where imported, as before", m.Model, c.Name)
		}
	}

	type seg struct {
		by, name              string
		journeys, untouched   int
		conversions, value    float64
		lastTouch, firstTouch map[string][2]float64
	}
	want := []seg{
		{SegmentRFM, "at risk", 2, 0, 1, 30,
			map[string][2]float64{"paid search": {1, 30}, "email": {0, 0}},
			map[string][2]float64{"paid search": {1, 30}, "email": {0, 0}}},
		{SegmentRFM, "champions", 3, 0, 2, 150,
			map[string][2]float64{"paid search": {1, 100}, "email": {1, 50}, "organic search": {0, 0}, "direct": {0, 0}},
			map[string][2]float64{"paid search": {0, 0}, "email": {1, 100}, "organic search": {1, 50}, "direct": {0, 0}}},
		// hibernating converted nothing: left out
		{SegmentAcquisition, "email", 4, 0, 2, 150,
			map[string][2]float64{"paid search": {1, 100}, "email": {1, 50}, "organic search": {0, 0}, "direct": {0, 0}},
			map[string][2]float64{"paid search": {0, 0}, "email": {1, 100}, "organic search": {1, 50}, "direct": {0, 0}}},
		{SegmentAcquisition, "paid search", 2, 0, 1, 30,
			map[string][2]float64{"paid search": {1, 30}, "email": {0, 0}},
			map[string][2]float64{"paid search": {1, 30}, "email": {0, 0}}},
		{SegmentDevice, "desktop", 3, 0, 1, 100,
			map[string][2]float64{"paid search": {1, 100}, "email": {0, 0}, "direct": {0, 0}},
			map[string][2]float64{"paid search": {0, 0}, "email": {1, 100}, "direct": {0, 0}}},
		{SegmentDevice, "mobile", 4, 1, 3, 100, // d1's conversion is counted, on no path
			map[string][2]float64{"paid search": {1, 30}, "email": {1, 50}, "organic search": {0, 0}},
			map[string][2]float64{"paid search": {1, 30}, "email": {0, 0}, "organic search": {1, 50}}},
	}
	require.Len(t, g.Segments, len(want))
	for i, w := range want {
		s := g.Segments[i]
		require.Equal(t, [2]string{w.by, w.name}, [2]string{s.SegmentBy, s.Segment})
		require.Equal(t, [4]float64{float64(w.journeys), w.conversions, w.value, float64(w.untouched)},
			[4]float64{float64(s.Journeys), s.Conversions, s.Value, float64(s.Untouched)}, w.name)
		require.Equal(t, ByChannel, s.Level.By)
		require.Len(t, s.Level.Models, len(attribution.Models()), "every model")
		require.Equal(t, w.lastTouch, credits(t, s.Level, "last-touch"), "%s last touch", w.name)
		require.Equal(t, w.firstTouch, credits(t, s.Level, "first-touch"), "%s first touch", w.name)
		for _, m := range s.Level.Models {
			total := 0.0
			for _, c := range m.Credits {
				total += c.Conversions
				require.Nil(t, c.Spend, "spend is not split by segment")
				require.Nil(t, c.CPA)
				require.Nil(t, c.ROAS)
			}
			require.InDelta(t, w.conversions-float64(w.untouched), total, 1e-9, "%s %s: every touched conversion shared out", w.name, m.Model)
		}
	}
	body, err := JSON(rep.Attribution)
	require.NoError(t, err)
	require.NoError(t, schemas.ValidateFile("report-attribution.v1", body))
}

func TestAttributionSegmentsAreBounded(t *testing.T) {
	var people []journey.Person
	var profiles []archive.Profile
	const n = MaxSegments + 3
	for i := range n { // segment s<i> has i+1 conversions: s00, s01 and s02 have the fewest
		for k := range i + 1 {
			id := fmt.Sprintf("p%02d-%02d", i, k)
			people = append(people, person(id, "", 10, "email"))
			profiles = append(profiles, archive.Profile{ProfileID: id, RFMSegment: fmt.Sprintf("s%02d", i)})
		}
	}
	b := New(orderOnly(), Options{From: "2026-11-01", To: "2026-11-30"}, profiles)
	for i := range people {
		b.Add(&people[i])
	}
	rep, err := b.Finish(nil, t0)
	require.NoError(t, err)
	var names []string
	for _, s := range rep.Attribution.Goals[0].Segments {
		if s.SegmentBy == SegmentRFM {
			names = append(names, s.Segment)
			i, _ := strconv.Atoi(strings.TrimPrefix(s.Segment, "s"))
			require.Equal(t, float64(i+1), s.Conversions)
			require.Equal(t, map[string][2]float64{"email": {float64(i + 1), float64(10 * (i + 1))}}, credits(t, s.Level, "last-touch"))
		}
	}
	var want []string
	for i := n - MaxSegments; i < n; i++ {
		want = append(want, fmt.Sprintf("s%02d", i))
	}
	require.Equal(t, want, names, "the %d with the most conversions, by name", MaxSegments)
}

func TestAttributionSegmentsKeepToTheCreditBudget(t *testing.T) {
	// 12 RFM segments and one acquisition channel, each with conversions on 100 channels: 900
	// credits a segment level (9 models × 100), so 11 fit in the budget and the rest are left out.
	require.Len(t, attribution.Models(), 9)
	var people []journey.Person
	var profiles []archive.Profile
	for s := range MaxSegments {
		for c := range 100 {
			id := fmt.Sprintf("p%02d-%03d", s, c)
			people = append(people, person(id, "", 10, fmt.Sprintf("ch%03d", c)))
			profiles = append(profiles, archive.Profile{ProfileID: id, RFMSegment: fmt.Sprintf("s%02d", s), AcquisitionChannel: "email"})
		}
	}
	b := New(orderOnly(), Options{From: "2026-11-01", To: "2026-11-30"}, profiles)
	for i := range people {
		b.Add(&people[i])
	}
	rep, err := b.Finish(nil, t0)
	require.NoError(t, err)
	credits := 0
	var names []string
	for _, s := range rep.Attribution.Goals[0].Segments {
		names = append(names, s.SegmentBy+" "+s.Segment)
		for _, m := range s.Level.Models {
			credits += len(m.Credits)
		}
	}
	require.Len(t, names, 11, "%v", names)
	require.Equal(t, "rfm s10", names[10])
	require.Equal(t, 9900, credits)
	require.LessOrEqual(t, credits, MaxSegmentCredits)
}
