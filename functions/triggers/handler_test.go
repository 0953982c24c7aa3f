package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activity"
	"github.com/dcrm-project/dcrm/shared/activitystore"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/membership"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
	"github.com/dcrm-project/dcrm/shared/schedule"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

var (
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	// t0 is when the scenario's shop opens; the golden scheduler event runs at 11:05.
	t0  = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	day = calendar.Day
)

func at(d time.Duration) time.Time { return t0.Add(d) }

// clock is the scenario's time: what recording and the schedule see as now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

type stack struct {
	h         *handler
	store     *recording.Engine
	queue     *messagequeue.Queue
	audiences *messagequeue.Queue  // the audiences queue
	activity  *activitystore.Store // the activity log
	defs      *recordingtest.Definitions
	clock     *clock
	n         int
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	e := localawstest.Reachable(t)
	tables := profilestore.Tables{
		Profiles:    localawstest.NewTopologyTable(t, topology.ProfileTable),
		Identities:  localawstest.NewTopologyTable(t, topology.IdentityTable),
		Touchpoints: localawstest.NewTopologyTable(t, topology.TouchpointTable),
	}
	// The triggers and audiences queues as the topology has them, with their dead-letter queues.
	queue := func(logical, prefix string) *messagequeue.Queue {
		var spec topology.Queue
		for _, q := range topology.Default().Queues {
			if q.Name == logical {
				spec = q
			}
		}
		require.Positive(t, spec.DeadLetterAfter, "the %s queue has a dead-letter queue", logical)
		name := localawstest.UniqueName(prefix)
		url, err := localaws.CreateQueue(ctx, e.SQSClient(), name, spec)
		require.NoError(t, err)
		t.Cleanup(func() {
			_, _ = e.SQSClient().DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
			if dlq, err := e.SQSClient().GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name + "-dlq")}); err == nil {
				_, _ = e.SQSClient().DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: dlq.QueueUrl})
			}
		})
		return messagequeue.New(e.SQSClient(), url)
	}

	st := &stack{clock: &clock{t: t0}, queue: queue(topology.TriggerQueue, "test-triggers"),
		audiences: queue(topology.AudienceQueue, "test-audiences"), defs: &recordingtest.Definitions{}}
	// Histories are kept for a century: the scenario's clock is in the past.
	st.store = recording.New(profilestore.New(e.Dynamo(), tables), recording.WithClock(st.clock.now),
		recording.WithRetention(100*365*day), recording.WithAudiences(st.defs, membership.Queue{Sender: st.audiences}))
	st.activity = activitystore.New(e.Dynamo(), localawstest.NewTopologyTable(t, topology.ActivityTable)).WithRetention(100 * 365 * day)
	st.h = &handler{store: st.store, triggers: st.queue, activity: st.activity, log: quiet}
	return st
}

// visitor is one person's events in the scenario.
type visitor struct {
	st      *stack
	anon    string
	consent *bool
}

func (st *stack) visitor(anon string, consent ...bool) *visitor {
	v := &visitor{st: st, anon: anon}
	if len(consent) > 0 {
		v.consent = &consent[0]
	}
	return v
}

// do records one event that happened at when, as stitch would when it arrives at arrives (the
// clock then); it returns the profile id.
func (v *visitor) do(t *testing.T, when, arrives time.Time, event string, f func(*profile.Activity)) string {
	t.Helper()
	v.st.n++
	a := profile.Activity{MessageID: fmt.Sprintf("m%d", v.st.n), Type: beacon.Track, Event: event, AnonymousID: v.anon, At: when}
	if event == "" {
		a.Type, a.Page = beacon.Page, "/"
	}
	if v.consent != nil {
		a.Consent = map[string]profile.Consent{profile.PurposeMarketing: {Granted: *v.consent, At: when}}
	}
	if f != nil {
		f(&a)
	}
	v.st.clock.set(arrives)
	out := v.st.store.RecordAll(context.Background(), []recording.Input{{Activity: a}})
	require.NoError(t, out[0].Err)
	return out[0].ProfileID
}

