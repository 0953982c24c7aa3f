package s3server_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/s3server"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// notices collects what the server reports created.
type notices struct {
	mu  sync.Mutex
	got []s3server.Created
}

func (n *notices) add(c s3server.Created) {
	n.mu.Lock()
	n.got = append(n.got, c)
	n.mu.Unlock()
}

func (n *notices) all() []s3server.Created {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]s3server.Created(nil), n.got...)
}

// start serves a server on dir over HTTP and returns an SDK client configured as functions and
// commands build theirs (localaws.S3Client).
func start(t *testing.T, dir string) (*s3.Client, *notices, string) {
	t.Helper()
	n := &notices{}
	srv, err := s3server.New(dir, s3server.Options{Created: n.add})
	require.NoError(t, err)
	h := httptest.NewServer(srv)
	t.Cleanup(h.Close)
	return localaws.Endpoints{S3: h.URL}.S3Client(), n, h.URL
}

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func put(t *testing.T, c *s3.Client, bucket, key, body string) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	require.NoError(t, err, key)
	return out
}

func get(t *testing.T, c *s3.Client, bucket, key string) string {
	t.Helper()
	out, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	require.NoError(t, err, key)
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	return string(b)
}

func md5hex(b []byte) string { h := md5.Sum(b); return hex.EncodeToString(h[:]) }

func TestObjects(t *testing.T) {
	c, _, _ := start(t, t.TempDir())
	ctx := t.Context()
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("imports")})
	require.NoError(t, err)
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("imports")})
	assert.Equal(t, "BucketAlreadyExists", code(err))

	t.Run("puts, gets and heads any key", func(t *testing.T) {
		for _, key := range []string{"customers/crm export 2026.csv", "orders/a+b=c&d.jsonl", "orders/café ☕/été.csv.gz", "x/../y", "a", "a/b", "dir/", strings.Repeat("k", 1024)} {
			body := "contents of " + key
			out := put(t, c, "imports", key, body)
			assert.Equal(t, `"`+md5hex([]byte(body))+`"`, aws.ToString(out.ETag))
			assert.Equal(t, body, get(t, c, "imports", key))
		}
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("imports"), Key: aws.String("meta.csv"), Body: strings.NewReader("a,b\n"),
			ContentType: aws.String("text/csv"), Metadata: map[string]string{"kind": "orders"}})
		require.NoError(t, err)
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("imports"), Key: aws.String("meta.csv")})
		require.NoError(t, err)
		assert.Equal(t, int64(4), aws.ToInt64(head.ContentLength))
		assert.Equal(t, "text/csv", aws.ToString(head.ContentType))
		assert.Equal(t, map[string]string{"kind": "orders"}, head.Metadata)
		assert.Equal(t, `"`+md5hex([]byte("a,b\n"))+`"`, aws.ToString(head.ETag))

		part, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("imports"), Key: aws.String("meta.csv"), Range: aws.String("bytes=2-3")})
		require.NoError(t, err)
		b, _ := io.ReadAll(part.Body)
		part.Body.Close()
		assert.Equal(t, "b\n", string(b))

		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("imports"), Key: aws.String("nothing")})
		assert.Equal(t, "NoSuchKey", code(err))
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k"), Body: strings.NewReader("x")})
		assert.Equal(t, "NoSuchBucket", code(err))
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("imports"), Key: aws.String(strings.Repeat("k", 1025)), Body: strings.NewReader("x")})
		assert.Equal(t, "KeyTooLongError", code(err))
	})

	t.Run("replaces an object and its metadata", func(t *testing.T) {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("imports"), Key: aws.String("r"), Body: strings.NewReader("one"), Metadata: map[string]string{"a": "1"}})
		require.NoError(t, err)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("imports"), Key: aws.String("r"), Body: strings.NewReader("two!"), Metadata: map[string]string{"b": "2"}})
		require.NoError(t, err)
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("imports"), Key: aws.String("r")})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"b": "2"}, head.Metadata, "S3 keeps none of the old metadata")
		assert.Equal(t, "two!", get(t, c, "imports", "r"))
	})

	t.Run("copies", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("imports"), Key: aws.String("copied/meta.csv"), CopySource: aws.String("imports/meta.csv")})
		require.NoError(t, err)
		assert.Equal(t, "a,b\n", get(t, c, "imports", "copied/meta.csv"))
	})

	t.Run("deletes", func(t *testing.T) {
		put(t, c, "imports", "gone soon", "x")
		_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("imports"), Key: aws.String("gone soon")})
		require.NoError(t, err)
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("imports"), Key: aws.String("gone soon")})
		assert.Equal(t, "NotFound", code(err))
		_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("imports"), Key: aws.String("gone soon")})
		assert.NoError(t, err, "deleting what is not there is not an error, as in S3")
		_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("imports")})
		assert.Equal(t, "BucketNotEmpty", code(err))
	})
}

