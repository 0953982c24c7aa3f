// Command archive turns each object the archive feed delivers (the lines stitch wrote, gzipped,
// under the archive bucket's incoming/ prefix) into the event archive's Parquet files, one per day
// of the events it holds. S3 invokes it, asynchronously, for each object delivered. Once a day the
// archive-erasure schedule runs its erasure pass, which rewrites the bucket's files without the
// people the profile API erased since the last pass.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/healthstore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/objectstore"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("archive cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	health, err := healthstore.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		log.Error("archive cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	runs := &healthstore.Runs{Store: health, Now: time.Now, Log: log}
	// The lines that are not rows are counted for the health page, by day, one write per object.
	h.failed = healthstore.Counting{Next: h.failed, Counter: health, Label: "unreadable line", Now: time.Now, Log: log}
	lambda.Start(healthstore.Tracked(runs, runCount, h.invoke, topology.ArchiveErasureSchedule))
}

// runCount is what an erasure pass kept for the health page did: the files it rewrote.
func runCount(s any) (healthstore.Counted, bool) {
	p, ok := s.(passSummary)
	return healthstore.Counted{Count: int64(p.Rewritten), Unit: "files rewritten"}, ok
}

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	env, err := topology.Default().FromEnv(getenv, topology.ArchiveBucket, topology.FailedQueue)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	h := &handler{
		files:  s3Objects{localaws.S3Client(cfg)},
		bucket: env[topology.ArchiveBucket],
		failed: messagequeue.New(sqs.NewFromConfig(cfg), env[topology.FailedQueue]),
		log:    log,
		now:    time.Now,
	}
	if v := getenv(settingSettle); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("read environment: %s=%q: want a Go duration of 0 or more", settingSettle, v)
		}
		h.pass.settle = max(d, time.Nanosecond) // 0 would be the default
	}
	return h, nil
}

// s3Objects reads and writes objects through S3.
type s3Objects struct{ c *s3.Client }

func (o s3Objects) Open(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	out, err := o.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, notFound(err)
	}
	return out.Body, nil
}

func (o s3Objects) Put(ctx context.Context, bucket, key string, body io.ReadSeeker) error {
	_, err := o.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: body,
		ContentType: aws.String(objectstore.ContentType(key))})
	return err
}

func (o s3Objects) List(ctx context.Context, bucket, prefix, startAfter string, max int) ([]object, bool, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(int32(max))}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	out, err := o.c.ListObjectsV2(ctx, in)
	if err != nil {
		return nil, false, err
	}
	objs := make([]object, 0, len(out.Contents))
	for _, c := range out.Contents {
		objs = append(objs, object{Key: aws.ToString(c.Key), Size: aws.ToInt64(c.Size)})
	}
	return objs, aws.ToBool(out.IsTruncated), nil
}

func (o s3Objects) ReadRange(ctx context.Context, bucket, key string, off int64, p []byte) error {
	out, err := o.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1))})
	if err != nil {
		return notFound(err)
	}
	defer out.Body.Close()
	_, err = io.ReadFull(out.Body, p)
	return err
}

func (o s3Objects) Delete(ctx context.Context, bucket, key string) error {
	_, err := o.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	return err
}

// notFound wraps S3's answer for a missing object as errNoObject.
func notFound(err error) error {
	var missing *types.NoSuchKey
	if errors.As(err, &missing) {
		return fmt.Errorf("%w: %w", errNoObject, err)
	}
	return err
}