func (v *visitor) page(t *testing.T, when time.Time) string { return v.do(t, when, when, "", nil) }
func (v *visitor) view(t *testing.T, product string, when time.Time) string {
	return v.do(t, when, when, "Product Viewed", line(product))
}
func (v *visitor) cart(t *testing.T, product string, when time.Time) string {
	return v.do(t, when, when, "Product Added", line(product))
}
func (v *visitor) order(t *testing.T, when, arrives time.Time) string {
	return v.do(t, when, arrives, "Order Completed", func(a *profile.Activity) { a.OrderID, a.Revenue = "o-"+v.anon, 99 })
}
func (v *visitor) form(t *testing.T, event, id string, when time.Time) string {
	return v.do(t, when, when, event, func(a *profile.Activity) { a.FormID = id })
}

func line(product string) func(*profile.Activity) {
	return func(a *profile.Activity) {
		a.Products = []profile.Line{{ProductID: product, Quantity: 1, Price: 99}}
	}
}

// runAt is the event of a run of the triggers schedule at now.
func runAt(now time.Time) json.RawMessage {
	return schedule.Payload(topology.TriggersSchedule, now)
}

// run runs the schedule at now.
func (st *stack) run(t *testing.T, now time.Time) summary {
	t.Helper()
	st.clock.set(now)
	sum, err := st.h.handle(context.Background(), runAt(now))
	require.NoError(t, err)
	return sum
}

// drain receives every message on the triggers queue; it waits until at least want have arrived,
// then makes sure there are no more. Each is checked against the contract. The runs have returned,
// so everything they sent is on the queue already (the local queue answers a short poll with all
// it holds).
func (st *stack) drain(t *testing.T, want int) []message.TriggerFired {
	t.Helper()
	ctx := context.Background()
	var got []message.TriggerFired
	receive := func(wait time.Duration) {
		ds, err := st.queue.Receive(ctx, 10, wait)
		require.NoError(t, err)
		for _, d := range ds {
			require.NoError(t, st.queue.Delete(ctx, d))
			require.NoError(t, schemas.Validate(d.Type, d.Version, d.Body), "the message as received matches its schema")
			var m message.TriggerFired
			require.NoError(t, json.Unmarshal(d.Body, &m))
			require.NoError(t, m.Validate())
			require.Equal(t, message.TypeTriggerFired, d.Type)
			require.Equal(t, 1, d.Version)
			require.Equal(t, map[string]string{"kind": m.Kind}, d.Attributes, "kind travels as a message attribute")
			got = append(got, m)
		}
	}
	if want > 0 {
		require.Eventually(t, func() bool { receive(0); return len(got) >= want }, 15*time.Second, 20*time.Millisecond)
	}
	receive(0)
	require.Len(t, got, want)
	return got
}

func kinds(ms []message.TriggerFired) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		out[m.ProfileID] = m.Kind
	}
	return out
}

