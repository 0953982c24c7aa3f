// Package objectstore is one S3 bucket as the functions use it: put an object (its content type
// by its name), list the keys under a prefix, delete an object. A thin adapter over the SDK's
// client, which the caller makes (localaws.S3Client, so that the local stack's S3 is reached too).
package objectstore

import (
	"bytes"
	"context"
	"path"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
	}
	return "application/octet-stream"
}
