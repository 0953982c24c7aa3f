package firehose_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fh "github.com/dcrm-project/dcrm/scripts/devstack/firehose"
	"github.com/dcrm-project/dcrm/scripts/devstack/firehose/firehosetest"
)

// lines are n JSON lines of about size bytes each, numbered from first.
func lines(first, n, size int) []string {
	out := make([]string, n)
	for i := range out {
		head := fmt.Sprintf(`{"n":%d,"pad":"`, first+i)
		out[i] = head + strings.Repeat("p", max(0, size-len(head)-3)) + "\"}\n"
	}
	return out
}

func TestDeliversWhenTheBufferIsFull(t *testing.T) {
	st := firehosetest.Feed("s")
	st.BufferBytes = 1000
	w := firehosetest.Start(t, fh.Options{}, st)
	recs := lines(0, 25, 100) // 2,500 bytes: two full objects of ten records, five left in the buffer
	putBatch(t, w, "s", recs[:7]...)
	putBatch(t, w, "s", recs[7:]...)
	keys := w.Objects(t, 2)
	assert.Equal(t, strings.Join(recs[:10], ""), w.Content(t, keys[0]), "the first ten records, in order")
	assert.Equal(t, strings.Join(recs[10:20], ""), w.Content(t, keys[1]))
	require.Never(t, func() bool { return len(w.Written()) > 2 }, 100*time.Millisecond, 10*time.Millisecond,
		"the rest waits for the interval (15 min)")

	t.Run("a record that would overfill the buffer starts the next object", func(t *testing.T) {
		putBatch(t, w, "s", strings.Repeat("x", 400)+"\n", strings.Repeat("y", 600)+"\n")
		keys := w.Objects(t, 3)
		assert.Equal(t, strings.Join(recs[20:], "")+strings.Repeat("x", 400)+"\n", w.Content(t, keys[2]),
			"900 bytes: the 601-byte record did not fit")
	})
}

func TestDeliversWhenTheIntervalHasPassed(t *testing.T) {
	st := firehosetest.Feed("s")
	st.BufferInterval = 200 * time.Millisecond
	w := firehosetest.Start(t, fh.Options{}, st)
	recs := lines(0, 6, 50)
	start := time.Now()
	putBatch(t, w, "s", recs[:2]...)
	putBatch(t, w, "s", recs[2:5]...)
	_, err := w.Client().PutRecord(t.Context(), &firehose.PutRecordInput{DeliveryStreamName: aws.String("s"), Record: &types.Record{Data: []byte(recs[5])}})
	require.NoError(t, err)
	keys := w.Objects(t, 1)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "not before the interval")
	assert.Equal(t, strings.Join(recs, ""), w.Content(t, keys[0]), "every record of the interval in one object, in order")

	t.Run("the interval starts again at the next record", func(t *testing.T) {
		putBatch(t, w, "s", "later\n")
		keys := w.Objects(t, 2)
		assert.Equal(t, "later\n", w.Content(t, keys[1]))
	})
}

func TestZeroIntervalDeliversEachCallAtOnce(t *testing.T) {
	st := firehosetest.Feed("s")
	st.BufferInterval = 0
	w := firehosetest.Start(t, fh.Options{}, st)
	putBatch(t, w, "s", "a\n", "b\n")
	putBatch(t, w, "s", "c\n")
	keys := w.Objects(t, 2)
	assert.Equal(t, "a\nb\n", w.Content(t, keys[0]))
	assert.Equal(t, "c\n", w.Content(t, keys[1]))
}

// TestObjectKeys: Prefix, the time prefix, then <stream>-1-<time>-<uuid>.gz, in UTC at the first
// record's arrival; S3 tells of the object (the bucket's notification).
func TestObjectKeys(t *testing.T) {
	at := time.Date(2026, 12, 7, 23, 4, 5, 0, time.FixedZone("UTC+2", 2*3600))
	st := firehosetest.Feed("dcrm-ArchiveFeed")
	st.BufferInterval = 0
	w := firehosetest.Start(t, fh.Options{Now: func() time.Time { return at }}, st)
	putBatch(t, w, "dcrm-ArchiveFeed", "a\n")
	putBatch(t, w, "dcrm-ArchiveFeed", "b\n")
	keys := w.Objects(t, 2)
	name := regexp.MustCompile(`^incoming/2026/12/07/21/dcrm-ArchiveFeed-1-2026-12-07-21-04-05-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.gz$`)
	for _, k := range keys {
		assert.Regexp(t, name, k)
	}
	assert.NotEqual(t, keys[0], keys[1], "a random part tells objects of the same second apart")
	assert.Equal(t, keys, w.Created(), "S3 told of each object")
}

