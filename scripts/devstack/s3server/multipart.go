package s3server

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/johannesboyne/gofakes3"
)

// Multipart upload limits, as S3 sets them.
const (
	maxParts    = 10000
	maxPartSize = 5 << 30
	minPartSize = 5 << 20 // but the last
	// maxCompleteBody bounds the CompleteMultipartUpload document: 10,000 parts of some 100 bytes.
	maxCompleteBody = 2 << 20
)

// uploads are the multipart uploads in progress: each part in a file of its own under
// <dir>/.uploads/<upload id>/, until the upload completes or is aborted.
type uploads struct {
	dir string
	mu  sync.Mutex
	m   map[string]*upload
}

type upload struct {
	bucket, key string
	meta        map[string]string
	mu          sync.Mutex
	parts       map[int]part
}

type part struct {
	etag string // hex MD5
	size int64
}

// newUploads starts with none: uploads in progress do not outlive the server.
func newUploads(dir string) (*uploads, error) {
	d := filepath.Join(dir, ".uploads")
	if err := os.RemoveAll(d); err != nil {
		return nil, fmt.Errorf("clear uploads: %w", err)
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, fmt.Errorf("clear uploads: %w", err)
	}
	return &uploads{dir: d, m: map[string]*upload{}}, nil
}

func (u *uploads) partFile(id string, n int) string {
	return filepath.Join(u.dir, id, fmt.Sprintf("%05d", n))
}

// get finds an upload of that bucket and key.
func (u *uploads) get(id, bucket, key string) (*upload, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	up := u.m[id]
	if up == nil || up.bucket != bucket || up.key != key {
		return nil, gofakes3.ErrNoSuchUpload
	}
	return up, nil
}

func (u *uploads) remove(id string) {
	u.mu.Lock()
	delete(u.m, id)
	u.mu.Unlock()
	_ = os.RemoveAll(filepath.Join(u.dir, id))
}

