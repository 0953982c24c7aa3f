package profilestore

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/memstore"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
)

var retention = history.Retention{TTL: recordingtest.Retention}

// fullTouchpoint is a touchpoint with every field set, its time corrected away from its key's.
func fullTouchpoint(profileID, messageID string, at time.Time) history.Touchpoint {
	a := profile.Activity{
		MessageID: messageID, Type: beacon.Track, AnonymousID: "anon-1", UserID: "user-1", At: at.Add(1234 * time.Millisecond), ClientAt: at,
		Traits: map[string]any{"plan": "gold", "seats": 3.0}, PreviousID: "anon-0", GroupID: "group-1",
		Campaign: profile.Campaign{Source: "news", Medium: "email", Name: "spring", ClickID: "c1"}, Channel: beacon.ChannelEmail,
		Page: "https://shop.example/p", Engaged: 10, Event: "Order Completed", OrderID: "o-1", Revenue: 12.5, FormID: "f-1",
		Products:     []profile.Line{{ProductID: "p1", Quantity: 2, Price: 5, Category: "hats"}, {ProductID: "p2", Quantity: 1}},
		Impression:   profile.ImpressionClick,
		Consent:      map[string]profile.Consent{"marketing": {Granted: true}, "analytics": {Granted: false}},
		SalesChannel: "store", Store: "Leeds", Case: &profile.CaseActivity{ID: "case-1", Status: profile.CaseOpen, Topic: "late"},
	}
	return retention.Touchpoint(profileID, a, json.RawMessage(`{"order_id":"o-1","total":12.5,"nested":{"a":[1,2]}}`), recordingtest.Now)
}

// Every field of a touchpoint comes back from a chunk as it went in.
func TestChunkRoundTrip(t *testing.T) {
	tp := fullTouchpoint("prf_1", "m1", recordingtest.At(0))
	require.True(t, tp.Purchase)
	require.NotEqual(t, tp.At, keyTime(tp.Sort), "the corrected time differs from the key's")
	page := retention.Touchpoint("prf_1", recordingtest.Page("m2", "A", 1), nil, recordingtest.Now)
	truncated := retention.Touchpoint("prf_1", recordingtest.Track("m3", "A", "", 2), json.RawMessage(`{"big":"`+strings.Repeat("x", history.MaxProperties)+`","small":1}`), recordingtest.Now)
	require.True(t, truncated.PropertiesTruncated)
	odd := page
	odd.Sort, odd.MessageID, odd.Activity.MessageID = page.Sort+"-again", "not-the-key's", "not-the-key's" // a message id the key does not end in

	chunks, err := packChunks([]history.Touchpoint{tp, page, truncated, odd})
	require.NoError(t, err)
	require.Len(t, chunks, 2, "purchases apart from what expires")
	var got []history.Touchpoint
	for _, c := range chunks {
		data, err := c.encode()
		require.NoError(t, err)
		back, err := decodeChunk(data)
		require.NoError(t, err)
		keys, err := chunkKeys(data)
		require.NoError(t, err)
		require.Len(t, keys, len(back.entries))
		for k, e := range back.entries {
			got = append(got, e.touchpoint("prf_1"))
			require.Equal(t, e.Key, keys[k].Key, "the keys alone, as deduplication reads them")
			require.Equal(t, e.touchpoint("prf_1").MessageID, keys[k].messageID())
		}
	}
	want := map[string]history.Touchpoint{}
	for _, w := range []history.Touchpoint{tp, page, truncated, odd} {
		want[w.Sort] = w
	}
	require.Len(t, got, len(want))
	for _, g := range got {
		require.Equal(t, recordingtest.Canonical(want[g.Sort]), recordingtest.Canonical(g), g.Sort)
	}
}

