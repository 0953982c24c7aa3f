// Package objectstore is one S3 bucket as the functions use it: put an object (its content type
// by its name), read one whole (bounded), list the keys under a prefix, delete an object. A thin
// adapter over the SDK's client, which the caller makes (localaws.S3Client, so that the local
// stack's S3 is reached too).
package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

var (
	// ErrNotFound is Get's error for a key that names no object.
	ErrNotFound = errors.New("no such object")
	// ErrTooLarge is Get's error for an object larger than the caller reads.
	ErrTooLarge = errors.New("object larger than the limit")
)

// Bucket is a bucket through S3.
type Bucket struct {
	Client *s3.Client
	Name   string
}

// Put writes an object whole.
func (b Bucket) Put(ctx context.Context, key string, body []byte) error {
	_, err := b.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String(ContentType(key))})
	return err
}

// Get reads an object whole when it holds at most limit bytes; ErrNotFound when there is none,
// ErrTooLarge when it holds more (never reading more than limit+1 bytes of it).
func (b Bucket) Get(ctx context.Context, key string, limit int64) ([]byte, error) {
	out, err := b.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	var missing *types.NoSuchKey
	switch {
	case errors.As(err, &missing):
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	case err != nil:
		return nil, err
	}
	defer out.Body.Close()
	if n := aws.ToInt64(out.ContentLength); n > limit {
		return nil, fmt.Errorf("%s holds %d bytes, over %d: %w", key, n, limit, ErrTooLarge)
	}
	body, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%s holds more than %d bytes: %w", key, limit, ErrTooLarge)
	}
	return body, nil
}

// List returns every key under prefix, in S3's order, page after page.
func (b Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(b.Client, &s3.ListObjectsV2Input{Bucket: aws.String(b.Name), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// Delete deletes an object (S3 answers the same when there is none).
func (b Bucket) Delete(ctx context.Context, key string) error {
	_, err := b.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	return err
}

// ContentType is the type of an object dcrm writes, by its name's extension.
func ContentType(key string) string {
	switch path.Ext(key) {
	case ".parquet":
		return "application/vnd.apache.parquet"
	case ".json":
		return "application/json"
	case ".gz":
		return "application/gzip"
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}
