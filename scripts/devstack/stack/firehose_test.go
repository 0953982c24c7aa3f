package stack_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/s3server"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// feedTopology is the archive's shape: a feeder function writes to the feed, which delivers into
// the archive bucket's incoming/ prefix, whose objects go to an archiver function.
func feedTopology(out string) *topology.Topology {
	return &topology.Topology{
		Queues:  []topology.Queue{{Name: "FailedEvents"}},
		Buckets: []topology.Bucket{{Name: topology.ArchiveBucket}},
		DeliveryStreams: []topology.DeliveryStream{{Name: topology.ArchiveFeed, Bucket: topology.ArchiveBucket,
			Prefix: topology.ArchiveIncomingPrefix, ErrorPrefix: topology.ArchiveFeedErrorPrefix,
			BufferInterval: 900 * time.Second, BufferBytes: 128 << 20}},
		Functions: []topology.Function{
			{Name: "feeder", Memory: 256, Timeout: 10 * time.Second, Uses: []topology.Use{{Resource: topology.ArchiveFeed, Access: topology.Write}}},
			{Name: "archiver", Memory: 256, Timeout: 10 * time.Second,
				Uses:     []topology.Use{{Resource: topology.ArchiveBucket, Access: topology.ReadWrite}},
				Settings: map[string]string{"TESTFN_MODE": "s3", "TESTFN_OUT": filepath.Join(out, "archiver.jsonl")},
				Async:    &topology.AsyncInvoke{MaxAge: time.Hour, Retries: 2, OnFailureQueue: "FailedEvents"}},
		},
		Notifications: []topology.Notification{{Bucket: topology.ArchiveBucket, Prefix: topology.ArchiveIncomingPrefix, Function: "archiver"}},
	}
}

