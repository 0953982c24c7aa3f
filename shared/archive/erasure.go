package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Erasure of a person from the archive.
//
// The profile API erases a person (a live profile and every profile merged into it) from the
// profile store at once; the archive's files, written once and read by Athena, are rewritten by a
// daily pass instead. The profile API leaves a request for it in the bucket, the pass removes the
// rows of its profile ids from every file, and the request is moved to done with what was removed:
//
//	erasures/pending/<erasure id>.json                  a request: the profile ids to remove, and when
//	erasures/done/YYYY-MM-DDTHHMMSSZ/<erasure id>.json  the same, once a pass has removed them: when
//	                                                    the pass ended (the folder) and its counts
//
// A request names profiles only (random prf_… ids), never the person's identifiers or data.

// Where erasure requests are kept in the archive bucket.
const (
	ErasurePrefix        = "erasures/"
	ErasurePendingPrefix = ErasurePrefix + "pending/"
	ErasureDonePrefix    = ErasurePrefix + "done/"
)

// Erasure is a request to remove a person from the archive: the rows of the erased profile and of
// every profile merged into it.
type Erasure struct {
	ProfileID   string    `json:"profileId"`            // the erased (live) profile
	MergedFrom  []string  `json:"mergedFrom,omitempty"` // every profile merged into it, sorted
	RequestedAt time.Time `json:"requestedAt"`          // when the erasure started
	// Done is what the pass removed, once it has: the request is then kept under
	// ErasureDonePrefix as the proof.
	Done *ErasureDone `json:"done,omitempty"`
}

// ErasureDone is what a pass removed of a person.
type ErasureDone struct {
	At time.Time `json:"at"` // when the pass finished
	// Removed counts, by table (events, profiles, identifiers, merges) and for the archive feed's
	// delivered objects (ErasureIncoming), the files that held rows of the person (rewritten
	// without them, or deleted when nothing else was left) and the rows removed.
	Removed map[string]Removed `json:"removed"`
}

// ErasureIncoming names the archive feed's delivered objects among an erasure's counts.
const ErasureIncoming = "incoming"

// Removed counts what an erasure removed from one table.
type Removed struct {
	Files int   `json:"files"`
	Rows  int64 `json:"rows"`
}

// NewErasure is the request to erase profileID and the profiles merged into it, as of at.
func NewErasure(profileID string, mergedFrom []string, at time.Time) Erasure {
	merged := slices.Clone(mergedFrom)
	merged = slices.DeleteFunc(merged, func(id string) bool { return id == "" || id == profileID })
	slices.Sort(merged)
	return Erasure{ProfileID: profileID, MergedFrom: slices.Compact(merged), RequestedAt: at.UTC()}
}

// ProfileIDs are the profile ids whose rows the erasure removes.
func (e Erasure) ProfileIDs() []string { return append([]string{e.ProfileID}, e.MergedFrom...) }

// ID names the erasure in its keys: the erased profile's id, which is safe in a key as recording
// makes them (prf_ and hex), or else a hash of it. One person has one erasure: a request written
// again (a repeated DELETE) replaces the first.
func (e Erasure) ID() string {
	if safeKeyPart(e.ProfileID) {
		return e.ProfileID
	}
	sum := sha256.Sum256([]byte(e.ProfileID))
	return "h-" + hex.EncodeToString(sum[:16])
}

// PendingKey is where the request waits for the pass.
func (e Erasure) PendingKey() string { return ErasurePendingPrefix + e.ID() + ".json" }

// doneFolder names the folder of the requests a pass ended at a time (UTC, to the second): a
// request done twice (taken again by a later pass) keeps both proofs.
const doneFolder = "2006-01-02T150405Z"

// DoneKey is where the request is kept once done: in the folder of the time its pass ended.
func (e Erasure) DoneKey() string {
	var at time.Time
	if e.Done != nil {
		at = e.Done.At
	}
	return ErasureDonePrefix + at.UTC().Format(doneFolder) + "/" + e.ID() + ".json"
}

// ErasuresDoneSince is where a listing of the requests done on day since or later starts (S3's
// StartAfter): the folders of the done requests sort by time.
func ErasuresDoneSince(since time.Time) string {
	return ErasureDonePrefix + since.UTC().Format(time.DateOnly)
}

