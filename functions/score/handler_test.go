package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
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
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activity"
	"github.com/dcrm-project/dcrm/shared/activitystore"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/datasets"
	"github.com/dcrm-project/dcrm/shared/fanout"
	"github.com/dcrm-project/dcrm/shared/fanout/fanouttest"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/rfm"
	"github.com/dcrm-project/dcrm/shared/schedule"
	"github.com/dcrm-project/dcrm/shared/scoring"
)

var (
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	// The population is the start of the CDNOW cohort (first purchases in 1997 Q1): the fit runs
	// the day after the paper's calibration period ends, the hourly score a few hours later.
	calibrationEnd = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)
	fitAt          = time.Date(1997, 10, 1, 6, 0, 0, 0, time.UTC)
	scoreAt        = time.Date(1997, 10, 1, 12, 0, 0, 0, time.UTC)
)

func golden(t *testing.T, name string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "scheduler", name))
	require.NoError(t, err)
	return raw
}

type stack struct {
	h        *handler
	store    *profilestore.Store
	engine   *recording.Engine // records events as stitch does
	models   *profilestore.ModelStore
	alerts   *messagequeue.Queue
	activity *activitystore.Store // the activity log
	env      map[string]string    // the function's environment for these resources
	n        int
}

func newStack(t *testing.T) *stack {
	t.Helper()
	e := localawstest.Reachable(t)
	profiles, models, queue := localawstest.NewTopologyTable(t, topology.ProfileTable), localawstest.NewTopologyTable(t, topology.ModelTable), localawstest.NewQueue(t)
	tables := profilestore.Tables{Profiles: profiles, Identities: localawstest.NewTopologyTable(t, topology.IdentityTable)}
	st := &stack{
		store:  profilestore.New(e.Dynamo(), tables),
		models: profilestore.NewModelStore(e.Dynamo(), models),
		alerts: messagequeue.New(e.SQSClient(), queue),
	}
	st.engine = recording.New(st.store)
	top := topology.Default()
	st.env = map[string]string{top.EnvVar(topology.ProfileTable): profiles, top.EnvVar(topology.ModelTable): models, top.EnvVar(topology.AlertQueue): queue}
	size := defaultSizing
	size.FitSample = 100_000 // the whole population
	// The activity log keeps its entries a century: the scenario's clock is in 1997.
	st.activity = activitystore.New(e.Dynamo(), localawstest.NewTopologyTable(t, topology.ActivityTable)).WithRetention(100 * 365 * 24 * time.Hour)
	st.h = &handler{store: st.store, models: st.models, alerts: st.alerts, activity: st.activity, cfg: scoring.Default, size: size, log: quiet}
	return st
}

// record records activities through the store, as stitch does, in batches.
func (st *stack) record(t *testing.T, acts []profile.Activity) {
	t.Helper()
	for len(acts) > 0 {
		n := min(len(acts), 200)
		var in []recording.Input
		for _, a := range acts[:n] {
			st.n++
			a.MessageID = fmt.Sprintf("m%d", st.n)
			in = append(in, recording.Input{Activity: a})
		}
		for _, o := range st.engine.RecordAll(context.Background(), in) {
			require.NoError(t, o.Err)
		}
		acts = acts[n:]
	}
}

func (st *stack) profile(t *testing.T, id identity.ID) profile.Profile {
	t.Helper()
	p, err := st.engine.Lookup(context.Background(), id)
	require.NoError(t, err)
	return p
}

// drain receives every alert on the queue; it waits until at least want have arrived, then makes
// sure no more come.
func (st *stack) drain(t *testing.T, want int) []messagequeue.Delivery {
	t.Helper()
	ctx := context.Background()
	var got []messagequeue.Delivery
	receive := func(wait time.Duration) {
		ds, err := st.alerts.Receive(ctx, 10, wait)
		require.NoError(t, err)
		for _, d := range ds {
			require.NoError(t, st.alerts.Delete(ctx, d))
		}
		got = append(got, ds...)
	}
	require.Eventually(t, func() bool { receive(0); return len(got) >= want }, 15*time.Second, 20*time.Millisecond)
	receive(time.Second)
	require.Len(t, got, want)
	return got
}

// shop is a population: the first CDNOW customers with their orders of the calibration period
// (each a track "Order Completed" at noon, under user id cdnow-<id>), and anonymous visitors who
// never bought.
type shop struct {
	acts   []profile.Activity
	orders []rfm.Order // every order recorded, for the reference RFM
	buyers []string    // user ids
	guests []string    // anonymous ids
}

