package archive

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll reads a feed object, returning its rows and its bad lines' numbers.
func readAll(t *testing.T, body []byte) ([]Event, []int) {
	t.Helper()
	var rows []Event
	var bad []int
	require.NoError(t, ReadFeed(bytes.NewReader(body), func(e Event) error { rows = append(rows, e); return nil },
		func(line int, _ []byte, err error) { assert.ErrorIs(t, err, ErrBadLine); bad = append(bad, line) }))
	return rows, bad
}

func TestFeedRoundTrip(t *testing.T) {
	full := FromEvent(fullEvent(), "p-1")
	sparse := Event{Type: "page", MessageID: "m-2", Timestamp: time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC),
		ReceivedAt: time.Date(2026, 12, 7, 1, 2, 4, 0, time.UTC), SourceID: "s"}
	records, first, err := FeedRecords([]Event{full, sparse})
	require.NoError(t, err)
	require.Len(t, records, 1)
	assert.Equal(t, []int{0}, first)
	assert.Equal(t, 2, bytes.Count(records[0], []byte("\n")), "one line per row, each ended")
	assert.NotContains(t, string(records[0]), `"userId":""`, "an absent value is left out")

	rows, bad := readAll(t, records[0])
	assert.Empty(t, bad)
	require.Len(t, rows, 2)
	assert.Equal(t, full, rows[0])
	assert.Equal(t, sparse, rows[1])
}

func TestFeedRecordsPackWholeLines(t *testing.T) {
	big := strings.Repeat("x", 300<<10) // three rows fit a record, a fourth does not
	var rows []Event
	for i := range 7 {
		rows = append(rows, Event{Type: "track", Event: "E", MessageID: fmt.Sprint("m-", i), Properties: `{"p":"` + big + `"}`,
			Timestamp: time.Date(2026, 12, 7, 0, 0, i, 0, time.UTC)})
	}
	records, first, err := FeedRecords(rows)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 3, 6}, first)
	var all []byte
	for _, r := range records {
		assert.LessOrEqual(t, len(r), MaxFeedRecord)
		assert.Equal(t, byte('\n'), r[len(r)-1], "a record ends with its last line")
		all = append(all, r...)
	}
	back, bad := readAll(t, all)
	assert.Empty(t, bad)
	assert.Equal(t, rows, back, "the records concatenated are the rows in order")

	_, _, err = FeedRecords([]Event{{Type: "track", MessageID: "huge", Properties: `"` + strings.Repeat("y", MaxFeedRecord) + `"`}})
	assert.ErrorIs(t, err, ErrLineTooLong)
}

func TestReadFeedReportsBadLinesAndReadsTheRest(t *testing.T) {
	good := `{"type":"track","event":"A","messageId":"m-1","timestamp":"2026-12-07T10:00:00Z"}`
	body := strings.Join([]string{
		good,
		`not json`,
		``,
		`{"type":"track","messageId":"m-2"}`, // no timestamp
		`{"type":"track","messageId":"m-3","timestamp":"2026-12-07T10:00:00Z","trusted":"yes"}`,
		`{"type":"page","messageId":"m-4","timestamp":"` + strings.Repeat("9", MaxFeedRecord) + `"}`,
		strings.Replace(good, "m-1", "m-5", 1),
	}, "\n") // the last line without its newline
	rows, bad := readAll(t, []byte(body))
	assert.Equal(t, []int{2, 4, 5, 6}, bad)
	require.Len(t, rows, 2)
	assert.Equal(t, "m-1", rows[0].MessageID)
	assert.Equal(t, "m-5", rows[1].MessageID)
}

func TestReadFeedStopsAtRowError(t *testing.T) {
	stop := errors.New("stop")
	body := "{\"type\":\"track\",\"messageId\":\"m-1\",\"timestamp\":\"2026-12-07T10:00:00Z\"}\n" +
		"{\"type\":\"track\",\"messageId\":\"m-2\",\"timestamp\":\"2026-12-07T10:00:00Z\"}\n"
	n := 0
	err := ReadFeed(strings.NewReader(body), func(Event) error { n++; return stop }, func(int, []byte, error) {})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, n)
}

// FuzzReadFeed: whatever a feed object holds, reading it never panics, every row it gives has a
// type, a message id and a timestamp and writes to the archive, and the line numbers of bad lines
// only increase.
func FuzzReadFeed(f *testing.F) {
	f.Add([]byte("{\"type\":\"track\",\"messageId\":\"m\",\"timestamp\":\"2026-12-07T10:00:00Z\"}\n"))
	f.Add([]byte("{}\n\n{\"type\":1}\r\nnull\n[]"))
	f.Add([]byte("{\"type\":\"t\",\"messageId\":\"m\",\"timestamp\":\"0001-01-01T00:00:00Z\",\"properties\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		last := 0
		w := NewWriter[Event](Tables[0], Options{})
		err := ReadFeed(bytes.NewReader(body), func(e Event) error {
			if e.Type == "" || e.MessageID == "" || e.Timestamp.IsZero() {
				t.Fatalf("row without type, messageId or timestamp: %+v", e)
			}
			return w.Write(e.Date(), e)
		}, func(line int, text []byte, err error) {
			if len(text) > MaxFeedRecord {
				t.Fatalf("bad line %d given with %d bytes", line, len(text))
			}
			if line <= last || !errors.Is(err, ErrBadLine) {
				t.Fatalf("bad line %d after %d: %v", line, last, err)
			}
			last = line
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkFeedRow is what stitch spends per event on the archive: the row (FromEvent, which
// redacts again) and its line, packed into a record.
func BenchmarkFeedRow(b *testing.B) {
	e := fullEvent()
	rows := make([]Event, 100)
	b.ReportAllocs()
	for b.Loop() {
		for i := range rows {
			rows[i] = FromEvent(e, "p-1")
		}
		if _, _, err := FeedRecords(rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/event")
}
