package objectstore

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dcrm-project/dcrm/scripts/devstack/s3server"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

func TestContentType(t *testing.T) {
	for key, want := range map[string]string{
		"events/dt=2026-12-07/part-1.parquet": "application/vnd.apache.parquet",
		"erasures/pending/prf_1.json":         "application/json",
		"incoming/2026/12/07/10/feed-1.gz":    "application/gzip",
		"reports/p/paths.csv":                 "text/csv; charset=utf-8",
		"reports/p/picture.svg":               "image/svg+xml",
		"spend/ads.csv.jsonl":                 "application/octet-stream",
	} {
		if got := ContentType(key); got != want {
			t.Errorf("%s: %s, want %s", key, got, want)
		}
	}
}

// newBucket is a bucket of an S3 server of its own (the local host's, in the test's process).
func newBucket(t *testing.T) Bucket {
	t.Helper()
	srv, err := s3server.New(t.TempDir(), s3server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	b := Bucket{Client: localaws.Endpoints{S3: hs.URL}.S3Client(), Name: "archive"}
	if _, err := b.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b.Name)}); err != nil {
		t.Fatal(err)
	}
	return b
}

// Put, Get, List and Delete through S3: an object reads back whole with the content type of its
// name; one larger than the reader takes is refused, one that is not there is ErrNotFound.
func TestBucket(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t)
	csv := []byte("goal,by\nOrder Completed,channel\n")
	for key, body := range map[string][]byte{"reports/p/paths.csv": csv, "reports/p/manifest.json": []byte(`{}`), "other/x.json": []byte(`[]`)} {
		if err := b.Put(ctx, key, body); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.Get(ctx, "reports/p/paths.csv", int64(len(csv)))
	if err != nil || string(got) != string(csv) {
		t.Errorf("Get: %q, %v", got, err)
	}
	head, err := b.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.Name), Key: aws.String("reports/p/paths.csv")})
	if err != nil || aws.ToString(head.ContentType) != "text/csv; charset=utf-8" {
		t.Errorf("content type %q, %v", aws.ToString(head.ContentType), err)
	}
	if _, err := b.Get(ctx, "reports/p/paths.csv", int64(len(csv))-1); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "reports/p/paths.csv") {
		t.Errorf("an object over the limit: %v", err)
	}
	if _, err := b.Get(ctx, "reports/q/paths.csv", 100); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing object: %v", err)
	}
	keys, err := b.List(ctx, "reports/")
	if err != nil || !slices.Equal(keys, []string{"reports/p/manifest.json", "reports/p/paths.csv"}) {
		t.Errorf("List: %q, %v", keys, err)
	}
	if err := b.Delete(ctx, "reports/p/paths.csv"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "reports/p/paths.csv", 100); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted object: %v", err)
	}
}

// A conditional write holds only at the version read; a multipart upload's parts (a part uploaded
// again replaces it) make one object, in order; a completed upload is no longer in progress.
func TestConditionalPutAndMultipart(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t)
	created, err := b.PutIf(ctx, "m.json", []byte(`{"v":1}`), "")
	if err != nil || created == "" {
		t.Fatal(created, err)
	}
	if _, err := b.PutIf(ctx, "m.json", []byte(`{"v":1}`), ""); !errors.Is(err, ErrChanged) {
		t.Fatalf("a second create: %v", err)
	}
	body, etag, err := b.GetVersion(ctx, "m.json", 100)
	if err != nil || string(body) != `{"v":1}` || etag != created {
		t.Fatalf("GetVersion: %q %q %v", body, etag, err)
	}
	second, err := b.PutIf(ctx, "m.json", []byte(`{"v":2}`), etag)
	if err != nil || second == etag {
		t.Fatal(second, err)
	}
	if _, err := b.PutIf(ctx, "m.json", []byte(`{"v":3}`), etag); !errors.Is(err, ErrChanged) {
		t.Fatalf("a write at a version that moved on: %v", err)
	}
	if n, err := b.Size(ctx, "m.json"); err != nil || n != 7 {
		t.Fatalf("Size: %d %v", n, err)
	}
	if _, err := b.Size(ctx, "none.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Size of nothing: %v", err)
	}

	id, err := b.StartUpload(ctx, "big.csv")
	if err != nil {
		t.Fatal(err)
	}
	first := []byte(strings.Repeat("a", MinPartSize))
	if _, err := b.UploadPart(ctx, "big.csv", id, 1, []byte(strings.Repeat("x", MinPartSize))); err != nil {
		t.Fatal(err)
	}
	p1, err := b.UploadPart(ctx, "big.csv", id, 1, first) // a retry: replaces the part
	if err != nil {
		t.Fatal(err)
	}
	p2, err := b.UploadPart(ctx, "big.csv", id, 2, []byte("tail\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.UploadPart(ctx, "big.csv", id, MaxParts+1, nil); err == nil {
		t.Fatal("a part over the last number")
	}
	if err := b.CompleteUpload(ctx, "big.csv", id, []Part{p1, p2}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "big.csv", 2*MinPartSize)
	if err != nil || string(got) != string(first)+"tail\n" {
		t.Fatalf("the completed object: %d bytes, %v", len(got), err)
	}
	if _, err := b.UploadPart(ctx, "big.csv", id, 3, []byte("more")); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("a part of a completed upload: %v", err)
	}
	if err := b.CompleteUpload(ctx, "big.csv", id, []Part{p1, p2}); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("completing twice: %v", err)
	}
	id, err = b.StartUpload(ctx, "gone.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AbortUpload(ctx, "gone.csv", id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Size(ctx, "gone.csv"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an aborted upload's object: %v", err)
	}
}
