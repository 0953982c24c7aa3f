// Package firehose is the local stack's Amazon Data Firehose: Direct PUT delivery streams into S3,
// served over the JSON 1.1 protocol the AWS SDKs speak (X-Amz-Target: Firehose_20150804.<Operation>)
// for the calls dcrm makes — PutRecordBatch, PutRecord, DescribeDeliveryStream and
// ListDeliveryStreams — with AWS's limits and error shapes. Each stream gathers the records put to
// it and, when its buffer reaches the stream's size or its interval has passed since the first
// record it holds, writes them, concatenated as they were put and gzipped, as one object through an
// S3 client (the local S3 server's API, so the bucket's notifications fire and S3's meter counts
// the write), under the key Firehose gives it. A failed write is retried, backing off, without
// losing or reordering records. It accepts any credentials and signature. See README.md.
package firehose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dcrm-project/dcrm/scripts/devstack/awsid"
)

// Documented limits (Amazon Data Firehose API reference and quotas).
const (
	MaxBatchRecords = 500               // records per PutRecordBatch call
	MaxRecordBytes  = 1000 << 10        // a record's data before base64: 1,000 KiB
	MaxBatchBytes   = 4 << 20           // the data of one PutRecordBatch call: 4 MiB
	maxBodyBytes    = 4<<20*4/3 + 1<<20 // a full call in base64 with room for the JSON around it
)

// Defaults of Options.
const (
	DefaultRetryDelay      = time.Second
	DefaultMaxRetryDelay   = 30 * time.Second
	DefaultRetryFor        = 24 * time.Hour // how long Firehose retries delivery to S3
	DefaultCloseTimeout    = 10 * time.Second
	DefaultMaxPendingBytes = 256 << 20
)

// Stream is a delivery stream with an S3 destination.
type Stream struct {
	Name   string // the stream's (physical) name, which its objects' names start with
	Bucket string // the destination bucket's name
	// Prefix is put before the time prefix "YYYY/MM/DD/HH/" of each object's key (Firehose's
	// default when a prefix holds no expressions); ErrorPrefix is where a batch S3 kept refusing
	// for RetryFor goes instead (see README.md).
	Prefix, ErrorPrefix string
	// An object is written when the buffer holds BufferBytes, or BufferInterval after the first
	// record it holds arrived, whichever comes first. BufferBytes 0 means 5 MiB (Firehose's
	// default); an interval of 0 writes each call's records at once.
	BufferInterval time.Duration
	BufferBytes    int
}

// Options configure a Server.
type Options struct {
	// S3 writes the objects; in the local stack a client of the local S3 server
	// (localaws.S3Client), so that the write is metered and notified like any other.
	S3      *s3.Client
	Streams []Stream
	// A failed write is tried again after RetryDelay, then twice as long each time up to
	// MaxRetryDelay, for RetryFor; after that the batch goes under the stream's ErrorPrefix
	// (retried there until it is written). Defaults: 1 s, 30 s, 24 h.
	RetryDelay, MaxRetryDelay, RetryFor time.Duration
	// CloseTimeout bounds how long Close waits for the buffered records to be written (10 s).
	CloseTimeout time.Duration
	// MaxPendingBytes bounds the records a stream holds, buffered or waiting to be written; beyond
	// it puts are refused with ServiceUnavailableException until S3 takes them again (256 MiB).
	MaxPendingBytes int
	Region          string // default us-east-1
	Account         string // default 000000000000
	Logger          *slog.Logger
	// Now is the clock the objects' names are read from (default time.Now); buffering intervals
	// and retries run on real time.
	Now func() time.Time
}

// Server serves the Firehose API for its streams and delivers their records. It is an
// http.Handler; use New, and Close to flush.
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	streams map[string]*stream
	names   []string // sorted

	closeOnce sync.Once
	closeErr  error
	stop      context.CancelFunc // aborts deliveries still running at Close's deadline
	wg        sync.WaitGroup
}

// ErrInvalidStream is what New returns for a stream it cannot deliver.
var ErrInvalidStream = errors.New("invalid delivery stream")

// New starts a server delivering its streams' records.
func New(opts Options) (*Server, error) {
	if opts.S3 == nil {
		return nil, fmt.Errorf("%w: no S3 client to deliver with", ErrInvalidStream)
	}
	setDefault(&opts.RetryDelay, DefaultRetryDelay)
	setDefault(&opts.MaxRetryDelay, DefaultMaxRetryDelay)
	setDefault(&opts.RetryFor, DefaultRetryFor)
	setDefault(&opts.CloseTimeout, DefaultCloseTimeout)
	setDefault(&opts.MaxPendingBytes, DefaultMaxPendingBytes)
	setDefault(&opts.Region, "us-east-1")
	setDefault(&opts.Account, "000000000000")
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, streams: map[string]*stream{}, stop: stop}
	for _, st := range opts.Streams {
		if err := validStream(st); err != nil {
			stop()
			return nil, err
		}
		if _, dup := s.streams[st.Name]; dup {
			stop()
			return nil, fmt.Errorf("%w: %q declared twice", ErrInvalidStream, st.Name)
		}
		if st.BufferBytes == 0 {
			st.BufferBytes = 5 << 20
		}
		s.streams[st.Name] = newStream(s, st)
		s.names = append(s.names, st.Name)
	}
	slices.Sort(s.names)
	for _, st := range s.streams {
		s.wg.Go(func() { st.run(ctx) })
	}
	return s, nil
}

