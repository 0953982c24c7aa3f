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
	"github.com/aws/smithy-go"
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

// Conditional writes and multipart uploads: what a writer that streams an object across several
// invocations needs (functions/profiles' asynchronous exports).

var (
	// ErrChanged is PutIf's error when the object is no longer the version the writer read (S3's
	// 412 Precondition Failed), or exists already where the writer wanted none.
	ErrChanged = errors.New("object changed since it was read")
	// ErrNoSuchUpload is the multipart calls' error for an upload that is not in progress
	// (completed, aborted or never started).
	ErrNoSuchUpload = errors.New("no such multipart upload")
)

// MinPartSize is the smallest part of a multipart upload that S3 accepts, but for the last.
const MinPartSize = 5 << 20

// MaxParts is the most parts an upload may have, numbered 1 to MaxParts.
const MaxParts = 10000

// GetVersion is Get, also returning the object's ETag, which PutIf takes.
func (b Bucket) GetVersion(ctx context.Context, key string, limit int64) ([]byte, string, error) {
	out, err := b.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	var missing *types.NoSuchKey
	switch {
	case errors.As(err, &missing):
		return nil, "", fmt.Errorf("%s: %w", key, ErrNotFound)
	case err != nil:
		return nil, "", err
	}
	defer out.Body.Close()
	if n := aws.ToInt64(out.ContentLength); n > limit {
		return nil, "", fmt.Errorf("%s holds %d bytes, over %d: %w", key, n, limit, ErrTooLarge)
	}
	body, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(body)) > limit {
		return nil, "", fmt.Errorf("%s holds more than %d bytes: %w", key, limit, ErrTooLarge)
	}
	return body, aws.ToString(out.ETag), nil
}

// PutIf writes an object whole only if it is still at the version etag names (its ETag, as
// GetVersion returned it); etag "" writes it only if there is no such object. It returns the
// written version's ETag; ErrChanged when the condition does not hold: another writer moved it
// on (S3's conditional writes).
func (b Bucket) PutIf(ctx context.Context, key string, body []byte, etag string) (string, error) {
	in := &s3.PutObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String(ContentType(key))}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	out, err := b.Client.PutObject(ctx, in)
	if code := errorCode(err); code == "PreconditionFailed" || code == "ConditionalRequestConflict" {
		return "", fmt.Errorf("%s: %w", key, ErrChanged)
	}
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

// Size is the size of an object; ErrNotFound when there is none.
func (b Bucket) Size(ctx context.Context, key string) (int64, error) {
	out, err := b.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	var missing *types.NotFound
	if errors.As(err, &missing) || errorCode(err) == "NotFound" || errorCode(err) == "NoSuchKey" {
		return 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Part is an uploaded part of a multipart upload: its number and the ETag S3 answered.
type Part struct {
	Number int    `json:"n"`
	ETag   string `json:"etag"`
}

// StartUpload starts a multipart upload of key (its content type by its name) and returns the
// upload's id.
func (b Bucket) StartUpload(ctx context.Context, key string) (string, error) {
	out, err := b.Client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(b.Name), Key: aws.String(key),
		ContentType: aws.String(ContentType(key))})
	if err != nil {
		return "", fmt.Errorf("start upload of %s: %w", key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// UploadPart uploads part n (1 to MaxParts) of an upload; uploading a number again replaces the
// part. Every part but the last must hold at least MinPartSize bytes, which S3 checks when the
// upload completes.
func (b Bucket) UploadPart(ctx context.Context, key, uploadID string, n int, body []byte) (Part, error) {
	if n < 1 || n > MaxParts {
		return Part{}, fmt.Errorf("part %d of %s: parts are numbered 1 to %d", n, key, MaxParts)
	}
	out, err := b.Client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(b.Name), Key: aws.String(key), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(int32(n)), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		return Part{}, uploadError(fmt.Sprintf("upload part %d of %s", n, key), err)
	}
	return Part{Number: n, ETag: aws.ToString(out.ETag)}, nil
}

// CompleteUpload makes the object of the parts, in their order.
func (b Bucket) CompleteUpload(ctx context.Context, key, uploadID string, parts []Part) error {
	done := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		done[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(p.ETag)}
	}
	_, err := b.Client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(b.Name), Key: aws.String(key),
		UploadId: aws.String(uploadID), MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		return uploadError("complete upload of "+key, err)
	}
	return nil
}

// AbortUpload gives an upload up, discarding its parts.
func (b Bucket) AbortUpload(ctx context.Context, key, uploadID string) error {
	_, err := b.Client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(b.Name), Key: aws.String(key),
		UploadId: aws.String(uploadID)})
	if err != nil {
		return uploadError("abort upload of "+key, err)
	}
	return nil
}

func uploadError(what string, err error) error {
	var missing *types.NoSuchUpload
	if errors.As(err, &missing) || errorCode(err) == "NoSuchUpload" {
		return fmt.Errorf("%s: %w", what, ErrNoSuchUpload)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// errorCode is the S3 error code of err ("" when it is none).
func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}