// ErrErasure is wrapped by the error of a request that is not one.
var ErrErasure = errors.New("archive: not an erasure request")

// ReadErasure reads a request, and checks it: a profile id, a time, and ids that are not empty.
func ReadErasure(raw []byte) (Erasure, error) {
	var e Erasure
	if err := json.Unmarshal(raw, &e); err != nil {
		return Erasure{}, fmt.Errorf("%w: %v", ErrErasure, err)
	}
	if e.ProfileID == "" || e.RequestedAt.IsZero() || slices.Contains(e.MergedFrom, "") {
		return Erasure{}, fmt.Errorf("%w: no profileId or requestedAt, or an empty merged id", ErrErasure)
	}
	return e, nil
}

func safeKeyPart(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ErasedIDs are the profile ids of a set of erasures, each to the erasure (ID) that removes it.
type ErasedIDs struct {
	owner  map[string]string
	sorted []string            // the ids, sorted: which fall within a column's bounds
	byHead map[string][]string // the ids by their first bytes: which a text mentions
}

// headLen is how many leading bytes of an id Mentioned searches a text for (all of prf_'s).
const headLen = 4

// NewErasedIDs gathers the erasures' profile ids. An id in two erasures goes to the first, in the
// erasures' order.
func NewErasedIDs(es ...Erasure) *ErasedIDs {
	s := &ErasedIDs{owner: map[string]string{}, byHead: map[string][]string{}}
	for _, e := range es {
		for _, id := range e.ProfileIDs() {
			if _, dup := s.owner[id]; dup || id == "" {
				continue
			}
			s.owner[id] = e.ID()
			s.sorted = append(s.sorted, id)
			head := id[:min(len(id), headLen)]
			s.byHead[head] = append(s.byHead[head], id)
		}
	}
	slices.Sort(s.sorted)
	return s
}

// Len is how many profile ids there are. A nil *ErasedIDs holds none.
func (s *ErasedIDs) Len() int {
	if s == nil {
		return 0
	}
	return len(s.sorted)
}

// Erasure tells whether id is erased, and by which erasure.
func (s *ErasedIDs) Erasure(id string) (erasure string, ok bool) {
	if id == "" || s == nil {
		return "", false
	}
	erasure, ok = s.owner[id]
	return erasure, ok
}

// within tells whether an id lies between lo and hi (inclusive): a column chunk whose bounds
// are lo and hi may hold it.
func (s *ErasedIDs) within(lo, hi string) bool {
	i := sort.SearchStrings(s.sorted, lo)
	return i < len(s.sorted) && s.sorted[i] <= hi
}

// Mentioned tells whether text holds an erased id anywhere, and the erasure of the first found.
func (s *ErasedIDs) Mentioned(text []byte) (erasure string, ok bool) {
	if s == nil {
		return "", false
	}
	for _, head := range slices.Sorted(maps.Keys(s.byHead)) {
		for rest := text; ; {
			i := bytes.Index(rest, []byte(head))
			if i < 0 {
				break
			}
			for _, id := range s.byHead[head] {
				if bytes.HasPrefix(rest[i:], []byte(id)) {
					return s.owner[id], true
				}
			}
			rest = rest[i+1:]
		}
	}
	return "", false
}

// PersonColumns are the table's columns that hold a profile id (its row type's fields tagged
// `archive:"person"`): profileId, and merges' mergedId. A row of an erased person names one of
// the person's profile ids in one of them.
func (t Table) PersonColumns() []string {
	out := make([]string, len(t.person))
	for i, p := range t.person {
		out[i] = p.column
	}
	return out
}

// erasedRow tells whether a row of the table names an erased profile, and by which erasure.
func (t Table) erasedRow(row reflect.Value, erased *ErasedIDs) (string, bool) {
	for _, p := range t.person {
		if id, ok := erased.Erasure(row.Field(p.index).String()); ok {
			return id, true
		}
	}
	return "", false
}

// ColumnReadBytes is what Holds reads at a time: the file's tail (its footer, in one read when it
// is smaller) and then a column chunk's pages. From S3, each read is a ranged GET.
const ColumnReadBytes = 64 << 10

// Prefetcher is a reader that can be told what comes next: Holds names each column chunk it is
// about to read, which a reader from S3 fetches in one ranged GET rather than a page at a time.
type Prefetcher interface {
	Prefetch(off, n int64) error
}

// Holds tells whether a Parquet file of the table holds a row of an erased profile. It reads the
// file's footer and only the table's person columns, through r (from S3, ranged GETs): a column
// chunk whose bounds (the footer's statistics) hold no erased id is skipped unread; of a
// dictionary-encoded chunk (the events' profileId) it reads the dictionary, the values its pages
// index, and decodes the values only of pages written without one. When r is a Prefetcher, each
// chunk read is announced to it first.
func Holds(r io.ReaderAt, size int64, t Table, erased *ErasedIDs) (bool, error) {
	if erased.Len() == 0 {
		return false, nil
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipMagicBytes(true), parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true), parquet.OptimisticRead(true), parquet.ReadBufferSize(ColumnReadBytes))
	if err != nil {
		return false, fmt.Errorf("archive: open %s file: %w", t.Name, err)
	}
	var columns []int
	for _, name := range t.PersonColumns() {
		leaf, ok := f.Schema().Lookup(name)
		if !ok {
			return false, fmt.Errorf("archive: %s file without its %s column", t.Name, name)
		}
		columns = append(columns, leaf.ColumnIndex)
	}
	prefetch, _ := r.(Prefetcher)
	for i, rg := range f.RowGroups() {
		chunks := rg.ColumnChunks()
		for _, c := range columns {
			chunk := chunks[c]
			if fc, ok := chunk.(*parquet.FileColumnChunk); ok {
				if lo, hi, ok := fc.Bounds(); ok && !erased.within(string(lo.ByteArray()), string(hi.ByteArray())) {
					continue
				}
			}
			if prefetch != nil {
				md := f.Metadata().RowGroups[i].Columns[c].MetaData
				start := md.DataPageOffset
				if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
					start = md.DictionaryPageOffset
				}
				if err := prefetch.Prefetch(start, md.TotalCompressedSize); err != nil {
					return false, fmt.Errorf("archive: read %s column of a %s file: %w", t.Columns[c].Name, t.Name, err)
				}
			}
			hit, err := chunkHolds(chunk, erased)
			if err != nil {
				return false, fmt.Errorf("archive: read %s column of a %s file: %w", t.Columns[c].Name, t.Name, err)
			}
			if hit {
				return true, nil
			}
		}
	}
	return false, nil
}

