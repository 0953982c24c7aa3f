package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
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
	"github.com/dcrm-project/dcrm/shared/schedule"
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
	// Open reads an object; one that does not exist is an error wrapping errNoObject.
	Open(ctx context.Context, bucket, key string) (io.ReadCloser, error)
	Put(ctx context.Context, bucket, key string, body io.ReadSeeker) error
	// List returns, in key order, up to max objects whose keys start with prefix and come after
	// startAfter, and whether more follow.
	List(ctx context.Context, bucket, prefix, startAfter string, max int) ([]object, bool, error)
	// ReadRange reads len(p) bytes of an object from off (a ranged GET).
	ReadRange(ctx context.Context, bucket, key string, off int64, p []byte) error
	Delete(ctx context.Context, bucket, key string) error
}

// object is an object of a listing.
type object struct {
	Key  string
	Size int64
}

// errNoObject is wrapped by the error of reading an object that does not exist.
var errNoObject = errors.New("no such object")

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
	pass      passConfig // the erasure pass (erasure.go)
}

// invoke serves what Lambda invokes the function with: S3's notification of objects the feed
// delivered (events.S3Event, by its Records), which it archives (handle), or a run of the
// archive-erasure schedule (schedule.Event), which runs the erasure pass (erasurePass). Anything
// else is refused with an error saying why, and nothing is read or written.
func (h *handler) invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	var shape struct {
		Records json.RawMessage `json:"Records"`
	}
	if json.Unmarshal(raw, &shape) == nil && shape.Records != nil {
		var ev events.S3Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("read S3 event: %w", err)
		}
		return nil, h.handle(ctx, ev)
	}
	run, err := schedule.Parse(raw, topology.ArchiveErasureSchedule)
	if err != nil {
		return nil, fmt.Errorf("read event (S3's notification of delivered objects, or a run of the %s schedule): %w",
			topology.ArchiveErasureSchedule, err)
	}
	return h.erasurePass(ctx, run)
}

// handle archives each object of the event. An object that cannot be read or whose files cannot
// be written is an error, so that Lambda invokes again (and then records the failure on the
// failed-events queue): the files are named by their content, so a second attempt writes the same
// keys. A line that is not a row is skipped, and sent to the failed-events queue with its object
// and line number.
//
// Rows of erased profiles are dropped (the requests pending and those done lately, read once per
// invocation: an event stitched before its person's erasure may reach the feed after it, even
// after the pass), and the delivered object is then written again without them.
func (h *handler) handle(ctx context.Context, ev events.S3Event) error {
	var errs []error
	var erased *archive.ErasedIDs
	for _, r := range ev.Records {
		key := r.S3.Object.URLDecodedKey
		if !strings.HasPrefix(key, topology.ArchiveIncomingPrefix) { // the notification's filter says so; a test may not
			h.log.WarnContext(ctx, "object not of the archive feed: left alone", slog.String("key", key))
			continue
		}
		if erased == nil {
			var err error
			if erased, err = h.recentErasures(ctx); err != nil { // archived without them, a person could come back
				return fmt.Errorf("read erasure requests: %w", err)
			}
		}
		if err := h.archiveObject(ctx, r.S3.Bucket.Name, key, erased); err != nil {
			errs = append(errs, fmt.Errorf("archive %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// tally counts what an object held.
type tally struct{ rows, files, bad, erased int }

func (h *handler) archiveObject(ctx context.Context, bucket, key string, erased *archive.ErasedIDs) error {
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
		if _, gone := erased.Erasure(e.ProfileID); gone {
			t.erased++
			return nil
		}
		if err := w.Write(e.Date(), e); err != nil {
			return err
		}
		t.rows++
		if w.Rows() >= flushRows {
			return write()
		}
		return nil
	}, func(line int, text []byte, err error) {
		if _, gone := erased.Mentioned(text); gone { // not set aside: it goes with the person's rows
			t.erased++
			return
		}
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
	if t.erased > 0 {
		// The object is written again without the person's lines; S3 then notifies this function,
		// which makes the same files of it.
		if _, err := h.scrubObject(ctx, bucket, key, erased); err != nil {
			return fmt.Errorf("remove erased rows from the object: %w", err)
		}
	}
	h.log.InfoContext(ctx, "object archived", slog.String("key", key), slog.Int("events", t.rows),
		slog.Int("files", t.files), slog.Int("badLines", t.bad), slog.Int("erasedLines", t.erased))
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
