package stack_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/onfailure"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// bucketTopology has an import bucket whose CSV files under orders/ go to a test function, which
// fails on keys with "poison" (always) and "flaky" (once).
func bucketTopology(out string) *topology.Topology {
	return &topology.Topology{
		Queues:  []topology.Queue{{Name: "FailedFiles"}},
		Buckets: []topology.Bucket{{Name: "Import"}, {Name: "Archive"}},
		Functions: []topology.Function{{Name: "importer", Memory: 256, Timeout: 10 * time.Second,
			Uses:     []topology.Use{{Resource: "Import", Access: topology.Read}},
			Settings: map[string]string{"TESTFN_MODE": "s3", "TESTFN_OUT": filepath.Join(out, "importer.jsonl")},
			Async:    &topology.AsyncInvoke{MaxAge: time.Hour, Retries: 2, OnFailureQueue: "FailedFiles"},
		}},
		Notifications: []topology.Notification{{Bucket: "Import", Prefix: "orders/", Suffix: ".csv", Function: "importer"}},
	}
}

// invocation is one line the test function wrote.
type invocation struct {
	Keys    []string               `json:"keys"`
	Records []events.S3EventRecord `json:"records"`
	Failed  string                 `json:"failed"`
	At      time.Time              `json:"at"`
}

func invocations(t *testing.T, path string) []invocation {
	var out []invocation
	for _, l := range lines(t, path) {
		b, _ := json.Marshal(l)
		var in invocation
		require.NoError(t, json.Unmarshal(b, &in))
		out = append(out, in)
	}
	return out
}