// TestScenario replays a morning of a shop through recording and the schedule.
func TestScenario(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()

	// A customer who last ordered 250 days ago, came by 240 days ago and is back this morning.
	lapsed := st.visitor("a-lapsed", true)
	lapsed.order(t, at(-250*day), at(-250*day))
	lapsed.page(t, at(-240*day))
	lapsedID := lapsed.page(t, at(0))

	// A visitor puts a tent in the basket and leaves.
	basket := st.visitor("a-basket", true)
	basket.view(t, "tent", at(0))
	basketID := basket.cart(t, "tent", at(time.Minute))

	// One who bought; one whose order (at 10:20) arrives late, at 11:08, before its basket's due
	// time (11:10) comes round in a run.
	bought := st.visitor("a-bought", true)
	bought.cart(t, "tent", at(2*time.Minute))
	boughtID := bought.order(t, at(10*time.Minute), at(10*time.Minute))
	late := st.visitor("a-late", true)
	lateID := late.cart(t, "stove", at(10*time.Minute))

	// No marketing consent: no answer, or a refusal.
	silent := st.visitor("a-silent")
	silentID := silent.cart(t, "tent", at(3*time.Minute))
	refused := st.visitor("a-refused", false)
	refusedID := refused.cart(t, "tent", at(4*time.Minute))

	// Erased before the basket fell due.
	erased := st.visitor("a-erased", true)
	erasedID := erased.cart(t, "tent", at(5*time.Minute))
	st.clock.set(at(6 * time.Minute))
	_, err := st.store.Erase(ctx, erasedID)
	require.NoError(t, err)

	// A form started and left; a browse of two products.
	formID := st.visitor("a-form", true).form(t, "Form Started", "quote", at(5*time.Minute))
	browse := st.visitor("a-browse", true)
	browse.view(t, "tent", at(0))
	browseID := browse.view(t, "stove", at(3*time.Minute))

	// Many who are not due: first visits with consent, baskets without.
	for i := range 40 {
		v := st.visitor(fmt.Sprint("a-idle-", i), i%2 == 0)
		when := at(time.Duration(i) * 30 * time.Second)
		if i%4 == 1 {
			v.cart(t, "tent", when)
		} else {
			v.page(t, when)
		}
	}

	// 10:30: only the returning lapsed customer is due (at once).
	sum := st.run(t, at(30*time.Minute))
	require.Equal(t, int64(1), sum.Read, "the run reads the due profiles only")
	require.Zero(t, sum.NotLogged)
	got := st.drain(t, 1)
	require.Equal(t, map[string]string{lapsedID: trigger.ReturningLapsed}, kinds(got))
	require.Equal(t, at(-250*day), got[0].LastOrder)

	// 10:34: the form is not due before 10:35; at 10:40 it fires.
	require.Zero(t, st.run(t, at(34*time.Minute)).Read)
	st.drain(t, 0)
	sum = st.run(t, at(40*time.Minute))
	require.Equal(t, int64(1), sum.Sent)
	got = st.drain(t, 1)
	require.Equal(t, map[string]string{formID: trigger.AbandonedForm}, kinds(got))
	require.Equal(t, "quote", got[0].FormID)

	// 10:50: another visitor leaves a basket.
	laterID := st.visitor("a-later", true).cart(t, "lamp", at(50*time.Minute))

	// 11:00: the basket falls due at 11:01, not before.
	require.Zero(t, st.run(t, at(60*time.Minute)).Sent)
	st.drain(t, 0)

	// The golden scheduler event (11:05): the basket, and nothing for those who bought, have no
	// consent or were erased.
	st.clock.set(at(65 * time.Minute))
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "scheduler", "triggers.json"))
	require.NoError(t, err)
	sum, err = st.h.handle(ctx, raw)
	require.NoError(t, err)
	require.Equal(t, summary{AsOf: at(65 * time.Minute), Read: 1, Sent: 1, SentByKind: map[string]int64{trigger.AbandonedBasket: 1}}, sum)
	got = st.drain(t, 1)
	require.Equal(t, map[string]string{basketID: trigger.AbandonedBasket}, kinds(got))
	require.Equal(t, &message.Basket{Items: []message.BasketItem{{ProductID: "tent", Quantity: 1, Price: 99}}, Value: 99, UpdatedAt: at(time.Minute)}, got[0].Basket)
	require.Equal(t, message.TriggerID(basketID, got[0].Key), got[0].MessageID)

	// The same run again (a retry) sends nothing more.
	sum, err = st.h.handle(ctx, raw)
	require.NoError(t, err)
	require.Zero(t, sum.Read)

	// What fired is in the activity log of the day, newest first: for whom, why, on which queue.
	logged, err := st.activity.Page(ctx, activity.Query{Day: "2025-06-01", Kinds: activity.AlertKinds, Limit: 50})
	require.NoError(t, err)
	require.Len(t, logged.Entries, 3)
	require.Equal(t, activity.Entry{At: at(65 * time.Minute), Kind: trigger.AbandonedBasket, MessageID: got[0].MessageID, ProfileID: basketID,
		Reason: got[0].Reason, Facts: map[string]float64{"items": 1, "value": 99}, Channel: topology.TriggerQueue}, logged.Entries[0])
	require.Contains(t, got[0].Reason, "1 item worth 99.00 left in the basket")
	require.Equal(t, []string{formID, lapsedID}, []string{logged.Entries[1].ProfileID, logged.Entries[2].ProfileID})

	// The late order arrives: at 11:30 nothing is due, and nothing fires for its basket.
	late.order(t, at(20*time.Minute), at(68*time.Minute))
	require.Zero(t, st.run(t, at(90*time.Minute)).Read)
	st.drain(t, 0)

	// 12:05: the later basket (due 11:50) and the browse (due 12:03).
	sum = st.run(t, at(125*time.Minute))
	require.Equal(t, int64(2), sum.Read)
	got = st.drain(t, 2)
	require.Equal(t, map[string]string{laterID: trigger.AbandonedBasket, browseID: trigger.AbandonedBrowse}, kinds(got))

	// Two days later nothing is due any more, and nobody else ever fired.
	require.Zero(t, st.run(t, at(2*day)).Read)
	st.drain(t, 0)
	for _, id := range []string{boughtID, lateID, silentID, refusedID} {
		p, err := st.store.Profile(ctx, id)
		require.NoError(t, err)
		require.NotEmpty(t, p.ID)
	}
	_, err = st.store.Profile(ctx, erasedID)
	require.ErrorIs(t, err, profile.ErrNotFound)
}