// Chunks group by day and by expiry, each key once (the last given), and their items expire with
// their last touchpoint.
func TestPackChunksGroups(t *testing.T) {
	day := func(d, m int) time.Time { return recordingtest.T0.AddDate(0, 0, d).Add(time.Duration(m) * time.Minute) }
	first := retention.Touchpoint("prf_1", recordingtest.Page("m1", "A", 0), nil, recordingtest.Now)
	again := first
	again.Event = "given again"
	ts := []history.Touchpoint{first, again}
	for i, at := range []time.Time{day(0, 5), day(0, 600), day(1, 0), day(1, 1)} {
		a := recordingtest.Page(fmt.Sprintf("p%d", i), "A", 0)
		a.At, a.ClientAt = at, at
		ts = append(ts, retention.Touchpoint("prf_1", a, nil, recordingtest.Now))
	}
	buy := recordingtest.Order("o1", "A", "", 3)
	ts = append(ts, retention.Touchpoint("prf_1", buy, nil, recordingtest.Now))
	chunks, err := packChunks(ts)
	require.NoError(t, err)
	require.Len(t, chunks, 3, "day 0, day 1, day 0's purchase")
	require.Equal(t, []string{first.Sort, ts[2].Sort, ts[3].Sort}, keysOf(chunks[0]))
	require.Equal(t, "given again", chunks[0].entries[0].Event, "the last of a key replaces the others")
	require.Equal(t, ts[3].ExpiresAt, chunks[0].expiresAt(), "the latest expiry of the chunk")
	require.Equal(t, []string{ts[4].Sort, ts[5].Sort}, keysOf(chunks[1]))
	require.True(t, chunks[2].expiresAt().IsZero(), "a purchase never expires")
	require.True(t, strings.HasPrefix(chunks[0].name(), "2025-03-01~"), chunks[0].name())
	require.True(t, strings.HasPrefix(chunks[1].name(), "2025-03-02~"), chunks[1].name())
	require.NotEqual(t, chunks[0].name(), chunks[2].name())

	nowKept := ts[3]
	nowKept.ExpiresAt = time.Time{}
	moved, err := packChunks(append(slices.Clone(ts), nowKept))
	require.NoError(t, err)
	require.Len(t, moved, 3)
	require.Equal(t, []string{first.Sort, ts[2].Sort}, keysOf(moved[0]), "a key given again moves with its expiry")
	require.Equal(t, []string{ts[6].Sort, ts[3].Sort}, keysOf(moved[2]), "sorted by key")

	again2, err := packChunks(ts)
	require.NoError(t, err)
	require.Equal(t, chunks[0].name(), again2[0].name(), "the same touchpoints make the same chunk")
}

func keysOf(c chunk) []string {
	var out []string
	for _, e := range c.entries {
		out = append(out, e.Key)
	}
	return out
}

// A large write is split into chunks under the bound; a touchpoint past the item limit is
// refused for good.
func TestPackChunksSplitsLargeWrites(t *testing.T) {
	var ts []history.Touchpoint
	for i := range 60 {
		props := json.RawMessage(fmt.Sprintf(`{"i":%d,"text":"%s"}`, i, strings.Repeat(fmt.Sprint(i%10), 3000)))
		ts = append(ts, retention.Touchpoint("prf_1", recordingtest.Track(fmt.Sprintf("m%02d", i), "A", "", i), props, recordingtest.Now))
	}
	chunks, err := packChunks(ts)
	require.NoError(t, err)
	require.Greater(t, len(chunks), 1)
	n := 0
	for _, c := range chunks {
		require.LessOrEqual(t, c.raw, maxChunkBytes)
		n += len(c.entries)
	}
	require.Equal(t, len(ts), n)

	huge := recordingtest.Order("big", "A", "", 0)
	for i := range 1000 {
		huge.Products = append(huge.Products, profile.Line{ProductID: fmt.Sprintf("%04d-%s", i, strings.Repeat("p", 420)), Quantity: 1})
	}
	_, err = packChunks([]history.Touchpoint{retention.Touchpoint("prf_1", huge, nil, recordingtest.Now)})
	require.ErrorIs(t, err, recording.ErrRejected)
}