// TestRetriesUntilS3TakesTheObject: S3 refuses writes for a while; the batch is written once it
// takes them again, and later batches after it, none lost or reordered.
func TestRetriesUntilS3TakesTheObject(t *testing.T) {
	st := firehosetest.Feed("s")
	st.BufferBytes = 100
	w := firehosetest.Start(t, fh.Options{RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 40 * time.Millisecond}, st)
	w.Refuse(func(string) bool { return true })
	recs := lines(0, 12, 50) // six objects of two records
	putBatch(t, w, "s", recs[:4]...)
	require.Eventually(t, func() bool { return w.Refused() >= 6 }, 5*time.Second, 5*time.Millisecond,
		"refused: S3's client tries three times per write, and the write is tried again")
	putBatch(t, w, "s", recs[4:10]...)
	w.Refuse(nil)
	putBatch(t, w, "s", recs[10:]...)
	keys := w.Objects(t, 6)
	var got strings.Builder
	for i, k := range keys {
		c := w.Content(t, k)
		assert.Equal(t, strings.Join(recs[2*i:2*i+2], ""), c, "object %d", i)
		got.WriteString(c)
	}
	assert.Equal(t, strings.Join(recs, ""), got.String(), "every record once, in order")
}

// TestWritesUnderTheErrorPrefixAfterRetryFor: what S3 kept refusing under the prefix for RetryFor
// goes under ErrorPrefix + "s3-delivery-failed/", named as it would have been.
func TestWritesUnderTheErrorPrefixAfterRetryFor(t *testing.T) {
	st := firehosetest.Feed("s")
	st.BufferInterval = 0
	w := firehosetest.Start(t, fh.Options{RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 10 * time.Millisecond, RetryFor: 100 * time.Millisecond}, st)
	w.Refuse(func(key string) bool { return strings.HasPrefix(key, "incoming/") })
	putBatch(t, w, "s", "a\n", "b\n")
	keys := w.Objects(t, 1)
	assert.Regexp(t, `^incoming-errors/s3-delivery-failed/\d{4}/\d\d/\d\d/\d\d/s-1-[0-9-]{19}-[0-9a-f-]{36}\.gz$`, keys[0])
	assert.Equal(t, "a\nb\n", w.Content(t, keys[0]))
}

func TestCloseWritesWhatIsBuffered(t *testing.T) {
	w := firehosetest.Start(t, fh.Options{}, firehosetest.Feed("s"), firehosetest.Feed("t"))
	putBatch(t, w, "s", "a\n")
	putBatch(t, w, "t", "b\n")
	putBatch(t, w, "s", "c\n")
	start := time.Now()
	require.NoError(t, w.Server.Close())
	assert.Less(t, time.Since(start), 5*time.Second)
	keys := w.Written()
	require.Len(t, keys, 2, "both streams written before Close returned, without waiting for the interval (15 min)")
	contents := map[string]bool{}
	for _, k := range keys {
		contents[w.Content(t, k)] = true
	}
	assert.Equal(t, map[string]bool{"a\nc\n": true, "b\n": true}, contents)

	_, err := w.Client().PutRecordBatch(t.Context(), batchInput("s", "late\n"))
	var busy *types.ServiceUnavailableException
	require.ErrorAs(t, err, &busy, "a closed server takes no records")
	require.NoError(t, w.Server.Close(), "Close again is harmless")
}

func TestCloseGivesUpAfterItsTimeout(t *testing.T) {
	w := firehosetest.Start(t, fh.Options{RetryDelay: 10 * time.Millisecond, CloseTimeout: 200 * time.Millisecond}, firehosetest.Feed("s"))
	w.Refuse(func(string) bool { return true })
	putBatch(t, w, "s", "a\n", "b\n")
	start := time.Now()
	err := w.Server.Close()
	assert.Less(t, time.Since(start), 3*time.Second, "bounded")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "s: 2 records (4 bytes)")
}