// TestConcurrentRunsRecordOnce runs the schedule twice at once: each episode is recorded once, and
// whatever both sent carries one messageId per episode.
func TestConcurrentRunsRecordOnce(t *testing.T) {
	st := newStack(t)
	var ids []string
	for i := range 12 {
		ids = append(ids, st.visitor(fmt.Sprint("a-", i), true).cart(t, "tent", at(time.Duration(i)*time.Minute)))
	}
	st.clock.set(at(3 * time.Hour))
	var wg sync.WaitGroup
	sums := make([]summary, 2)
	for i := range sums {
		wg.Go(func() {
			var err error
			sums[i], err = st.h.handle(context.Background(), runAt(at(3*time.Hour)))
			require.NoError(t, err)
		})
	}
	wg.Wait()
	sent := int(sums[0].Sent + sums[1].Sent)
	require.GreaterOrEqual(t, sent, len(ids))
	got := st.drain(t, sent)
	byID := map[string]string{}
	for _, m := range got {
		byID[m.MessageID] = m.ProfileID
	}
	var fired []string
	for _, p := range byID {
		fired = append(fired, p)
	}
	slices.Sort(fired)
	slices.Sort(ids)
	require.Equal(t, ids, fired, "one messageId per episode, every episode sent")
	require.Zero(t, st.run(t, at(4*time.Hour)).Sent, "every episode was recorded")
	st.drain(t, 0)
}

// failingSave makes the first SaveFired fail, as a crash after sending would.
type failingSave struct {
	*recording.Engine
	failed bool
}

func (f *failingSave) SaveFired(ctx context.Context, fr recording.Firing) error {
	if !f.failed {
		f.failed = true
		return errors.New("connection reset")
	}
	return f.Engine.SaveFired(ctx, fr)
}

func TestTriggerIsResentNotLostAfterACrash(t *testing.T) {
	st := newStack(t)
	st.visitor("a-1", true).form(t, "Form Started", "quote", at(0))
	st.h.store = &failingSave{Engine: st.store}
	st.clock.set(at(time.Hour))
	sum, err := st.h.handle(context.Background(), runAt(at(time.Hour)))
	require.ErrorContains(t, err, "connection reset")
	require.Equal(t, int64(1), sum.Failed)
	require.Equal(t, int64(1), st.run(t, at(time.Hour+5*time.Minute)).Sent)
	require.Zero(t, st.run(t, at(time.Hour+10*time.Minute)).Sent)
	got := st.drain(t, 2)
	require.Equal(t, got[0].MessageID, got[1].MessageID, "a re-sent trigger carries the same messageId")
}

// changing records an event on the profile between Fire and SaveFired, once, as stitch would.
type changing struct {
	*recording.Engine
	v    *visitor
	t    *testing.T
	done bool
}

func (c *changing) SaveFired(ctx context.Context, f recording.Firing) error {
	if !c.done {
		c.done = true
		c.v.page(c.t, at(61*time.Minute))
	}
	return c.Engine.SaveFired(ctx, f)
}

