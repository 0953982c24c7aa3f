package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// A request names the erased profile and those merged into it (sorted, once each), is keyed by
// its profile id (or a hash of an id unfit for a key), and reads back as written.
func TestErasureRequest(t *testing.T) {
	at := time.Date(2026, 12, 8, 1, 30, 0, 0, time.FixedZone("CET", 3600))
	e := NewErasure("prf_b", []string{"prf_c", "prf_a", "prf_b", "", "prf_a"}, at)
	if !slices.Equal(e.MergedFrom, []string{"prf_a", "prf_c"}) || !e.RequestedAt.Equal(at) || e.RequestedAt.Location() != time.UTC {
		t.Fatalf("request %+v", e)
	}
	if got := e.ProfileIDs(); !slices.Equal(got, []string{"prf_b", "prf_a", "prf_c"}) {
		t.Errorf("profile ids %v", got)
	}
	if e.ID() != "prf_b" || e.PendingKey() != "erasures/pending/prf_b.json" {
		t.Errorf("id %q, key %q", e.ID(), e.PendingKey())
	}
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := ReadErasure(raw); err != nil || !reflect.DeepEqual(back, e) {
		t.Errorf("read back %+v, %v; want %+v", back, err, e)
	}
	e.Done = &ErasureDone{At: time.Date(2026, 12, 9, 0, 10, 0, 0, time.UTC), Removed: map[string]Removed{EventsTable: {Files: 2, Rows: 7}}}
	if e.DoneKey() != "erasures/done/2026-12-09T001000Z/prf_b.json" {
		t.Errorf("done key %q", e.DoneKey())
	}
	for key, want := range map[string]struct {
		id       string
		done, ok bool
	}{
		e.PendingKey():                                  {"prf_b", false, true},
		e.DoneKey():                                     {"prf_b", true, true},
		"erasures/done/2026-12-09/prf_b.json":           {},
		"erasures/pending/prf_b.txt":                    {},
		"erasures/pending/a/b.json":                     {},
		"erasures/pass.json":                            {},
		"events/dt=2026-12-07/part-1.parquet":           {},
		"erasures/done/2026-12-09T001000Z/x/prf_b.json": {},
	} {
		id, done, ok := ErasureKeyID(key)
		if id != want.id || done != want.done || ok != want.ok {
			t.Errorf("ErasureKeyID(%q) = %q, %v, %v; want %+v", key, id, done, ok, want)
		}
	}
	if ErasuresDoneSince(at) != "erasures/done/2026-12-08" || ErasuresDoneSince(at) >= e.DoneKey() {
		t.Errorf("a listing from %s would miss %s", ErasuresDoneSince(at), e.DoneKey())
	}

	odd := NewErasure("imported/ü", nil, at)
	if id, _, ok := ErasureKeyID(odd.PendingKey()); !ok || id != odd.ID() || !strings.HasPrefix(id, "h-") {
		t.Errorf("an id unfit for a key is hashed: %q", odd.PendingKey())
	}
	for _, bad := range []string{`not json`, `{}`, `{"profileId":"prf_a"}`, `{"profileId":"prf_a","requestedAt":"2026-12-08T00:00:00Z","mergedFrom":[""]}`} {
		if _, err := ReadErasure([]byte(bad)); !errors.Is(err, ErrErasure) {
			t.Errorf("ReadErasure(%s) = %v", bad, err)
		}
	}
}