// Stored data that is not a chunk is an error, never a panic or an unbounded allocation.
func FuzzDecodeChunk(f *testing.F) {
	c, err := packChunks([]history.Touchpoint{fullTouchpoint("prf_1", "m1", recordingtest.At(0))})
	require.NoError(f, err)
	data, err := c[0].encode()
	require.NoError(f, err)
	f.Add(data)
	f.Add([]byte{chunkFormat})
	f.Add([]byte{chunkFormat, 0x01, 0x00, 0x00, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeChunk(data)
		keys, keysErr := chunkKeys(data)
		if err != nil {
			return
		}
		require.NoError(t, keysErr, "a chunk whose entries decode has keys")
		require.Len(t, keys, len(c.entries))
		for _, e := range c.entries {
			_ = e.touchpoint("prf_1")
		}
	})
}

// historyCase is a history written in several appends over three days, with several touchpoints
// at the same instant, into DynamoDB and into memory alike.
func historyCase(t *testing.T) (*Store, *memstore.Store, []history.Touchpoint) {
	t.Helper()
	ctx := context.Background()
	s, mem := newStore(t), memstore.New()
	var all []history.Touchpoint
	at := func(d, m int) time.Time { return recordingtest.T0.AddDate(0, 0, d).Add(time.Duration(m) * time.Minute) }
	for call := range 4 {
		var ts []history.Touchpoint
		for i := range 6 {
			d, m := i%3, 10*call+i/3
			var a profile.Activity
			switch i % 4 {
			case 0:
				a = recordingtest.Page("", "A", 0)
			case 1:
				a = recordingtest.Order("", "A", "", 0)
			case 2:
				a = recordingtest.Track("", "A", "", 0)
				a.Event, a.Impression = "Email Opened", profile.ImpressionOpen
			default:
				a = recordingtest.Track("", "A", "", 0)
			}
			a.MessageID = fmt.Sprintf("c%d-%d", call, i)
			a.At, a.ClientAt = at(d, m), at(d, m)
			if call == 3 {
				a.At, a.ClientAt = at(1, 0), at(1, 0) // the same instant, other messages
			}
			ts = append(ts, retention.Touchpoint("prf_1", a, nil, recordingtest.Now))
		}
		require.NoError(t, s.Append(ctx, ts, nil))
		require.NoError(t, mem.Append(ctx, ts, nil))
		all = append(all, ts...)
	}
	return s, mem, all
}

// Paging across days and chunks, under every filter, reads what the in-memory store reads.
func TestChunkedHistoryPagesAsInMemory(t *testing.T) {
	ctx := context.Background()
	s, mem, all := historyCase(t)
	for _, typ := range []string{"", history.Purchases, history.Impressions, beacon.Page, beacon.Track} {
		for _, limit := range []int{1, 2, 5, 0} {
			var cursor *history.Cursor
			var pages [][]string
			for range len(all) + 2 {
				got, err := s.Touchpoints(ctx, "prf_1", cursor, typ, limit)
				require.NoError(t, err)
				want, err := mem.Touchpoints(ctx, "prf_1", cursor, typ, limit)
				require.NoError(t, err)
				require.Equal(t, canonicalAll(want), canonicalAll(got), "type %q, limit %d, after %v", typ, limit, cursor)
				if len(got) == 0 || limit == 0 {
					break
				}
				pages = append(pages, recordingtest.MessageIDs(got))
				c := history.Cursor(got[len(got)-1].Key())
				cursor = &c
			}
			if typ == "" && limit == 1 {
				require.Len(t, pages, len(all), "one page per touchpoint")
			}
		}
	}
	// A cursor of another profile at the same key: the profile order breaks the tie.
	mid := history.Cursor{ProfileID: "prf_0", Sort: all[len(all)-1].Sort}
	got, err := s.Touchpoints(ctx, "prf_1", &mid, "", 0)
	require.NoError(t, err)
	want, err := mem.Touchpoints(ctx, "prf_1", &mid, "", 0)
	require.NoError(t, err)
	require.Equal(t, canonicalAll(want), canonicalAll(got))
}

func canonicalAll(ts []history.Touchpoint) []any {
	out := make([]any, len(ts))
	for i, t := range ts {
		out[i] = recordingtest.Canonical(t)
	}
	return out
}

