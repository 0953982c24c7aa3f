package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/message"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// bucket keeps objects in memory.
type bucket struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    int
	failPut error
	// ranged counts the bytes read by ranged GETs, by key; opened the objects read whole.
	ranged map[string]int64
	gets   int // ranged GETs
	opened map[string]int
	// failAfter, when above 0, is how many more writes (puts and deletes) succeed before every
	// call fails: the pass is cut off there.
	failAfter int
	failList  error
}

var errCutOff = errors.New("cut off")

func (b *bucket) Open(_ context.Context, _, key string) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	body, ok := b.objects[key]
	if !ok {
		return nil, fmt.Errorf("NoSuchKey %s: %w", key, errNoObject)
	}
	if b.opened == nil {
		b.opened = map[string]int{}
	}
	b.opened[key]++
	return io.NopCloser(bytes.NewReader(body)), nil
}

func (b *bucket) write() error {
	if b.failAfter < 0 {
		return errCutOff
	}
	if b.failAfter > 0 {
		if b.failAfter--; b.failAfter == 0 {
			b.failAfter = -1
		}
	}
	return nil
}

func (b *bucket) Put(_ context.Context, _, key string, body io.ReadSeeker) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failPut != nil {
		return b.failPut
	}
	if err := b.write(); err != nil {
		return err
	}
	data, err := io.ReadAll(body)
	b.objects[key], b.puts = data, b.puts+1
	return err
}

func (b *bucket) Delete(_ context.Context, _, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.write(); err != nil {
		return err
	}
	delete(b.objects, key)
	return nil
}

func (b *bucket) List(_ context.Context, _, prefix, startAfter string, max int) ([]object, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failList != nil {
		return nil, false, b.failList
	}
	var out []object
	for _, k := range slices.Sorted(maps.Keys(b.objects)) {
		if !strings.HasPrefix(k, prefix) || k <= startAfter {
			continue
		}
		if len(out) == max {
			return out, true, nil
		}
		out = append(out, object{Key: k, Size: int64(len(b.objects[k]))})
	}
	return out, false, nil
}

func (b *bucket) ReadRange(_ context.Context, _, key string, off int64, p []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	body, ok := b.objects[key]
	if !ok {
		return errNoObject
	}
	if off+int64(len(p)) > int64(len(body)) {
		return fmt.Errorf("range %d+%d past the end of %s (%d bytes)", off, len(p), key, len(body))
	}
	if b.ranged == nil {
		b.ranged = map[string]int64{}
	}
	b.ranged[key] += int64(copy(p, body[off:]))
	b.gets++
	return nil
}

// queue keeps the messages sent.
type queue struct{ sent []message.Message }

func (q *queue) SendAll(_ context.Context, ms []message.Message) []error {
	q.sent = append(q.sent, ms...)
	return make([]error, len(ms))
}

func s3Event(keys ...string) events.S3Event {
	var ev events.S3Event
	for _, k := range keys {
		var r events.S3EventRecord
		r.S3.Bucket.Name, r.S3.Object.Key, r.S3.Object.URLDecodedKey = "archive", k, k
		ev.Records = append(ev.Records, r)
	}
	return ev
}

func row(id string, at time.Time) archive.Event {
	return archive.Event{Type: "track", Event: "Order Completed", MessageID: id, AnonymousID: "a-1", ProfileID: "prf_1",
		Timestamp: at, ReceivedAt: at, SourceID: "src", Properties: `{"revenue":12.5}`}
}