func TestErasedIDs(t *testing.T) {
	at := time.Now()
	s := NewErasedIDs(NewErasure("prf_b", []string{"prf_a"}, at), NewErasure("prf_d", []string{"prf_a", "x"}, at))
	for id, want := range map[string]string{"prf_a": "prf_b", "prf_b": "prf_b", "prf_d": "prf_d", "x": "prf_d", "prf_c": "", "": ""} {
		if got, ok := s.Erasure(id); got != want || ok != (want != "") {
			t.Errorf("Erasure(%q) = %q, %v; want %q", id, got, ok, want)
		}
	}
	if s.Len() != 4 {
		t.Errorf("%d ids", s.Len())
	}
	for _, c := range []struct {
		lo, hi string
		want   bool
	}{{"prf_a", "prf_a", true}, {"prf_aa", "prf_az", false}, {"prf_c", "prf_e", true}, {"a", "p", false}, {"prf_e", "w", false}, {"w", "y", true}} {
		if got := s.within(c.lo, c.hi); got != c.want {
			t.Errorf("within(%q, %q) = %v", c.lo, c.hi, got)
		}
	}
	for text, want := range map[string]string{`{"profileId":"prf_d"}`: "prf_d", `"prf_c prf_ prf_"`: "", `..x..`: "prf_d", `prf_bb`: "prf_b", ``: ""} {
		if got, ok := s.Mentioned([]byte(text)); got != want || ok != (want != "") {
			t.Errorf("Mentioned(%q) = %q, %v; want %q", text, got, ok, want)
		}
	}
	var none *ErasedIDs
	if _, ok := none.Mentioned([]byte("prf_a")); none.Len() != 0 || ok {
		t.Error("a nil set holds nothing")
	}
	if _, ok := none.Erasure("prf_a"); ok {
		t.Error("a nil set holds nothing")
	}
}

func TestPersonColumns(t *testing.T) {
	want := map[string][]string{EventsTable: {"profileId"}, ProfilesTable: {"profileId"}, IdentifiersTable: {"profileId"},
		MergesTable: {"mergedId", "profileId"}}
	for _, tb := range Tables {
		if got := tb.PersonColumns(); !slices.Equal(got, want[tb.Name]) {
			t.Errorf("%s: person columns %v, want %v", tb.Name, got, want[tb.Name])
		}
	}
}

// countingReader counts the bytes read of a file.
type countingReader struct {
	body  []byte
	read  int64
	calls int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.calls++
	r := bytes.NewReader(c.body)
	n, err := r.ReadAt(p, off)
	c.read += int64(n)
	return n, err
}

// erasureEvents are n rows for each profile, with properties that do not compress, so that a file
// of them is far larger than its person column.
func erasureEvents(profiles []string, n int) []Event {
	rnd := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var rows []Event
	for _, p := range profiles {
		for i := range n {
			rows = append(rows, Event{Type: "track", Event: "Product Viewed", MessageID: fmt.Sprintf("m-%s-%d", p, i), ProfileID: p,
				AnonymousID: "a-" + p, Timestamp: at.Add(time.Duration(len(rows)) * time.Second), ReceivedAt: at, SourceID: "src",
				Properties: fmt.Sprintf(`{"noise":"%x%x%x%x%x%x%x%x"}`, rnd.Uint64(), rnd.Uint64(), rnd.Uint64(), rnd.Uint64(),
					rnd.Uint64(), rnd.Uint64(), rnd.Uint64(), rnd.Uint64())})
		}
	}
	return rows
}

func writeFile[T Row](t *testing.T, table string, opts Options, rows ...T) File {
	t.Helper()
	tb, _ := TableNamed(table)
	w := NewWriter[T](tb, opts)
	if err := w.Write("2026-12-07", rows...); err != nil {
		t.Fatal(err)
	}
	files, err := w.Flush()
	if err != nil || len(files) != 1 {
		t.Fatalf("%d files, %v", len(files), err)
	}
	return files[0]
}

