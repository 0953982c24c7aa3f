// Package kinesis is an in-memory Amazon Kinesis Data Streams server for the local stack: the JSON
// 1.1 protocol (X-Amz-Target: Kinesis_20131202.<Operation>) that the AWS SDKs speak, for the calls
// dcrm makes, with the documented limits, per-shard throughput limits and error shapes, and fault
// injection for tests. It accepts any credentials and signature. See README.md.
package kinesis

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Documented limits (AWS Kinesis Data Streams quotas).
const (
	MaxPutRecords       = 500      // records per PutRecords call
	MaxRecordBytes      = 1 << 20  // data and partition key of one record
	MaxPutRecordsBytes  = 5 << 20  // data and partition keys of one PutRecords call
	MaxGetRecords       = 10_000   // records per GetRecords call
	MaxGetRecordsBytes  = 10 << 20 // data per GetRecords call
	IteratorLifetime    = 5 * time.Minute
	DefaultRetention    = 24 * time.Hour
	OnDemandShards      = 4 // a new on-demand stream's capacity: 4 MiB/s, 4,000 records/s of writes
	maxBodyBytes        = 12 << 20
	maxPartitionKeyRune = 256
)

// Limits are the per-shard throughput limits; zero turns a limit off.
type Limits struct {
	WriteBytesPerSecond   float64 // 1 MiB/s in AWS
	WriteRecordsPerSecond float64 // 1,000 records/s
	ReadCallsPerSecond    float64 // 5 GetRecords calls/s
	ReadBytesPerSecond    float64 // 2 MiB/s
}

// AWSLimits are the per-shard limits AWS documents.
var AWSLimits = Limits{WriteBytesPerSecond: 1 << 20, WriteRecordsPerSecond: 1000, ReadCallsPerSecond: 5, ReadBytesPerSecond: 2 << 20}

// Options configure a Server; the zero value is usable (AWS's limits, no byte budget).
type Options struct {
	// Limits are the per-shard throughput limits; nil means AWSLimits. Pass &Limits{} for none.
	Limits *Limits
	// StreamBytes is the most a stream keeps (data and partition keys); beyond it the oldest
	// records are dropped and the drop is logged. 0: only the retention period trims.
	StreamBytes int64
	// ShardLimit is the account's shard quota across streams (LimitExceededException beyond it);
	// 0 means 100,000 (AWS's default is 500 or 200 by region, but every test makes streams of its own).
	ShardLimit int
	Region     string // default us-east-1
	Account    string // default 000000000000
	Logger     *slog.Logger
	Now        func() time.Time
}

// Server serves the Kinesis API. It is an http.Handler; its zero value is not usable: use New.
type Server struct {
	opts   Options
	limits Limits
	log    *slog.Logger
	now    func() time.Time
	faults faults

	mu      sync.RWMutex
	streams map[string]*stream
	shards  int // across streams, for the shard quota
}

// New returns a server with no streams.
func New(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "000000000000"
	}
	if opts.ShardLimit <= 0 {
		opts.ShardLimit = 100_000
	}
	s := &Server{opts: opts, limits: AWSLimits, log: opts.Logger, now: opts.Now, streams: map[string]*stream{}}
	if opts.Limits != nil {
		s.limits = *opts.Limits
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.faults.init()
	return s
}

// apiError is an error answered in the protocol's shape: {"__type": code, "message": msg}.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func invalidArgument(format string, args ...any) *apiError {
	return errorf(400, "InvalidArgumentException", format, args...)
}

func validation(format string, args ...any) *apiError {
	return errorf(400, "ValidationException", "1 validation error detected: "+format, args...)
}

func notFound(format string, args ...any) *apiError {
	return errorf(400, "ResourceNotFoundException", format, args...)
}

const targetPrefix = "Kinesis_20131202."

// ServeHTTP answers Kinesis calls (POST with X-Amz-Target) and, under /dcrm/, the fault and
// statistics routes (admin.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/dcrm/") {
		s.admin(w, r)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost || target == "" {
		writeError(w, errorf(400, "UnknownOperationException", "expected a POST with an X-Amz-Target header of the form %s<Operation>", targetPrefix))
		return
	}
	if ct := r.Header.Get("Content-Type"); strings.Contains(ct, "cbor") {
		writeError(w, errorf(400, "SerializationException", "CBOR is not supported: use the JSON 1.1 protocol (AWS_CBOR_DISABLE=1 for the Java SDK)"))
		return
	}
	op, ok := strings.CutPrefix(target, targetPrefix)
	if !ok {
		writeError(w, errorf(400, "UnknownOperationException", "unknown target %q", target))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		writeError(w, errorf(400, "SerializationException", "read request: %v", err))
		return
	}
	if len(body) > maxBodyBytes {
		writeError(w, invalidArgument("request body larger than %d bytes", maxBodyBytes))
		return
	}
	out, err := s.call(r.Context(), op, body)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", requestID())
	_, _ = w.Write(out)
}

// call handles one operation's JSON request body and returns the response body, or an error with
// the protocol's code. Faults injected for the operation apply.
func (s *Server) call(ctx context.Context, op string, body []byte) ([]byte, error) {
	h, ok := operations[op]
	if !ok {
		return nil, errorf(400, "UnknownOperationException", "operation %q is not supported by this server", op)
	}
	fault := s.faults.match(op, func() string { return s.streamOf(body) })
	if fault.delay > 0 {
		t := time.NewTimer(fault.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if fault.err != nil {
		return nil, fault.err
	}
	out, err := h(s, body, fault.records)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// decode reads a request body strictly enough that a malformed one is a SerializationException.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(400, "SerializationException", "cannot read the request: %v", err)
	}
	return nil
}

// streamOf picks the stream's name out of a request body (its StreamName, StreamARN or
// ShardIterator), for matching faults, without decoding it all; "" when there is none.
func (s *Server) streamOf(body []byte) string {
	var ref struct{ StreamName, StreamARN, ShardIterator string }
	// Only the top-level fields are wanted; a body this reader cannot read fails later anyway.
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		switch k {
		case "StreamName":
			_ = dec.Decode(&ref.StreamName)
		case "StreamARN":
			_ = dec.Decode(&ref.StreamARN)
		case "ShardIterator":
			_ = dec.Decode(&ref.ShardIterator)
		default:
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return ""
			}
		}
	}
	if ref.StreamName != "" {
		return ref.StreamName
	}
	if i := strings.LastIndex(ref.StreamARN, ":stream/"); i >= 0 {
		return ref.StreamARN[i+len(":stream/"):]
	}
	if t, ok := s.readToken(ref.ShardIterator); ok {
		return t.stream
	}
	return ""
}

func writeError(w http.ResponseWriter, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		e = errorf(500, "InternalFailure", "%v", err)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.Header().Set("X-Amzn-RequestId", requestID())
	w.WriteHeader(e.status)
	b, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.msg})
	_, _ = w.Write(b)
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