// TestDeliveryStreams: records put to the stack's Data Firehose endpoint, as stitch puts them,
// arrive as one gzipped object in the archive bucket under incoming/ after the local interval, and
// the bucket's notification invokes the archiver with it.
func TestDeliveryStreams(t *testing.T) {
	endpoints := localawstest.Reachable(t)
	dir := t.TempDir()
	functions := filepath.Join(dir, "functions")
	devtest.Install(t, functions, "feeder", "archiver")
	prefix := localawstest.UniqueName("t")
	top := feedTopology(dir)
	seen := &serviceCounts{n: map[string]int{}}
	s, err := stack.Start(t.Context(), stack.Config{Topology: top, Prefix: prefix, FunctionsDir: functions, Endpoints: endpoints,
		LogDir: filepath.Join(dir, "logs"), AsyncRetryDelay: 50 * time.Millisecond, FirehoseInterval: 300 * time.Millisecond,
		Middleware: []func(string, http.Handler) http.Handler{seen.middleware}})
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Close()
		stack.DeleteResources(endpoints, *top, s.Resources())
	})
	ctx := t.Context()
	stream, bucket := prefix+"-ArchiveFeed", prefix+"-archive"

	t.Run("names the stream and gives its endpoint", func(t *testing.T) {
		assert.Equal(t, stream, s.Resources()[topology.ArchiveFeed])
		env := s.FunctionEnv("feeder")
		assert.Equal(t, stream, env["DCRM_ARCHIVE_FEED_DELIVERY_STREAM"])
		assert.Equal(t, s.FirehoseURL(), env["AWS_ENDPOINT_URL_FIREHOSE"], "the SDK reads it")
		assert.NotContains(t, s.FunctionEnv("archiver"), "DCRM_ARCHIVE_FEED_DELIVERY_STREAM", "only the functions that use it")
		all := s.Env()
		assert.Equal(t, stream, all["DCRM_ARCHIVE_FEED_DELIVERY_STREAM"])
		assert.Equal(t, s.FirehoseURL(), all["DCRM_FIREHOSE_ENDPOINT"])
		assert.Equal(t, s.FirehoseURL(), all["AWS_ENDPOINT_URL_FIREHOSE"])
		assert.True(t, strings.HasPrefix(s.FirehoseURL(), "http://127.0.0.1:"), s.FirehoseURL())
	})

	c := firehose.NewFromConfig(endpoints.Config(), func(o *firehose.Options) { o.BaseEndpoint = aws.String(s.FirehoseURL()) })
	t.Run("describes the stream with its bucket and the local interval", func(t *testing.T) {
		out, err := c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(stream)})
		require.NoError(t, err)
		d := out.DeliveryStreamDescription
		assert.Equal(t, fhtypes.DeliveryStreamStatusActive, d.DeliveryStreamStatus)
		x := d.Destinations[0].ExtendedS3DestinationDescription
		assert.Equal(t, "arn:aws:s3:::"+bucket, aws.ToString(x.BucketARN))
		assert.Equal(t, topology.ArchiveIncomingPrefix, aws.ToString(x.Prefix))
		assert.Equal(t, int32(128), aws.ToInt32(x.BufferingHints.SizeInMBs))
	})

	records := []string{"{\"event\":1}\n", "{\"event\":2}\n", strings.Repeat("x", 6000) + "\n"}
	t.Run("delivers what was put to the bucket, and the bucket's notification fires", func(t *testing.T) {
		in := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(stream)}
		for _, r := range records {
			in.Records = append(in.Records, fhtypes.Record{Data: []byte(r)})
		}
		out, err := c.PutRecordBatch(ctx, in)
		require.NoError(t, err)
		require.Zero(t, aws.ToInt32(out.FailedPutCount))

		var key string
		require.Eventually(t, func() bool {
			for _, in := range invocations(t, filepath.Join(dir, "archiver.jsonl")) {
				for _, k := range in.Keys {
					if strings.HasPrefix(k, topology.ArchiveIncomingPrefix) {
						key = k
						return true
					}
				}
			}
			return false
		}, 15*time.Second, 20*time.Millisecond, "the archiver is invoked with the delivered object")
		assert.Regexp(t, `^incoming/\d{4}/\d\d/\d\d/\d\d/`+stream+`-1-\d{4}(-\d\d){5}-[0-9a-f-]{36}\.gz$`, key)
		obj, err := localaws.Endpoints{S3: s.S3URL()}.S3Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		require.NoError(t, err)
		defer obj.Body.Close()
		raw, err := io.ReadAll(obj.Body)
		require.NoError(t, err)
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		require.NoError(t, err)
		got, err := io.ReadAll(zr)
		require.NoError(t, err)
		assert.Equal(t, strings.Join(records, ""), string(got), "the records as they were put")
	})

	t.Run("meters Firehose and the objects it writes", func(t *testing.T) {
		u := s.Usage()
		assert.Equal(t, int64(1), u.Firehose.Requests["PutRecordBatch"])
		assert.Equal(t, int64(3), u.Firehose.Records)
		assert.Equal(t, int64(len(strings.Join(records, ""))), u.Firehose.Bytes)
		assert.Equal(t, int64(4*usage.FirehoseIncrement), u.Firehose.BilledBytes, "5 KB, 5 KB and 10 KB")
		assert.GreaterOrEqual(t, u.S3.Requests["PutObject"], int64(1), "the delivery is an S3 PUT")
		assert.Positive(t, seen.get(usage.Firehose), "the configured middleware sees Firehose's calls")
	})

	t.Run("writes what is buffered when the stack closes", func(t *testing.T) {
		s2, err := stack.Start(t.Context(), stack.Config{Topology: feedTopology(dir), Prefix: prefix + "b", FunctionsDir: functions,
			Endpoints: endpoints, FirehoseInterval: -1, S3Dir: filepath.Join(dir, "s3b")})
		require.NoError(t, err)
		t.Cleanup(func() { stack.DeleteResources(endpoints, *top, s2.Resources()) })
		c2 := firehose.NewFromConfig(endpoints.Config(), func(o *firehose.Options) { o.BaseEndpoint = aws.String(s2.FirehoseURL()) })
		_, err = c2.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String(prefix + "b-ArchiveFeed"), Record: &fhtypes.Record{Data: []byte("last\n")}})
		require.NoError(t, err)
		s3b := s2.S3URL()
		list := func() []string {
			out, err := localaws.Endpoints{S3: s3b}.S3Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(prefix + "b-archive")})
			require.NoError(t, err)
			var keys []string
			for _, o := range out.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
			return keys
		}
		assert.Empty(t, list(), "the topology's interval (15 min) has not passed")
		require.NoError(t, s2.Close())
		// The objects outlive the stack in its S3 folder: a server of their own reads them.
		kept, err := s3server.New(filepath.Join(dir, "s3b"), s3server.Options{})
		require.NoError(t, err)
		srv := httptest.NewServer(kept)
		t.Cleanup(srv.Close)
		s3b = srv.URL
		keys := list()
		require.Len(t, keys, 1, "written before the stack stopped")
		assert.True(t, slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, "incoming/") }))
	})
}
