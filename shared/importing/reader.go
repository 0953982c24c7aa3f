package importing

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/enrich"
	"github.com/dcrm-project/dcrm/shared/source"
)

// Format is how a file's rows are written.
type Format string

// Formats of file. Either may be gzip-compressed: gzip is recognised by its magic bytes, not by
// the file's name.
const (
	CSV       Format = "csv"   // a header line of column names, then one row a record
	JSONLines Format = "jsonl" // one flat JSON object a line, its members named like columns
)

// Limits of a row, so that a file of any size is read with bounded memory and a broken one (a
// missing closing quote, a binary file) costs a rejection, not the import.
const (
	MaxRowBytes  = 64 << 10 // a CSV record or a JSON line, line breaks aside
	MaxRowFields = 512      // a CSV record's fields or a JSON line's members
	// MaxOrderRows bounds the rows of one order (its consecutive lines); later ones are rejected.
	MaxOrderRows = 10_000
)

// Spec describes an import: what the rows are and how to read them.
type Spec struct {
	Kind    Kind
	Mapping Mapping // nil: every field from its default column
	Format  Format  // "": JSON Lines when the file's first character is '{', else CSV
	// Comma separates a CSV file's fields: ',' (when 0), ';', '\t' or '|'.
	Comma rune
	// TimeLayout reads the file's times in a form other than ISO 8601, in Go's reference-time
	// notation ("1/2/2006 15:04" reads "12/1/2010 8:26"); ISO 8601 is read as well. See ParseTime.
	TimeLayout string
	// Location is the zone of times written without one (UTC when nil).
	Location *time.Location
	// Currency is the ISO 4217 code of amounts in rows that name none ("" when there is none).
	Currency string
	// Nulls are values that mean "no value" in this file besides the empty one, e.g. "NULL",
	// "(blank)", "N/A"; compared without case.
	Nulls []string
	// Source is the import's source: its id, whether it keeps raw personal data and its phone
	// country code. Imported events are trusted (server-side) whatever it says.
	Source source.Source
	// ReceivedAt is when the import began: the events' receivedAt, and what their times are
	// checked against (at most beacon.MaxFutureSkew later, at most beacon.MaxImportAge earlier).
	ReceivedAt time.Time
}

// Output is what one step of a Reader gives: exactly one of an event for the stream, a spend
// record, or a rejection, with the lines of the file it comes from. Outputs come as their rows
// are settled: an order's events once a row of another order (or the end) is read, so a later
// row's rejection may come before them.
type Output struct {
	Line, LastLine int
	Event          *beacon.Event
	Spend          *SpendRecord
	Rejected       *Rejection
}

// Rejection is a row that was not imported, and why, in words for the person who made the file.
type Rejection struct {
	Line     int    `json:"line"`
	LastLine int    `json:"lastLine"`
	Reason   string `json:"reason"`
	// Row is the row's mapped fields by field name, personal data hashed or redacted (package
	// pii); nil when the row could not be read.
	Row json.RawMessage `json:"row,omitempty"`
}

// Status is what an import did, counted by rows: Rows = Imported + Rejected + Duplicates once
// the Reader is done.
type Status struct {
	Kind   Kind   `json:"kind"`
	Format Format `json:"format"`
	Gzip   bool   `json:"gzip"`
	// Rows are the rows read: records of a CSV file after the header, non-blank lines of a JSON
	// Lines file.
	Rows       int64 `json:"rows"`
	Imported   int64 `json:"imported"`   // rows that made events or spend records
	Rejected   int64 `json:"rejected"`   // rows refused, each with a Rejection
	Duplicates int64 `json:"duplicates"` // rows whose events or records the file had given already
	Events     int64 `json:"events"`
	Spend      int64 `json:"spend"` // spend records
	// Columns are the columns read, by field (CSV: the header's; JSON Lines: the mapping's).
	Columns map[string]string `json:"columns,omitempty"`
	// UnknownColumns are the file's columns that no field reads (at most MaxUnknownColumns).
	UnknownColumns []string `json:"unknownColumns,omitempty"`
}

// MaxUnknownColumns bounds the unknown columns a status lists.
const MaxUnknownColumns = 100

// Reader reads a file's rows and turns them into outputs, one at a time.
type Reader struct {
	spec    Spec
	cols    *columns
	vr      valueReader
	nulls   map[string]bool
	csv     *csvScanner
	lines   *lineScanner
	targets [][]target // CSV: by column
	width   int        // CSV: the header's fields
	status  Status
	unknown map[string]bool

	pending []Output // outputs ready, from pending[next]
	next    int
	err     error          // the stream's, after pending
	batch   []beacon.Event // the events of pending, enriched together
	scratch row            // the row being read: rows are many, and most need nothing of it once converted
	order   *orderGroup
	first   row       // the open order's first line (one order is open at a time)
	events  recentSet // message ids given, for duplicates
	orders  recentSet // order ids closed, with their first line
	edge    *enrich.Enricher
	done    bool
}