func TestAProfileChangedUnderTheRunIsReadAgain(t *testing.T) {
	st := newStack(t)
	v := st.visitor("a-1", true)
	id := v.form(t, "Form Started", "quote", at(0))
	st.h.store = &changing{Engine: st.store, v: v, t: t}
	sum := st.run(t, at(time.Hour))
	require.Equal(t, int64(1), sum.Sent, "sent once, recorded on the second attempt")
	require.Zero(t, sum.Changed)
	require.Zero(t, st.run(t, at(2*time.Hour)).Sent)
	got := st.drain(t, 1)
	require.Equal(t, id, got[0].ProfileID)
	p, err := st.store.Lookup(context.Background(), identity.AnonymousID("a-1"))
	require.NoError(t, err)
	require.Equal(t, at(61*time.Minute), p.LastSeen, "the event recorded meanwhile is kept")
}

// TestRunStopsBeforeItsDeadline leaves what it cannot do for the next run.
func TestRunStopsBeforeItsDeadline(t *testing.T) {
	st := newStack(t)
	st.visitor("a-1", true).form(t, "Form Started", "quote", at(0))
	st.clock.set(at(time.Hour))
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(margin/2))
	defer cancel()
	sum, err := st.h.handle(ctx, runAt(at(time.Hour)))
	require.NoError(t, err)
	require.True(t, sum.More)
	require.Zero(t, sum.Read)
	require.Equal(t, int64(1), st.run(t, at(time.Hour)).Sent)
	st.drain(t, 1)
}

// untouched fails every call and counts it: a handler built on it must not call anything.
type untouched struct{ calls atomic.Int64 }

var errUntouched = errors.New("not to be called")

func (u *untouched) Due(context.Context, time.Time, func(context.Context, string) error) error {
	u.calls.Add(1)
	return errUntouched
}
func (u *untouched) Fire(context.Context, string, time.Time, ...trigger.Trigger) (recording.Firing, error) {
	u.calls.Add(1)
	return recording.Firing{}, errUntouched
}
func (u *untouched) SaveFired(context.Context, recording.Firing) error {
	u.calls.Add(1)
	return errUntouched
}
func (u *untouched) Reevaluate(context.Context, string, time.Time) ([]recording.AudienceChange, error) {
	u.calls.Add(1)
	return nil, errUntouched
}
func (u *untouched) Send(context.Context, message.Message) error { u.calls.Add(1); return errUntouched }

// Input that is not a run of the triggers schedule is refused with an error, and nothing is read,
// written or sent.
func TestHandleRefusesWhatIsNotARunOfTriggers(t *testing.T) {
	u := &untouched{}
	h := &handler{store: u, triggers: u, log: quiet}
	const when = `"2025-06-01T11:05:00Z"`
	for _, tc := range []struct{ raw, why string }{
		{`not json`, "not a scheduled run"},
		{`null`, "not a scheduled run"},
		{`[]`, "not a scheduled run"},
		{`{}`, "no schedule"},
		{`{"time":` + when + `}`, "no schedule"},
		{`{"schedule":"triggers"}`, "no time"},
		{`{"schedule":"triggers","time":"11:05"}`, "not RFC 3339"},
		{`{"schedule":"score","time":` + when + `}`, `schedule "score" is not one this function runs (triggers)`},
		{`{"schedule":"triggers","time":` + when + `,"source":"dcrm.operator"}`, `unknown field "source"`},
		{`{"part":{"index":0,"parts":4,"segments":4,"asOf":` + when + `}}`, `unknown field "part"`},
		{`{"version":"0","detail-type":"Scheduled Event","source":"aws.scheduler","time":` + when + `,"detail":{"schedule":"triggers"}}`, `unknown field "detail"`},
	} {
		sum, err := h.handle(context.Background(), json.RawMessage(tc.raw))
		require.ErrorIs(t, err, schedule.ErrInvalid, tc.raw)
		require.ErrorContains(t, err, tc.why, tc.raw)
		require.Zero(t, sum, tc.raw)
	}
	require.Zero(t, u.calls.Load(), "nothing read, written or sent")
}