func newShop(t *testing.T, customers, visitors int) shop {
	t.Helper()
	f, err := os.Open(datasets.Path("cdnow", "CDNOW_sample.txt"))
	require.NoError(t, err)
	defer f.Close()
	var s shop
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text()) // master id, sample id, yyyymmdd, CDs, dollars
		day, err := time.Parse("20060102", fs[2])
		require.NoError(t, err)
		amount, err := strconv.ParseFloat(fs[4], 64)
		require.NoError(t, err)
		user := "cdnow-" + fs[1]
		if !seen[user] {
			if len(seen) == customers {
				break // the file is sorted by customer
			}
			seen[user] = true
			s.buyers = append(s.buyers, user)
		}
		if day.After(calibrationEnd) {
			continue
		}
		at := day.Add(12 * time.Hour)
		s.acts = append(s.acts, profile.Activity{Type: beacon.Track, UserID: user, At: at, Event: "Order Completed",
			OrderID: fmt.Sprintf("o-%s-%d", user, len(s.orders)), Revenue: amount,
			Products: []profile.Line{{ProductID: fmt.Sprintf("cd-%d", len(s.orders)%7), Quantity: 1, Price: amount}}})
		s.orders = append(s.orders, rfm.Order{CustomerID: user, Date: at, Revenue: amount})
	}
	require.NoError(t, sc.Err())
	for i := range visitors {
		anon := fmt.Sprintf("guest-%03d", i)
		s.guests = append(s.guests, anon)
		for v := range 1 + i%6 {
			at := fitAt.Add(-time.Duration(1+(i*7+v*11)%80) * 24 * time.Hour)
			s.acts = append(s.acts, profile.Activity{Type: beacon.Page, AnonymousID: anon, At: at, Page: "/"},
				profile.Activity{Type: beacon.Track, AnonymousID: anon, At: at.Add(time.Minute), Event: "Product Viewed",
					Products: []profile.Line{{ProductID: fmt.Sprintf("cd-%d", (i+v)%7), Quantity: 1}}})
		}
	}
	return s
}