func setDefault[T comparable](v *T, fallback T) {
	var zero T
	if *v == zero {
		*v = fallback
	}
}

// validStream checks what Firehose's CreateDeliveryStream would: a name of 1–64 letters, digits,
// underscores, hyphens and periods, a bucket, and buffering hints in range.
func validStream(st Stream) error {
	switch {
	case !validName(st.Name):
		return fmt.Errorf("%w: name %q, want 1 to 64 of a-z, A-Z, 0-9, _, - and .", ErrInvalidStream, st.Name)
	case st.Bucket == "":
		return fmt.Errorf("%w: %s has no bucket", ErrInvalidStream, st.Name)
	case st.BufferInterval < 0 || st.BufferInterval > 900*time.Second:
		return fmt.Errorf("%w: %s: buffer interval %v, want 0 to 900 s", ErrInvalidStream, st.Name, st.BufferInterval)
	case st.BufferBytes < 0 || st.BufferBytes > 128<<20:
		return fmt.Errorf("%w: %s: buffer of %d bytes, want at most 128 MiB", ErrInvalidStream, st.Name, st.BufferBytes)
	}
	return nil
}

func validName(name string) bool {
	if len(name) < 1 || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// ARN is a stream's ARN in the server's region and account.
func (s *Server) ARN(stream string) string {
	return fmt.Sprintf("arn:aws:firehose:%s:%s:deliverystream/%s", s.opts.Region, s.opts.Account, stream)
}

// apiError is an error answered in the protocol's shape: {"__type": code, "message": msg}.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func invalidArgument(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidArgumentException", fmt.Sprintf(format, args...)}
}

func (s *Server) notFound(name string) *apiError {
	return &apiError{http.StatusBadRequest, "ResourceNotFoundException",
		fmt.Sprintf("Firehose stream %s under account %s not found.", name, s.opts.Account)}
}

func unavailable(format string, args ...any) *apiError {
	return &apiError{http.StatusServiceUnavailable, "ServiceUnavailableException", fmt.Sprintf(format, args...)}
}

const (
	targetPrefix = "Firehose_20150804."
	contentType  = "application/x-amz-json-1.1"
)

// operations are the calls served, by name.
var operations = map[string]func(*Server, []byte) (any, error){
	"PutRecordBatch":         (*Server).putRecordBatch,
	"PutRecord":              (*Server).putRecord,
	"DescribeDeliveryStream": (*Server).describe,
	"ListDeliveryStreams":    (*Server).list,
}

// ServeHTTP answers Firehose calls: a POST with X-Amz-Target Firehose_20150804.<Operation> and a
// JSON body.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out, err := s.serve(r)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", awsid.UUID())
	if err != nil {
		var e *apiError
		if !errors.As(err, &e) {
			e = &apiError{http.StatusInternalServerError, "InternalFailure", err.Error()}
		}
		w.Header().Set("X-Amzn-ErrorType", e.code)
		w.WriteHeader(e.status)
		out = map[string]string{"__type": e.code, "message": e.msg}
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) serve(r *http.Request) (any, error) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	h, known := operations[op]
	if r.Method != http.MethodPost || !ok || !known {
		return nil, &apiError{http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("expected a POST with X-Amz-Target %s<Operation>, one of PutRecordBatch, PutRecord, DescribeDeliveryStream, ListDeliveryStreams", targetPrefix)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "SerializationException", "read the request: " + err.Error()}
	}
	if len(body) > maxBodyBytes {
		return nil, invalidArgument("the request is larger than %d bytes; a PutRecordBatch takes at most %d bytes of data", maxBodyBytes, MaxBatchBytes)
	}
	return h(s, body)
}

// decode reads a request body; one that is not JSON of the call's shape (or whose data is not
// base64) is a SerializationException.
func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{http.StatusBadRequest, "SerializationException", "cannot read the request: " + err.Error()}
	}
	return nil
}

// Close stops taking records, writes what the streams hold and waits for it, for at most
// CloseTimeout; what could not be written by then is lost, and the error says how much.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		for _, st := range s.streams {
			st.close()
		}
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		t := time.NewTimer(s.opts.CloseTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			s.stop()
			<-done
		}
		s.stop()
		var lost []string
		for _, name := range s.names {
			if n, b := s.streams[name].held(); n > 0 {
				lost = append(lost, fmt.Sprintf("%s: %d records (%d bytes)", name, n, b))
			}
		}
		if len(lost) > 0 {
			s.closeErr = fmt.Errorf("firehose: not written to S3 within %v: %s", s.opts.CloseTimeout, strings.Join(lost, "; "))
			s.log.Error("records lost at close", "error", s.closeErr)
		}
	})
	return s.closeErr
}
