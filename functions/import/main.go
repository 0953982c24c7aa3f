// Command import records the files dropped in the import bucket (customers, orders, returns,
// contacts, cases, consents, spend) as trusted events on the beacon stream, by the same identity
// and recording rules as live events (package importing), and writes each file's report beside
// it. S3 invokes it for each object created under a kind's prefix.
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
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beaconstream"
	"github.com/dcrm-project/dcrm/shared/healthstore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("import cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	// The rows refused are counted for the health page, by day, one write per batch of them.
	health, err := healthstore.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		log.Error("import cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	h.failed = healthstore.Counting{Next: h.failed, Counter: health, Label: "rejected row", Now: time.Now, Log: log}
	lambda.Start(h.handle)
}

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	t := topology.Default()
	env, err := t.FromEnv(getenv, topology.EventStream, topology.FailedQueue)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	return &handler{
		files:         s3Files{localaws.S3Client(cfg)},
		stream:        beaconstream.New(kinesis.NewFromConfig(cfg), env[topology.EventStream]),
		failed:        messagequeue.New(sqs.NewFromConfig(cfg), env[topology.FailedQueue]),
		archiveBucket: getenv(t.EnvVar(topology.ArchiveBucket)),
		now:           time.Now,
		log:           log,
	}, nil
}

// s3Files reads and writes objects through S3.
type s3Files struct{ c *s3.Client }

func (f s3Files) Open(ctx context.Context, bucket, key string) (io.ReadCloser, map[string]string, error) {
	out, err := f.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, nil, err
	}
	return out.Body, out.Metadata, nil
}

func (f s3Files) Put(ctx context.Context, bucket, key string, body io.ReadSeeker, contentType string) error {
	_, err := f.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: body, ContentType: aws.String(contentType)})
	return err
}
