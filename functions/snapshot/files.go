package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/dcrm-project/dcrm/shared/archive"
)

// Files.
//
// Each part writes, for each table, the files of its scan segment into the snapshot day's
// partition, named by the segment, the scan's total segments and the file's number in the part:
//
//	profiles/dt=2026-12-07/part-00003-of-00050-0000.parquet
//
// rather than by their content (as the events' files are), so that a part run again (Lambda
// retries it, or the run is repeated that day) writes the same keys over the first attempt's, and
// then deletes its files numbered past the last it wrote now (fewer rows, fewer files). A run of
// another number of segments names every file otherwise: the run's planner deletes the day's files
// of any other total before it sends the parts, so a partition only ever holds one run's files.

// objects is the archive bucket, as the snapshot writes it.
type objects interface {
	Put(ctx context.Context, key string, body []byte) error
	// List returns the keys that start with prefix.
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, key string) error
}

// partName is the name, without the extension, of file n (from 0) of scan segment segment of total.
func partName(segment, total, n int) string {
	return partPrefix(segment, total) + fmt.Sprintf("%04d", n)
}

// partPrefix is how the names of a scan segment's files start.
func partPrefix(segment, total int) string { return fmt.Sprintf("part-%05d-of-%05d-", segment, total) }

// parsePartName reads a file name (with its extension) that partName made; ok is false for any
// other name.
func parsePartName(name string) (segment, total, n int, ok bool) {
	fields := strings.Split(strings.TrimSuffix(name, ".parquet"), "-")
	if len(fields) != 5 || fields[0] != "part" || fields[2] != "of" {
		return 0, 0, 0, false
	}
	var nums [3]int
	for i, f := range []string{fields[1], fields[3], fields[4]} {
		v, err := strconv.Atoi(f)
		if err != nil || v < 0 {
			return 0, 0, 0, false
		}
		nums[i] = v
	}
	segment, total, n = nums[0], nums[1], nums[2]
	return segment, total, n, partName(segment, total, n)+".parquet" == name && segment < total
}

// partition is the folder of a table's partition of day dt, ending in "/".
func partition(t archive.Table, dt string) string {
	return t.Prefix + t.Partition.Name + "=" + dt + "/"
}

// sink writes a table's rows of one scan segment into files of at most flushRows rows, each put to
// the bucket as soon as it is full: a part holds one unfinished file per table at a time.
type sink[T archive.Row] struct {
	table          archive.Table
	w              *archive.Writer[T]
	dt             string
	segment, total int
	flushRows      int
	put            func(ctx context.Context, key string, body []byte) error
	files          int   // files put
	rows           int64 // rows in them
}

func newSink[T archive.Row](t archive.Table, dt string, segment, total, flushRows int, put func(context.Context, string, []byte) error) *sink[T] {
	return &sink[T]{table: t, w: archive.NewWriter[T](t, archive.Options{}), dt: dt, segment: segment, total: total,
		flushRows: max(flushRows, 1), put: put}
}

// add writes rows, and puts the file when it holds flushRows rows or more.
func (s *sink[T]) add(ctx context.Context, rows ...T) error {
	if len(rows) == 0 {
		return nil
	}
	if err := s.w.Write(s.dt, rows...); err != nil {
		return err
	}
	if s.w.Rows() >= s.flushRows {
		return s.flush(ctx)
	}
	return nil
}

// flush puts the unfinished file, if it holds a row.
func (s *sink[T]) flush(ctx context.Context) error {
	files, err := s.w.Flush()
	if err != nil {
		return err
	}
	for _, f := range files { // one: the sink writes one partition
		key := s.table.Key(s.dt, partName(s.segment, s.total, s.files))
		if err := s.put(ctx, key, f.Body); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		s.files++
		s.rows += int64(f.Rows)
	}
	return nil
}

// written is what the sink put: its table, files and rows.
func (s *sink[T]) written() (archive.Table, int, int64) { return s.table, s.files, s.rows }

// finisher is a sink of any table.
type finisher interface {
	flush(ctx context.Context) error
	written() (t archive.Table, files int, rows int64)
}