// NewReader starts reading a file: it recognises gzip, the format and a UTF-8 byte order mark,
// reads a CSV header and checks the mapping against it. Errors match ErrSpec, except the
// stream's own.
func NewReader(r io.Reader, spec Spec) (*Reader, error) {
	if _, err := ParseKind(string(spec.Kind)); err != nil {
		return nil, err
	}
	cols, err := newColumns(spec.Kind, spec.Mapping)
	if err != nil {
		return nil, err
	}
	if spec.Currency != "" {
		v, reason := (&valueReader{}).read(&fields[fCurrency], spec.Currency)
		if reason != "" {
			return nil, fmt.Errorf("%w: the import's %s", ErrSpec, reason)
		}
		spec.Currency = v.text
	}
	if spec.Source.ID == "" {
		return nil, fmt.Errorf("%w: the import has no source (Source.ID)", ErrSpec)
	}
	if spec.ReceivedAt.IsZero() {
		return nil, fmt.Errorf("%w: the import has no time (ReceivedAt)", ErrSpec)
	}
	spec.ReceivedAt = spec.ReceivedAt.UTC()
	spec.Source.Trusted = true
	rd := &Reader{
		spec:    spec,
		cols:    cols,
		vr:      valueReader{layout: spec.TimeLayout, loc: spec.Location, callingCode: spec.Source.PhoneCountryCode},
		nulls:   map[string]bool{},
		status:  Status{Kind: spec.Kind, Columns: map[string]string{}},
		unknown: map[string]bool{},
		events:  newRecentSet(),
		orders:  newRecentSet(),
		edge:    enrich.New(noAgents{}),
	}
	for _, n := range spec.Nulls {
		rd.nulls[strings.ToLower(strings.TrimSpace(n))] = true
	}

	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: read gzip: %v", ErrSpec, err)
		}
		rd.status.Gzip = true
		br = bufio.NewReaderSize(gz, 64<<10)
	}
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	format := spec.Format
	if format == "" {
		format = CSV
		if first := firstNonSpace(br); first == '{' {
			format = JSONLines
		}
	}
	rd.status.Format = format
	switch format {
	case CSV:
		comma := spec.Comma
		if comma == 0 {
			comma = ','
		}
		if !strings.ContainsRune(",;\t|", comma) {
			return nil, fmt.Errorf("%w: a CSV file's fields are separated by , ; tab or |, not %q", ErrSpec, comma)
		}
		rd.csv = newCSVScanner(br, byte(comma), MaxRowBytes, MaxRowFields)
		if err := rd.readHeader(); err != nil {
			return nil, err
		}
	case JSONLines:
		rd.lines = &lineScanner{br: br, maxBytes: MaxRowBytes}
		for id, col := range cols.fieldColumn {
			if col != "" {
				rd.status.Columns[fields[id].Name] = col
			}
		}
		for i, name := range cols.custom {
			rd.status.Columns[spec.Kind.CustomPrefix()+name] = cols.customColumn[i]
		}
	default:
		return nil, fmt.Errorf("%w: unknown format %q (csv or jsonl)", ErrSpec, short(string(format)))
	}
	return rd, nil
}

// firstNonSpace peeks at the first byte of the stream that is not white space.
func firstNonSpace(br *bufio.Reader) byte {
	for n := 1; n <= 4096; n *= 2 {
		b, err := br.Peek(n)
		for _, c := range b {
			if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				return c
			}
		}
		if err != nil {
			return 0
		}
	}
	return 0
}

func (rd *Reader) readHeader() error {
	rec, err := rd.csv.next()
	if err == io.EOF {
		return fmt.Errorf("%w: the file is empty: a CSV file starts with a header line of column names", ErrSpec)
	}
	if err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	if rec.problem != "" {
		return fmt.Errorf("%w: header (line %d): %s", ErrSpec, rec.line, rec.problem)
	}
	targets, unknown, err := rd.cols.header(rec.fields)
	if err != nil {
		return err
	}
	rd.targets, rd.width = targets, len(rec.fields)
	for _, n := range unknown {
		rd.noteUnknown(n)
	}
	present := map[fieldID]bool{}
	for i, ts := range targets {
		for _, t := range ts {
			if t.custom < 0 {
				present[t.field] = true
				rd.status.Columns[fields[t.field].Name] = strings.TrimSpace(rec.fields[i])
			} else {
				rd.status.Columns[rd.spec.Kind.CustomPrefix()+rd.cols.custom[t.custom]] = strings.TrimSpace(rec.fields[i])
			}
		}
	}
	for _, u := range kindFields[rd.spec.Kind] {
		if u.required && !present[u.id] {
			return fmt.Errorf("%w: %s needs the field %s, and no column holds it (%s; map one with %s=Column)", ErrSpec, rd.spec.Kind, fields[u.id].Name, headerList(rec.fields), fields[u.id].Name)
		}
	}
	if rd.spec.Kind.isPerson() && !present[fUserID] && !present[fAnonymousID] && !present[fEmail] && !present[fPhone] {
		return fmt.Errorf("%w: %s needs a column of userId, anonymousId, email or phone (%s)", ErrSpec, rd.spec.Kind, headerList(rec.fields))
	}
	return nil
}

