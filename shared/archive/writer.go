package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// Row is a row type of the archive's tables.
type Row interface {
	Event | Profile | Identifier | Merge
}

// Options tune a Writer. The zero value is the archive's format.
type Options struct {
	// RowGroupRows is the most rows a row group holds (DefaultRowGroupRows when 0). Pages are
	// compressed as they fill, so the row group bounds the footer's statistics and what a reader
	// skips at a time more than the writer's memory (see PageBytes).
	RowGroupRows int
	// Codec compresses every column (Zstd when nil). Readers take any codec the file names.
	Codec compress.Codec
	// PageBytes is the buffer of each column's page before it is compressed (DefaultPageBytes
	// when 0): per open file, the writer holds about one page per column, some 45 for events.
	PageBytes int
}

// DefaultPageBytes trades memory for compression: larger pages compress better (zstd finds more
// repeats in a page), each open file holds one page per column. At 128 KiB with Zstd's level the
// replayed events take as little room as at parquet-go's 256 KiB with zstd's default level
// (README.md, File sizes).
const DefaultPageBytes = 128 << 10

// DefaultRowGroupRows bounds a row group at 16,384 rows: large enough for Athena and DuckDB to
// read a column in few requests, small enough that row groups of a day's file can be skipped by
// their statistics (time, channel, type).
const DefaultRowGroupRows = 16384

// Codecs readers of the archive must take. Zstd (at its "better compression" level) is the
// writer's: on the replayed public event sets its files are 43% smaller than Snappy's and 8%
// smaller than Gzip's (README.md), and Athena bills the bytes it scans and S3 the bytes it
// stores. Snappy and Gzip are what Data Firehose's record-format conversion writes, should it
// write the archive: the files stay the same tables.
var (
	Zstd   compress.Codec = &zstd.Codec{Level: zstd.SpeedBetterCompression}
	Snappy compress.Codec = &parquet.Snappy
	Gzip   compress.Codec = &parquet.Gzip
)

// File is one finished Parquet file of a table's partition.
type File struct {
	Key  string // the object key under the bucket's root: events/dt=2026-12-07/part-<hash>.parquet
	Body []byte
	Rows int
}

// Writer writes rows of one table into one Parquet file per partition, until Flush hands the
// files over. Files are named after the hash of their content, so writing the same rows again
// (a retried batch) makes the same key, which overwrites rather than duplicates. A Writer is not
// safe for concurrent use.
type Writer[T Row] struct {
	table Table
	opts  Options
	open  map[string]*partFile[T] // by partition date
}

type partFile[T Row] struct {
	buf  bytes.Buffer
	w    *parquet.GenericWriter[T]
	rows int
}

// NewWriter returns a writer of the table's rows; the table must be the one of T.
func NewWriter[T Row](t Table, opts Options) *Writer[T] {
	if row := reflect.TypeFor[T](); t.row != row {
		panic(fmt.Sprintf("archive: table %s does not hold %s rows", t.Name, row))
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = DefaultRowGroupRows
	}
	if opts.PageBytes <= 0 {
		opts.PageBytes = DefaultPageBytes
	}
	if opts.Codec == nil {
		opts.Codec = Zstd
	}
	return &Writer[T]{table: t, opts: opts, open: map[string]*partFile[T]{}}
}

// ErrDate is returned for a partition date that is not YYYY-MM-DD.
var ErrDate = errors.New("archive: partition date must be YYYY-MM-DD")

// Write adds rows to the file of partition dt (YYYY-MM-DD).
func (w *Writer[T]) Write(dt string, rows ...T) error {
	if !validDate(dt) {
		return fmt.Errorf("%w: %q", ErrDate, dt)
	}
	p := w.open[dt]
	if p == nil {
		p = &partFile[T]{}
		options := []parquet.WriterOption{
			parquet.Compression(w.opts.Codec),
			parquet.MaxRowsPerRowGroup(int64(w.opts.RowGroupRows)),
			parquet.PageBufferSize(w.opts.PageBytes),
			parquet.CreatedBy("dcrm", "archive", "1"), // fixed, so that equal rows make equal files
		}
		for _, c := range w.table.Columns {
			if c.JSON {
				// The lowest and highest JSON text of a page prunes nothing and would copy whole
				// documents into the footer.
				options = append(options, parquet.SkipPageBounds(c.Name))
			}
		}
		p.w = parquet.NewGenericWriter[T](&p.buf, options...)
		w.open[dt] = p
	}
	n, err := p.w.Write(rows)
	p.rows += n
	if err != nil {
		return fmt.Errorf("archive: write %s rows: %w", w.table.Name, err)
	}
	return nil
}

// WriteEvents adds events, each to the partition of its date.
func WriteEvents(w *Writer[Event], rows []Event) error {
	for _, r := range rows {
		if err := w.Write(r.Date(), r); err != nil {
			return err
		}
	}
	return nil
}

// Rows is how many rows the open files hold.
func (w *Writer[T]) Rows() int {
	n := 0
	for _, p := range w.open {
		n += p.rows
	}
	return n
}

// Flush finishes the open files, one per partition written since the last Flush, and returns
// them sorted by key. The writer is then empty.
func (w *Writer[T]) Flush() ([]File, error) {
	files := make([]File, 0, len(w.open))
	for dt, p := range w.open {
		if err := p.w.Close(); err != nil {
			return nil, fmt.Errorf("archive: finish %s file of %s: %w", w.table.Name, dt, err)
		}
		sum := sha256.Sum256(p.buf.Bytes())
		files = append(files, File{Key: w.table.Key(dt, "part-"+hex.EncodeToString(sum[:16])), Body: p.buf.Bytes(), Rows: p.rows})
	}
	clear(w.open)
	sort.Slice(files, func(i, j int) bool { return files[i].Key < files[j].Key })
	return files, nil
}