// Holds reads the footer and the person column of the row groups whose bounds may hold an
// erased id: of an events file (its profileId dictionary-encoded) the dictionary; of a snapshot
// file (profileId plain) the values.
func TestHoldsReadsOnlyThePersonColumns(t *testing.T) {
	var profiles []string
	for _, g := range "abc" {
		for i := range 10 {
			profiles = append(profiles, fmt.Sprintf("prf_%c%d", g, i))
		}
	}
	events := writeFile(t, EventsTable, Options{RowGroupRows: 3000}, erasureEvents(profiles, 300)...) // 3 row groups: a, b, c
	erase := func(ids ...string) *ErasedIDs { return NewErasedIDs(NewErasure(ids[0], ids[1:], time.Now())) }
	for _, c := range []struct {
		ids      []string
		want     bool
		maxBytes int64
	}{
		{[]string{"prf_b3"}, true, 2 * ColumnReadBytes},          // the footer and one chunk
		{[]string{"prf_z"}, false, ColumnReadBytes},              // outside every row group's bounds: the footer only
		{[]string{"prf_b35"}, false, 2 * ColumnReadBytes},        // within the second's bounds: its dictionary
		{[]string{"prf_q", "prf_c9"}, true, 2 * ColumnReadBytes}, // the third row group only
	} {
		r := &countingReader{body: events.Body}
		tb, _ := TableNamed(EventsTable)
		got, err := Holds(r, int64(len(events.Body)), tb, erase(c.ids...))
		if err != nil || got != c.want {
			t.Errorf("%v: holds = %v, %v", c.ids, got, err)
		}
		if r.read > c.maxBytes || 4*c.maxBytes > int64(len(events.Body)) {
			t.Errorf("%v: read %d bytes of %d in %d reads, want at most %d", c.ids, r.read, len(events.Body), r.calls, c.maxBytes)
		}
	}

	var ids []Identifier
	for i := range 3000 {
		ids = append(ids, Identifier{ProfileID: profiles[i%len(profiles)], Kind: "anonymousId", Value: fmt.Sprintf("a-%d", i)})
	}
	identifiers := writeFile(t, IdentifiersTable, Options{}, ids...)
	merges := writeFile(t, MergesTable, Options{}, Merge{MergedID: "prf_x1", ProfileID: "prf_a1"}, Merge{MergedID: "prf_x2", ProfileID: "prf_a2"})
	for _, c := range []struct {
		file  File
		table string
		ids   []string
		want  bool
	}{
		{identifiers, IdentifiersTable, []string{"prf_c4"}, true},
		{identifiers, IdentifiersTable, []string{"prf_c45"}, false},
		{merges, MergesTable, []string{"prf_x2"}, true}, // mergedId
		{merges, MergesTable, []string{"prf_a1"}, true}, // profileId
		{merges, MergesTable, []string{"prf_x3"}, false},
	} {
		tb, _ := TableNamed(c.table)
		got, err := Holds(bytes.NewReader(c.file.Body), int64(len(c.file.Body)), tb, erase(c.ids...))
		if err != nil || got != c.want {
			t.Errorf("%s %v: holds = %v, %v", c.table, c.ids, got, err)
		}
	}
	tb, _ := TableNamed(EventsTable)
	if _, err := Holds(bytes.NewReader([]byte("not parquet")), 11, tb, erase("prf_a1")); err == nil {
		t.Error("a file that is not Parquet is an error")
	}
}

// Rewrite keeps the other rows in their order, counts the removed ones by erasure, and makes the
// file the writer makes of the rows that remain (the same name for the same rows).
func TestRewrite(t *testing.T) {
	rows := erasureEvents([]string{"prf_a", "prf_b", "prf_c", "prf_a"}, 30)
	rows[5].ProfileID = "" // an event on no profile
	file := writeFile(t, EventsTable, Options{}, rows...)
	at := time.Now()
	erased := NewErasedIDs(NewErasure("prf_a", nil, at), NewErasure("prf_c", nil, at))
	tb, _ := TableNamed(EventsTable)
	got, err := Rewrite(file.Body, tb, "2026-12-07", erased)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Removed, Removals{"prf_a": 59, "prf_c": 30}) || got.Removed.Total() != 89 {
		t.Errorf("removed %v", got.Removed)
	}
	kept := slices.DeleteFunc(slices.Clone(rows), func(e Event) bool { return e.ProfileID == "prf_a" || e.ProfileID == "prf_c" })
	want := writeFile(t, EventsTable, Options{}, kept...)
	if got.File == nil || got.File.Key != want.Key || !bytes.Equal(got.File.Body, want.Body) || got.File.Rows != len(kept) {
		t.Fatalf("rewritten file %v, want the writer's %s", got.File, want.Key)
	}

	merges := writeFile(t, MergesTable, Options{}, Merge{MergedID: "prf_x", ProfileID: "prf_a"}, Merge{MergedID: "prf_c", ProfileID: "prf_y"})
	mt, _ := TableNamed(MergesTable)
	if got, err := Rewrite(merges.Body, mt, "2026-12-07", erased); err != nil || got.File != nil || got.Removed.Total() != 2 {
		t.Errorf("merges rewritten to %v, %v, %v: want nothing left", got.File, got.Removed, err)
	}
	if got, err := Rewrite(merges.Body, mt, "2026-12-07", NewErasedIDs()); err != nil || got.File == nil || got.File.Rows != 2 {
		t.Errorf("nothing erased: %v, %v", got, err)
	}
}