func TestSetupReadsTheEnvironment(t *testing.T) {
	_, err := setup(context.Background(), func(string) string { return "" }, quiet)
	require.ErrorContains(t, err, "DCRM_PROFILES_TABLE")
	env := map[string]string{"DCRM_PROFILES_TABLE": "p", "DCRM_TRIGGERS_QUEUE_URL": "http://q", "DCRM_TOUCHPOINTS_TABLE": "t",
		"DCRM_AUDIENCES_TABLE": "a", "DCRM_AUDIENCE_CHANGES_QUEUE_URL": "http://a", "DCRM_AUDIENCE_MEMBERS_TABLE": "m"}
	_, err = setup(context.Background(), func(k string) string { return env[k] }, quiet)
	require.ErrorContains(t, err, "DCRM_ACTIVITY_TABLE")
	env["DCRM_ACTIVITY_TABLE"] = "l"
	h, err := setup(context.Background(), func(k string) string { return env[k] }, quiet)
	require.NoError(t, err)
	require.NotNil(t, h.store)
}

// A window that expires takes the person out of an audience on the schedule's next run, and the
// change reaches the audiences queue as the contract says.
func TestScheduleTakesPeopleOutWhenAWindowExpires(t *testing.T) {
	st := newStack(t)
	st.defs.Define(t, `{"id": "recent-viewers", "name": "Viewed a product in the last hour",
		"rule": {"field": "event.Product Viewed.count", "op": ">=", "value": 1, "within": "1h"}}`)
	id := st.visitor("a-1").view(t, "tent", at(0))
	entered := st.drainAudiences(t, 1)
	require.Equal(t, message.TypeAudienceEntered, entered[0].Type)
	require.Equal(t, id, entered[0].ProfileID)

	// Not yet: the view is 59 minutes old.
	sum := st.run(t, at(59*time.Minute))
	require.Zero(t, sum.Read, "not due")
	st.drainAudiences(t, 0)

	sum = st.run(t, at(time.Hour))
	require.Equal(t, int64(1), sum.Read)
	require.Equal(t, int64(1), sum.Exited)
	exited := st.drainAudiences(t, 1)
	require.Equal(t, message.TypeAudienceExited, exited[0].Type)
	require.Equal(t, at(0), exited[0].Since)
	p, err := st.store.Profile(context.Background(), id)
	require.NoError(t, err)
	require.Empty(t, p.Audiences)

	// Out of the index: the next run reads nothing.
	require.Zero(t, st.run(t, at(2*time.Hour)).Read)
}

// drainAudiences receives every message on the audiences queue, as drain does the triggers'.
func (st *stack) drainAudiences(t *testing.T, want int) []message.AudienceChanged {
	t.Helper()
	ctx := context.Background()
	var got []message.AudienceChanged
	receive := func() {
		ds, err := st.audiences.Receive(ctx, 10, 0)
		require.NoError(t, err)
		for _, d := range ds {
			require.NoError(t, st.audiences.Delete(ctx, d))
			require.NoError(t, schemas.Validate(d.Type, d.Version, d.Body), "the message as received matches its schema")
			var m message.AudienceChanged
			require.NoError(t, json.Unmarshal(d.Body, &m))
			require.NoError(t, m.Validate())
			require.Equal(t, map[string]string{"audience": m.AudienceID}, d.Attributes)
			got = append(got, m)
		}
	}
	if want > 0 {
		require.Eventually(t, func() bool { receive(); return len(got) >= want }, 15*time.Second, 20*time.Millisecond)
	}
	receive()
	require.Len(t, got, want)
	return got
}

// brokenLog is an activity log that takes nothing.
type brokenLog struct{ calls atomic.Int64 }

func (b *brokenLog) Write(context.Context, activity.Entry) error {
	b.calls.Add(1)
	return errors.New("the activity table is unavailable")
}

// The activity log is for people: a trigger it cannot take is sent and recorded all the same (it
// does not fire again), and the run counts it.
func TestATriggerTheLogCannotTakeIsSentAndRecorded(t *testing.T) {
	st := newStack(t)
	broken := &brokenLog{}
	st.h.activity = broken
	id := st.visitor("a-basket", true).cart(t, "tent", at(0))
	sum := st.run(t, at(2*time.Hour))
	require.Equal(t, int64(1), sum.Sent)
	require.Equal(t, int64(1), sum.NotLogged)
	require.Equal(t, int64(1), broken.calls.Load())
	require.Equal(t, map[string]string{id: trigger.AbandonedBasket}, kinds(st.drain(t, 1)))
	sum = st.run(t, at(3*time.Hour))
	require.Zero(t, sum.Sent, "recorded: not sent again")
	require.Zero(t, sum.NotLogged)
}