func TestListsWithPrefixDelimiterAndPages(t *testing.T) {
	c, _, _ := start(t, t.TempDir())
	ctx := t.Context()
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("archive")})
	require.NoError(t, err)
	var want []string
	for day := 1; day <= 3; day++ {
		for i := range 4 {
			key := fmt.Sprintf("events/date=2026-12-0%d/part-%d.parquet", day, i)
			put(t, c, "archive", key, key)
			want = append(want, key)
		}
	}
	put(t, c, "archive", "profiles/snapshot.parquet", "p")

	var got []string
	pages := 0
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("archive"), Prefix: aws.String("events/"), MaxKeys: aws.Int32(5)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		require.NoError(t, err)
		pages++
		assert.LessOrEqual(t, len(out.Contents), 5)
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
			assert.Equal(t, int64(len(aws.ToString(o.Key))), aws.ToInt64(o.Size))
			assert.Equal(t, `"`+md5hex([]byte(aws.ToString(o.Key)))+`"`, aws.ToString(o.ETag))
		}
	}
	assert.Equal(t, want, got, "every key under the prefix, once, in order")
	assert.Equal(t, 3, pages)

	// Common prefixes count as one key each, and a page may end on one.
	var prefixes []string
	p = s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("archive"), Prefix: aws.String("events/"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		require.NoError(t, err)
		for _, cp := range out.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(cp.Prefix))
		}
		assert.Empty(t, out.Contents)
	}
	assert.Equal(t, []string{"events/date=2026-12-01/", "events/date=2026-12-02/", "events/date=2026-12-03/"}, prefixes)

	// A page that ends with the last common prefix is the last page.
	exact, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("archive"), Prefix: aws.String("events/"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(3)})
	require.NoError(t, err)
	assert.Len(t, exact.CommonPrefixes, 3)
	assert.False(t, aws.ToBool(exact.IsTruncated), "nothing follows the third day")

	top, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("archive"), Delimiter: aws.String("/")})
	require.NoError(t, err)
	assert.Len(t, top.CommonPrefixes, 2)
	assert.False(t, aws.ToBool(top.IsTruncated))

	after, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("archive"), StartAfter: aws.String(want[10])})
	require.NoError(t, err)
	require.Len(t, after.Contents, 2)
	assert.Equal(t, want[11], aws.ToString(after.Contents[0].Key))
}

