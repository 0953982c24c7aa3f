package usage

import (
	"net/http"
	"strings"
)

// S3's request classes, as it prices them.
const (
	// S3PutClass: PUT, COPY, POST and LIST requests, the dearer class.
	S3PutClass = "put"
	// S3GetClass: GET, HEAD and every other request but DELETE, the cheaper class.
	S3GetClass = "get"
	// S3FreeClass: DELETE requests (objects, aborted uploads), which S3 does not bill.
	S3FreeClass = "free"
)

// s3Operation names an S3 REST request (path style: /<bucket>/<key>) by its API operation and the
// class S3 bills it in.
func s3Operation(r *http.Request) (op, class string) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	has := func(name string) bool { _, ok := q[name]; return ok }
	switch {
	case r.Method == http.MethodDelete && has("uploadId"):
		return "AbortMultipartUpload", S3FreeClass
	case r.Method == http.MethodDelete && key != "":
		return "DeleteObject", S3FreeClass
	case r.Method == http.MethodDelete:
		return "DeleteBucket", S3FreeClass
	case r.Method == http.MethodPost && has("delete"):
		return "DeleteObjects", S3FreeClass
	case bucket == "" && r.Method == http.MethodGet:
		return "ListBuckets", S3PutClass
	case r.Method == http.MethodPut && key != "" && has("uploadId"):
		return "UploadPart", S3PutClass
	case r.Method == http.MethodPut && key != "" && r.Header.Get("X-Amz-Copy-Source") != "":
		return "CopyObject", S3PutClass
	case r.Method == http.MethodPut && key != "":
		return "PutObject", S3PutClass
	case r.Method == http.MethodPut:
		return "CreateBucket", S3PutClass
	case r.Method == http.MethodPost && has("uploads"):
		return "CreateMultipartUpload", S3PutClass
	case r.Method == http.MethodPost && has("uploadId"):
		return "CompleteMultipartUpload", S3PutClass
	case r.Method == http.MethodPost:
		return "PostObject", S3PutClass
	case r.Method == http.MethodGet && key != "" && has("uploadId"):
		return "ListParts", S3PutClass
	case r.Method == http.MethodGet && key == "" && has("uploads"):
		return "ListMultipartUploads", S3PutClass
	case r.Method == http.MethodGet && key == "" && q.Get("list-type") == "2":
		return "ListObjectsV2", S3PutClass
	case r.Method == http.MethodGet && key == "" && has("location"):
		return "GetBucketLocation", S3GetClass
	case r.Method == http.MethodGet && key == "" && !has("versioning") && !has("versions"):
		return "ListObjects", S3PutClass
	case r.Method == http.MethodGet && key != "":
		return "GetObject", S3GetClass
	case r.Method == http.MethodHead && key != "":
		return "HeadObject", S3GetClass
	case r.Method == http.MethodHead:
		return "HeadBucket", S3GetClass
	}
	return r.Method, S3GetClass
}

func (m *Meter) s3(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, class := s3Operation(r)
		in := &countingBody{ReadCloser: r.Body}
		if r.Body != nil {
			r.Body = in
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		m.update(func(s *Snapshot) {
			b := &s.S3
			b.Requests[op]++
			b.ByClass[class]++
			if rec.status >= 400 {
				b.Errors[op]++
			}
			b.BytesIn += in.n
			if r.Method != http.MethodHead {
				b.BytesOut += rec.n
			}
		})
	})
}