func TestFitThenScoreAPopulation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t)
	s := newShop(t, 300, 40)
	start := time.Now()
	st.record(t, s.acts)
	t.Logf("recorded %d activities in %s", len(s.acts), time.Since(start))

	fitted, err := st.h.handle(ctx, schedule.Payload(topology.FitSchedule, fitAt))
	t.Logf("fitted in %s", time.Since(start))
	require.NoError(t, err)
	require.Equal(t, "fit", fitted.Mode)
	require.Equal(t, 1, fitted.ModelVersion)
	require.Equal(t, scoring.Size{Read: 340, Buyers: 300, RepeatBuyers: fitted.Fit.Sample.RepeatBuyers, Visitors: 40}, fitted.Fit.Sample)
	require.Greater(t, fitted.Fit.Sample.RepeatBuyers, 100)
	require.Empty(t, fitted.Fit.Notes, "every model fitted")
	var m scoring.Models
	info, err := st.models.Load(ctx, modelName, &m)
	require.NoError(t, err)
	require.Equal(t, 1, info.Version)
	require.Equal(t, fitAt, info.FittedAt)
	require.Equal(t, 340, info.Sample)
	require.Equal(t, fitAt, m.Purchase.FittedAt)
	require.Equal(t, 300, m.Purchase.N)

	// A retry of the same fit changes nothing.
	again, err := st.h.handle(ctx, schedule.Payload(topology.FitSchedule, fitAt))
	require.NoError(t, err)
	require.True(t, again.Fit.Replayed)
	v, err := st.models.Version(ctx, modelName)
	require.NoError(t, err)
	require.Equal(t, 1, v)

	sum, err := st.h.handle(ctx, schedule.Payload(topology.ScoreSchedule, scoreAt))
	t.Logf("scored in %s", time.Since(start))
	require.NoError(t, err)
	require.Equal(t, "score", sum.Mode)
	require.Equal(t, 1, sum.Parts)
	require.Equal(t, int64(340), sum.Scored)
	require.Equal(t, int64(340), sum.Written)
	require.Zero(t, sum.Partial)

	// RFM on the store's population is rfm.ScoreAll's on the same customers.
	customers, ignored := rfm.Customers(s.orders, fitAt)
	require.Zero(t, ignored)
	want, _, err := rfm.ScoreAll(customers, fitAt, rfm.ConventionR)
	require.NoError(t, err)
	require.Len(t, want, 300)
	above, withActions := 0, 0
	var alerted profile.Profile
	for _, w := range want {
		p := st.profile(t, identity.UserID(w.ID))
		sc := p.Score
		require.NotNil(t, sc, w.ID)
		require.Equal(t, scoreAt, sc.ScoredAt)
		require.Equal(t, 1, sc.ModelVersion)
		require.Equal(t, profile.VariantRFM, sc.RFM.Variant)
		require.Equal(t, [5]int{w.RecencyDays, w.Frequency, w.R, w.F, w.M}, [5]int{sc.RFM.RecencyDays, sc.RFM.Frequency, sc.RFM.R, sc.RFM.F, sc.RFM.M}, w.ID)
		require.InDelta(t, w.Monetary, sc.RFM.Monetary, 1e-6, w.ID)
		require.Equal(t, rfm.DefaultSegments.Name(w), sc.RFM.Segment)
		require.NotNil(t, sc.Value, w.ID)
		require.Greater(t, sc.Value.PAlive, 0.0)
		require.LessOrEqual(t, sc.Value.PAlive, 1.0)
		require.GreaterOrEqual(t, sc.Value.CLV, 0.0)
		require.Equal(t, p.Orders[0].At, sc.FirstOrderAt)
		require.Equal(t, sc.Value.PAlive, sc.Lapse.PAlive)
		if len(sc.NextActions) > 0 {
			withActions++
		}
		if sc.Lapse.Above {
			above++
			require.Equal(t, scoreAt, p.LapseAlertedAt)
			alerted = p
		} else {
			require.True(t, p.LapseAlertedAt.IsZero())
		}
	}
	require.Positive(t, above, "customers who bought early and never again are at risk by October")
	require.Positive(t, withActions, "win-backs and recommendations")
	require.Equal(t, int64(above), sum.AlertsSent)
	for _, g := range s.guests {
		sc := st.profile(t, identity.AnonymousID(g)).Score
		require.Equal(t, profile.VariantEngagement, sc.RFM.Variant, g)
		require.Contains(t, []string{"Hot Prospects", "Engaged", "New Visitors", "Browsing", "Lapsing", "Cold"}, sc.RFM.Segment)
		require.Nil(t, sc.Value)
		require.False(t, sc.Lapse.Above, "a visitor who never bought is not alerted on")
		require.NotEmpty(t, sc.Cluster, "the daily fit's clusters place visitors too")
	}

	// The alerts: one per crossing, version 2, valid against their schema, figures as scored.
	ids := map[string]bool{}
	var mine message.Lapse
	for _, d := range st.drain(t, above) {
		require.Equal(t, message.TypeLapse, d.Type)
		require.Equal(t, 2, d.Version)
		require.NoError(t, schemas.Validate(d.Type, d.Version, d.Body), "the alert as sent matches its schema")
		var l message.Lapse
		require.NoError(t, json.Unmarshal(d.Body, &l))
		require.False(t, ids[l.AlertID], "one alert per crossing")
		ids[l.AlertID] = true
		if l.ProfileID == alerted.ID {
			mine = l
		}
	}
	sc := alerted.Score
	require.Equal(t, message.Lapse{
		Type: "lapse", Version: 2, AlertID: message.LapseID(alerted.ID, time.Time{}), ProfileID: alerted.ID, UserID: alerted.UserID,
		AnonymousIDs: []string{}, LastSeen: alerted.LastSeen, InactiveDays: calendar.DaysSince(alerted.LastSeen, scoreAt),
		Risk: sc.Lapse.Risk, PAlive: sc.Value.PAlive, Activity: sc.Lapse.Activity, RecentVisits: sc.Lapse.RecentVisits,
		ExpectedVisits: sc.Lapse.ExpectedVisits, Value: sc.Value.CLV, CLV: &sc.Value.CLV, Revenue: alerted.Revenue,
		Segment: sc.RFM.Segment, Reason: mine.Reason, RaisedAt: scoreAt,
	}, mine)
	require.Contains(t, mine.Reason, "P(alive)")

	// Each alert is in the activity log of the day: for whom, why (with the threshold it crossed).
	logged, err := st.activity.Page(ctx, activity.Query{Day: activity.Day(scoreAt), Kinds: []string{activity.KindLapse}, Limit: activity.MaxLimit})
	require.NoError(t, err)
	require.Len(t, logged.Entries, above)
	for _, e := range logged.Entries {
		require.True(t, ids[e.MessageID], "the entry of an alert sent")
		if e.ProfileID == alerted.ID {
			require.Equal(t, activity.Entry{At: scoreAt, Kind: activity.KindLapse, MessageID: mine.AlertID, ProfileID: alerted.ID,
				Reason: mine.Reason + "; alerts at a risk of 0.80 or more", Channel: topology.AlertQueue,
				Facts: map[string]float64{"risk": math.Round(mine.Risk*1e4) / 1e4, "threshold": 0.8, "pAlive": math.Round(mine.PAlive*1e4) / 1e4, "value": mine.Value}}, e)
		}
	}

	// An hour later: no alert again, and nothing decisive changed, so the only scores written are
	// drifted ones whose daily hour this is.
	sum, err = st.h.handle(ctx, schedule.Payload(topology.ScoreSchedule, scoreAt.Add(time.Hour)))
	require.NoError(t, err)
	require.Equal(t, int64(340), sum.Scored)
	require.Zero(t, sum.AlertsSent)
	require.Equal(t, int64(340), sum.Written+sum.Skipped)
	rewritten := 0
	for _, id := range s.buyers {
		if p := st.profile(t, identity.UserID(id)); p.Score.ScoredAt.Equal(scoreAt.Add(time.Hour)) {
			require.Equal(t, 13, scoring.Slot(p.ID, 24*time.Hour), "a score rewritten within the day is one in its hour")
			rewritten++
		}
	}
	require.Less(t, rewritten, 300/24*3)

	// The alerted customer buys again: under the line, and the profile API shows the new score.
	st.record(t, []profile.Activity{{Type: beacon.Track, UserID: alerted.UserID, At: scoreAt.Add(90 * time.Minute),
		Event: "Order Completed", OrderID: "o-back", Revenue: 30}})
	sum, err = st.h.handle(ctx, schedule.Payload(topology.ScoreSchedule, scoreAt.Add(2*time.Hour)))
	require.NoError(t, err)
	require.Zero(t, sum.AlertsSent)
	back := st.profile(t, identity.UserID(alerted.UserID))
	require.Equal(t, scoreAt.Add(2*time.Hour), back.Score.ScoredAt, "a new order is written at once")
	require.False(t, back.Score.Lapse.Above)
	require.Greater(t, back.Score.Value.PAlive, alerted.Score.Value.PAlive)
	require.Equal(t, 0, back.Score.RFM.RecencyDays)
	require.Equal(t, scoreAt, back.LapseAlertedAt, "the last alert stays recorded")
	require.Equal(t, profile.VariantRFM, back.Score.RFM.Variant)
	require.NotEmpty(t, back.Score.RFM.Segment)
	require.NotNil(t, back.Score.Value)
	require.NotNil(t, back.Score.Lapse)
	guest := st.profile(t, identity.AnonymousID(s.guests[0])).Score
	require.NotEmpty(t, guest.NextActions)
	require.Equal(t, profile.NextAction{Kind: "remind-viewed", Product: "cd-0"}, profile.NextAction{Kind: guest.NextActions[0].Kind, Product: guest.NextActions[0].Product})
	st.drain(t, 0)
}

