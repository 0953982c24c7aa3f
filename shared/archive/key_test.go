package archive

import (
	"path"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	for key, want := range map[string]string{
		"events/dt=2026-12-07/part-ab.parquet":     "events 2026-12-07 part-ab.parquet",
		"merges/dt=2026-01-31/x.parquet":           "merges 2026-01-31 x.parquet",
		"events/dt=2026-12-07/sub/part.parquet":    "",
		"events/dt=2026-13-07/part.parquet":        "",
		"events/dt=../part.parquet":                "",
		"events/dt=2026-12-07/.parquet":            "",
		"events/dt=2026-12-07/..parquet":           "",
		"events/dt=2026-12-07/part.json":           "",
		"events/day=2026-12-07/part.parquet":       "",
		"other/dt=2026-12-07/part.parquet":         "",
		"events/dt=2026-12-07/..\\x.parquet":       "",
		"identifiers/dt=2026-12-07/part-1.parquet": "identifiers 2026-12-07 part-1.parquet",
	} {
		tb, dt, name, ok := ParseKey(key)
		got := ""
		if ok {
			got = tb.Name + " " + dt + " " + name
		}
		if got != want {
			t.Errorf("ParseKey(%q) = %q, want %q", key, got, want)
		}
	}
}

// FuzzParseKey: a key taken is exactly the table's layout, so that joining it under a folder
// never leaves the folder, and Key makes the same key back.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"events/dt=2026-12-07/part-ab.parquet", "profiles/dt=2026-02-29/a.parquet", "events/dt=2026-12-07/../../x.parquet"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		tb, dt, name, ok := ParseKey(key)
		if !ok {
			return
		}
		if tb.Key(dt, strings.TrimSuffix(name, ".parquet")) != key {
			t.Errorf("%q: Key gives %q", key, tb.Key(dt, name))
		}
		if clean := path.Clean("/root/" + key); clean != "/root/"+key || strings.Contains(name, "/") || strings.Contains(name, "\\") {
			t.Errorf("%q leaves its folder (%s)", key, clean)
		}
	})
}
