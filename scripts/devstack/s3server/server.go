// Package s3server is the local stack's S3: an S3-compatible server (gofakes3's protocol over a
// Store of files) that tells its owner of every object created, as S3 event notifications do.
//
// It speaks S3's REST API with path-style addresses (http://127.0.0.1:<port>/<bucket>/<key>), to
// the AWS SDKs and CLI: buckets, PutObject, GetObject (ranges too), HeadObject, CopyObject,
// DeleteObject(s), ListObjects(V2) with prefix, delimiter and pagination, and multipart uploads.
//
// Memory stays flat however large the objects: objects are files (Store), and the parts of a
// multipart upload are spooled to files and streamed into the object when it completes
// (gofakes3's own uploader holds every part in memory and then the whole object once more).
// Objects survive a restart of the server; uploads in progress do not.
//
// Not emulated: versioning, object lock, ACLs and policies (any credentials are accepted), tags,
// checksums other than MD5, ListParts and ListMultipartUploads of the uploads this server spools,
// virtual-hosted-style addresses, and notices of browser POST uploads.
package s3server

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// maxPutSize is the largest object one PutObject may write, as in S3; larger ones take a
// multipart upload.
const maxPutSize = 5 << 30

// Event names of the objects created, as S3 names them in its notifications.
const (
	EventPut       = "ObjectCreated:Put"
	EventCopy      = "ObjectCreated:Copy"
	EventMultipart = "ObjectCreated:CompleteMultipartUpload"
)

// Created is an object that was just created: what S3 puts in its notification.
type Created struct {
	Event     string // EventPut, EventCopy, EventMultipart
	Time      time.Time
	Bucket    string
	Key       string
	Size      int64
	ETag      string // without quotes
	Sequencer string // orders the events of one key: a later write has a greater sequencer
	SourceIP  string
}

// Server is the local S3 server. Safe for concurrent use.
type Server struct {
	store   *Store
	s3      http.Handler
	uploads *uploads
	created func(Created)
	log     *slog.Logger

	mu      sync.Mutex
	lastSeq uint64
}

// Options configure a Server.
type Options struct {
	// Created, if set, is called once for each object created, after the request that created it
	// succeeded and before its answer is sent.
	Created func(Created)
	Logger  *slog.Logger // nil discards
}

// New opens a server whose objects are kept under dir.
func New(dir string, opts Options) (*Server, error) {
	store, err := OpenStore(dir)
	if err != nil {
		return nil, err
	}
	up, err := newUploads(dir)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	faker := gofakes3.New(store, gofakes3.WithoutVersioning(), gofakes3.WithTimeSkewLimit(0),
		gofakes3.WithLogger(gofakes3.DiscardLog()))
	return &Server{store: store, s3: faker.Server(), uploads: up, created: opts.Created, log: opts.Logger}, nil
}

// Store is the server's storage, for provisioning buckets without a request.
func (s *Server) Store() *Store { return s.store }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	_, initiate := q["uploads"]
	if key != "" && (q.Get("uploadId") != "" || initiate) {
		s.multipart(w, r, bucket, key)
		return
	}
	rec := &statusWriter{ResponseWriter: w}
	if key != "" && r.Method == http.MethodPut {
		// gofakes3 decodes only one of the aws-chunked variants; this server decodes them all.
		body, size, err := payload(r)
		if err == nil && size > maxPutSize {
			err = errEntityTooLarge
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		r.Body, r.ContentLength = io.NopCloser(body), size
		r.Header.Set("Content-Length", strconv.FormatInt(size, 10))
		r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		// The notice goes out before the answer, so a client that sees its put succeed knows the
		// notice is on its way (S3 gives no such promise; tests can rely on it here).
		rec.before = func(status int) {
			if status == http.StatusOK {
				event := EventPut
				if r.Header.Get("X-Amz-Copy-Source") != "" {
					event = EventCopy
				}
				s.notify(r, event, bucket, key)
			}
		}
	}
	s.s3.ServeHTTP(rec, r)
	if !rec.done { // an answer without a body: gofakes3 leaves the status to net/http
		rec.WriteHeader(http.StatusOK)
	}
}

// notify tells the owner of an object created by r.
func (s *Server) notify(r *http.Request, event, bucket, key string) {
	if s.created == nil {
		return
	}
	s.store.mu.RLock()
	e, err := s.store.entry(bucket, key)
	var c Created
	if err == nil {
		c = Created{Event: event, Bucket: bucket, Key: key, Size: e.Size, ETag: e.ETag, Time: e.Modified}
	}
	s.store.mu.RUnlock()
	if err != nil {
		return // deleted in the meantime
	}
	c.Sequencer = s.sequencer(c.Time)
	c.SourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	s.created(c)
}

// sequencer is a hexadecimal number that grows with each object created, across restarts too (it
// starts from the time).
func (s *Server) sequencer(at time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSeq = max(s.lastSeq+1, uint64(at.UnixNano()))
	return fmt.Sprintf("%016X", s.lastSeq)
}

// statusWriter runs before when the status is known, and then puts back the ETag of a multipart
// upload, which gofakes3 can only print as an MD5 (entry.object).
type statusWriter struct {
	http.ResponseWriter
	before func(status int)
	done   bool
}

// etagHeader carries a multipart upload's ETag from the store to statusWriter, which moves it to
// the ETag header; it never leaves the server.
const etagHeader = "X-Local-Multipart-Etag"

func (w *statusWriter) WriteHeader(status int) {
	if w.done {
		return
	}
	w.done = true
	h := w.Header()
	if v := h.Get(etagHeader); v != "" {
		h.Set("ETag", v)
		h.Del(etagHeader)
	}
	if w.before != nil {
		w.before(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeError answers with S3's XML error document.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var own *requestError
	if errors.As(err, &own) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(own.status)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(xml.Header))
			_ = xml.NewEncoder(w).Encode(own)
		}
		return
	}
	var resp interface {
		error
		ErrorCode() gofakes3.ErrorCode
	}
	switch {
	case !errors.As(err, &resp):
		resp = &gofakes3.ErrorResponse{Code: gofakes3.ErrInternal, Message: err.Error()}
	case errors.As(err, new(gofakes3.ErrorCode)): // a bare code, which would encode as itself
		resp = &gofakes3.ErrorResponse{Code: resp.ErrorCode(), Message: resp.ErrorCode().Message()}
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(resp.ErrorCode().Status())
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(xml.Header))
		_ = xml.NewEncoder(w).Encode(resp)
	}
}

func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(v)
}