// failingSave makes the first SaveScoreWithAlert fail, as a crash after sending would.
type failingSave struct {
	*profilestore.Store
	failed bool
	mu     sync.Mutex
}

func (f *failingSave) SaveScoreWithAlert(ctx context.Context, id string, sc profile.Score, previous, at time.Time) error {
	f.mu.Lock()
	first := !f.failed
	f.failed = true
	f.mu.Unlock()
	if first {
		return errors.New("connection reset")
	}
	return f.Store.SaveScoreWithAlert(ctx, id, sc, previous, at)
}

// A customer who visited every five days for months, bought once, and went quiet: without a
// purchase model (too few buyers) the activity risk alone crosses the line.
func lapser(user string, at time.Time) []profile.Activity {
	acts := []profile.Activity{{Type: beacon.Track, UserID: user, At: at.Add(-60 * 24 * time.Hour), Event: "Order Completed", OrderID: "o-" + user, Revenue: 120}}
	for d := 110; d >= 40; d -= 5 {
		acts = append(acts, profile.Activity{Type: beacon.Page, UserID: user, At: at.Add(-time.Duration(d) * 24 * time.Hour), Page: "/"})
	}
	return acts
}

func TestAlertIsResentNotLostAfterACrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t)
	st.record(t, lapser("u-lapsed", scoreAt))
	st.h.store = &failingSave{Store: st.store}

	sum, err := st.h.handle(ctx, schedule.Payload(topology.ScoreSchedule, scoreAt))
	require.NoError(t, err, "a profile that cannot be saved is skipped, not the run's failure")
	require.Equal(t, int64(1), sum.Failed)
	require.Equal(t, int64(1), sum.AlertsSent)
	sum, err = st.h.handle(ctx, schedule.Payload(topology.ScoreSchedule, scoreAt))
	require.NoError(t, err)
	require.Equal(t, int64(1), sum.AlertsSent)
	require.Equal(t, 1, sum.ModelVersion, "the first run fitted models, there being none")
	var m scoring.Models
	_, err = st.models.Load(ctx, modelName, &m)
	require.NoError(t, err)
	require.Contains(t, m.Notes, "no purchase models: 1 buyers in the sample, at least 200 needed")
	sum, err = st.h.handle(ctx, schedule.Payload(topology.ScoreSchedule, scoreAt.Add(time.Hour)))
	require.NoError(t, err)
	require.Zero(t, sum.AlertsSent)

	got := st.drain(t, 2)
	var first, second message.Lapse
	require.NoError(t, json.Unmarshal(got[0].Body, &first))
	require.NoError(t, json.Unmarshal(got[1].Body, &second))
	require.Equal(t, first.AlertID, second.AlertID, "a re-sent alert carries the same alertId")
	require.Nil(t, first.CLV, "no purchase model: no CLV")
	require.Equal(t, 120.0, first.Value, "the revenue stands for the value")
	require.Equal(t, 1.0, first.PAlive)

	// The run retried at the same time wrote the same entry of the activity log: one, not two.
	logged, err := st.activity.Page(ctx, activity.Query{Day: activity.Day(scoreAt), Kinds: []string{activity.KindLapse}, Limit: 10})
	require.NoError(t, err)
	require.Len(t, logged.Entries, 1)
	require.Equal(t, first.AlertID, logged.Entries[0].MessageID)
}

func TestFanOutScoresEveryProfileOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t)
	s := newShop(t, 0, 60)
	st.record(t, s.acts)
	// Each part on a handler of its own, as in another execution environment.
	parts := &fanouttest.Local[summary]{Handle: func(ctx context.Context, payload json.RawMessage) (summary, error) {
		h := &handler{store: st.store, models: st.models, alerts: st.alerts, cfg: st.h.cfg, size: st.h.size, log: quiet}
		return h.handle(ctx, payload)
	}}
	st.h.parts = parts
	st.h.size.PartSize = 15

	sum, err := st.h.handle(ctx, schedule.Payload(topology.ScoreSchedule, scoreAt))
	require.NoError(t, err)
	require.Equal(t, 4, sum.Parts)
	require.Zero(t, sum.Scored, "the planner scores nothing itself")
	payloads, results, errs := parts.Wait()
	require.Len(t, payloads, 4)
	var scored int64
	for i, r := range results {
		require.NoError(t, errs[i])
		require.Equal(t, "part", r.Mode)
		require.Equal(t, scoreAt, r.AsOf)
		scored += r.Scored
	}
	require.Equal(t, int64(60), scored, "every profile scored exactly once")
	for _, g := range s.guests {
		require.Equal(t, scoreAt, st.profile(t, identity.AnonymousID(g)).Score.ScoredAt)
	}
	var p fanout.Event
	require.NoError(t, json.Unmarshal(payloads[0], &p))
	require.Equal(t, 4, p.Part.Parts)
	require.Equal(t, defaultSizing.Segments, p.Part.Segments)
	require.Equal(t, scoreAt, p.Part.AsOf)

	_, err = st.h.handle(ctx, json.RawMessage(`{"part":{"index":4,"parts":4,"segments":4,"asOf":"1997-10-01T12:00:00Z"}}`))
	require.ErrorContains(t, err, "not a part of a run")
}