func TestBucketsAndTheirNotifications(t *testing.T) {
	endpoints := localawstest.Reachable(t)
	dir := t.TempDir()
	functions := filepath.Join(dir, "functions")
	devtest.Install(t, functions, "importer")
	prefix := localawstest.UniqueName("t")
	top := bucketTopology(dir)
	s, err := stack.Start(t.Context(), stack.Config{Topology: top, Prefix: prefix, FunctionsDir: functions, Endpoints: endpoints,
		LogDir: filepath.Join(dir, "logs"), AsyncRetryDelay: 50 * time.Millisecond, S3Dir: filepath.Join(dir, "s3")})
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Close()
		stack.DeleteResources(endpoints, *top, s.Resources())
	})
	ctx := t.Context()
	res := s.Resources()
	bucket := prefix + "-import"
	c := localaws.Endpoints{S3: s.S3URL()}.S3Client()
	out := filepath.Join(dir, "importer.jsonl")
	seen := func(key string) []invocation {
		var got []invocation
		for _, in := range invocations(t, out) {
			if slices.Contains(in.Keys, key) {
				got = append(got, in)
			}
		}
		return got
	}

	t.Run("creates the buckets under the prefix and tells functions their names", func(t *testing.T) {
		assert.Equal(t, bucket, res["Import"])
		assert.Equal(t, prefix+"-archive", res["Archive"])
		for _, b := range []string{bucket, prefix + "-archive"} {
			_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)})
			assert.NoError(t, err, b)
		}
		env := s.FunctionEnv("importer")
		assert.Equal(t, bucket, env["DCRM_IMPORT_BUCKET"])
		assert.NotContains(t, env, "DCRM_ARCHIVE_BUCKET", "only the buckets the function uses")
		assert.Equal(t, s.S3URL(), env["AWS_ENDPOINT_URL_S3"], "functions reach S3 through the metered server")
		assert.Equal(t, s.S3URL(), s.Env()["DCRM_S3_ENDPOINT"])
	})

	put := func(t *testing.T, key, body string) {
		t.Helper()
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
		require.NoError(t, err)
	}

	t.Run("invokes the function once for each object created, with the exact key", func(t *testing.T) {
		keys := map[string]string{
			"orders/crm export 2026.csv": "orders/crm+export+2026.csv",
			"orders/a+b=c.csv":           "orders/a%2Bb%3Dc.csv",
			"orders/café ☕/été.csv":      "orders/caf%C3%A9+%E2%98%95/%C3%A9t%C3%A9.csv",
		}
		for key := range keys {
			put(t, key, "order_id\n"+key+"\n")
		}
		put(t, "customers/x.csv", "not for the function: another prefix")
		put(t, "orders/x.jsonl", "not for the function: another suffix")
		for key, encoded := range keys {
			require.Eventually(t, func() bool { return len(seen(key)) == 1 }, 10*time.Second, 10*time.Millisecond, key)
			r := seen(key)[0].Records[0]
			body := "order_id\n" + key + "\n"
			sum := md5.Sum([]byte(body))
			assert.Equal(t, encoded, r.S3.Object.Key, "URL-encoded as S3 encodes it")
			assert.Equal(t, "ObjectCreated:Put", r.EventName)
			assert.Equal(t, bucket, r.S3.Bucket.Name)
			assert.Equal(t, int64(len(body)), r.S3.Object.Size)
			assert.Equal(t, hex.EncodeToString(sum[:]), r.S3.Object.ETag)
			assert.NotEmpty(t, r.S3.Object.Sequencer)
			assert.Equal(t, localaws.Region, r.AWSRegion)
			assert.WithinDuration(t, time.Now(), r.EventTime, time.Minute)
		}

		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("orders/copy.csv"),
			CopySource: aws.String(bucket + "/orders/a%2Bb%3Dc.csv")})
		require.NoError(t, err)
		require.Eventually(t, func() bool { return len(seen("orders/copy.csv")) == 1 }, 10*time.Second, 10*time.Millisecond)
		assert.Equal(t, "ObjectCreated:Copy", seen("orders/copy.csv")[0].Records[0].EventName)
	})

	t.Run("tells of a multipart upload when it completes", func(t *testing.T) {
		const key = "orders/big export.csv"
		mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		require.NoError(t, err)
		var parts []s3types.CompletedPart
		size := 0
		for i, b := range [][]byte{bytes.Repeat([]byte("1,2\n"), 5<<20/4), []byte("3,4\n")} {
			p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: mp.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(b)})
			require.NoError(t, err)
			parts = append(parts, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: p.ETag})
			size += len(b)
		}
		done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: mp.UploadId,
			MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
		require.NoError(t, err)
		require.Eventually(t, func() bool { return len(seen(key)) == 1 }, 10*time.Second, 10*time.Millisecond)
		r := seen(key)[0].Records[0]
		assert.Equal(t, "ObjectCreated:CompleteMultipartUpload", r.EventName)
		assert.Equal(t, int64(size), r.S3.Object.Size)
		assert.Equal(t, strings.Trim(aws.ToString(done.ETag), `"`), r.S3.Object.ETag)
		assert.True(t, strings.HasSuffix(r.S3.Object.ETag, "-2"), r.S3.Object.ETag)
		list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("orders/big")})
		require.NoError(t, err)
		assert.Len(t, list.Contents, 1)
	})

	t.Run("retries a failed invocation with back-off", func(t *testing.T) {
		put(t, "orders/flaky.csv", "x")
		require.Eventually(t, func() bool { return len(seen("orders/flaky.csv")) == 2 }, 10*time.Second, 10*time.Millisecond)
		tries := seen("orders/flaky.csv")
		assert.Equal(t, "orders/flaky.csv", tries[0].Failed)
		assert.Empty(t, tries[1].Failed, "the retry succeeds")
		assert.GreaterOrEqual(t, tries[1].At.Sub(tries[0].At), 50*time.Millisecond, "after the retry delay")
	})

	t.Run("records an object whose invocations all failed on the on-failure queue", func(t *testing.T) {
		put(t, "orders/poison.csv", "x")
		var record onfailure.Record
		require.Eventually(t, func() bool {
			got, err := endpoints.SQSClient().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(res["FailedFiles"]), WaitTimeSeconds: 1})
			return err == nil && len(got.Messages) > 0 && json.Unmarshal([]byte(aws.ToString(got.Messages[0].Body)), &record) == nil
		}, 10*time.Second, 20*time.Millisecond)
		tries := seen("orders/poison.csv")
		require.Len(t, tries, 3, "the first invocation and Async's two retries")
		assert.GreaterOrEqual(t, tries[1].At.Sub(tries[0].At), 50*time.Millisecond)
		assert.GreaterOrEqual(t, tries[2].At.Sub(tries[1].At), 100*time.Millisecond, "the delay doubles")
		assert.Equal(t, onfailure.RetriesExhausted, record.RequestContext.Condition)
		assert.Equal(t, 3, record.RequestContext.ApproximateInvokeCount)
		var ev events.S3Event
		require.NoError(t, json.Unmarshal(record.RequestPayload, &ev), "the record holds S3's event as it was sent")
		assert.Equal(t, "orders/poison.csv", ev.Records[0].S3.Object.Key)
		assert.Contains(t, string(record.ResponsePayload), "object orders/poison.csv failed on purpose")
	})

	t.Run("meters S3's requests and storage", func(t *testing.T) {
		u := s.Usage().S3
		assert.Equal(t, int64(7), u.Requests["PutObject"], "the puts of the test")
		assert.Equal(t, int64(2), u.Requests["UploadPart"])
		assert.Equal(t, int64(1), u.Requests["CopyObject"])
		assert.Equal(t, u.Requests["PutObject"]+2+1+2+1, u.ByClass[usage.S3PutClass], "puts, parts, the copy, initiate and complete, the listing")
		assert.Equal(t, int64(2), u.ByClass[usage.S3GetClass], "the two HeadBucket")
		assert.Greater(t, u.BytesIn, int64(5<<20), "the multipart upload's bytes at least")
		assert.Equal(t, int64(9), u.Objects, "the puts, the copy and the multipart upload")
		assert.Greater(t, u.StoredBytes, int64(5<<20))
	})
}
