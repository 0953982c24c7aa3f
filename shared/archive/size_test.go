package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/datasets"
	"github.com/dcrm-project/dcrm/shared/enrich"
	"github.com/dcrm-project/dcrm/shared/source"
	"github.com/dcrm-project/dcrm/shared/useragent"
)

// replayedEvents are the public Snowplow sets as collect puts them on the stream: the Segment
// calls scripts/replay makes of them (its -write-calls), decoded, validated and enriched as by
// the endpoint for a trusted source.
func replayedEvents(t *testing.T) []beacon.Event {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	sets := datasets.Path("events")
	if _, err := os.Stat(sets); err != nil {
		t.Skipf("the public event sets are not at %s", sets)
	}
	dir := t.TempDir()
	var calls []json.RawMessage
	for name, args := range map[string][]string{
		"web":       {"-file", filepath.Join(sets, "snowplow_web", "snowplow_web_events.csv")},
		"ecommerce": {"-ecommerce", filepath.Join(sets, "snowplow_ecommerce")},
	} {
		path := filepath.Join(dir, name+".jsonl")
		cmd := exec.Command("go", append([]string{"run", "./scripts/replay", "-write-calls", path}, args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("replay %s: %v\n%s", name, err, out)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			calls = append(calls, json.RawMessage(bytes.Clone(sc.Bytes())))
		}
		f.Close()
	}
	src := source.Source{ID: "src_replay", Trusted: true}
	edge := enrich.New(useragent.New(0))
	received := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var events []beacon.Event
	for i := 0; i < len(calls); i += 100 {
		batch := calls[i:min(i+100, len(calls))]
		body, _ := json.Marshal(map[string]any{"batch": batch})
		p, err := beacon.Decode(beacon.Batch, body)
		if err != nil {
			t.Fatal(err)
		}
		evs, rejected := p.Split(src, received, beacon.NewMessageID)
		if len(rejected) > 0 {
			t.Fatalf("refused: %v", rejected[0].Reason())
		}
		edge.Events(evs, enrich.Request{Source: src, SourceIP: "198.51.100.23"})
		events = append(events, evs...)
	}
	return events
}

// columnBytes is what a reader of these columns fetches from a file: their compressed chunks.
func columnBytes(t *testing.T, body []byte, columns ...string) int64 {
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if slices.Contains(columns, c.MetaData.PathInSchema[0]) {
				n += c.MetaData.TotalCompressedSize
			}
		}
	}
	return n
}

// TestBytesPerEvent measures what an event costs in the archive on the replayed public sets, in
// Parquet with each codec, against the stream's JSON (plain and gzipped, as Firehose would write
// JSON). `go test -run TestBytesPerEvent -v ./shared/archive` prints the table README.md quotes.
func TestBytesPerEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs scripts/replay")
	}
	events := replayedEvents(t)
	var jsonl bytes.Buffer
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		jsonl.Write(append(b, '\n'))
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(jsonl.Bytes())
	zw.Close()

	rows := make([]Event, len(events))
	for i, e := range events {
		rows[i] = FromEvent(e, "p-"+e.Visitor())
	}
	n := float64(len(rows))
	// The archive feed: what stitch puts to Firehose (billed by the byte, in 5 KB steps per
	// record) and what Firehose writes, gzipped, for the archive function.
	records, _, err := FeedRecords(rows)
	if err != nil {
		t.Fatal(err)
	}
	feed := bytes.Join(records, nil)
	var feedGz bytes.Buffer
	zw = gzip.NewWriter(&feedGz)
	zw.Write(feed)
	zw.Close()
	var report strings.Builder
	fmt.Fprintf(&report, "%d events\n| format | files | bytes | bytes per event |\n|---|---|---|---|\n", len(rows))
	fmt.Fprintf(&report, "| JSON Lines (the stream's events) | 1 | %d | %.0f |\n", jsonl.Len(), float64(jsonl.Len())/n)
	fmt.Fprintf(&report, "| JSON Lines, gzip | 1 | %d | %.0f |\n", gz.Len(), float64(gz.Len())/n)
	fmt.Fprintf(&report, "| the archive feed's lines (%d records) | 1 | %d | %.0f |\n", len(records), len(feed), float64(len(feed))/n)
	fmt.Fprintf(&report, "| the archive feed's lines, gzip (a delivered object) | 1 | %d | %.0f |\n", feedGz.Len(), float64(feedGz.Len())/n)
	sizes := map[string]int{}
	var zstdFile []byte
	for _, c := range []struct {
		name  string
		codec compress.Codec
	}{{"zstd", Zstd}, {"snappy", Snappy}, {"gzip", Gzip}} {
		for _, layout := range []string{"one file", "by dt"} {
			w := NewWriter[Event](Tables[0], Options{Codec: c.codec})
			var err error
			if layout == "by dt" {
				err = WriteEvents(w, rows)
			} else {
				err = w.Write("2026-12-07", rows...)
			}
			if err != nil {
				t.Fatal(err)
			}
			files, err := w.Flush()
			if err != nil {
				t.Fatal(err)
			}
			size, read := 0, 0
			for _, f := range files {
				size += len(f.Body)
				back, err := parquet.Read[Event](bytes.NewReader(f.Body), int64(len(f.Body)))
				if err != nil {
					t.Fatal(err)
				}
				read += len(back)
			}
			if read != len(rows) {
				t.Errorf("%s %s: %d rows read back of %d", c.name, layout, read, len(rows))
			}
			sizes[c.name+" "+layout] = size
			if c.name == "zstd" && layout == "one file" {
				zstdFile = files[0].Body
			}
			fmt.Fprintf(&report, "| Parquet %s, %s | %d | %d | %.0f |\n", c.name, layout, len(files), size, float64(size)/n)
		}
	}
	// What the saved queries read of the zstd file (Athena bills the columns a query names), and
	// what the daily erasure pass reads of every file of the archive.
	fmt.Fprintf(&report, "\n| saved query, or reader | columns read | bytes per event | of the file |\n|---|---|---|---|\n")
	var scanned int64
	for _, q := range []struct {
		name    string
		columns []string
	}{
		{"events_per_channel_per_day", []string{"channel", "messageId", "anonymousId", "isBot"}},
		{"funnel", []string{"type", "event", "profileId", "timestamp", "isBot"}},
		{"orders_online_vs_offline", []string{"type", "event", "properties", "messageId"}},
		{"the erasure pass (functions/archive)", []string{"profileId"}},
	} {
		n := columnBytes(t, zstdFile, q.columns...)
		if q.name == "funnel" {
			scanned = n
		}
		fmt.Fprintf(&report, "| %s | %s | %.1f | %.0f%% |\n", q.name, strings.Join(q.columns, ", "), float64(n)/float64(len(rows)), 100*float64(n)/float64(len(zstdFile)))
	}
	t.Log("\n" + report.String())
	if float64(sizes["zstd one file"]) > 1.5*float64(gz.Len()) {
		t.Errorf("zstd Parquet (%d bytes) is over 1.5 times gzipped JSON (%d bytes)", sizes["zstd one file"], gz.Len())
	}
	if scanned*4 > int64(sizes["zstd one file"]) {
		t.Errorf("the funnel's columns are %d of %d bytes: a query would scan most of the file", scanned, sizes["zstd one file"])
	}
	if sizes["zstd one file"] > sizes["snappy one file"] {
		t.Errorf("zstd (%d) is larger than snappy (%d): the codec choice no longer holds", sizes["zstd one file"], sizes["snappy one file"])
	}
}
