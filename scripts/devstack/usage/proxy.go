package usage

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proxy is a reverse proxy to a local server's endpoint, with connections kept open for the many
// callers of a loaded stack. Middleware (the meter's, fault injection) wraps it.
func Proxy(endpoint string) (*httputil.ReverseProxy, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("proxy target %q is not a URL with a host", endpoint)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // pass the caller's Accept-Encoding through untouched
		// A request's headers and body, and most answers, in one write and one read: at the default
		// 4 KB a PutRecords or a GetRecords answer took several system calls each way.
		WriteBufferSize: 64 << 10,
		ReadBufferSize:  64 << 10,
	}
	p.BufferPool = copyBuffers
	p.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, "local server unreachable: "+err.Error(), http.StatusBadGateway)
	}
	return p, nil
}

// copyBuffers lends the proxies the 32 KB buffers they copy answers through; without a pool each
// request allocated one, the collector's largest single source of work in the host under load.
var copyBuffers = &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

// Middleware wraps next, the proxy to service's local server, with the meter: it counts each
// request as that service bills it. Requests it does not recognise pass through counted only by
// operation.
func (m *Meter) Middleware(service string, next http.Handler) http.Handler {
	switch service {
	case DynamoDB:
		return m.dynamodb(next)
	case Kinesis:
		return m.kinesis(next)
	case SQS:
		return m.sqs(next)
	case S3:
		return m.s3(next)
	case Firehose:
		return m.firehose(next)
	}
	return next
}

// operation is the action of a JSON-protocol request: "PutItem" of "DynamoDB_20120810.PutItem".
func operation(r *http.Request) string {
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	return op
}

// readBody reads the request's body and puts it back, so the proxy still sends it. The SDKs give
// the length: the body is read into one buffer of that size rather than grown as it comes.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := readAll(r.Body, r.ContentLength)
	r.Body.Close()
	setBody(r, b)
	return b, err
}

// readAll reads rd to its end into a buffer sized for n bytes (n < 0: unknown).
func readAll(rd io.Reader, n int64) ([]byte, error) {
	if n < 0 || n > maxPrealloc {
		return io.ReadAll(rd)
	}
	var buf bytes.Buffer
	buf.Grow(int(n) + bytes.MinRead) // ReadFrom wants MinRead spare bytes to see the end without growing
	_, err := buf.ReadFrom(rd)
	return buf.Bytes(), err
}

// maxPrealloc bounds the buffer a declared length reserves before any byte arrives.
const maxPrealloc = 16 << 20

func setBody(r *http.Request, b []byte) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Set("Content-Length", strconv.Itoa(len(b)))
}

// recorder passes a response through and keeps its status and a copy of its body.
type recorder struct {
	http.ResponseWriter
	status int
	keep   bool
	body   bytes.Buffer
	n      int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.keep {
		if r.body.Cap() == 0 {
			r.body.Grow(expected(r.Header().Get("Content-Length"), len(p)))
		}
		r.body.Write(p)
	}
	r.n += int64(len(p))
	return r.ResponseWriter.Write(p)
}

// expected is the buffer to reserve for a body of the declared length (at least what came first).
func expected(contentLength string, first int) int {
	n, err := strconv.Atoi(contentLength)
	if err != nil || n < first || n > maxPrealloc {
		return first
	}
	return n
}

// Unwrap lets http.ResponseController reach the writer's Flush.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// decoded is the recorded body, gunzipped when the server compressed it.
func (r *recorder) decoded() []byte {
	b := r.body.Bytes()
	if r.Header().Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			if d, err := io.ReadAll(zr); err == nil {
				return d
			}
		}
	}
	return b
}

// errorType is the exception name of a JSON-protocol error answer: "ConditionalCheckFailedException"
// of "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException".
func errorType(body []byte) string {
	var e struct {
		Type string `json:"__type"`
	}
	_ = json.Unmarshal(body, &e)
	if i := strings.LastIndexByte(e.Type, '#'); i >= 0 {
		return e.Type[i+1:]
	}
	return e.Type
}

// acceptedSizes are the sizes of the records a batch call (Kinesis's PutRecords, Firehose's
// PutRecordBatch) took, by its answer: all of put when the answer holds allTaken (its failed count
// of 0, as the servers write it), else those whose entry in the answer's list has no ErrorCode.
func acceptedSizes(put []int64, answer []byte, allTaken, list string) []int64 {
	if bytes.Contains(answer, []byte(allTaken)) {
		return put
	}
	var out map[string]json.RawMessage
	var entries []struct{ ErrorCode string }
	_ = json.Unmarshal(answer, &out)
	_ = json.Unmarshal(out[list], &entries)
	var accepted []int64
	for i, p := range put {
		if i < len(entries) && entries[i].ErrorCode == "" {
			accepted = append(accepted, p)
		}
	}
	return accepted
}