// The fit reads a bounded sample: FitSample buyers and visitors, segments in an order seeded by
// the fit's time, so a retry reads the same profiles.
func TestFitReadsABoundedSample(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t)
	s := newShop(t, 40, 40)
	st.record(t, s.acts)
	st.h.size.FitSample = 10

	sample, err := st.h.sample(ctx, fitAt, nil)
	require.NoError(t, err)
	size := sample.Size()
	require.Equal(t, 10, size.Buyers)
	require.Equal(t, 10, size.Visitors)
	require.GreaterOrEqual(t, size.Read, 20)
	require.LessOrEqual(t, size.Read, 80)
	require.Equal(t, size.Read, sample.Tally.Profiles, "every profile read is in the co-occurrence tally")
	again, err := st.h.sample(ctx, fitAt, nil)
	require.NoError(t, err)
	ids := func(s scoring.Sample) []string {
		var out []string
		for _, c := range s.Customers {
			out = append(out, c.ID)
		}
		for _, v := range s.Visitors {
			out = append(out, v.ID)
		}
		slices.Sort(out)
		return out
	}
	require.Equal(t, ids(sample), ids(again))

	fitted, err := st.h.handle(ctx, schedule.Payload(topology.FitSchedule, fitAt))
	require.NoError(t, err)
	require.Equal(t, 10, fitted.Fit.Sample.Buyers)
	require.Contains(t, fitted.Fit.Notes, "no purchase models: 10 buyers in the sample, at least 200 needed")
	require.Contains(t, fitted.Fit.Notes, "no RFM cut points: 10 buyers in the sample, at least 20 needed")
}

func TestEventsChooseTheMode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t)
	sum, err := st.h.handle(ctx, golden(t, "fit.json"))
	require.NoError(t, err)
	require.Equal(t, "fit", sum.Mode)
	require.Equal(t, time.Date(2025, 3, 15, 6, 0, 0, 0, time.UTC), sum.AsOf)
	require.Equal(t, scoring.Size{}, sum.Fit.Sample)
	require.Equal(t, []string{
		"no purchase models: 0 buyers in the sample, at least 200 needed",
		"no RFM cut points: 0 buyers in the sample, at least 20 needed",
		"no engagement cut points: 0 visitors in the sample, at least 20 needed",
		"no co-occurrence model: no profile read",
		"no customer clusters: 0 buyers and visitors in the sample, at least 50 needed",
	}, sum.Fit.Notes, "an empty shop fits nothing, and says so")

	sum, err = st.h.handle(ctx, golden(t, "score.json"))
	require.NoError(t, err)
	require.Equal(t, "score", sum.Mode)
	require.Equal(t, time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC), sum.AsOf)

	// The operator's "run now" sends the same event, at the time it runs.
	sum, err = st.h.handle(ctx, schedule.Payload(topology.FitSchedule, time.Date(2025, 3, 16, 6, 0, 0, 0, time.UTC)))
	require.NoError(t, err)
	require.Equal(t, "fit", sum.Mode)
	require.Equal(t, 2, sum.ModelVersion)
}

// Every schedule that runs score is one handle takes.
func TestHandleTakesEveryScheduleOfScore(t *testing.T) {
	t.Parallel()
	var names []string
	for _, sc := range topology.Default().Schedules {
		if sc.Function == "score" {
			names = append(names, sc.Name)
		}
	}
	require.ElementsMatch(t, []string{topology.FitSchedule, topology.ScoreSchedule}, names)
}

// untouched fails every call and counts it: a handler built on it must not call anything.
type untouched struct{ calls atomic.Int64 }

var errUntouched = errors.New("not to be called")

func (u *untouched) call() error { u.calls.Add(1); return errUntouched }
func (u *untouched) ScanSegment(context.Context, int, int, func(context.Context, profile.Profile) (bool, error), func(string, error)) error {
	return u.call()
}
func (u *untouched) CountProfiles(context.Context) (int64, error)           { return 0, u.call() }
func (u *untouched) SaveScore(context.Context, string, profile.Score) error { return u.call() }
func (u *untouched) Load(context.Context, string, any) (profilestore.ModelInfo, error) {
	return profilestore.ModelInfo{}, u.call()
}
func (u *untouched) Save(context.Context, string, any, profilestore.ModelInfo) error { return u.call() }
func (u *untouched) Version(context.Context, string) (int, error)                    { return 0, u.call() }
func (u *untouched) Send(context.Context, message.Message) error                     { return u.call() }
func (u *untouched) InvokeAsync(context.Context, []byte) error                       { return u.call() }
func (u *untouched) SaveScoreWithAlert(context.Context, string, profile.Score, time.Time, time.Time) error {
	return u.call()
}