// multipart serves CreateMultipartUpload, UploadPart, CompleteMultipartUpload and
// AbortMultipartUpload.
func (s *Server) multipart(w http.ResponseWriter, r *http.Request, bucket, key string) {
	id := r.URL.Query().Get("uploadId")
	var err error
	switch {
	case id == "" && r.Method == http.MethodPost:
		err = s.initiate(w, r, bucket, key)
	case id != "" && r.Method == http.MethodPut:
		err = s.uploadPart(w, r, bucket, key, id)
	case id != "" && r.Method == http.MethodPost:
		err = s.complete(w, r, bucket, key, id)
	case id != "" && r.Method == http.MethodDelete:
		if _, err = s.uploads.get(id, bucket, key); err == nil {
			s.uploads.remove(id)
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		err = gofakes3.ErrNotImplemented
	}
	if err != nil {
		var known interface{ ErrorCode() gofakes3.ErrorCode }
		var own *requestError
		if !errors.As(err, &known) && !errors.As(err, &own) {
			s.log.Error("multipart upload", "bucket", bucket, "error", err) // the disk's, not the request's
		}
		writeError(w, r, err)
	}
}

func (s *Server) initiate(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if ok, _ := s.store.BucketExists(bucket); !ok {
		return gofakes3.BucketNotFound(bucket)
	}
	if len(key) > gofakes3.KeySizeLimit {
		return gofakes3.ResourceError(gofakes3.ErrKeyTooLong, key)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	if err := os.Mkdir(filepath.Join(s.uploads.dir, id), 0o700); err != nil {
		return err
	}
	meta := map[string]string{}
	for k, v := range r.Header {
		meta[k] = v[0]
	}
	s.uploads.mu.Lock()
	s.uploads.m[id] = &upload{bucket: bucket, key: key, meta: storedMeta(meta), parts: map[int]part{}}
	s.uploads.mu.Unlock()
	writeXML(w, gofakes3.InitiateMultipartUploadResult{Bucket: bucket, Key: key, UploadID: gofakes3.UploadID(id)})
	return nil
}

func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, bucket, key, id string) error {
	up, err := s.uploads.get(id, bucket, key)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
	if err != nil || n < 1 || n > maxParts {
		return gofakes3.ErrorMessagef(gofakes3.ErrInvalidArgument, "partNumber must be an integer between 1 and %d", maxParts)
	}
	if r.ContentLength < 0 {
		return gofakes3.ErrMissingContentLength
	}
	if r.ContentLength > maxPartSize {
		return errEntityTooLarge
	}
	body, size, err := payload(r)
	if err != nil {
		return err
	}
	path := s.uploads.partFile(id, n)
	tmp := path + ".tmp" + strconv.FormatInt(int64(os.Getpid()), 10) + hex.EncodeToString(randomBytes(4))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	h := md5.New()
	written, err := io.Copy(io.MultiWriter(f, h), body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if written != size {
		return gofakes3.ErrIncompleteBody
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	etag := hex.EncodeToString(h.Sum(nil))
	up.mu.Lock()
	up.parts[n] = part{etag: etag, size: written}
	up.mu.Unlock()
	w.Header().Set("ETag", `"`+etag+`"`)
	w.WriteHeader(http.StatusOK)
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// payload is the request's body and its length, decoded from the aws-chunked encoding an SDK
// streams a signed body in.
func payload(r *http.Request) (io.Reader, int64, error) {
	if !strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return r.Body, r.ContentLength, nil
	}
	size, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
	if err != nil || size < 0 {
		return nil, 0, gofakes3.ErrMissingContentLength
	}
	// The transfer's encoding is not the object's: S3 keeps only the encodings after it.
	var kept []string
	for _, e := range strings.Split(r.Header.Get("Content-Encoding"), ",") {
		if e = strings.TrimSpace(e); e != "" && e != "aws-chunked" {
			kept = append(kept, e)
		}
	}
	if len(kept) > 0 {
		r.Header.Set("Content-Encoding", strings.Join(kept, ","))
	} else {
		r.Header.Del("Content-Encoding")
	}
	return newChunkReader(r.Body), size, nil
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, bucket, key, id string) error {
	up, err := s.uploads.get(id, bucket, key)
	if err != nil {
		return err
	}
	var req gofakes3.CompleteMultipartUploadRequest
	if err := xml.NewDecoder(io.LimitReader(r.Body, maxCompleteBody)).Decode(&req); err != nil {
		return gofakes3.ErrorMessage(gofakes3.ErrMalformedXML, err.Error())
	}
	if len(req.Parts) == 0 {
		return gofakes3.ErrorMessage(gofakes3.ErrMalformedXML, "the upload names no part")
	}
	up.mu.Lock()
	var files []io.Reader
	var opened []*os.File
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	sums := md5.New()
	var size int64
	last := 0
	for _, p := range req.Parts {
		got, ok := up.parts[p.PartNumber]
		if p.PartNumber <= last {
			up.mu.Unlock()
			return gofakes3.ErrInvalidPartOrder
		}
		if !ok || strings.Trim(p.ETag, `"`) != got.etag {
			up.mu.Unlock()
			return gofakes3.ErrorMessagef(gofakes3.ErrInvalidPart, "part %d was not uploaded with that ETag", p.PartNumber)
		}
		if last > 0 && up.parts[last].size < minPartSize {
			up.mu.Unlock()
			return errEntityTooSmall
		}
		last = p.PartNumber
		f, err := os.Open(s.uploads.partFile(id, p.PartNumber))
		if err != nil {
			up.mu.Unlock()
			return err
		}
		opened = append(opened, f)
		files = append(files, f)
		raw, _ := hex.DecodeString(got.etag)
		sums.Write(raw)
		size += got.size
	}
	meta := up.meta
	up.mu.Unlock()
	etag := fmt.Sprintf("%s-%d", hex.EncodeToString(sums.Sum(nil)), len(req.Parts))
	// The parts stream from their files into the object's: nothing is held in memory.
	if _, err := s.store.put(bucket, key, meta, io.MultiReader(files...), size, nil, etag); err != nil {
		return err
	}
	s.uploads.remove(id)
	s.notify(r, EventMultipart, bucket, key)
	writeXML(w, gofakes3.CompleteMultipartUploadResult{
		Location: "http://" + r.Host + "/" + bucket + "/" + key, Bucket: bucket, Key: key, ETag: `"` + etag + `"`,
	})
	return nil
}
