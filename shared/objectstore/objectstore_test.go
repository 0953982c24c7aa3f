package objectstore

import "testing"

func TestContentType(t *testing.T) {
	for key, want := range map[string]string{
		"events/dt=2026-12-07/part-1.parquet": "application/vnd.apache.parquet",
		"erasures/pending/prf_1.json":         "application/json",
		"incoming/2026/12/07/10/feed-1.gz":    "application/gzip",
		"spend/ads.csv.jsonl":                 "application/octet-stream",
	} {
		if got := ContentType(key); got != want {
			t.Errorf("%s: %s, want %s", key, got, want)
		}
	}
}
