package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/pii"
)

// stage names this function in failed-event messages.
const stage = "archive"

// maxRejections bounds the failed-event messages of one object: a wholly broken object says so
// in its first lines and in the log's count, not in a flood.
const maxRejections = 1000

// defaultFlushRows bounds the rows held before they are written out: an object of the feed holds
// at most 128 MiB of lines (the delivery stream's buffer), some 100,000 events, so one flush
// usually makes one file per day; past this many a file is finished and another begun (archive's
// writer holds its files compressed, some 60 bytes a row).
const defaultFlushRows = 500_000

// objects reads and writes the archive bucket's objects.
type objects interface {
	Open(ctx context.Context, bucket, key string) (io.ReadCloser, error)
	Put(ctx context.Context, bucket, key string, body io.ReadSeeker) error
}

// sender sends messages to a queue, ten to a call: one error per message, nil for each one sent.
type sender interface {
	SendAll(ctx context.Context, ms []message.Message) []error
}

type handler struct {
	files     objects
	bucket    string // the archive bucket, where the files go
	failed    sender
	log       *slog.Logger
	flushRows int // 0: defaultFlushRows
	now       func() time.Time
}

// handle archives each object of the event. An object that cannot be read or whose files cannot
// be written is an error, so that Lambda invokes again (and then records the failure on the
// failed-events queue): the files are named by their content, so a second attempt writes the same
// keys. A line that is not a row is skipped, and sent to the failed-events queue with its object
// and line number.
func (h *handler) handle(ctx context.Context, ev events.S3Event) error {
	var errs []error
	for _, r := range ev.Records {
		key := r.S3.Object.URLDecodedKey
		if !strings.HasPrefix(key, topology.ArchiveIncomingPrefix) { // the notification's filter says so; a test may not
			h.log.WarnContext(ctx, "object not of the archive feed: left alone", slog.String("key", key))
			continue
		}
		if err := h.archiveObject(ctx, r.S3.Bucket.Name, key); err != nil {
			errs = append(errs, fmt.Errorf("archive %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// tally counts what an object held.
type tally struct{ rows, files, bad int }

func (h *handler) archiveObject(ctx context.Context, bucket, key string) error {
	body, err := h.files.Open(ctx, bucket, key)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer body.Close()
	lines, err := decompressed(body)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	var (
		t        tally
		rejected []message.Message
	)
	w := archive.NewWriter[archive.Event](eventsTable, archive.Options{})
	flushRows := h.flushRows
	if flushRows <= 0 {
		flushRows = defaultFlushRows
	}
	write := func() error {
		files, err := w.Flush()
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := h.files.Put(ctx, h.bucket, f.Key, bytes.NewReader(f.Body)); err != nil {
				return fmt.Errorf("put %s: %w", f.Key, err)
			}
		}
		t.files += len(files)
		return nil
	}
	err = archive.ReadFeed(lines, func(e archive.Event) error {
		if err := w.Write(e.Date(), e); err != nil {
			return err
		}
		t.rows++
		if w.Rows() >= flushRows {
			return write()
		}
		return nil
	}, func(line int, text []byte, err error) {
		t.bad++
		if len(rejected) < maxRejections {
			data, cut := pii.RedactUpTo(text, message.MaxFailedData)
			f := message.NewFailedEvent(stage, pii.RedactText(fmt.Sprintf("object %s, line %d: %v", key, line, err)), data, h.now())
			f.Truncated = f.Truncated || cut
			rejected = append(rejected, f)
		}
	})
	if err == nil {
		err = write()
	}
	if err != nil {
		return err
	}
	for _, err := range h.failed.SendAll(ctx, rejected) {
		if err != nil { // the log counts them all the same; the queue is for people
			h.log.ErrorContext(ctx, "a bad line was not set aside", slog.String("error", err.Error()))
		}
	}
	h.log.InfoContext(ctx, "object archived", slog.String("key", key), slog.Int("events", t.rows),
		slog.Int("files", t.files), slog.Int("badLines", t.bad))
	return nil
}

// eventsTable is the archive's events table.
var eventsTable = func() archive.Table {
	t, ok := archive.TableNamed("events")
	if !ok {
		panic("archive: no events table")
	}
	return t
}()

// decompressed reads a gzipped object (the delivery stream's, by its magic number) through gzip,
// and any other as it is.
func decompressed(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}
