package usage

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The SDK's requests, path style, by the operation and price class S3 gives them.
func TestS3Operation(t *testing.T) {
	for _, c := range []struct {
		method, target, copySource string
		op, class                  string
	}{
		{"PUT", "/b/k?x-id=PutObject", "", "PutObject", S3PutClass},
		{"PUT", "/b/k?x-id=CopyObject", "b/src", "CopyObject", S3PutClass},
		{"PUT", "/b/k?partNumber=1&uploadId=u&x-id=UploadPart", "", "UploadPart", S3PutClass},
		{"POST", "/b/k?uploads=&x-id=CreateMultipartUpload", "", "CreateMultipartUpload", S3PutClass},
		{"POST", "/b/k?uploadId=u&x-id=CompleteMultipartUpload", "", "CompleteMultipartUpload", S3PutClass},
		{"GET", "/b?list-type=2&prefix=orders%2F", "", "ListObjectsV2", S3PutClass},
		{"GET", "/b?prefix=x", "", "ListObjects", S3PutClass},
		{"GET", "/", "", "ListBuckets", S3PutClass},
		{"GET", "/b?uploads=", "", "ListMultipartUploads", S3PutClass},
		{"GET", "/b/k?uploadId=u", "", "ListParts", S3PutClass},
		{"PUT", "/b", "", "CreateBucket", S3PutClass},
		{"GET", "/b/orders/a%20b.csv?x-id=GetObject", "", "GetObject", S3GetClass},
		{"HEAD", "/b/k", "", "HeadObject", S3GetClass},
		{"HEAD", "/b", "", "HeadBucket", S3GetClass},
		{"GET", "/b?location=", "", "GetBucketLocation", S3GetClass},
		{"DELETE", "/b/k?x-id=DeleteObject", "", "DeleteObject", S3FreeClass},
		{"POST", "/b?delete=", "", "DeleteObjects", S3FreeClass},
		{"DELETE", "/b/k?uploadId=u", "", "AbortMultipartUpload", S3FreeClass},
		{"DELETE", "/b", "", "DeleteBucket", S3FreeClass},
	} {
		r := httptest.NewRequest(c.method, c.target, nil)
		if c.copySource != "" {
			r.Header.Set("X-Amz-Copy-Source", c.copySource)
		}
		if op, class := s3Operation(r); op != c.op || class != c.class {
			t.Errorf("%s %s = %s (%s), want %s (%s)", c.method, c.target, op, class, c.op, c.class)
		}
	}
}

func TestMetersS3BytesWithoutHoldingThem(t *testing.T) {
	m := New(nil)
	m.Stored(func() (int64, int64) { return 3, 300 })
	srv := httptest.NewServer(m.Middleware(S3, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := r.Body.Read(make([]byte, 1<<20))
		if r.Method == http.MethodGet {
			w.Write([]byte(strings.Repeat("x", 1000)))
			return
		}
		if n == 0 {
			w.WriteHeader(http.StatusNotFound)
		}
	})))
	defer srv.Close()
	for _, req := range []struct{ method, path, body string }{
		{"PUT", "/b/k", strings.Repeat("y", 500)}, {"GET", "/b/k", ""}, {"PUT", "/b/empty", ""}, {"DELETE", "/b/k", ""},
	} {
		r, _ := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(req.body))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	u := m.Snapshot().S3
	if u.BytesIn != 500 || u.BytesOut != 1000 {
		t.Errorf("bytes in %d, out %d; want 500 and 1000", u.BytesIn, u.BytesOut)
	}
	if u.ByClass[S3PutClass] != 2 || u.ByClass[S3GetClass] != 1 || u.ByClass[S3FreeClass] != 1 || u.Errors["PutObject"] != 1 {
		t.Errorf("by class %v, errors %v", u.ByClass, u.Errors)
	}
	if u.Objects != 3 || u.StoredBytes != 300 {
		t.Errorf("stored %d objects, %d bytes; want the gauge's 3 and 300", u.Objects, u.StoredBytes)
	}
	d := m.Snapshot().Sub(m.Snapshot())
	if d.S3.StoredBytes != 300 || d.S3.BytesIn != 0 {
		t.Errorf("Sub: %+v, want the later gauge and no traffic", d.S3)
	}
}