// A delete from the middle of a chunk rewrites it without that touchpoint; one that empties a
// chunk deletes it; the history reads as the in-memory store's.
func TestDeleteFromTheMiddleOfAChunk(t *testing.T) {
	ctx := context.Background()
	s, mem, all := historyCase(t)
	before := len(chunkItems(t, s))
	middle := []history.Key{all[0].Key(), all[20].Key()} // of a chunk of two and one of four
	for _, st := range []recording.Histories{s, mem} {
		n, err := st.Delete(ctx, middle)
		require.NoError(t, err)
		require.Equal(t, 2, n)
	}
	items := chunkItems(t, s)
	require.Len(t, items, before, "rewritten in place")
	rewritten := 0
	for _, it := range items {
		if it.Revision > 0 {
			rewritten++
		}
	}
	require.Equal(t, 2, rewritten)
	got, err := s.Touchpoints(ctx, "prf_1", nil, "", 0)
	require.NoError(t, err)
	want, err := mem.Touchpoints(ctx, "prf_1", nil, "", 0)
	require.NoError(t, err)
	require.Equal(t, canonicalAll(want), canonicalAll(got))
	found, err := s.Recorded(ctx, []history.Key{all[0].Key(), all[3].Key()}, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{all[3].MessageID: true}, found)

	var keys []history.Key
	for _, tp := range all {
		keys = append(keys, tp.Key())
	}
	_, err = s.Delete(ctx, keys)
	require.NoError(t, err)
	require.Empty(t, chunkItems(t, s), "emptied chunks are deleted")
}

// A Delete that read a chunk before another writer rewrote it reads the day again.
func TestDeleteRereadsARewrittenChunk(t *testing.T) {
	ctx := context.Background()
	s, _, all := historyCase(t)
	ref := dayRef{"prf_1", touchpointDay(all[0].Sort)}
	stale, err := s.readDay(ctx, ref)
	require.NoError(t, err)
	require.NoError(t, s.deleteDay(ctx, ref, map[string]bool{all[0].Sort: true}))
	// Replay a rewrite on what was read before: refused.
	var it historyItem
	for _, item := range stale {
		c, err := decodeChunk(item.Data)
		require.NoError(t, err)
		if keysOf(c)[0] == all[0].Sort {
			it = item
		}
	}
	require.NotEmpty(t, it.Key)
	unchanged := "attribute_exists('d') AND attribute_not_exists('v')"
	err = s.TouchpointTable.table.Put(chunkItem{ProfileID: "prf_1", Key: it.Key, Data: it.Data, Revision: 1}).If(unchanged).Run(ctx)
	require.ErrorIs(t, writeErr(err, "rewrite"), recording.ErrConflict)
	_, err = s.Delete(ctx, []history.Key{all[6].Key()})
	require.NoError(t, err)
	found, err := s.Recorded(ctx, []history.Key{all[0].Key(), all[6].Key(), all[12].Key()}, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{all[12].MessageID: true}, found)
}

func chunkItems(t *testing.T, s *Store) []chunkItem {
	t.Helper()
	var items []chunkItem
	require.NoError(t, s.TouchpointTable.table.Scan().Filter("attribute_exists('d')").Consistent(true).All(context.Background(), &items))
	return items
}

// A chunk expires with its last touchpoint, a chunk of purchases never; each touchpoint keeps its
// own expiry.
func TestChunkExpiry(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	// Dated ahead, so that DynamoDB Local's TTL sweeper leaves them alone.
	short := history.Retention{TTL: 400 * 24 * time.Hour}
	base := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	at := func(a profile.Activity, h int) profile.Activity {
		a.At = base.Add(time.Duration(h) * time.Hour)
		a.ClientAt = a.At
		return a
	}
	early, late, buy := at(recordingtest.Page("m1", "A", 0), 1), at(recordingtest.Page("m2", "A", 0), 11), at(recordingtest.Order("m3", "A", "", 0), 2)
	ts := []history.Touchpoint{short.Touchpoint("prf_1", early, nil, base), short.Touchpoint("prf_1", late, nil, base), short.Touchpoint("prf_1", buy, nil, base)}
	require.True(t, ts[1].ExpiresAt.After(ts[0].ExpiresAt))
	require.NoError(t, s.Append(ctx, ts, nil))
	items := chunkItems(t, s)
	require.Len(t, items, 2)
	for _, it := range items {
		if it.Count == 1 {
			require.True(t, it.ExpiresAt.IsZero(), "the purchase's chunk never expires")
		} else {
			require.Equal(t, ts[1].ExpiresAt, it.ExpiresAt.UTC(), "the chunk expires with its last touchpoint")
		}
	}
	got, err := s.Touchpoints(ctx, "prf_1", nil, "", 0)
	require.NoError(t, err)
	require.Equal(t, []string{"m2", "m3", "m1"}, recordingtest.MessageIDs(got))
	require.Equal(t, ts[1].ExpiresAt, got[0].ExpiresAt)
	require.True(t, got[1].ExpiresAt.IsZero())
	require.Equal(t, ts[0].ExpiresAt, got[2].ExpiresAt, "its own expiry, not the chunk's")
}