// Input that is neither a run of fit or score nor a part of a run is refused with an error, and
// nothing is read, written, sent or invoked: it is not taken for a score run.
func TestHandleRefusesWhatIsNotItsInput(t *testing.T) {
	t.Parallel()
	u := &untouched{}
	h := &handler{store: u, models: u, alerts: u, parts: u, cfg: scoring.Default, size: defaultSizing, log: quiet}
	const at = `"2025-03-15T12:00:00Z"`
	for _, tc := range []struct{ raw, why string }{
		{`not json`, "not a scheduled run"},
		{`null`, "not a scheduled run"},
		{`"run now"`, "not a scheduled run"},
		{`[1,2]`, "not a scheduled run"},
		{`{}`, "no schedule"},
		{`{"source":"dcrm.demo"}`, `unknown field "source"`},
		{`{"time":` + at + `}`, "no schedule"},
		{`{"schedule":"score"}`, "no time"},
		{`{"schedule":"score","time":"not a time"}`, "not RFC 3339"},
		{`{"schedule":"triggers","time":` + at + `}`, `schedule "triggers" is not one this function runs (fit, score)`},
		{`{"version":"0","detail-type":"Scheduled Event","source":"aws.scheduler","time":` + at + `,"detail":{"schedule":"fit"}}`, `unknown field "detail"`},
		{`{"part":null}`, "not a part of a run"},
		{`{"part":{}}`, "not a part of a run"},
		{`{"part":{"index":4,"parts":4,"segments":4,"asOf":` + at + `}}`, "not a part of a run"},
		{`{"part":{"index":0,"parts":4,"segments":4}}`, "not a part of a run"},
		{`{"part":{"index":0,"parts":4,"segments":4,"asOf":` + at + `},"time":` + at + `}`, `unknown field "time"`},
		{`{"part":{"index":0,"parts":4,"segment":4,"asOf":` + at + `}}`, `unknown field "segment"`},
	} {
		_, err := h.handle(context.Background(), json.RawMessage(tc.raw))
		require.ErrorContains(t, err, tc.why, tc.raw)
		require.NotErrorIs(t, err, errUntouched, tc.raw)
	}
	require.Zero(t, u.calls.Load(), "nothing read, written, sent or invoked")
}

func TestSetupReadsTheEnvironment(t *testing.T) {
	t.Parallel()
	top := topology.Default()
	fn, _ := top.Function("score")
	env := map[string]string{
		top.EnvVar(topology.ProfileTable):        "p",
		top.EnvVar(topology.ModelTable):          "m",
		top.EnvVar(topology.AlertQueue):          "http://127.0.0.1:9324/000000000000/alerts",
		top.EnvVar(topology.AudienceTable):       "a",
		top.EnvVar(topology.AudienceQueue):       "http://127.0.0.1:9324/000000000000/audiences",
		top.EnvVar(topology.TouchpointTable):     "t",
		top.EnvVar(topology.AudienceMemberTable): "m",
		top.EnvVar(topology.ActivityTable):       "l",
		"AWS_REGION":                             localaws.Region,
	}
	maps.Copy(env, fn.Settings)
	getenv := func(k string) string { return env[k] }
	h, err := setup(context.Background(), getenv, quiet)
	require.NoError(t, err)
	require.Nil(t, h.parts, "outside Lambda there is no function to fan out to")
	require.Equal(t, 52.0, h.cfg.Valuation.Horizon)
	require.Equal(t, 0.1, h.cfg.Valuation.AnnualRate)
	require.Equal(t, 0.8, h.cfg.Lapse.Threshold)
	require.Equal(t, 720*time.Hour, h.cfg.Lapse.Cooldown)
	require.Equal(t, 20_000, h.size.FitSample)
	require.Equal(t, 200_000, h.size.PartSize)
	require.Equal(t, 24*time.Hour, h.cfg.Refresh)

	env["AWS_LAMBDA_FUNCTION_NAME"] = "dcrm-score"
	env[topology.SettingLapseMinValue] = "250"
	h, err = setup(context.Background(), getenv, quiet)
	require.NoError(t, err)
	require.Equal(t, "dcrm-score", h.parts.(fanout.Lambda).Name())
	require.Equal(t, 250.0, h.cfg.Lapse.MinValue)

	for name, bad := range map[string]string{
		topology.SettingCLVWeeks: "a year", topology.SettingCLVDiscount: "-0.1", topology.SettingLapseThreshold: "1.5",
		topology.SettingLapseCooldown: "30 days", topology.SettingFitSample: "10", topology.SettingScorePart: "0",
		topology.SettingScoreRefresh: "90m",
	} {
		old := env[name]
		env[name] = bad
		_, err = setup(context.Background(), getenv, quiet)
		require.ErrorContains(t, err, name)
		env[name] = old
	}
	for _, missing := range []string{top.EnvVar(topology.AlertQueue), top.EnvVar(topology.ModelTable)} {
		old := env[missing]
		delete(env, missing)
		_, err = setup(context.Background(), getenv, quiet)
		require.ErrorContains(t, err, missing)
		env[missing] = old
	}
	require.True(t, slices.ContainsFunc(top.Schedules, func(s topology.Schedule) bool {
		return s.Name == "fit" && s.Function == "score" && s.Every == 24*time.Hour
	}))
}

