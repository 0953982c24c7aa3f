package recordingtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// counting is a storage that counts the reads the engine makes of it, by method.
type counting struct {
	recording.Storage
	mu    sync.Mutex
	calls map[string]int
}

func (c *counting) count(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[method]++
}

func (c *counting) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = map[string]int{}
	return out
}

func (c *counting) Profile(ctx context.Context, id string, consistent bool) (recording.Record, error) {
	c.count("Profile")
	return c.Storage.Profile(ctx, id, consistent)
}

func (c *counting) Entry(ctx context.Context, id identity.ID, consistent bool) (recording.Entry, bool, error) {
	c.count("Entry")
	return c.Storage.Entry(ctx, id, consistent)
}

func (c *counting) Tombstoned(ctx context.Context, sealed string) (bool, error) {
	c.count("Tombstoned")
	return c.Storage.Tombstoned(ctx, sealed)
}

func (c *counting) Records(ctx context.Context, ids []string) (map[string]recording.Record, error) {
	c.count("Records")
	for range ids {
		c.count("profiles read")
	}
	return c.Storage.Records(ctx, ids)
}

func (c *counting) Entries(ctx context.Context, ids []identity.ID, sealed []string) (map[identity.ID]recording.Entry, map[string]bool, error) {
	c.count("Entries")
	for range ids {
		c.count("identifiers read")
	}
	return c.Storage.Entries(ctx, ids, sealed)
}

func (c *counting) RecordsAndTombstones(ctx context.Context, ids []string, sealed []string) (map[string]recording.Record, map[string]bool, error) {
	c.count("RecordsAndTombstones")
	for range ids {
		c.count("profiles read")
	}
	return c.Storage.RecordsAndTombstones(ctx, ids, sealed)
}

func (c *counting) Erased(ctx context.Context, ids []string) (map[string]bool, error) {
	c.count("Erased")
	return c.Storage.Erased(ctx, ids)
}

func (c *counting) Recorded(ctx context.Context, keys []history.Key, receipts []string) (map[string]bool, error) {
	if len(keys)+len(receipts) > 0 {
		c.count("Recorded")
	}
	for _, k := range keys {
		c.count("history of " + k.ProfileID) // keys looked up there
	}
	return c.Storage.Recorded(ctx, keys, receipts)
}

func (c *counting) Touchpoints(ctx context.Context, id string, after *history.Cursor, typ string, limit int) ([]history.Touchpoint, error) {
	c.count("Touchpoints")
	return c.Storage.Touchpoints(ctx, id, after, typ, limit)
}

func (c *counting) Commit(ctx context.Context, ch recording.Change) error {
	c.count("Commit")
	return c.Storage.Commit(ctx, ch)
}

func (c *counting) Append(ctx context.Context, ts []history.Touchpoint, receipts []history.Receipt) error {
	c.count("Append")
	return c.Storage.Append(ctx, ts, receipts)
}

func countingFixture(t *testing.T, ns NewStorage) (Fixture, *counting) {
	c := &counting{calls: map[string]int{}}
	f := New(t, func(t *testing.T) recording.Storage { c.Storage = ns(t); return c })
	return f, c
}

// pages are the events of visitors' pages: events per visitor, minute m onwards, one a second.
func pages(prefix string, visitors, events int, m int) []recording.Input {
	var in []recording.Input
	for v := range visitors {
		for k := range events {
			a := Page(fmt.Sprintf("%s-%d-%d", prefix, v, k), fmt.Sprintf("A%d", v), m)
			a.At = a.At.Add(time.Duration(k) * time.Second)
			a.ClientAt = a.At
			in = append(in, recording.Input{Activity: a})
		}
	}
	return in
}

func recordAll(t *testing.T, f Fixture, in []recording.Input) []recording.Outcome {
	t.Helper()
	out := f.RecordAll(context.Background(), in)
	for i, o := range out {
		require.NoError(t, o.Err, "input %d", i)
	}
	return out
}

// A batch reads what its events need in a few requests, whatever their number: no read per event
// or per identifier; and a returning visitor's new events, newer than anything recorded on their
// profile, need no read of the history to be known new.
func batchReadsTheStoreOnceForAllItsEvents(t *testing.T, ns NewStorage) {
	f, c := countingFixture(t, ns)
	recordAll(t, f, pages("first", 20, 5, 0))
	calls := c.reset()
	require.Zero(t, calls["Entry"]+calls["Profile"]+calls["Tombstoned"], "no single reads: %v", calls)
	require.Equal(t, 1, calls["Entries"], "the identifiers in one read: %v", calls)
	require.Equal(t, 1, calls["RecordsAndTombstones"], "the tombstones of the new ones with the profiles of the known ones, in one more: %v", calls)
	require.Zero(t, calls["Records"], "no other read of the profiles: %v", calls)
	require.LessOrEqual(t, calls["Erased"], 1, "after the history is written, whether any was erased meanwhile: %v", calls)
	require.Zero(t, calls["Recorded"], "new profiles have no history to read: %v", calls)
	require.Equal(t, 1, calls["Append"], "the touchpoints of every profile at once: %v", calls)

	out := recordAll(t, f, pages("again", 20, 5, 10))
	calls = c.reset()
	require.Zero(t, calls["Entry"]+calls["Profile"]+calls["Tombstoned"], "no single reads: %v", calls)
	require.Equal(t, 1, calls["Entries"], "known identifiers have no tombstone to look for: %v", calls)
	require.Equal(t, 1, calls["RecordsAndTombstones"], "the live profiles: %v", calls)
	require.Zero(t, calls["Records"], "no other read of the profiles: %v", calls)
	require.Equal(t, 1, calls["Erased"], "whether any was erased once the history is written: %v", calls)
	require.Zero(t, calls["Recorded"], "events newer than every recorded one are not looked up: %v", calls)
	for _, o := range out {
		require.False(t, o.Duplicate)
	}
	require.Equal(t, 10, f.Lookup(t, identity.AnonymousID("A3")).Counts.PageViews)
}