// Items written one per touchpoint before chunks are read, found, paged among chunks (each
// touchpoint once when both hold it) and deleted.
func TestLegacyItemsAmongChunks(t *testing.T) {
	ctx := context.Background()
	s, mem, all := historyCase(t)
	var legacy []history.Touchpoint
	for i := range 3 {
		a := recordingtest.Track(fmt.Sprintf("old%d", i), "A", "", 0)
		a.At = recordingtest.T0.AddDate(0, 0, i).Add(7 * time.Minute)
		a.ClientAt = a.At
		legacy = append(legacy, retention.Touchpoint("prf_1", a, json.RawMessage(`{"v":1}`), recordingtest.Now))
	}
	legacy = append(legacy, all[4]) // also in a chunk
	for _, tp := range legacy {
		require.NoError(t, s.TouchpointTable.table.Put(touchpointRow(tp)).Run(ctx))
	}
	require.NoError(t, mem.Append(ctx, legacy, nil))

	for _, limit := range []int{0, 3} {
		var cursor *history.Cursor
		for range 20 {
			got, err := s.Touchpoints(ctx, "prf_1", cursor, "", limit)
			require.NoError(t, err)
			want, err := mem.Touchpoints(ctx, "prf_1", cursor, "", limit)
			require.NoError(t, err)
			require.Equal(t, canonicalAll(want), canonicalAll(got))
			if len(got) == 0 || limit == 0 {
				break
			}
			c := history.Cursor(got[len(got)-1].Key())
			cursor = &c
		}
	}
	found, err := s.Recorded(ctx, []history.Key{legacy[0].Key(), legacy[2].Key(), all[0].Key(), {ProfileID: "prf_1", Sort: "not a key"}}, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"old0": true, "old2": true, all[0].MessageID: true}, found)

	_, err = s.Delete(ctx, []history.Key{legacy[1].Key(), all[4].Key()})
	require.NoError(t, err)
	_, err = mem.Delete(ctx, []history.Key{legacy[1].Key(), all[4].Key()})
	require.NoError(t, err)
	got, err := s.Touchpoints(ctx, "prf_1", nil, "", 0)
	require.NoError(t, err)
	want, err := mem.Touchpoints(ctx, "prf_1", nil, "", 0)
	require.NoError(t, err)
	require.Equal(t, canonicalAll(want), canonicalAll(got), "gone from both kinds of item")
}

// A large write lands as several chunk items, each under DynamoDB's item limit, and reads back whole.
func TestLargeAppendIsSplitIntoChunks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var ts []history.Touchpoint
	for i := range 120 {
		props := json.RawMessage(fmt.Sprintf(`{"i":%d,"text":"%s"}`, i, strings.Repeat(string(rune('a'+i%26)), 3500)))
		ts = append(ts, retention.Touchpoint("prf_1", recordingtest.Track(fmt.Sprintf("m%03d", i), "A", "", i%60), props, recordingtest.Now))
	}
	require.NoError(t, s.Append(ctx, ts, nil))
	items := chunkItems(t, s)
	require.Greater(t, len(items), 2)
	n := 0
	for _, it := range items {
		require.Less(t, len(it.Data), 400<<10)
		n += it.Count
	}
	require.Equal(t, len(ts), n)
	got, err := s.Touchpoints(ctx, "prf_1", nil, "", 0)
	require.NoError(t, err)
	require.Len(t, got, len(ts))
	page, err := s.Touchpoints(ctx, "prf_1", nil, "", 7)
	require.NoError(t, err)
	require.Equal(t, recordingtest.MessageIDs(got[:7]), recordingtest.MessageIDs(page))
}