func (rd *Reader) noteUnknown(name string) {
	name = short(strings.TrimSpace(name))
	if name == "" || rd.unknown[name] || len(rd.unknown) >= MaxUnknownColumns {
		return
	}
	rd.unknown[name] = true
	rd.status.UnknownColumns = append(rd.status.UnknownColumns, name)
}

// Status is what the import did so far.
func (rd *Reader) Status() Status {
	s := rd.status
	s.UnknownColumns = slices.Clone(s.UnknownColumns)
	return s
}

// Next returns the next output; io.EOF when the file is done. Another error means the file
// cannot be read further (the stream broke, a gzip member is corrupt): what came before it
// stands.
func (rd *Reader) Next() (Output, error) {
	if rd.next == len(rd.pending) {
		rd.refill()
	}
	if rd.next == len(rd.pending) {
		if rd.err != nil {
			return Output{}, rd.err
		}
		return Output{}, io.EOF
	}
	out := rd.pending[rd.next]
	rd.pending[rd.next] = Output{}
	rd.next++
	return out, nil
}

// batchOutputs is how many outputs Next prepares at once: enrichment remembers what it worked out
// (hashes, pages) within one call of many events.
const batchOutputs = 64

// refill reads rows until a batch of outputs is ready, and enriches its events together.
func (rd *Reader) refill() {
	rd.pending, rd.next = rd.pending[:0], 0
	if cap(rd.pending) > 4*batchOutputs {
		rd.pending = nil // an order's many rejections made it large: let it go
	}
	for !rd.done && rd.err == nil && len(rd.pending) < batchOutputs {
		if err := rd.step(); err != nil {
			rd.err = err
		}
	}
	evs := rd.batch[:0]
	for _, o := range rd.pending {
		if o.Event != nil {
			evs = append(evs, *o.Event)
		}
	}
	if len(evs) == 0 {
		return
	}
	rd.edge.Events(evs, enricher(rd.spec))
	i := 0
	for _, o := range rd.pending {
		if o.Event != nil {
			*o.Event = evs[i]
			i++
		}
	}
	clear(evs)
	rd.batch = evs[:0]
}

// step reads one row and converts it, queueing what it gives.
func (rd *Reader) step() error {
	r, err := rd.readRow()
	if err == io.EOF {
		rd.closeOrder()
		rd.done = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("read line %d: %w", r.line, err)
	}
	rd.status.Rows++
	if r.problem != "" {
		rd.reject(r, r.problem)
		return nil
	}
	rd.convert(r)
	return nil
}

// row is one row of the file, its values read by field. The Reader reuses it for the next row:
// keep a clone.
type row struct {
	line, lastLine int
	problem        string // why the row cannot be read, or ""
	raw            [numFields]string
	has            [numFields]bool // a column of the row feeds the field
	v              [numFields]value
	customRaw      []string
	custom         []value
}

// copyTo copies the fields of kind k of r into c, reusing c's slices. (A row is large: only
// the kind's fields are copied or cleared, and the others stay zero.)
func (r *row) copyTo(c *row, k Kind) {
	c.line, c.lastLine, c.problem = r.line, r.lastLine, r.problem
	for _, u := range kindFields[k] {
		c.raw[u.id], c.has[u.id], c.v[u.id] = r.raw[u.id], r.has[u.id], r.v[u.id]
	}
	c.customRaw, c.custom = append(c.customRaw[:0], r.customRaw...), append(c.custom[:0], r.custom...)
}

