package s3server_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/dcrm-project/dcrm/scripts/devstack/s3server"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// largeObject and largePart: a multipart upload of 64 MiB in 8 MiB parts, then read back whole.
const (
	largeObject = 64 << 20
	largePart   = 8 << 20
)

// BenchmarkLargeObject uploads and reads back one large object through the SDK, and reports the
// peak of the heap in use above where it started (the client's part buffer, 8 MiB, made before) and
// the throughput. "files" is this server; "gofakes3-memory" is gofakes3 on its in-memory backend
// with its own multipart uploader, for comparison in the same run.
func BenchmarkLargeObject(b *testing.B) {
	b.Run("files", func(b *testing.B) {
		srv, err := s3server.New(b.TempDir(), s3server.Options{})
		if err != nil {
			b.Fatal(err)
		}
		benchLarge(b, srv)
	})
	b.Run("gofakes3-memory", func(b *testing.B) {
		benchLarge(b, gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	})
}

func benchLarge(b *testing.B, h http.Handler) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := localaws.Endpoints{S3: srv.URL}.S3Client()
	ctx := b.Context()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	part := bytes.Repeat([]byte("0123456789abcdef"), largePart/16)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	})
	b.SetBytes(2 * largeObject)
	b.ResetTimer()
	for range b.N {
		mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bench"), Key: aws.String("big.csv")})
		if err != nil {
			b.Fatal(err)
		}
		var parts []s3types.CompletedPart
		for i := range largeObject / largePart {
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bench"), Key: aws.String("big.csv"), UploadId: mp.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(part)})
			if err != nil {
				b.Fatal(err)
			}
			parts = append(parts, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
		}
		if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bench"), Key: aws.String("big.csv"),
			UploadId: mp.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}}); err != nil {
			b.Fatal(err)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String("big.csv")})
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, out.Body)
		out.Body.Close()
		if err != nil || n != largeObject {
			b.Fatalf("read back %d bytes, %v", n, err)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), base.HeapInuse))/(1<<20), "peak-heap-MiB")
}
