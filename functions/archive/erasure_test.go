package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

// The people of the erasure tests: ann, whose phone's profile was merged into hers, is erased;
// bob is not; carl's erasure is too recent for the pass.
const (
	ann, annPhone, bob, bobOld, carl = "prf_ann1", "prf_ann2", "prf_bob1", "prf_bob0", "prf_carl"
)

// passTime is when the pass runs in these tests.
var passTime = time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)

func personRow(id, profile string, at time.Time) archive.Event {
	r := row(id, at)
	r.ProfileID, r.AnonymousID = profile, "a-"+profile
	return r
}

// erasureBucket holds what the archive holds of the three people: three delivered objects,
// archived (one holds ann's events of two days and bob's; one only bob's; one only ann's), a
// snapshot of the profiles, identifiers and merges, and the erasure requests of ann (an hour old)
// and carl (a minute old).
func erasureBucket(t *testing.T) (*bucket, []archive.Event) {
	t.Helper()
	day1, day2 := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	objects := [][]archive.Event{
		{personRow("m-01", ann, day1), personRow("m-02", bob, day1), personRow("m-03", annPhone, day2), personRow("m-04", bob, day2),
			personRow("m-05", ann, day2.Add(time.Minute))},
		{personRow("m-06", bob, day2), personRow("m-07", bobOld, day2.Add(time.Minute))},
		{personRow("m-08", ann, day1.Add(time.Hour))},
	}
	b := &bucket{objects: map[string][]byte{}}
	var keys []string
	var rows []archive.Event
	for i, o := range objects {
		key := fmt.Sprintf("%s2026/12/07/0%d/feed-1-2026-12-07-0%d-00-00-x.gz", topology.ArchiveIncomingPrefix, i, i)
		extra := [][]string{{"not a row", "not a row, from " + annPhone}, {"not a row"}, nil}[i] // set aside; the phone's is erased with her
		b.objects[key] = feedObject(t, o, extra...)
		keys = append(keys, key)
		rows = append(rows, o...)
	}
	require.NoError(t, newHandler(b, &queue{}).handle(context.Background(), s3Event(keys...)))

	putSnapshot(t, b, archive.ProfilesTable, []archive.Profile{{ProfileID: ann, Events: 4}, {ProfileID: bob, Events: 4}})
	putSnapshot(t, b, archive.IdentifiersTable, []archive.Identifier{{ProfileID: ann, Kind: "anonymousId", Value: "a-" + ann},
		{ProfileID: ann, Kind: "anonymousId", Value: "a-" + annPhone}, {ProfileID: bob, Kind: "userId", Value: "u-bob"}})
	putSnapshot(t, b, archive.MergesTable, []archive.Merge{{MergedID: annPhone, ProfileID: ann}, {MergedID: bobOld, ProfileID: bob}})

	putRequest(t, b, archive.NewErasure(ann, []string{annPhone}, passTime.Add(-time.Hour)))
	putRequest(t, b, archive.NewErasure(carl, nil, passTime.Add(-time.Minute)))
	return b, rows
}

func putSnapshot[T archive.Row](t testing.TB, b *bucket, table string, rows []T) {
	t.Helper()
	tb, _ := archive.TableNamed(table)
	w := archive.NewWriter[T](tb, archive.Options{})
	require.NoError(t, w.Write("2026-12-07", rows...))
	files, err := w.Flush()
	require.NoError(t, err)
	b.objects[tb.Key("2026-12-07", "part-00000-of-00001-0000")] = files[0].Body
}

func putRequest(t *testing.T, b *bucket, e archive.Erasure) {
	t.Helper()
	raw, err := json.Marshal(e)
	require.NoError(t, err)
	b.objects[e.PendingKey()] = raw
}

func passHandler(b *bucket) *handler {
	h := newHandler(b, &queue{})
	h.now = func() time.Time { return passTime }
	h.pass = passConfig{scanners: 3, listPage: 2}
	return h
}

func runPass(ctx context.Context, h *handler) (passSummary, error) {
	out, err := h.invoke(ctx, schedule.Payload(topology.ArchiveErasureSchedule, passTime))
	sum, _ := out.(passSummary)
	return sum, err
}

// tableRows reads every row of a table's files.
func tableRows[T archive.Row](t *testing.T, b *bucket, table string) []T {
	t.Helper()
	var out []T
	for key, body := range b.objects {
		if tb, _, _, ok := archive.ParseKey(key); ok && tb.Name == table {
			rows, err := parquet.Read[T](bytes.NewReader(body), int64(len(body)))
			require.NoError(t, err, key)
			out = append(out, rows...)
		}
	}
	return out
}