// waterOf is the high-water mark an event raises its profile's to: the time of its touchpoint key
// (history.SortKey) followed by "$", above every key of that time.
func waterOf(a profile.Activity) string {
	at, _, _ := strings.Cut(history.SortKey(a), "#")
	return at + "$"
}

// The high-water mark spares the history read only for events newer than every one recorded: an
// old event sent again, or an event that arrives after newer ones, is looked up and recorded once.
// A profile written before the mark was kept finds it once from its history.
func highWaterMarkKeepsDeduplicationWhole(t *testing.T, ns NewStorage) {
	f, c := countingFixture(t, ns)
	first := pages("m", 1, 5, 0)
	recordAll(t, f, first)
	id := f.Lookup(t, identity.AnonymousID("A0")).ID
	require.Equal(t, waterOf(first[4].Activity), f.Stored(t, id).HighWater, "the newest event's time")
	c.reset()

	same := Page("same-time", "A0", 0)
	same.At, same.ClientAt = first[4].Activity.At, first[4].Activity.ClientAt // at the mark's time: looked up, and new
	out := recordAll(t, f, []recording.Input{first[4], {Activity: same}})
	require.True(t, out[0].Duplicate, "the newest event sent again")
	require.False(t, out[1].Duplicate, "another event of the same time is new")
	require.Positive(t, c.reset()["Recorded"], "events of the mark's time are looked up")

	late := Page("late", "A0", 0)
	late.At = late.At.Add(2500 * time.Millisecond) // between events already recorded
	late.ClientAt = late.At
	out = recordAll(t, f, append([]recording.Input{first[2]}, recording.Input{Activity: late}))
	require.True(t, out[0].Duplicate, "an old event sent again")
	require.False(t, out[1].Duplicate, "a late event is new")
	require.Positive(t, c.reset()["Recorded"], "events below the mark are looked up")
	require.Equal(t, 7, f.Lookup(t, identity.AnonymousID("A0")).Counts.PageViews)

	// As written by the code before the mark: the mark is found from the history, once.
	f.Rewrite(t, id, func(r *recording.Record) { r.HighWater, r.Recent = "", nil })
	out = recordAll(t, f, []recording.Input{first[1], {Activity: Page("new", "A0", 5)}})
	require.True(t, out[0].Duplicate, "an old event sent again to a profile without a mark")
	require.False(t, out[1].Duplicate)
	calls := c.reset()
	require.Positive(t, calls["Touchpoints"], "the mark is found from the newest touchpoint: %v", calls)
	require.Equal(t, waterOf(Page("new", "A0", 5)), f.Stored(t, id).HighWater)
	recordAll(t, f, []recording.Input{{Activity: Page("newer", "A0", 6)}})
	require.Zero(t, c.reset()["Touchpoints"], "found once, then kept")
	require.Equal(t, 9, f.Lookup(t, identity.AnonymousID("A0")).Counts.PageViews)
}

// A merge keeps the greater mark of the two profiles, so that events of either device sent again
// are looked up; a mark unknown on either side stays unknown.
func mergeKeepsTheGreaterHighWaterMark(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	f.Record(t, Page("a1", "A", 10), Page("b1", "B", 20), Identify("a2", "A", "U", 11, nil))
	f.Record(t, Identify("b2", "B", "U", 21, nil))
	p := f.Lookup(t, identity.UserID("U"))
	require.Len(t, p.AnonymousIDs, 2)
	require.Equal(t, waterOf(Identify("b2", "B", "U", 21, nil)), f.Stored(t, p.ID).HighWater)
	for _, r := range f.Record(t, Page("b1", "B", 20), Page("a1", "A", 10)) {
		require.True(t, r.Duplicate, "events of both devices sent again")
	}
	require.Equal(t, 4, f.Lookup(t, identity.UserID("U")).Counts.Events)
}

