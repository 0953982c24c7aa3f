package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/firehose"
	"github.com/dcrm-project/dcrm/scripts/devstack/firehose/firehosetest"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
)

// fakeFeed keeps the records put to it; fail refuses every record while it is set.
type fakeFeed struct {
	records [][]byte
	fail    error
}

func (f *fakeFeed) Put(_ context.Context, records [][]byte) []error {
	errs := make([]error, len(records))
	for i, r := range records {
		if errs[i] = f.fail; f.fail == nil {
			f.records = append(f.records, r)
		}
	}
	return errs
}

// rows reads back what was put, as the archive function does.
func (f *fakeFeed) rows(t *testing.T) []archive.Event {
	t.Helper()
	var rows []archive.Event
	require.NoError(t, archive.ReadFeed(bytes.NewReader(bytes.Join(f.records, nil)),
		func(e archive.Event) error { rows = append(rows, e); return nil },
		func(line int, _ []byte, err error) { t.Errorf("line %d: %v", line, err) }))
	return rows
}

// Every event recorded goes to the archive feed as its row, with the profile it was recorded on;
// an event that could not be recorded does not. A batch seen again (a retry) is archived again:
// the first attempt may not have archived it.
func TestRecordedEventsGoToTheArchiveFeed(t *testing.T) {
	st := newStack(t)
	feed := &fakeFeed{}
	st.h.feed = feed
	batch := goldenBatch(t)
	batch.Records = append(batch.Records, poison("99", "garbage"))
	require.Empty(t, st.run(t, batch).BatchItemFailures)

	p, err := st.store.Lookup(context.Background(), identity.UserID(userID))
	require.NoError(t, err)
	rows := feed.rows(t)
	require.Len(t, rows, 7, "the seven golden events, not the poison record")
	stitchedTo := map[string]bool{}
	for i, r := range rows {
		e, err := beacon.DecodeEvent(mustSplit(t, batch.Records[i].Kinesis.Data))
		require.NoError(t, err)
		assert.Equal(t, archive.FromEvent(e, r.ProfileID), r, "row %d: the event's row", i)
		assert.True(t, r.ProfileID == p.ID || slices.Contains(p.MergedFrom, r.ProfileID),
			"row %d: on the profile as stitched, %s, which is the person's or merged into it", i, r.ProfileID)
		stitchedTo[r.ProfileID] = true
	}
	assert.Len(t, stitchedTo, 2, "the golden batch's second device was a profile of its own until its login")

	require.Empty(t, st.run(t, batch).BatchItemFailures)
	assert.Len(t, feed.rows(t), 14, "a retried batch is archived again; the archive counts distinct message ids")
}

func mustSplit(t *testing.T, data []byte) []byte {
	t.Helper()
	raw, err := beacon.SplitRecord(data)
	require.NoError(t, err)
	require.Len(t, raw, 1)
	return raw[0]
}

// When the feed refuses the batch's events, the batch is retried from the first record whose
// events were not handed over; the profiles are written all the same (the retry's events are
// duplicates there).
func TestFeedOutageRetriesTheBatch(t *testing.T) {
	batch := goldenBatch(t)
	feed := &fakeFeed{fail: errors.New("service unavailable")}
	h := &handler{store: &fakeStore{}, failed: fakeQueue{}, updates: fakeQueue{}, feed: feed, now: time.Now, log: quiet}
	resp, err := h.handle(context.Background(), batch)
	require.NoError(t, err)
	require.Equal(t, []events.KinesisBatchItemFailure{{ItemIdentifier: batch.Records[0].Kinesis.SequenceNumber}}, resp.BatchItemFailures)

	feed.fail = nil
	resp, err = h.handle(context.Background(), batch)
	require.NoError(t, err)
	require.Empty(t, resp.BatchItemFailures)
	assert.Len(t, feed.rows(t), 7)
}

// A record of the feed that fails names the rows it carried: the batch is retried from the
// record of its first row.
func TestArchiveRetriesFromTheFirstUndeliveredRow(t *testing.T) {
	h := &handler{feed: &splitFeed{failFrom: 1}, log: quiet}
	big := `"` + string(bytes.Repeat([]byte("x"), 600<<10)) + `"`
	rows := []archive.Event{{Type: "track", MessageID: "a", Properties: big}, {Type: "track", MessageID: "b", Properties: big},
		{Type: "track", MessageID: "c", Properties: big}}
	assert.Equal(t, 11, h.archive(context.Background(), rows, []int{10, 11, 12}), "each row its own record; the second refused")
	assert.Equal(t, -1, h.archive(context.Background(), nil, nil))
}

// splitFeed refuses the records from failFrom on.
type splitFeed struct{ failFrom int }

func (f *splitFeed) Put(_ context.Context, records [][]byte) []error {
	errs := make([]error, len(records))
	for i := f.failFrom; i < len(records); i++ {
		errs[i] = errors.New("refused")
	}
	return errs
}

// The feed puts as many records to a call as Data Firehose takes (500, 4 MiB; the local server
// refuses more, as AWS does), and every record arrives, in order.
func TestFirehoseFeedSplitsCalls(t *testing.T) {
	stream := firehosetest.Feed("feed")
	stream.BufferInterval = 0
	world := firehosetest.Start(t, firehose.Options{}, stream)
	feed := newFirehoseFeed(world.Client(), "feed")
	var records [][]byte
	for i := range 1200 { // three calls by count
		records = append(records, []byte(fmt.Sprintf("small %d\n", i)))
	}
	for i := range 6 { // two calls by size
		records = append(records, append(bytes.Repeat([]byte{'a' + byte(i)}, 900<<10), '\n'))
	}
	for i, err := range feed.Put(context.Background(), records) {
		require.NoError(t, err, "record %d", i)
	}
	want := string(bytes.Join(records, nil))
	var got strings.Builder
	require.Eventually(t, func() bool {
		got.Reset()
		for _, key := range world.Written() {
			got.WriteString(world.Content(t, key))
		}
		return got.Len() >= len(want)
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, want, got.String())

	errs := newFirehoseFeed(world.Client(), "no-such-stream").Put(context.Background(), records[:2])
	assert.ErrorContains(t, errs[0], "ResourceNotFoundException")
	assert.Error(t, errs[1])
}
