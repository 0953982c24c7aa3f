package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/importing"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/source"
)

// stage names the import in failed-events messages.
const stage = "import"

// MetadataPrefix marks an upload's user metadata that sets an import option (importing.Options):
// x-amz-meta-dcrm-map, x-amz-meta-dcrm-time-layout …
const MetadataPrefix = "dcrm-"

// putBatch is how many events go to the stream at a time.
const putBatch = 500

// files is what the import reads and writes in its buckets.
type files interface {
	// Open returns the object's body and its user metadata (names lower case, without x-amz-meta-).
	Open(ctx context.Context, bucket, key string) (io.ReadCloser, map[string]string, error)
	// Put writes an object from a seekable body.
	Put(ctx context.Context, bucket, key string, body io.ReadSeeker, contentType string) error
}

type stream interface {
	Put(ctx context.Context, events []beacon.Event) error
}

type queue interface {
	SendAll(ctx context.Context, ms []message.Message) []error
}

type handler struct {
	files         files
	stream        stream
	failed        queue
	archiveBucket string // spend records go under spend/ in it; "" keeps them in the report alone
	now           func() time.Time
	log           *slog.Logger
}

// handle imports each file an S3 notification names. A file that cannot be imported as it is (an
// unknown kind, a bad option, a file that is not CSV or JSON Lines) gets a failed report and is not
// retried; an error of the services (S3, the stream) is returned, so that Lambda invokes again: the
// events' ids are the rows', so what was put before is recorded once.
func (h *handler) handle(ctx context.Context, ev events.S3Event) error {
	var errs []error
	for _, r := range ev.Records {
		key := r.S3.Object.URLDecodedKey // S3 sends keys URL-encoded, spaces as +
		if strings.HasPrefix(key, importing.ReportPrefix) {
			continue
		}
		if err := h.importFile(ctx, r.S3.Bucket.Name, key); err != nil {
			errs = append(errs, fmt.Errorf("import %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

func (h *handler) importFile(ctx context.Context, bucket, key string) error {
	rep := importing.Report{Key: key, State: importing.StateRunning, StartedAt: h.now().UTC()}
	spec, err := h.spec(key)
	if err != nil {
		return h.fail(ctx, bucket, rep, err)
	}
	rep.Kind = spec.Kind
	body, meta, err := h.files.Open(ctx, bucket, key)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer body.Close()
	for name, v := range meta {
		if opt, ok := strings.CutPrefix(name, MetadataPrefix); ok {
			if err := spec.SetOption(opt, v); err != nil {
				return h.fail(ctx, bucket, rep, err)
			}
		}
	}
	if err := h.writeReport(ctx, bucket, rep); err != nil {
		return err
	}
	rd, err := importing.NewReader(body, spec)
	if err != nil {
		if errors.Is(err, importing.ErrSpec) {
			return h.fail(ctx, bucket, rep, err)
		}
		return fmt.Errorf("read: %w", err)
	}
	// Spend records wait in a file (made at the first one) until the file is read: S3 wants a
	// body it can read twice.
	var spend *os.File
	defer func() {
		if spend != nil {
			spend.Close()
			os.Remove(spend.Name())
		}
	}()
	var batch []beacon.Event
	var rejected []message.Message
	flush := func() error {
		if len(batch) > 0 {
			if err := h.stream.Put(ctx, batch); err != nil {
				return fmt.Errorf("put %d events: %w", len(batch), err)
			}
			batch = batch[:0]
		}
		if len(rejected) > 0 {
			for _, err := range h.failed.SendAll(ctx, rejected) {
				if err != nil { // the report counts them all the same; the queue is for people
					h.log.LogAttrs(ctx, slog.LevelError, "a rejected row was not set aside", slog.String("error", err.Error()))
				}
			}
			rejected = rejected[:0]
		}
		return nil
	}
	for {
		out, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, importing.ErrSpec) {
				rep.Status = rd.Status()
				return h.fail(ctx, bucket, rep, err)
			}
			return fmt.Errorf("read: %w", err)
		}
		switch {
		case out.Event != nil:
			batch = append(batch, *out.Event)
		case out.Spend != nil:
			if spend == nil {
				if spend, err = os.CreateTemp("", "spend-*.jsonl"); err != nil {
					return err
				}
			}
			if err := json.NewEncoder(spend).Encode(out.Spend); err != nil {
				return fmt.Errorf("keep spend: %w", err)
			}
		case out.Rejected != nil && rep.RejectionsSent < importing.MaxRejectionsSent:
			rejected = append(rejected, h.rejection(key, *out.Rejected))
			rep.RejectionsSent++
		}
		if len(batch) >= putBatch || len(rejected) >= 100 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	rep.Status = rd.Status()
	if spend != nil && h.archiveBucket != "" {
		if _, err := spend.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := h.files.Put(ctx, h.archiveBucket, SpendKey(key), spend, "application/x-ndjson"); err != nil {
			return fmt.Errorf("write spend: %w", err)
		}
	}
	rep.State, rep.FinishedAt = importing.StateDone, h.now().UTC()
	h.log.LogAttrs(ctx, slog.LevelInfo, "imported", slog.String("kind", string(rep.Kind)), slog.Int64("rows", rep.Rows),
		slog.Int64("imported", rep.Imported), slog.Int64("rejected", rep.Rejected), slog.Int64("duplicates", rep.Duplicates))
	return h.writeReport(ctx, bucket, rep)
}

// spec is what the file's place says of its import: its kind, from its prefix.
func (h *handler) spec(key string) (importing.Spec, error) {
	kind, err := importing.KindOfKey(key)
	if err != nil {
		return importing.Spec{}, err
	}
	return importing.Spec{Kind: kind, ReceivedAt: h.now().UTC(),
		Source: source.Source{ID: "import", Name: "bulk import", Trusted: true}}, nil
}

// SpendKey is where the spend records of the file at key go in the archive bucket.
func SpendKey(key string) string { return "spend/" + strings.TrimPrefix(key, "/") + ".jsonl" }

// rejection is the failed-events message of a rejected row: the file, the line and the reason,
// the row's fields as the reader gives them (personal data hashed or redacted).
func (h *handler) rejection(key string, r importing.Rejection) message.Message {
	data, _ := json.Marshal(r)
	reason := pii.RedactText(fmt.Sprintf("file %s, line %d: %s", key, r.Line, r.Reason))
	return message.NewFailedEvent(stage, reason, data, h.now())
}

// fail writes a failed report; the file is not imported again unless it is uploaded again.
func (h *handler) fail(ctx context.Context, bucket string, rep importing.Report, cause error) error {
	rep.State, rep.Error, rep.FinishedAt = importing.StateFailed, pii.RedactText(cause.Error()), h.now().UTC()
	h.log.LogAttrs(ctx, slog.LevelWarn, "import refused", slog.String("error", rep.Error))
	return h.writeReport(ctx, bucket, rep)
}

func (h *handler) writeReport(ctx context.Context, bucket string, rep importing.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := h.files.Put(ctx, bucket, importing.ReportKey(rep.Key), bytes.NewReader(append(b, '\n')), "application/json"); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}
