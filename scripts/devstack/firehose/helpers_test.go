package firehose_test

import (
	"bytes"
	"compress/gzip"
	"context"
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

const bucket = "dcrm-archive"

// world is a firehose server delivering to a local S3 server, both over real HTTP, with S3's
// PutObject requests watched and, when the test says so, refused.
type world struct {
	fh     *fh.Server
	client *firehose.Client
	s3     *s3.Client
	url    string

	mu      sync.Mutex
	puts    []string // keys of the PutObject requests S3 answered 200, in order
	refused int      // PutObject requests refused
	refuse  func(key string) bool
	created []string // keys S3 told of (its object-created notices)
}

// newWorld starts the servers with the streams and options given (S3 is filled in); the firehose
// client does not retry, so every answer shows.
func newWorld(t testing.TB, opts fh.Options, streams ...fh.Stream) *world {
	t.Helper()
	w := &world{}
	store, err := s3server.New(t.TempDir(), s3server.Options{Created: func(c s3server.Created) {
		w.mu.Lock()
		w.created = append(w.created, c.Key)
		w.mu.Unlock()
	}})
	require.NoError(t, err)
	require.NoError(t, store.Store().CreateBucket(bucket))
	s3srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/"+bucket+"/")
		w.mu.Lock()
		refuse := r.Method == http.MethodPut && w.refuse != nil && w.refuse(key)
		if refuse {
			w.refused++
		}
		w.mu.Unlock()
		if refuse {
			rw.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(rw, `<Error><Code>ServiceUnavailable</Code><Message>down on purpose</Message></Error>`)
			return
		}
		rec := &status{ResponseWriter: rw, code: http.StatusOK}
		store.ServeHTTP(rec, r)
		if r.Method == http.MethodPut && rec.code == http.StatusOK {
			w.mu.Lock()
			w.puts = append(w.puts, key)
			w.mu.Unlock()
		}
	}))
	t.Cleanup(s3srv.Close)
	w.s3 = localaws.Endpoints{S3: s3srv.URL}.S3Client()
	opts.S3 = w.s3
	opts.Streams = streams
	srv, err := fh.New(opts)
	require.NoError(t, err)
	w.fh = srv
	t.Cleanup(func() { _ = srv.Close() })
	api := httptest.NewServer(srv)
	t.Cleanup(api.Close)
	w.url = api.URL
	w.client = firehose.NewFromConfig(localaws.Endpoints{}.Config(), func(o *firehose.Options) {
		o.BaseEndpoint = aws.String(api.URL)
		o.Retryer = aws.NopRetryer{}
	})
	return w
}

type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(code int) { s.code = code; s.ResponseWriter.WriteHeader(code) }

func (w *world) setRefuse(f func(key string) bool) {
	w.mu.Lock()
	w.refuse = f
	w.mu.Unlock()
}

func (w *world) written() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.puts)
}

func (w *world) refusals() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refused
}

// objects waits until S3 holds n objects written through the firehose and returns their keys in
// the order they were written.
func (w *world) objects(t *testing.T, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool { return len(w.written()) >= n }, 10*time.Second, 5*time.Millisecond, "objects written")
	got := w.written()
	require.Len(t, got, n, "no more objects than expected")
	return got
}

// content is an object's content, gunzipped.
func (w *world) content(t *testing.T, key string) string {
	t.Helper()
	out, err := w.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	require.NoError(t, err)
	defer out.Body.Close()
	raw, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err, "the object is gzip")
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return string(b)
}

func (w *world) putBatch(t *testing.T, stream string, records ...string) *firehose.PutRecordBatchOutput {
	t.Helper()
	out, err := w.client.PutRecordBatch(context.Background(), batchInput(stream, records...))
	require.NoError(t, err)
	require.Zero(t, aws.ToInt32(out.FailedPutCount))
	return out
}