func feedText(t testing.TB, rows []Event, extra ...string) []byte {
	t.Helper()
	records, _, err := FeedRecords(rows)
	if err != nil {
		t.Fatal(err)
	}
	return append(bytes.Join(records, nil), []byte(strings.Join(extra, "\n"))...)
}

// ScrubFeed removes the rows of erased profiles and the lines that are no row and mention one;
// it keeps every other line as it was, so the object's rows read back are the others.
func TestScrubFeed(t *testing.T) {
	rows := erasureEvents([]string{"prf_a", "prf_b"}, 3)
	rows[4].Properties = `{"note":"prf_a"}` // mentions the erased profile, but is prf_b's row
	in := feedText(t, rows, "", `{"type":"track","profileId":"prf_a"}`, `garbage`, `prf_a garbage`)
	erased := NewErasedIDs(NewErasure("prf_a", nil, time.Now()))
	var out bytes.Buffer
	removed, n, err := ScrubFeed(bytes.NewReader(in), &out, erased)
	if err != nil || n != 5 || !reflect.DeepEqual(removed, Removals{"prf_a": 5}) {
		t.Fatalf("removed %v (%d lines), %v", removed, n, err)
	}
	gotRows, _ := readAll(t, out.Bytes())
	if !reflect.DeepEqual(gotRows, rows[3:]) {
		t.Errorf("rows left %v, want prf_b's", gotRows)
	}
	if !strings.HasSuffix(out.String(), "\n\ngarbage\n") {
		t.Errorf("a bad line that names no erased profile is kept as it was: %q", out.String())
	}
	_, n, err = ScrubFeed(bytes.NewReader(in), nil, erased)
	if err != nil || n != 1 {
		t.Errorf("without a writer it stops at the first line: %d, %v", n, err)
	}
	_, n, err = ScrubFeed(bytes.NewReader(out.Bytes()), nil, erased)
	if err != nil || n != 0 {
		t.Errorf("a scrubbed object holds nothing of the person: %d, %v", n, err)
	}
}

// Whatever an object holds, its scrubbed copy reads back as its rows of the other profiles.
func FuzzScrubFeed(f *testing.F) {
	f.Add(feedText(f, erasureEvents([]string{"prf_a", "prf_b"}, 1), "junk prf_a", `{"type":"page"}`))
	f.Add([]byte("prf_a\n\n\r\n{\"type\":\"track\",\"messageId\":\"m\",\"timestamp\":\"2026-12-07T00:00:00Z\",\"profileId\":\"prf_a\"}"))
	erased := NewErasedIDs(NewErasure("prf_a", []string{"prf_"}, time.Now()))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		if _, _, err := ScrubFeed(bytes.NewReader(in), &out, erased); err != nil {
			t.Fatal(err)
		}
		var want, got []Event
		_ = ReadFeed(bytes.NewReader(in), func(e Event) error {
			if _, gone := erased.Erasure(e.ProfileID); !gone {
				want = append(want, e)
			}
			return nil
		}, func(int, []byte, error) {})
		_ = ReadFeed(bytes.NewReader(out.Bytes()), func(e Event) error { got = append(got, e); return nil }, func(int, []byte, error) {})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("rows after scrubbing %v, want %v", got, want)
		}
	})
}