func TestMultipartUploadStreamsPartsFromFiles(t *testing.T) {
	dir := t.TempDir()
	c, n, _ := start(t, dir)
	ctx := t.Context()
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("imports")})
	require.NoError(t, err)

	const key = "orders/big export+1 é.csv"
	parts := [][]byte{bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16), []byte("the last part may be small\n")}
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("imports"), Key: aws.String(key), ContentType: aws.String("text/csv")})
	require.NoError(t, err)
	var done []s3types.CompletedPart
	sums := md5.New()
	for i, b := range parts {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("imports"), Key: aws.String(key), UploadId: mp.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(b)})
		require.NoError(t, err)
		assert.Equal(t, `"`+md5hex(b)+`"`, aws.ToString(out.ETag))
		done = append(done, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
		raw, _ := hex.DecodeString(md5hex(b))
		sums.Write(raw)
	}
	assert.Empty(t, n.all(), "no object before the upload completes")
	out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("imports"), Key: aws.String(key), UploadId: mp.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}})
	require.NoError(t, err)
	etag := `"` + hex.EncodeToString(sums.Sum(nil)) + `-2"`
	assert.Equal(t, etag, aws.ToString(out.ETag), "S3's ETag of a multipart upload: the MD5 of the parts' MD5s, and their count")

	whole := append(append([]byte(nil), parts[0]...), parts[1]...)
	assert.Equal(t, string(whole), get(t, c, "imports", key))
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("imports"), Key: aws.String(key)})
	require.NoError(t, err)
	assert.Equal(t, etag, aws.ToString(head.ETag))
	assert.Equal(t, int64(len(whole)), aws.ToInt64(head.ContentLength))
	assert.Equal(t, "text/csv", aws.ToString(head.ContentType))
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("imports")})
	require.NoError(t, err)
	require.Len(t, list.Contents, 1)
	assert.Equal(t, etag, aws.ToString(list.Contents[0].ETag))

	require.Len(t, n.all(), 1)
	got := n.all()[0]
	assert.Equal(t, s3server.EventMultipart, got.Event)
	assert.Equal(t, key, got.Key)
	assert.Equal(t, int64(len(whole)), got.Size)
	assert.Equal(t, strings.Trim(etag, `"`), got.ETag)

	spooled, err := os.ReadDir(filepath.Join(dir, ".uploads"))
	require.NoError(t, err)
	assert.Empty(t, spooled, "a completed upload's parts are removed")

	t.Run("refuses a small part that is not the last", func(t *testing.T) {
		mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("imports"), Key: aws.String("small")})
		require.NoError(t, err)
		var done []s3types.CompletedPart
		for i := range 2 {
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("imports"), Key: aws.String("small"), UploadId: mp.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: strings.NewReader("tiny")})
			require.NoError(t, err)
			done = append(done, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
		}
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("imports"), Key: aws.String("small"), UploadId: mp.UploadId,
			MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}})
		assert.Equal(t, "EntityTooSmall", code(err))
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("imports"), Key: aws.String("small"), UploadId: mp.UploadId,
			MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"0000"`)}}}})
		assert.Equal(t, "InvalidPart", code(err))
		_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("imports"), Key: aws.String("small"), UploadId: mp.UploadId})
		require.NoError(t, err)
		_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("imports"), Key: aws.String("small"), UploadId: mp.UploadId,
			PartNumber: aws.Int32(3), Body: strings.NewReader("late")})
		assert.Equal(t, "NoSuchUpload", code(err))
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("imports"), Key: aws.String("small")})
		assert.Equal(t, "NotFound", code(err))
		assert.Len(t, n.all(), 1, "nothing created, nothing told")
	})
}

func TestTellsOfEachObjectCreated(t *testing.T) {
	c, n, _ := start(t, t.TempDir())
	ctx := t.Context()
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("imports")})
	require.NoError(t, err)
	put(t, c, "imports", "customers/a b+c é.csv", "id\n1\n")
	put(t, c, "imports", "customers/a b+c é.csv", "id\n1\n2\n")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("imports"), Key: aws.String("orders/copy.csv"), CopySource: aws.String("imports/customers/a%20b%2Bc%20%C3%A9.csv")})
	require.NoError(t, err)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("missing"), Key: aws.String("k"), Body: strings.NewReader("x")})
	require.Error(t, err)
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("imports"), Key: aws.String("orders/copy.csv")})
	require.NoError(t, err)

	got := n.all()
	require.Len(t, got, 3, "two puts and a copy; not the failed put or the delete")
	assert.Equal(t, []string{s3server.EventPut, s3server.EventPut, s3server.EventCopy}, []string{got[0].Event, got[1].Event, got[2].Event})
	assert.Equal(t, "customers/a b+c é.csv", got[0].Key)
	assert.Equal(t, "imports", got[0].Bucket)
	assert.Equal(t, int64(5), got[0].Size)
	assert.Equal(t, int64(7), got[1].Size)
	assert.Equal(t, md5hex([]byte("id\n1\n2\n")), got[1].ETag)
	assert.Equal(t, "orders/copy.csv", got[2].Key)
	assert.Equal(t, "127.0.0.1", got[0].SourceIP)
	assert.Less(t, got[0].Sequencer, got[1].Sequencer, "a later write of the key has a greater sequencer")
	assert.Len(t, got[0].Sequencer, 16)
}

func TestObjectsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	c, _, _ := start(t, dir)
	_, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("archive")})
	require.NoError(t, err)
	put(t, c, "archive", "events/date=2026-12-07/part-0.parquet", "columns")
	// What a crash leaves: a temporary file being written.
	leftovers, _ := filepath.Glob(filepath.Join(dir, "archive", "*"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "archive", "tmp-crashed"), []byte("half"), 0o600))

	again, _, _ := start(t, dir)
	assert.Equal(t, "columns", get(t, again, "archive", "events/date=2026-12-07/part-0.parquet"))
	list, err := again.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String("archive")})
	require.NoError(t, err)
	assert.Len(t, list.Contents, 1)
	after, _ := filepath.Glob(filepath.Join(dir, "archive", "*"))
	assert.ElementsMatch(t, leftovers, after, "the half-written file is removed at start")
}

// An SDK that streams a body with aws-chunked encoding (over TLS, with a trailing checksum) has it
// stored decoded.
func TestDecodesChunkedBodies(t *testing.T) {
	c, n, url := start(t, t.TempDir())
	_, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("imports")})
	require.NoError(t, err)
	body := "a,b\n1,2\n"
	encoded := fmt.Sprintf("%x;chunk-signature=abc\r\n%s\r\n0;chunk-signature=def\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", len(body), body)
	for _, sha := range []string{"STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut, url+"/imports/chunked.csv", strings.NewReader(encoded))
		req.Header.Set("X-Amz-Content-Sha256", sha)
		req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(body)))
		req.Header.Set("Content-Encoding", "aws-chunked")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, sha)
		assert.Equal(t, body, get(t, c, "imports", "chunked.csv"), sha)
		head, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("imports"), Key: aws.String("chunked.csv")})
		require.NoError(t, err)
		assert.Nil(t, head.ContentEncoding, "aws-chunked is the transfer's encoding, not the object's")
	}
	req, _ := http.NewRequest(http.MethodPut, url+"/imports/gzipped.csv.gz", strings.NewReader(encoded))
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(body)))
	req.Header.Set("Content-Encoding", "gzip,aws-chunked")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	head, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("imports"), Key: aws.String("gzipped.csv.gz")})
	require.NoError(t, err)
	assert.Equal(t, "gzip", aws.ToString(head.ContentEncoding), "the object's own encoding is kept")
	assert.Equal(t, int64(len(body)), n.all()[0].Size)

	req, _ = http.NewRequest(http.MethodPut, url+"/imports/bad.csv", strings.NewReader("zz\r\nnot a chunk"))
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	req.Header.Set("X-Amz-Decoded-Content-Length", "8")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestRefusesWhatS3Refuses(t *testing.T) {
	srv, err := s3server.New(t.TempDir(), s3server.Options{})
	require.NoError(t, err)
	assert.Error(t, srv.Store().CreateBucket("Not_A_Bucket"), "a bucket name S3 would refuse")
	require.NoError(t, srv.Store().CreateBucket("imports"))
	h := httptest.NewServer(srv)
	defer h.Close()
	// A single put larger than 5 GiB, refused from its declared length before any byte is read.
	req, _ := http.NewRequest(http.MethodPut, h.URL+"/imports/huge.csv", strings.NewReader("x"))
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(int64(5<<30)+1))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "<Code>EntityTooLarge</Code>")
}

// Writers of one key and of many, with readers and listings at once: every read sees a whole
// object whose ETag is its contents', and the listing ends with every key once.
func TestConcurrentWritersAndReaders(t *testing.T) {
	c, n, _ := start(t, t.TempDir())
	ctx := t.Context()
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("hot")})
	require.NoError(t, err)
	put(t, c, "hot", "same", "first")
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 15 {
				body := strings.Repeat(fmt.Sprintf("w%d-i%d;", w, i), 100*(i+1))
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("hot"), Key: aws.String("same"), Body: strings.NewReader(body)}); err != nil {
					t.Error(err)
				}
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("hot"), Key: aws.String(fmt.Sprintf("k/%d/%d", w, i)), Body: strings.NewReader(body)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for range 20 {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("hot"), Key: aws.String("same")})
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if got := `"` + md5hex(b) + `"`; got != aws.ToString(out.ETag) {
					t.Errorf("read %d bytes whose MD5 %s is not the ETag %s", len(b), got, aws.ToString(out.ETag))
				}
				if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("hot"), MaxKeys: aws.Int32(7)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var keys int
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("hot"), MaxKeys: aws.Int32(7)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		require.NoError(t, err)
		keys += len(out.Contents)
	}
	assert.Equal(t, 1+6*15, keys)
	assert.Len(t, n.all(), 1+2*6*15, "one notice per object written")
}