func feedObject(t testing.TB, rows []archive.Event, extra ...string) []byte {
	t.Helper()
	records, _, err := archive.FeedRecords(rows)
	require.NoError(t, err)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, r := range records {
		_, err := zw.Write(r)
		require.NoError(t, err)
	}
	for _, line := range extra {
		_, err := zw.Write([]byte(line + "\n"))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// parquetRows reads every events file of the bucket, by day.
func parquetRows(t *testing.T, b *bucket) map[string][]archive.Event {
	t.Helper()
	byDay := map[string][]archive.Event{}
	for key, body := range b.objects {
		tb, dt, _, ok := archive.ParseKey(key)
		if !ok || tb.Name != "events" {
			continue
		}
		rows, err := parquet.Read[archive.Event](bytes.NewReader(body), int64(len(body)))
		require.NoError(t, err)
		byDay[dt] = append(byDay[dt], rows...)
	}
	return byDay
}

func newHandler(b *bucket, q *queue) *handler {
	return &handler{files: b, bucket: "archive", failed: q, log: quiet, now: time.Now}
}

// An object of the feed becomes one Parquet file per day of its events, which read back as the
// rows written; its bad lines go to the failed-events queue with the object and line; archiving
// it again writes the same files.
func TestAnObjectBecomesAFilePerDay(t *testing.T) {
	day1 := time.Date(2026, 12, 6, 23, 59, 0, 0, time.UTC)
	day2 := time.Date(2026, 12, 7, 0, 1, 0, 0, time.UTC)
	rows := []archive.Event{row("m-1", day1), row("m-2", day2), row("m-3", day1)}
	key := topology.ArchiveIncomingPrefix + "2026/12/07/00/feed-1-2026-12-07-00-05-00-abc.gz"
	b := &bucket{objects: map[string][]byte{key: feedObject(t, rows, `{"type":"track"}`, "garbage")}}
	q := &queue{}
	require.NoError(t, newHandler(b, q).handle(context.Background(), s3Event(key)))

	got := parquetRows(t, b)
	require.Len(t, got, 2)
	assert.Equal(t, []archive.Event{rows[0], rows[2]}, got["2026-12-06"])
	assert.Equal(t, []archive.Event{rows[1]}, got["2026-12-07"])
	require.Len(t, q.sent, 2)
	for i, line := range []int{4, 5} {
		f := q.sent[i].(message.FailedEvent)
		assert.Equal(t, stage, f.Stage)
		assert.Contains(t, f.Reason, fmt.Sprintf("object %s, line %d", key, line))
		assert.NoError(t, f.Validate())
	}
	assert.Equal(t, `{"type":"track"}`, string(q.sent[0].(message.FailedEvent).Data))

	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range b.objects {
			if !yield(k) {
				return
			}
		}
	})
	require.NoError(t, newHandler(b, &queue{}).handle(context.Background(), s3Event(key)))
	assert.Len(t, b.objects, len(keys), "the same object archived again makes the same keys")
}

// Past flushRows rows, a file is finished and another begun: memory stays bounded, no row is lost.
func TestManyRowsMakeSeveralFiles(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var rows []archive.Event
	for i := range 25 {
		rows = append(rows, row(fmt.Sprint("m-", i), at.Add(time.Duration(i)*time.Second)))
	}
	key := topology.ArchiveIncomingPrefix + "plain"
	records, _, err := archive.FeedRecords(rows)
	require.NoError(t, err)
	b := &bucket{objects: map[string][]byte{key: bytes.Join(records, nil)}} // not gzipped: read as it is
	h := newHandler(b, &queue{})
	h.flushRows = 10
	require.NoError(t, h.handle(context.Background(), s3Event(key)))
	assert.Equal(t, 3, b.puts, "10 + 10 + 5 rows")
	got := parquetRows(t, b)["2026-12-07"]
	slices.SortFunc(got, func(a, b archive.Event) int { return a.Timestamp.Compare(b.Timestamp) })
	assert.Equal(t, rows, got)
}

// An object it cannot read or files it cannot write are errors, so that Lambda invokes again;
// objects outside the feed's prefix are left alone.
func TestFailuresAreReturned(t *testing.T) {
	key := topology.ArchiveIncomingPrefix + "x.gz"
	b := &bucket{objects: map[string][]byte{key: feedObject(t, []archive.Event{row("m-1", time.Now())}), "events/x": []byte("x")}}
	assert.ErrorContains(t, newHandler(b, &queue{}).handle(context.Background(), s3Event("incoming/missing.gz")), "NoSuchKey")

	b.failPut = errors.New("slow down")
	assert.ErrorContains(t, newHandler(b, &queue{}).handle(context.Background(), s3Event(key)), "slow down")

	b.objects[key] = []byte{0x1f, 0x8b, 1, 2, 3} // a broken gzip stream
	b.failPut = nil
	assert.Error(t, newHandler(b, &queue{}).handle(context.Background(), s3Event(key)))

	before := len(b.objects)
	require.NoError(t, newHandler(b, &queue{}).handle(context.Background(), s3Event("events/x")))
	assert.Len(t, b.objects, before)
}

func TestSetupReadsTheEnvironment(t *testing.T) {
	top := topology.Default()
	env := map[string]string{top.EnvVar(topology.ArchiveBucket): "archive", top.EnvVar(topology.FailedQueue): "http://127.0.0.1:9324/000000000000/failed",
		"AWS_REGION": "us-east-1"}
	h, err := setup(context.Background(), func(k string) string { return env[k] }, quiet)
	require.NoError(t, err)
	assert.Equal(t, "archive", h.bucket)
	assert.Equal(t, defaultSettle, h.pass.withDefaults().settle)
	env[settingSettle] = "0s"
	h, err = setup(context.Background(), func(k string) string { return env[k] }, quiet)
	require.NoError(t, err)
	assert.Equal(t, time.Nanosecond, h.pass.withDefaults().settle, "a stack test takes its requests at once")
	env[settingSettle] = "soon"
	_, err = setup(context.Background(), func(k string) string { return env[k] }, quiet)
	assert.ErrorContains(t, err, settingSettle)
	delete(env, settingSettle)
	delete(env, top.EnvVar(topology.ArchiveBucket))
	_, err = setup(context.Background(), func(k string) string { return env[k] }, quiet)
	assert.ErrorContains(t, err, "DCRM_ARCHIVE_BUCKET")
}
