// Command archive turns each object the archive feed delivers (the lines stitch wrote, gzipped,
// under the archive bucket's incoming/ prefix) into the event archive's Parquet files, one per day
// of the events it holds. S3 invokes it, asynchronously, for each object delivered.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("archive cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.handle)
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
	return &handler{
		files:  s3Objects{localaws.S3Client(cfg)},
		bucket: env[topology.ArchiveBucket],
		failed: messagequeue.New(sqs.NewFromConfig(cfg), env[topology.FailedQueue]),
		log:    log,
		now:    time.Now,
	}, nil
}

// s3Objects reads and writes objects through S3.
type s3Objects struct{ c *s3.Client }

func (o s3Objects) Open(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	out, err := o.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

func (o s3Objects) Put(ctx context.Context, bucket, key string, body io.ReadSeeker) error {
	_, err := o.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: body,
		ContentType: aws.String("application/vnd.apache.parquet")})
	return err
}