// chunkHolds reads a column chunk's pages for an erased id: a page's dictionary when it has one
// (once for all the pages that share it), its values when it has none.
func chunkHolds(c parquet.ColumnChunk, erased *ErasedIDs) (bool, error) {
	pages := c.Pages()
	defer pages.Close()
	var checked parquet.Dictionary
	values := make([]parquet.Value, 512)
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		hit := false
		if d := p.Dictionary(); d != nil {
			if d != checked {
				checked = d
				for i := range d.Len() {
					if _, hit = erased.Erasure(string(d.Index(int32(i)).ByteArray())); hit {
						break
					}
				}
			}
		} else {
			hit, err = valuesHold(p.Values(), values, erased)
		}
		parquet.Release(p)
		if err != nil || hit {
			return hit, err
		}
	}
}

func valuesHold(r parquet.ValueReader, buf []parquet.Value, erased *ErasedIDs) (bool, error) {
	for {
		n, err := r.ReadValues(buf)
		for _, v := range buf[:n] {
			if !v.IsNull() {
				if _, ok := erased.Erasure(string(v.ByteArray())); ok {
					return true, nil
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// Removals counts the rows removed, by erasure (ErasedIDs.Erasure).
type Removals map[string]int64

// Total is how many rows were removed in all.
func (r Removals) Total() int64 {
	var n int64
	for _, v := range r {
		n += v
	}
	return n
}

// Rewritten is a file of a table written again without the rows of erased profiles.
type Rewritten struct {
	// File is the new file, nil when no row was left. Its Key is named by its content, as the
	// writer names every file (the events' name); a snapshot file keeps its own name.
	File    *File
	Removed Removals
}

// Rewrite writes a Parquet file of the table in partition dt again without the rows of erased
// profiles, in the order it held them and in the archive's format (Writer, default options): the
// rows that remain make the file the writer would have made of them, so an events file rewritten
// here is the one the archive function makes of its delivered object rewritten without them. It
// reads the file a row group at a time.
func Rewrite(body []byte, t Table, dt string, erased *ErasedIDs) (Rewritten, error) {
	switch t.Name {
	case EventsTable:
		return rewrite[Event](body, t, dt, erased)
	case ProfilesTable:
		return rewrite[Profile](body, t, dt, erased)
	case IdentifiersTable:
		return rewrite[Identifier](body, t, dt, erased)
	case MergesTable:
		return rewrite[Merge](body, t, dt, erased)
	}
	return Rewritten{}, fmt.Errorf("archive: no table %q", t.Name)
}

func rewrite[T Row](body []byte, t Table, dt string, erased *ErasedIDs) (Rewritten, error) {
	out := Rewritten{Removed: Removals{}}
	r := parquet.NewGenericReader[T](bytes.NewReader(body))
	defer r.Close()
	w := NewWriter[T](t, Options{})
	rows := make([]T, 1024)
	for {
		n, err := r.Read(rows)
		kept := rows[:0]
		for _, row := range rows[:n] {
			if id, gone := t.erasedRow(reflect.ValueOf(row), erased); gone {
				out.Removed[id]++
				continue
			}
			kept = append(kept, row)
		}
		if len(kept) > 0 {
			if werr := w.Write(dt, kept...); werr != nil {
				return Rewritten{}, werr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Rewritten{}, fmt.Errorf("archive: read %s file: %w", t.Name, err)
		}
	}
	files, err := w.Flush()
	if err != nil {
		return Rewritten{}, err
	}
	if len(files) > 0 {
		out.File = &files[0]
	}
	return out, nil
}

// The archive feed's delivered objects are scrubbed line by line: a line goes when it is the row
// of an erased profile (its profileId), or when it is not a row at all (the archive function set it
// aside) and mentions an erased id. Any other line is kept as it was, so the archive function makes
// of the object what it made before, less the erased rows.

// ScrubFeed copies a feed object's lines from r to w, less those of erased profiles, and returns
// the lines removed by erasure (a line that is not a row counts for the erasure of the id it
// mentions), and how many lines it removed in all. w may be nil, to learn only whether an object
// holds such a line: it then stops at the first. A line longer than MaxFeedRecord, which is no row
// and whose text is not read, is not copied (and not counted).
func ScrubFeed(r io.Reader, w io.Writer, erased *ErasedIDs) (removed Removals, lines int, err error) {
	removed = Removals{}
	err = eachLine(r, func(_ int, line []byte, long bool) error {
		switch erasure, gone := feedLineErased(line, erased); {
		case long: // not a row, and its text was not kept: not copied
		case gone:
			removed[erasure]++
			lines++
			if w == nil {
				return errFound
			}
		case w != nil:
			_, err := w.Write(append(line, '\n'))
			return err
		}
		return nil
	})
	if errors.Is(err, errFound) {
		err = nil
	}
	if err != nil {
		return nil, lines, err
	}
	return removed, lines, nil
}

// errFound stops ScrubFeed at the first line to remove, when it only tells whether there is one.
var errFound = errors.New("found")

// feedLineErased tells whether a feed line is the row of an erased profile (and the erasure's id),
// or a line that is not a row and mentions an erased id (and that id's erasure).
func feedLineErased(line []byte, erased *ErasedIDs) (erasure string, gone bool) {
	mentioned, ok := erased.Mentioned(line)
	if !ok {
		return "", false // a row of an erased profile names it
	}
	e, err := parseFeedLine(line)
	if err != nil {
		return mentioned, true
	}
	return erased.Erasure(e.ProfileID)
}

// ErasureKeyID reads the erasure id from a key of a pending or done request, ok false for any
// other key.
func ErasureKeyID(key string) (id string, done bool, ok bool) {
	rest, isPending := strings.CutPrefix(key, ErasurePendingPrefix)
	if !isPending {
		var isDone bool
		if rest, isDone = strings.CutPrefix(key, ErasureDonePrefix); !isDone {
			return "", false, false
		}
		folder, name, found := strings.Cut(rest, "/")
		if _, err := time.Parse(doneFolder, folder); !found || err != nil {
			return "", false, false
		}
		rest, done = name, true
	}
	id, isJSON := strings.CutSuffix(rest, ".json")
	if !isJSON || !safeKeyPart(id) {
		return "", false, false
	}
	return id, done, true
}
