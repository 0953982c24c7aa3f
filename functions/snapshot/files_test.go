package main

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/archive"
)

// A part's files are named by segment, total and number; the archive (and so dcrm sql's local
// copy) takes the names as files of the table's partition.
func TestPartNames(t *testing.T) {
	t.Parallel()
	require.Equal(t, "part-00003-of-00050-0000", partName(3, 50, 0))
	require.Equal(t, "part-00999-of-01000-12345", partName(999, 1000, 12345))
	for _, tc := range [][3]int{{0, 1, 0}, {3, 50, 7}, {999, 1000, 9999}, {0, 1, 10000}} {
		name := partName(tc[0], tc[1], tc[2]) + ".parquet"
		s, tot, n, ok := parsePartName(name)
		require.True(t, ok, name)
		require.Equal(t, tc, [3]int{s, tot, n})
		for _, tb := range snapshotTables {
			key := tb.Key("2026-12-07", partName(tc[0], tc[1], tc[2]))
			require.Equal(t, tb.Prefix+"dt=2026-12-07/"+name, key)
			got, dt, file, ok := archive.ParseKey(key)
			require.True(t, ok, key)
			require.Equal(t, [3]string{tb.Name, "2026-12-07", name}, [3]string{got.Name, dt, file})
			require.True(t, strings.HasPrefix(key, partition(tb, "2026-12-07")+partPrefix(tc[0], tc[1])))
		}
	}
	for _, name := range []string{
		"part-3-of-50-0.parquet", "part-00003-of-00050-0000", "part-00050-of-00050-0000.parquet", "part-00003-of-00050.parquet",
		"part-00003-to-00050-0000.parquet", "part-0123456789abcdef0123456789abcdef.parquet", "part--0001-of-00050-0000.parquet",
		"part-00003-of-00050-0000-x.parquet", "part-+0003-of-00050-0000.parquet",
	} {
		_, _, _, ok := parsePartName(name)
		require.False(t, ok, name)
	}
}

// FuzzPartName: a name parsePartName takes is the name partName makes of what it read, and a key
// of it stays in its partition's folder.
func FuzzPartName(f *testing.F) {
	f.Add("part-00003-of-00050-0000.parquet")
	f.Add("part-00003-of-00050-0000/../x.parquet")
	f.Fuzz(func(t *testing.T, name string) {
		s, tot, n, ok := parsePartName(name)
		if !ok {
			return
		}
		if partName(s, tot, n)+".parquet" != name || s >= tot {
			t.Fatalf("%q read as %d, %d, %d", name, s, tot, n)
		}
		key := partition(profilesTable, "2026-12-07") + name
		if path.Clean(key) != key || path.Dir(key)+"/" != partition(profilesTable, "2026-12-07") {
			t.Fatalf("%q leaves its folder", key)
		}
	})
}

// A sink puts a file each flushRows rows, numbered from 0, and the rest at the end; every file
// reads back as the table's rows.
func TestSinkPutsAFileEachFlushRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	put := map[string][]byte{}
	s := newSink[archive.Merge](mergesTable, "2026-12-07", 2, 4, 3, func(_ context.Context, key string, body []byte) error {
		put[key] = body
		return nil
	})
	var want []archive.Merge
	for i := range 7 {
		m := archive.Merge{MergedID: fmt.Sprintf("prf_%d", i), ProfileID: "prf_live"}
		want = append(want, m)
		require.NoError(t, s.add(ctx, m))
	}
	require.NoError(t, s.add(ctx))
	require.Len(t, put, 2, "two full files so far")
	require.NoError(t, s.flush(ctx))
	require.NoError(t, s.flush(ctx), "nothing left: no file")
	tb, files, rows := s.written()
	require.Equal(t, archive.MergesTable, tb.Name)
	require.Equal(t, 3, files)
	require.Equal(t, int64(7), rows)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range put {
			if !yield(k) {
				return
			}
		}
	})
	require.Equal(t, []string{
		"merges/dt=2026-12-07/part-00002-of-00004-0000.parquet",
		"merges/dt=2026-12-07/part-00002-of-00004-0001.parquet",
		"merges/dt=2026-12-07/part-00002-of-00004-0002.parquet",
	}, keys)
	var got []archive.Merge
	for _, k := range keys {
		back, err := parquet.Read[archive.Merge](bytes.NewReader(put[k]), int64(len(put[k])))
		require.NoError(t, err)
		got = append(got, back...)
	}
	require.Equal(t, want, got)

	failing := newSink[archive.Merge](mergesTable, "2026-12-07", 0, 1, 1, func(context.Context, string, []byte) error { return fmt.Errorf("slow down") })
	require.ErrorContains(t, failing.add(ctx, want[0]), "put merges/dt=2026-12-07/part-00000-of-00001-0000.parquet: slow down")
}
