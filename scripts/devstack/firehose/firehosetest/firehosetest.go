// Package firehosetest runs a local Data Firehose (package firehose) delivering into a local S3
// server (package s3server), both in process over real HTTP, for tests: of the server itself, of
// the meter and the fault injector in front of it, of code that puts records. S3's writes are
// watched and, when a test says so, refused. Only tests import it: it imports "testing".
package firehosetest

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	fh "github.com/dcrm-project/dcrm/scripts/devstack/firehose"
	"github.com/dcrm-project/dcrm/scripts/devstack/s3server"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// Bucket is the bucket the streams of Feed deliver to, created by Start.
const Bucket = "dcrm-archive"

// Feed is a stream shaped like the topology's archive feed (into Bucket under incoming/, errors
// under incoming-errors/, 900 s or 128 MiB), under the given name.
func Feed(name string) fh.Stream {
	return fh.Stream{Name: name, Bucket: Bucket, Prefix: "incoming/", ErrorPrefix: "incoming-errors/",
		BufferInterval: 900 * time.Second, BufferBytes: 128 << 20}
}

// World is a firehose server and the S3 server it delivers to.
type World struct {
	Server *fh.Server
	URL    string // the firehose server's
	S3     *s3.Client

	mu      sync.Mutex
	written []string // keys of the PutObject requests S3 answered 200, in order
	refused int
	refuse  func(key string) bool
	created []string // keys S3 told of (its object-created notices)
}

// Start starts the servers with the options and streams given (opts.S3 and opts.Streams are set
// here); both stop when the test ends.
func Start(tb testing.TB, opts fh.Options, streams ...fh.Stream) *World {
	tb.Helper()
	w := &World{}
	store, err := s3server.New(tb.TempDir(), s3server.Options{Created: func(c s3server.Created) {
		w.mu.Lock()
		w.created = append(w.created, c.Key)
		w.mu.Unlock()
	}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := store.Store().CreateBucket(Bucket); err != nil {
		tb.Fatal(err)
	}
	s3srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/"+Bucket+"/")
		put := r.Method == http.MethodPut
		w.mu.Lock()
		refuse := put && w.refuse != nil && w.refuse(key)
		if refuse {
			w.refused++
		}
		w.mu.Unlock()
		if refuse {
			rw.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(rw, `<Error><Code>ServiceUnavailable</Code><Message>refused by the test</Message></Error>`)
			return
		}
		rec := &status{ResponseWriter: rw, code: http.StatusOK}
		store.ServeHTTP(rec, r)
		if put && rec.code == http.StatusOK {
			w.mu.Lock()
			w.written = append(w.written, key)
			w.mu.Unlock()
		}
	}))
	tb.Cleanup(s3srv.Close)
	w.S3 = localaws.Endpoints{S3: s3srv.URL}.S3Client()
	opts.S3, opts.Streams = w.S3, streams
	srv, err := fh.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	w.Server = srv
	tb.Cleanup(func() { _ = srv.Close() })
	api := httptest.NewServer(srv)
	tb.Cleanup(api.Close)
	w.URL = api.URL
	return w
}

// Client is an SDK client of the endpoint (the world's server when ""), which does not retry,
// so that every answer shows.
func Client(endpoint string) *firehose.Client {
	return firehose.NewFromConfig(localaws.Endpoints{}.Config(), func(o *firehose.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.Retryer = aws.NopRetryer{}
	})
}

// Client is a client of the world's server that does not retry.
func (w *World) Client() *firehose.Client { return Client(w.URL) }

type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(code int) { s.code = code; s.ResponseWriter.WriteHeader(code) }

// Refuse makes S3 answer 503 to the writes of the keys f is true for (nil: none).
func (w *World) Refuse(f func(key string) bool) {
	w.mu.Lock()
	w.refuse = f
	w.mu.Unlock()
}

// Written are the keys S3 took, in order.
func (w *World) Written() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.written)
}

// Refused is how many writes S3 refused.
func (w *World) Refused() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refused
}

// Created are the keys S3 told of, in order.
func (w *World) Created() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.created)
}

// Objects waits until S3 has taken n objects and returns their keys in the order written; more
// than n fails the test.
func (w *World) Objects(tb testing.TB, n int) []string {
	tb.Helper()
	require.Eventually(tb, func() bool { return len(w.Written()) >= n }, 10*time.Second, 5*time.Millisecond, "%d objects written", n)
	got := w.Written()
	require.Len(tb, got, n, "no more objects than that")
	return got
}

// Content is an object's content, gunzipped.
func (w *World) Content(tb testing.TB, key string) string {
	tb.Helper()
	out, err := w.S3.GetObject(tb.Context(), &s3.GetObjectInput{Bucket: aws.String(Bucket), Key: aws.String(key)})
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Body.Close()
	raw, err := io.ReadAll(out.Body)
	if err != nil {
		tb.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		tb.Fatalf("%s is not gzip: %v", key, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