// A merged-in profile's history is read only for events at or below its mark when it was merged
// in (Record.MergedWater): a person's devices whose events arrive out of order are looked up in
// the live profile's history alone, and an event recorded on a device before the merge, sent
// again, is still found in that device's history.
func mergedHistoriesAreReadForOlderEventsOnly(t *testing.T, ns NewStorage) {
	f, c := countingFixture(t, ns)
	f.Record(t, Page("a1", "A", 10), Page("b1", "B", 20), Identify("a2", "A", "U", 11, nil))
	f.Record(t, Identify("b2", "B", "U", 21, nil))
	p := f.Lookup(t, identity.UserID("U"))
	require.Len(t, p.MergedFrom, 1)
	merged := p.MergedFrom[0]
	mergedMark := f.Stored(t, p.ID).MergedWater
	require.NotEmpty(t, mergedMark, "the merged-in profile's mark is kept")
	require.LessOrEqual(t, mergedMark, waterOf(Identify("b2", "B", "U", 21, nil)))
	f.Record(t, Page("a3", "A", 30), Page("a4", "A", 40))
	c.reset()

	out := recordAll(t, f, []recording.Input{{Activity: Page("b3", "B", 35)}}) // below the mark, after the merge
	require.False(t, out[0].Duplicate)
	calls := c.reset()
	require.Equal(t, 1, calls["history of "+p.ID], "looked up in the live profile's history: %v", calls)
	require.Zero(t, calls["history of "+merged], "not in the merged-in one's: %v", calls)

	for _, again := range []profile.Activity{Page("a1", "A", 10), Page("b1", "B", 20)} { // recorded before the merge
		out = recordAll(t, f, []recording.Input{{Activity: again}})
		require.True(t, out[0].Duplicate, "%s sent again", again.MessageID)
	}
	require.Positive(t, c.reset()["history of "+merged], "older events are looked up in the merged-in history")
	require.Equal(t, 7, f.Lookup(t, identity.UserID("U")).Counts.Events)
}

// A merge reads each of the two profiles once and the merged one's identifiers in one request:
// what it claims and folds is carried on from those reads, not read again (every write of it is
// conditional, so a writer that got in between makes it read afresh).
func mergeReadsEachProfileOnce(t *testing.T, ns NewStorage) {
	f, c := countingFixture(t, ns)
	f.Record(t, Page("a1", "A", 10), Page("b1", "B", 20), Identify("a2", "A", "U", 11, nil))
	c.reset()
	out := f.Record(t, Identify("b2", "B", "U", 21, nil))
	require.Len(t, out[0].Merged, 1)
	calls := c.reset()
	require.Equal(t, 2, calls["Profile"], "the profile merged and the one it joins, once each: %v", calls)
	require.Zero(t, calls["Entry"], "no identifier read one by one: %v", calls)
	p := f.Lookup(t, identity.AnonymousID("B"))
	require.ElementsMatch(t, []string{"A", "B"}, p.AnonymousIDs)
	require.Equal(t, p.ID, f.Lookup(t, identity.UserID("U")).ID)
}

// A merge in the middle of a batch costs the batch a read of what it changed alone: the two
// profiles and the merged one's identifiers. The profiles the batch wrote before it, and every
// other identifier, are known from the batch's own reads and writes; and the other profiles it
// gathered events on are written once, with the rest of the batch, not once before the merge and
// again after.
func mergeInABatchRereadsWhatItChangedAlone(t *testing.T, ns NewStorage) {
	f, c := countingFixture(t, ns)
	f.Record(t, Page("a1", "A", 10), Identify("a2", "A", "U", 11, nil), Page("b1", "B", 20))
	recordAll(t, f, pages("known", 10, 2, 30)) // ten visitors known
	c.reset()

	in := pages("before", 10, 1, 50)
	in = append(in, recording.Input{Activity: Identify("b2", "B", "U", 55, nil)}) // merges B into A's profile
	in = append(in, pages("after", 10, 2, 60)...)
	in = append(in, recording.Input{Activity: Page("b3", "B", 61)})
	out := recordAll(t, f, in)
	require.Len(t, out[10].Merged, 1)
	calls := c.reset()
	require.Equal(t, 3, calls["Entries"], "the batch's identifiers, the merged profile's (by the merge), then those the merge moved: %v", calls)
	require.Equal(t, 12+1+1, calls["identifiers read"], "the ten visitors', B and U, then B by the merge and again after it: %v", calls)
	require.Equal(t, 12+1, calls["profiles read"], "the twelve profiles, then the one B joined: %v", calls)
	require.Equal(t, 2, calls["Profile"], "the merge's own reads: %v", calls)
	require.Zero(t, calls["Entry"]+calls["Records"], "nothing read one by one: %v", calls)
	require.Zero(t, calls["Recorded"], "every event newer than its profile's mark: %v", calls)
	require.Equal(t, 10+2+1, calls["Commit"], "each visitor's profile once, the merge's claim and fold, then the joined profile: %v", calls)
	require.Equal(t, 1, calls["Append"], "the history at once, after the merge: %v", calls)
	require.Equal(t, 5, f.Lookup(t, identity.UserID("U")).Counts.Events)
	require.Equal(t, 5, f.Lookup(t, identity.AnonymousID("A7")).Counts.PageViews)
}