// ChunkJSON shows what a chunk holds; it refuses what is not one.
func TestChunkJSON(t *testing.T) {
	tp := fullTouchpoint("prf_1", "m1", recordingtest.At(0))
	c, err := packChunks([]history.Touchpoint{tp})
	require.NoError(t, err)
	data, err := c[0].encode()
	require.NoError(t, err)
	text, err := ChunkJSON(data)
	require.NoError(t, err)
	require.Contains(t, text, `"k":"`+tp.Sort+`"`)
	require.Contains(t, text, `"order_id":"o-1"`)
	_, err = ChunkJSON([]byte("plain text"))
	require.ErrorIs(t, err, errBadChunk)
}

// benchChunk is a stream batch's history of one visitor: 20 page views and tracks of a day, with
// the properties a shop's tracker sends.
func benchChunk(b *testing.B) []history.Touchpoint {
	var ts []history.Touchpoint
	for i := range 20 {
		a := recordingtest.Page(fmt.Sprintf("0b6f5f1e-6c2a-4e0b-9d7a-%012d", i), "3f2a7c1e-5d4b-4c3a-8e9f-0a1b2c3d4e5f", i)
		a.Page = fmt.Sprintf("https://shop.example/products/%d", i)
		props := json.RawMessage(fmt.Sprintf(`{"url":"https://shop.example/products/%d","path":"/products/%d","referrer":"https://shop.example/","title":"Product %d","search":""}`, i, i, i))
		ts = append(ts, retention.Touchpoint("prf_01JBENCH", a, props, recordingtest.Now))
	}
	return ts
}

// BenchmarkChunkWrite packs and compresses a batch's touchpoints of one visitor (per touchpoint:
// ns/op / 20); it reports the compressed bytes per touchpoint.
func BenchmarkChunkWrite(b *testing.B) {
	ts := benchChunk(b)
	var size int
	for b.Loop() {
		cs, err := packChunks(ts)
		require.NoError(b, err)
		data, err := cs[0].encode()
		require.NoError(b, err)
		size = len(data)
	}
	b.ReportMetric(float64(size)/float64(len(ts)), "B/touchpoint")
}

// benchChunkData is benchChunk packed and compressed, as stored.
func benchChunkData(b *testing.B) []byte {
	cs, err := packChunks(benchChunk(b))
	require.NoError(b, err)
	data, err := cs[0].encode()
	require.NoError(b, err)
	return data
}

// BenchmarkChunkRead inflates and decodes the same chunk into touchpoints.
func BenchmarkChunkRead(b *testing.B) {
	data := benchChunkData(b)
	for b.Loop() {
		c, err := decodeChunk(data)
		require.NoError(b, err)
		for _, e := range c.entries {
			_ = e.touchpoint("prf_01JBENCH")
		}
	}
}

// BenchmarkChunkKeys inflates the same chunk and reads its keys alone, as deduplication does.
func BenchmarkChunkKeys(b *testing.B) {
	data := benchChunkData(b)
	for b.Loop() {
		keys, err := chunkKeys(data)
		require.NoError(b, err)
		require.Len(b, keys, 20)
	}
}

// The full touchpoint sets every field of its activity, so that the round trips above fail when a
// field is added to profile.Activity that the store does not keep.
func TestTheFullTouchpointIsFull(t *testing.T) {
	a := reflect.ValueOf(fullTouchpoint("prf_1", "m1", recordingtest.At(0)).Activity)
	for i := range a.NumField() {
		if name := a.Type().Field(i).Name; a.Field(i).IsZero() && name != "ClientAt" { // ClientAt: history keeps At alone
			t.Errorf("fullTouchpoint leaves Activity.%s unset", name)
		}
	}
}
