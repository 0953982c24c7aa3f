package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/dcrm-project/dcrm/shared/archive"
)

// feeder hands records of the archive feed to its delivery stream: one error per record, nil for
// each one delivered.
type feeder interface {
	Put(ctx context.Context, records [][]byte) []error
}

// archive hands the rows of the events the batch recorded (each from the record rowRecord[k])
// to the archive feed, and returns the earliest record whose rows could not be handed over (-1
// when all were): the batch is retried from it, and the events recorded again are duplicates
// that are archived again (the archive counts by distinct messageId).
func (h *handler) archive(ctx context.Context, rows []archive.Event, rowRecord []int) int {
	if len(rows) == 0 {
		return -1
	}
	records, first, err := archive.FeedRecords(rows)
	if err != nil { // a line longer than a record: cannot be, events are bounded far below it
		h.log.ErrorContext(ctx, "events not archived", slog.String("error", err.Error()))
		return rowRecord[0]
	}
	for k, err := range h.feed.Put(ctx, records) {
		if err != nil {
			h.log.ErrorContext(ctx, "events not handed to the archive feed; the batch is retried from them",
				slog.Int("events", rowsIn(k, first, len(rows))), slog.String("error", err.Error()))
			return rowRecord[first[k]]
		}
	}
	return -1
}

// rowsIn is how many rows the k-th record carries.
func rowsIn(k int, first []int, rows int) int {
	if k+1 < len(first) {
		return first[k+1] - first[k]
	}
	return rows - first[k]
}

// Data Firehose's limits on a PutRecordBatch call.
const (
	maxBatchRecords = 500
	maxBatchBytes   = 4 << 20
)

// firehoseFeed puts records to a delivery stream, as many to a PutRecordBatch call as it takes,
// and puts again those the stream refused (FailedPutCount: throttled, or a service error), a few
// times with a growing pause.
type firehoseFeed struct {
	client   *firehose.Client
	stream   string
	attempts int
	pause    time.Duration // before the second attempt; doubled after each
}

func newFirehoseFeed(c *firehose.Client, stream string) *firehoseFeed {
	return &firehoseFeed{client: c, stream: stream, attempts: 4, pause: 100 * time.Millisecond}
}

func (f *firehoseFeed) Put(ctx context.Context, records [][]byte) []error {
	errs := make([]error, len(records))
	for start := 0; start < len(records); {
		end, size := start, 0
		for end < len(records) && end-start < maxBatchRecords && size+len(records[end]) <= maxBatchBytes {
			size += len(records[end])
			end++
		}
		f.putBatch(ctx, records[start:end], errs[start:end])
		start = end
	}
	return errs
}

// putBatch puts records (at most one call's worth), setting errs[i] for each not delivered.
func (f *firehoseFeed) putBatch(ctx context.Context, records [][]byte, errs []error) {
	pending := make([]int, len(records))
	for i := range pending {
		pending[i] = i
	}
	pause := f.pause
	for attempt := 1; ; attempt++ {
		in := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(f.stream), Records: make([]fhtypes.Record, len(pending))}
		for k, i := range pending {
			in.Records[k] = fhtypes.Record{Data: records[i]}
		}
		out, err := f.client.PutRecordBatch(ctx, in)
		var failed []int
		switch {
		case err != nil:
			failed = pending
			for _, i := range pending {
				errs[i] = fmt.Errorf("put record batch: %w", err)
			}
		case len(out.RequestResponses) != len(pending):
			failed = pending
			for _, i := range pending {
				errs[i] = errors.New("put record batch: the answer does not match the records")
			}
		default:
			for k, r := range out.RequestResponses {
				i := pending[k]
				if r.ErrorCode != nil {
					failed = append(failed, i)
					errs[i] = fmt.Errorf("record refused: %s: %s", aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
				} else {
					errs[i] = nil
				}
			}
		}
		if len(failed) == 0 || attempt == f.attempts || ctx.Err() != nil {
			return
		}
		pending = failed
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause *= 2
	}
}