// fill pads a profile's item in DynamoDB up to a few bytes short of the 400 KB item limit, as a
// flood of traits could leave it before traits were bounded: it reads, but no score fits on it.
// The padding is found by putting copies of the item under another id of the same length until
// DynamoDB refuses one.
func (st *stack) fill(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	db := localawstest.Reachable(t).DynamoDBClient()
	table := aws.String(st.env[topology.Default().EnvVar(topology.ProfileTable)])
	key := map[string]types.AttributeValue{"profileId": &types.AttributeValueMemberS{Value: id}}
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	require.NotEmpty(t, got.Item)
	fits := func(n int) bool {
		probe := maps.Clone(got.Item)
		probe["profileId"] = &types.AttributeValueMemberS{Value: strings.Repeat("p", len(id))}
		probe["padding"] = &types.AttributeValueMemberS{Value: strings.Repeat("x", n)}
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: probe})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" {
			return false
		}
		require.NoError(t, err)
		return true
	}
	lo, hi := 0, 400<<10 // fits(lo), not fits(hi)
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	_, err = db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: map[string]types.AttributeValue{"profileId": &types.AttributeValueMemberS{Value: strings.Repeat("p", len(id))}}})
	require.NoError(t, err)
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key, UpdateExpression: aws.String("SET padding = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: strings.Repeat("x", lo-20)}}})
	require.NoError(t, err)
}

// A profile that cannot be written (its item at DynamoDB's size limit) and one that cannot be read
// (an item of another shape) are reported and skipped; every other profile of the run is scored.
func TestFailingProfilesAreSkipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t)
	s := newShop(t, 30, 10)
	st.record(t, s.acts)
	full := st.profile(t, identity.AnonymousID(s.guests[0])).ID
	st.fill(t, full)
	_, err := localawstest.Reachable(t).DynamoDBClient().PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(st.env[topology.Default().EnvVar(topology.ProfileTable)]),
		Item: map[string]types.AttributeValue{
			"profileId": &types.AttributeValueMemberS{Value: "prf_unreadable"}, "counts": &types.AttributeValueMemberS{Value: "many"},
		}})
	require.NoError(t, err)

	var logs strings.Builder
	st.h.log = slog.New(slog.NewJSONHandler(&logs, nil))
	sum, err := st.h.handle(ctx, schedule.Payload(topology.ScoreSchedule, scoreAt))
	require.NoError(t, err)
	require.Equal(t, int64(2), sum.Failed, "both reported in the summary")
	require.Equal(t, int64(len(s.buyers)+len(s.guests)-1), sum.Written, "every other profile scored and saved")
	for _, u := range s.buyers {
		require.NotNil(t, st.profile(t, identity.UserID(u)).Score, u)
	}
	for _, g := range s.guests[1:] {
		require.NotNil(t, st.profile(t, identity.AnonymousID(g)).Score, g)
	}
	require.Nil(t, st.profile(t, identity.AnonymousID(s.guests[0])).Score)
	for _, id := range []string{full, "prf_unreadable"} {
		require.Contains(t, logs.String(), `"msg":"profile not scored; skipped","profileId":"`+id+`","reason":`, "logged with its id and why")
	}
}