// incomingText is the delivered objects' lines, by key.
func incomingText(t *testing.T, b *bucket) map[string]string {
	t.Helper()
	out := map[string]string{}
	for key, body := range b.objects {
		if strings.HasPrefix(key, topology.ArchiveIncomingPrefix) {
			r, err := decompressed(bytes.NewReader(body))
			require.NoError(t, err)
			text, err := io.ReadAll(r)
			require.NoError(t, err)
			out[key] = string(text)
		}
	}
	return out
}

func keysUnder(b *bucket, prefix string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(b.objects)) {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// One pass removes ann (and her merged phone) from every table and delivered object, keeps
// every row of bob, moves her request to done with what it removed, and leaves carl's, too
// recent, for the next. It reads whole only the files it rewrites. Archiving a rewritten object
// again (S3 notifies the function of it) makes the files the pass made; a second pass changes
// nothing.
func TestErasurePass(t *testing.T) {
	ctx := context.Background()
	b, rows := erasureBucket(t)
	before := keysUnder(b, "events/")
	sum, err := runPass(ctx, passHandler(b))
	require.NoError(t, err)
	assert.Equal(t, []string{ann}, sum.Erasures)
	assert.True(t, sum.Finished)
	assert.Equal(t, 1, sum.Waiting, "carl's request is a minute old")
	assert.Equal(t, 4+3+3, sum.Scanned, "4 events files, 3 snapshot files, 3 delivered objects")

	isAnn := func(id string) bool { return id == ann || id == annPhone }
	var bobs []archive.Event
	for _, r := range rows {
		if !isAnn(r.ProfileID) {
			bobs = append(bobs, r)
		}
	}
	byID := func(a, b archive.Event) int { return strings.Compare(a.MessageID, b.MessageID) }
	events := tableRows[archive.Event](t, b, archive.EventsTable)
	slices.SortFunc(events, byID)
	assert.Equal(t, bobs, events, "every event of bob, none of ann")
	assert.Equal(t, []archive.Profile{{ProfileID: bob, Events: 4}}, tableRows[archive.Profile](t, b, archive.ProfilesTable))
	assert.Equal(t, []archive.Identifier{{ProfileID: bob, Kind: "userId", Value: "u-bob"}}, tableRows[archive.Identifier](t, b, archive.IdentifiersTable))
	assert.Equal(t, []archive.Merge{{MergedID: bobOld, ProfileID: bob}}, tableRows[archive.Merge](t, b, archive.MergesTable))
	incoming := incomingText(t, b)
	assert.Len(t, incoming, 2, "the object of ann alone is deleted")
	for key, text := range incoming {
		assert.NotContains(t, text, "prf_ann", key)
		assert.Contains(t, text, "not a row\n", "a bad line of no one is kept")
	}

	// Her request is done, with what was removed; carl's waits.
	assert.Equal(t, []string{archive.ErasurePendingPrefix + carl + ".json"}, keysUnder(b, archive.ErasurePendingPrefix))
	doneKey := archive.ErasureDonePrefix + "2026-12-08T030000Z/" + ann + ".json"
	require.Contains(t, b.objects, doneKey)
	done, err := archive.ReadErasure(b.objects[doneKey])
	require.NoError(t, err)
	assert.Equal(t, map[string]archive.Removed{
		archive.EventsTable:      {Files: 3, Rows: 4}, // the first object's two days, the third's one
		archive.ProfilesTable:    {Files: 1, Rows: 1},
		archive.IdentifiersTable: {Files: 1, Rows: 2},
		archive.MergesTable:      {Files: 1, Rows: 1},
		archive.ErasureIncoming:  {Files: 2, Rows: 5}, // 4 rows and the bad line naming the phone
	}, done.Done.Removed)
	assert.Equal(t, []string{annPhone}, done.MergedFrom)
	assert.Equal(t, passTime, done.Done.At)
	assert.NotContains(t, b.objects, passKey, "the pass is over")

	// Only the files rewritten were read whole; the others' person columns by range.
	after := keysUnder(b, "events/")
	for _, k := range before {
		if slices.Contains(after, k) { // bob's alone: untouched
			assert.Zero(t, b.opened[k], k)
			assert.Positive(t, b.ranged[k], k)
		}
	}

	// S3 notifies the function of the rewritten objects: archived again, they make the same files.
	keys := slices.Collect(maps.Keys(incoming))
	require.NoError(t, passHandler(b).handle(ctx, s3Event(keys...)))
	assert.Equal(t, after, keysUnder(b, "events/"), "the files the pass wrote are the archive function's own")

	snapshot := maps.Clone(b.objects)
	sum, err = runPass(ctx, passHandler(b))
	require.NoError(t, err)
	assert.Empty(t, sum.Erasures)
	assert.Equal(t, snapshot, b.objects, "nothing more to do")
}

// A pass cut off anywhere (a crash, a timeout: every write from some point on fails) and run
// again ends as one that was never interrupted, counts included.
func TestErasurePassInterruptedEndsTheSame(t *testing.T) {
	ctx := context.Background()
	whole, _ := erasureBucket(t)
	_, err := runPass(ctx, passHandler(whole))
	require.NoError(t, err)

	for cut := 1; ; cut++ {
		b, _ := erasureBucket(t)
		b.failAfter = cut
		_, err := runPass(ctx, passHandler(b))
		if err == nil {
			require.Equal(t, whole.objects, b.objects)
			require.Greater(t, cut, 10, "the pass wrote that many times")
			return
		}
		require.ErrorIs(t, err, errCutOff)
		b.failAfter = 0
		_, err = runPass(ctx, passHandler(b))
		require.NoError(t, err, "cut after %d writes", cut)
		require.Equal(t, slices.Sorted(maps.Keys(whole.objects)), slices.Sorted(maps.Keys(b.objects)), "cut after %d writes", cut)
		require.Equal(t, whole.objects, b.objects, "cut after %d writes", cut)
	}
}

// A pass short of time stops after a page, keeps its place and says it is unfinished (Lambda
// runs it again); run again it goes on, and ends as a pass done at once.
func TestErasurePassStopsForTimeAndGoesOn(t *testing.T) {
	whole, _ := erasureBucket(t)
	_, err := runPass(context.Background(), passHandler(whole))
	require.NoError(t, err)

	b, _ := erasureBucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	runs := 0
	for ; runs < 50; runs++ {
		h := passHandler(b)
		h.pass.reserve = 2 * time.Hour // never time for a second page
		sum, err := runPass(ctx, h)
		if err == nil {
			assert.True(t, sum.Finished)
			break
		}
		require.ErrorIs(t, err, errUnfinished)
		assert.True(t, sum.Resumed || runs == 0)
		require.Contains(t, b.objects, passKey)
	}
	assert.Greater(t, runs, 5, "a page at a time")
	assert.Equal(t, whole.objects, b.objects)
}

// A request written again while the pass runs, naming a profile merged into the person since
// (its erasure began again after a merge), stays pending: the next pass takes it all, and keeps a
// proof of its own.
func TestAChangedRequestWaitsForTheNextPass(t *testing.T) {
	ctx := context.Background()
	b, _ := erasureBucket(t)
	b.failAfter = 3 // the pass begins, and is cut off
	_, err := runPass(ctx, passHandler(b))
	require.ErrorIs(t, err, errCutOff)
	b.failAfter = 0
	putRequest(t, b, archive.NewErasure(ann, []string{annPhone, "prf_ann3"}, passTime.Add(-time.Hour)))
	_, err = runPass(ctx, passHandler(b))
	require.NoError(t, err)
	assert.Contains(t, b.objects, archive.ErasurePendingPrefix+ann+".json")
	first := archive.ErasureDonePrefix + "2026-12-08T030000Z/" + ann + ".json"
	assert.Contains(t, b.objects, first)

	h := passHandler(b)
	h.now = func() time.Time { return passTime.Add(time.Hour) }
	sum, err := h.erasurePass(ctx, schedule.Event{Schedule: topology.ArchiveErasureSchedule, Time: passTime.Add(time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, []string{ann, carl}, sum.Erasures, "an hour later, carl's request is old enough too")
	assert.Empty(t, keysUnder(b, archive.ErasurePendingPrefix))
	later := archive.ErasureDonePrefix + "2026-12-08T040000Z/"
	assert.Equal(t, []string{first, later + ann + ".json", later + carl + ".json"}, keysUnder(b, archive.ErasureDonePrefix))
}

// An object delivered after a person's erasure (events stitched before it, held in the feed's
// buffer) is archived without the person's rows, whether the request is pending or done lately,
// and is itself written again without them; a request done long ago filters nothing.
func TestArchivingDropsErasedRows(t *testing.T) {
	ctx := context.Background()
	at := passTime.Add(-2 * time.Hour)
	rows := []archive.Event{personRow("m-1", ann, at), personRow("m-2", bob, at), personRow("m-3", carl, at), personRow("m-4", annPhone, at)}
	for name, requests := range map[string][]archive.Erasure{
		"pending": {archive.NewErasure(ann, []string{annPhone}, at)},
		"done":    {withDone(archive.NewErasure(ann, []string{annPhone}, at), passTime.Add(-6*24*time.Hour))},
	} {
		t.Run(name, func(t *testing.T) {
			key := topology.ArchiveIncomingPrefix + "2026/12/08/01/late.gz"
			b := &bucket{objects: map[string][]byte{key: feedObject(t, rows, "junk of "+annPhone, "junk")}}
			for _, e := range requests {
				b.objects[requestKey(e)] = mustJSON(t, e)
			}
			old := withDone(archive.NewErasure(carl, nil, at), passTime.Add(-30*24*time.Hour))
			b.objects[requestKey(old)] = mustJSON(t, old)
			q := &queue{}
			h := passHandler(b)
			h.failed = q
			require.NoError(t, h.handle(ctx, s3Event(key)))

			got := parquetRows(t, b)["2026-12-08"]
			slices.SortFunc(got, func(a, b archive.Event) int { return strings.Compare(a.MessageID, b.MessageID) })
			assert.Equal(t, []archive.Event{rows[1], rows[2]}, got, "bob's and carl's (erased a month ago: not this object's business)")
			require.Len(t, q.sent, 1, "only the junk of no one is set aside")
			text := incomingText(t, b)[key]
			assert.NotContains(t, text, "prf_ann")
			assert.Contains(t, text, carl)
		})
	}
}

func withDone(e archive.Erasure, at time.Time) archive.Erasure {
	e.Done = &archive.ErasureDone{At: at, Removed: map[string]archive.Removed{}}
	return e
}

func requestKey(e archive.Erasure) string {
	if e.Done != nil {
		return e.DoneKey()
	}
	return e.PendingKey()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// When the requests cannot be listed, nothing is archived: the invocation fails and is retried. A
// request that is not one is logged and left alone.
func TestArchivingWaitsForTheRequests(t *testing.T) {
	key := topology.ArchiveIncomingPrefix + "x.gz"
	b := &bucket{objects: map[string][]byte{key: feedObject(t, []archive.Event{row("m-1", passTime), personRow("m-2", ann, passTime)}),
		archive.ErasurePendingPrefix + bob + ".json": []byte("{")}}
	b.failList = errors.New("slow down")
	assert.ErrorContains(t, newHandler(b, &queue{}).handle(context.Background(), s3Event(key)), "slow down")
	assert.Empty(t, keysUnder(b, "events/"))

	b.failList = nil
	b.objects[archive.ErasurePendingPrefix+ann+".json"] = mustJSON(t, archive.NewErasure(ann, nil, passTime))
	require.NoError(t, newHandler(b, &queue{}).handle(context.Background(), s3Event(key)))
	events := parquetRows(t, b)[passTime.Format(time.DateOnly)]
	require.Len(t, events, 1)
	assert.Equal(t, "m-1", events[0].MessageID)
	assert.Contains(t, b.objects, archive.ErasurePendingPrefix+bob+".json")
}

// The function takes S3's notifications and runs of its schedule, and refuses anything else.
func TestInvokeDispatchesOnTheEvent(t *testing.T) {
	ctx := context.Background()
	b, _ := erasureBucket(t)
	sample, err := os.ReadFile(filepath.Join("..", "..", "events", "scheduler", topology.ArchiveErasureSchedule+".json"))
	require.NoError(t, err)
	out, err := passHandler(b).invoke(ctx, sample)
	require.NoError(t, err)
	assert.Equal(t, "erasure", out.(passSummary).Mode)
	assert.Equal(t, []string{ann}, out.(passSummary).Erasures, "the requests old enough when it runs, whatever the run's time")

	raw, err := json.Marshal(s3Event(topology.ArchiveIncomingPrefix + "missing.gz"))
	require.NoError(t, err)
	_, err = passHandler(b).invoke(ctx, raw)
	assert.ErrorIs(t, err, errNoObject)

	for _, bad := range [][]byte{schedule.Payload(topology.SnapshotSchedule, passTime), []byte(`"hello"`), []byte(`{"Records": 3}`)} {
		before := maps.Clone(b.objects)
		_, err := passHandler(b).invoke(ctx, bad)
		assert.Error(t, err, "%s", bad)
		assert.Equal(t, before, b.objects)
	}
	_, err = passHandler(b).invoke(ctx, schedule.Payload(topology.SnapshotSchedule, passTime))
	assert.ErrorContains(t, err, topology.ArchiveErasureSchedule)
}

// A pass left in a state this function did not write is an error that says what to do; a file
// gone since the listing is no error; a bucket that cannot be written is.
func TestAPassItCannotReadIsAnError(t *testing.T) {
	b, _ := erasureBucket(t)
	b.objects[passKey] = []byte(`{"stage":"nowhere"}`)
	_, err := runPass(context.Background(), passHandler(b))
	assert.ErrorContains(t, err, "delete it to begin again")
	erased := archive.NewErasedIDs(archive.NewErasure(ann, nil, passTime))
	for _, stage := range passStages { // a file gone since the listing holds nothing
		hit, err := passHandler(b).holds(context.Background(), stage, object{Key: stagePrefix(stage) + "dt=2026-12-07/gone.parquet", Size: 100}, erased)
		assert.False(t, hit, stage)
		assert.NoError(t, err, stage)
	}
	b.failPut = errors.New("slow down")
	delete(b.objects, passKey)
	_, err = runPass(context.Background(), passHandler(b))
	assert.ErrorContains(t, err, "slow down")
}