func (rd *Reader) readRow() (*row, error) {
	r := &rd.scratch
	r.line, r.lastLine, r.problem = 0, 0, ""
	for _, u := range kindFields[rd.spec.Kind] {
		r.raw[u.id], r.has[u.id], r.v[u.id] = "", false, value{}
	}
	if rd.csv != nil {
		rec, err := rd.csv.next()
		r.line, r.lastLine = rec.line, rec.lastLine
		if err != nil {
			return r, err
		}
		if rec.problem != "" {
			r.problem = rec.problem
			return r, nil
		}
		if len(rec.fields) != rd.width {
			r.problem = fmt.Sprintf("the row has %d fields, the header %d", len(rec.fields), rd.width)
			return r, nil
		}
		rd.fill(r, func(yield func([]target, string) bool) {
			for i, cell := range rec.fields {
				if !yield(rd.targets[i], cell) {
					return
				}
			}
		})
		return r, nil
	}
	line, n, tooLong, err := rd.lines.next()
	r.line, r.lastLine = n, n
	if err != nil {
		return r, err
	}
	if tooLong {
		r.problem = fmt.Sprintf("the row is longer than %d bytes", MaxRowBytes)
		return r, nil
	}
	members, problem := readJSONRow(line, MaxRowFields)
	if problem != "" {
		r.problem = problem
		return r, nil
	}
	rd.fill(r, func(yield func([]target, string) bool) {
		for _, m := range members {
			ts, ok := rd.cols.byName[fold(m.name)]
			if !ok {
				rd.noteUnknown(m.name)
				continue
			}
			if !yield(ts, m.value) {
				return
			}
		}
	})
	return r, nil
}

// fill reads a row's cells into its fields and checks each value.
func (rd *Reader) fill(r *row, cells func(func([]target, string) bool)) {
	n := len(rd.cols.custom)
	r.customRaw, r.custom = slices.Grow(r.customRaw[:0], n)[:n], slices.Grow(r.custom[:0], n)[:n]
	clear(r.customRaw)
	clear(r.custom)
	for ts, cell := range cells {
		if len(rd.nulls) > 0 && rd.nulls[strings.ToLower(strings.TrimSpace(cell))] {
			cell = ""
		}
		for _, t := range ts {
			if t.custom >= 0 {
				r.customRaw[t.custom] = cell
			} else {
				r.raw[t.field], r.has[t.field] = cell, true
			}
		}
	}
	for _, u := range kindFields[rd.spec.Kind] {
		v, reason := rd.vr.read(&fields[u.id], r.raw[u.id])
		if reason != "" {
			r.problem = reason
			return
		}
		if u.required && !v.set {
			r.problem = rd.missing(u.id)
			return
		}
		r.v[u.id] = v
	}
	custom := Field{Type: String, MaxLength: maxStringBytes}
	for i, raw := range r.customRaw {
		custom.Name = rd.spec.Kind.CustomPrefix() + rd.cols.custom[i]
		v, reason := rd.vr.read(&custom, raw)
		if reason != "" {
			r.problem = reason
			return
		}
		r.custom[i] = v
	}
	if rd.spec.Kind.isPerson() && !r.v[fUserID].set && !r.v[fAnonymousID].set && !r.v[fEmail].set && !r.v[fPhone].set {
		r.problem = "the row names no one: it needs a userId, anonymousId, email or phone"
	}
}

func (rd *Reader) missing(id fieldID) string {
	name := fields[id].Name
	if col := rd.cols.fieldColumn[id]; col != "" && col != name {
		return fmt.Sprintf("%s is missing (column %s is empty)", name, short(col))
	}
	return name + " is missing"
}

// reject queues a row's rejection.
func (rd *Reader) reject(r *row, reason string) {
	rd.status.Rejected++
	rd.pending = append(rd.pending, Output{Line: r.line, LastLine: r.lastLine,
		Rejected: &Rejection{Line: r.line, LastLine: r.lastLine, Reason: reason, Row: rd.redactedRow(r)}})
}

// rejectLines queues the rejection of rows of which only the lines are known.
func (rd *Reader) rejectLines(lines []int, reason string) {
	for _, l := range lines {
		rd.status.Rejected++
		rd.pending = append(rd.pending, Output{Line: l, LastLine: l, Rejected: &Rejection{Line: l, LastLine: l, Reason: reason}})
	}
}

// noAgents reads no user agent: an imported event has none.
type noAgents struct{}

func (noAgents) Parse(string) enrich.Agent { return enrich.Agent{} }

// recentSet remembers keys in two generations of at most recentMax each: a file of any size
// costs bounded memory, and the latest recentMax keys at least are always remembered. (The
// recording engine de-duplicates by messageId in any case: this set only counts a file's own
// duplicates and finds an order's lines apart.)
type recentSet struct{ cur, old map[uint64]uint32 }

const recentMax = 1 << 18 // a full set (two generations) holds about 18 MB

func newRecentSet() recentSet { return recentSet{cur: map[uint64]uint32{}} }

func (s *recentSet) get(k uint64) (uint32, bool) {
	if v, ok := s.cur[k]; ok {
		return v, true
	}
	v, ok := s.old[k]
	return v, ok
}

func (s *recentSet) put(k uint64, v uint32) {
	if len(s.cur) >= recentMax {
		s.old, s.cur = s.cur, map[uint64]uint32{}
	}
	s.cur[k] = v
}
