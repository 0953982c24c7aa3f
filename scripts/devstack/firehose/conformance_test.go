package firehose_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fh "github.com/dcrm-project/dcrm/scripts/devstack/firehose"
	"github.com/dcrm-project/dcrm/scripts/devstack/firehose/firehosetest"
)

func batchInput(stream string, records ...string) *firehose.PutRecordBatchInput {
	in := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(stream), Records: []types.Record{}}
	for _, r := range records {
		in.Records = append(in.Records, types.Record{Data: []byte(r)})
	}
	return in
}

// putBatch puts records, all of which must be taken.
func putBatch(t *testing.T, w *firehosetest.World, stream string, records ...string) *firehose.PutRecordBatchOutput {
	t.Helper()
	out, err := w.Client().PutRecordBatch(t.Context(), batchInput(stream, records...))
	require.NoError(t, err)
	require.Zero(t, aws.ToInt32(out.FailedPutCount))
	return out
}

// code is the error code of an SDK error.
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestConformance calls every operation through the SDK's client as dcrm calls it, with the
// limits and errors AWS documents.
func TestConformance(t *testing.T) {
	w := firehosetest.Start(t, fh.Options{}, firehosetest.Feed("dcrm-ArchiveFeed"), firehosetest.Feed("dcrm-Other"), firehosetest.Feed("a-first"))
	ctx := context.Background()
	c := w.Client()
	const stream = "dcrm-ArchiveFeed"

	t.Run("PutRecordBatch answers an id for every record", func(t *testing.T) {
		out := putBatch(t, w, stream, "{\"a\":1}\n", "{\"b\":2}\n", "")
		require.Len(t, out.RequestResponses, 3)
		seen := map[string]bool{}
		for _, r := range out.RequestResponses {
			assert.NotEmpty(t, aws.ToString(r.RecordId))
			assert.Nil(t, r.ErrorCode)
			assert.False(t, seen[aws.ToString(r.RecordId)], "ids are unique")
			seen[aws.ToString(r.RecordId)] = true
		}
		assert.False(t, aws.ToBool(out.Encrypted))
	})

	t.Run("PutRecord answers the record's id", func(t *testing.T) {
		out, err := c.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String(stream), Record: &types.Record{Data: []byte("x\n")}})
		require.NoError(t, err)
		assert.NotEmpty(t, aws.ToString(out.RecordId))
	})

	t.Run("DescribeDeliveryStream shows an active stream and its S3 destination", func(t *testing.T) {
		out, err := c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(stream)})
		require.NoError(t, err)
		d := out.DeliveryStreamDescription
		assert.Equal(t, stream, aws.ToString(d.DeliveryStreamName))
		assert.Equal(t, "arn:aws:firehose:us-east-1:000000000000:deliverystream/"+stream, aws.ToString(d.DeliveryStreamARN))
		assert.Equal(t, w.Server.ARN(stream), aws.ToString(d.DeliveryStreamARN))
		assert.Equal(t, types.DeliveryStreamStatusActive, d.DeliveryStreamStatus)
		assert.Equal(t, types.DeliveryStreamTypeDirectPut, d.DeliveryStreamType)
		assert.Equal(t, "1", aws.ToString(d.VersionId))
		require.NotNil(t, d.CreateTimestamp)
		assert.WithinDuration(t, time.Now(), *d.CreateTimestamp, time.Minute)
		assert.False(t, aws.ToBool(d.HasMoreDestinations))
		require.Len(t, d.Destinations, 1)
		for _, s3d := range []*types.S3DestinationDescription{d.Destinations[0].S3DestinationDescription} {
			require.NotNil(t, s3d)
			assert.Equal(t, "arn:aws:s3:::"+firehosetest.Bucket, aws.ToString(s3d.BucketARN))
			assert.Equal(t, "incoming/", aws.ToString(s3d.Prefix))
			assert.Equal(t, "incoming-errors/", aws.ToString(s3d.ErrorOutputPrefix))
			assert.Equal(t, types.CompressionFormatGzip, s3d.CompressionFormat)
			assert.Equal(t, int32(900), aws.ToInt32(s3d.BufferingHints.IntervalInSeconds))
			assert.Equal(t, int32(128), aws.ToInt32(s3d.BufferingHints.SizeInMBs))
		}
		x := d.Destinations[0].ExtendedS3DestinationDescription
		require.NotNil(t, x)
		assert.Equal(t, "arn:aws:s3:::"+firehosetest.Bucket, aws.ToString(x.BucketARN))
		assert.Equal(t, "incoming/", aws.ToString(x.Prefix))
		assert.Equal(t, types.CompressionFormatGzip, x.CompressionFormat)
		assert.Equal(t, "destinationId-000000000001", aws.ToString(d.Destinations[0].DestinationId))
	})

	t.Run("ListDeliveryStreams lists in order, a page at a time", func(t *testing.T) {
		out, err := c.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{})
		require.NoError(t, err)
		assert.Equal(t, []string{"a-first", "dcrm-ArchiveFeed", "dcrm-Other"}, out.DeliveryStreamNames)
		assert.False(t, aws.ToBool(out.HasMoreDeliveryStreams))
		out, err = c.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{Limit: aws.Int32(1), ExclusiveStartDeliveryStreamName: aws.String("a-first")})
		require.NoError(t, err)
		assert.Equal(t, []string{"dcrm-ArchiveFeed"}, out.DeliveryStreamNames)
		assert.True(t, aws.ToBool(out.HasMoreDeliveryStreams))
		out, err = c.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{DeliveryStreamType: types.DeliveryStreamTypeKinesisStreamAsSource})
		require.NoError(t, err)
		assert.Empty(t, out.DeliveryStreamNames)
	})

	big := strings.Repeat("x", fh.MaxRecordBytes)
	errorCases := []struct {
		name string
		call func() error
		want string
	}{
		{"PutRecordBatch to an unknown stream", func() error {
			_, err := c.PutRecordBatch(ctx, batchInput("nope", "x"))
			return err
		}, "ResourceNotFoundException"},
		{"PutRecord to an unknown stream", func() error {
			_, err := c.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("nope"), Record: &types.Record{Data: []byte("x")}})
			return err
		}, "ResourceNotFoundException"},
		{"DescribeDeliveryStream of an unknown stream", func() error {
			_, err := c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException"},
		{"PutRecordBatch of 501 records", func() error {
			_, err := c.PutRecordBatch(ctx, batchInput(stream, make([]string, 501)...))
			return err
		}, "InvalidArgumentException"},
		{"PutRecordBatch of no record", func() error {
			_, err := c.PutRecordBatch(ctx, batchInput(stream))
			return err
		}, "InvalidArgumentException"},
		{"PutRecordBatch with a record over 1,000 KiB", func() error {
			_, err := c.PutRecordBatch(ctx, batchInput(stream, "a", big+"y"))
			return err
		}, "InvalidArgumentException"},
		{"PutRecord of a record over 1,000 KiB", func() error {
			_, err := c.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String(stream), Record: &types.Record{Data: []byte(big + "y")}})
			return err
		}, "InvalidArgumentException"},
		{"PutRecordBatch over 4 MiB", func() error {
			_, err := c.PutRecordBatch(ctx, batchInput(stream, big, big, big, big, strings.Repeat("z", fh.MaxBatchBytes-4*fh.MaxRecordBytes+1)))
			return err
		}, "InvalidArgumentException"},
		{"ListDeliveryStreams of an unknown type", func() error {
			_, err := c.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{DeliveryStreamType: "Carrier"})
			return err
		}, "InvalidArgumentException"},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.Error(t, err)
			assert.Equal(t, tc.want, code(err), "%v", err)
		})
	}
	t.Run("the SDK reads the errors as the service's types", func(t *testing.T) {
		_, err := c.PutRecordBatch(ctx, batchInput("nope", "x"))
		var nf *types.ResourceNotFoundException
		require.ErrorAs(t, err, &nf)
		assert.Contains(t, nf.ErrorMessage(), "nope")
		_, err = c.PutRecordBatch(ctx, batchInput(stream, make([]string, 501)...))
		var ia *types.InvalidArgumentException
		require.ErrorAs(t, err, &ia)
		assert.Contains(t, ia.ErrorMessage(), "500")
	})

	t.Run("the limits themselves are taken", func(t *testing.T) {
		putBatch(t, w, stream, make([]string, fh.MaxBatchRecords)...)
		// Four records of 1,000 KiB and one of the 96 KiB left: exactly 4 MiB.
		putBatch(t, w, stream, big, big, big, big, strings.Repeat("z", fh.MaxBatchBytes-4*fh.MaxRecordBytes))
	})
}

// TestProtocolErrors sends what no SDK would: each answer is the protocol's error document.
func TestProtocolErrors(t *testing.T) {
	w := firehosetest.Start(t, fh.Options{}, firehosetest.Feed("s"))
	for _, tc := range []struct{ name, target, body, code string }{
		{"unknown operation", "Firehose_20150804.CreateDeliveryStream", `{}`, "UnknownOperationException"},
		{"another service", "Kinesis_20131202.PutRecords", `{}`, "UnknownOperationException"},
		{"no target", "", `{}`, "UnknownOperationException"},
		{"not JSON", "Firehose_20150804.PutRecordBatch", `{"DeliveryStreamName":`, "SerializationException"},
		{"data not base64", "Firehose_20150804.PutRecordBatch", `{"DeliveryStreamName":"s","Records":[{"Data":"!!"}]}`, "SerializationException"},
		{"a record without data", "Firehose_20150804.PutRecordBatch", `{"DeliveryStreamName":"s","Records":[{}]}`, "InvalidArgumentException"},
		{"PutRecord without a record", "Firehose_20150804.PutRecord", `{"DeliveryStreamName":"s"}`, "InvalidArgumentException"},
		{"no stream name", "Firehose_20150804.PutRecord", `{"Record":{"Data":"eA=="}}`, "ResourceNotFoundException"},
		{"limit out of range", "Firehose_20150804.ListDeliveryStreams", `{"Limit":0}`, "InvalidArgumentException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, w.URL, strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			if tc.target != "" {
				req.Header.Set("X-Amz-Target", tc.target)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", b)
			assert.Equal(t, tc.code, resp.Header.Get("X-Amzn-ErrorType"))
			assert.Equal(t, "application/x-amz-json-1.1", resp.Header.Get("Content-Type"))
			var e map[string]string
			require.NoError(t, json.Unmarshal(b, &e), "%s", b)
			assert.Equal(t, tc.code, e["__type"])
			assert.NotEmpty(t, e["message"])
		})
	}
}

// TestRefusesWhenS3HasNotTakenEnough: a stream holds at most MaxPendingBytes that S3 has not
// taken; beyond it a put is refused as AWS refuses a call when it is busy, and taken again once S3
// has caught up.
func TestRefusesWhenS3HasNotTakenEnough(t *testing.T) {
	st := firehosetest.Feed("s")
	st.BufferBytes = 10
	w := firehosetest.Start(t, fh.Options{MaxPendingBytes: 100, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond}, st)
	w.Refuse(func(string) bool { return true })
	putBatch(t, w, "s", strings.Repeat("a", 60))
	_, err := w.Client().PutRecordBatch(context.Background(), batchInput("s", strings.Repeat("b", 60)))
	var busy *types.ServiceUnavailableException
	require.ErrorAs(t, err, &busy)
	w.Refuse(nil)
	w.Objects(t, 1)
	require.Eventually(t, func() bool {
		_, err := w.Client().PutRecordBatch(context.Background(), batchInput("s", strings.Repeat("b", 60)))
		return err == nil
	}, 5*time.Second, 5*time.Millisecond, "taken again once S3 has taken the first")
}

func TestNewRefusesStreamsFirehoseWouldNot(t *testing.T) {
	for _, st := range []fh.Stream{
		{Name: "", Bucket: "b"},
		{Name: "has space", Bucket: "b"},
		{Name: strings.Repeat("n", 65), Bucket: "b"},
		{Name: "n"},
		{Name: "n", Bucket: "b", BufferInterval: 901 * time.Second},
		{Name: "n", Bucket: "b", BufferBytes: 129 << 20},
	} {
		_, err := fh.New(fh.Options{S3: firehosetest.Start(t, fh.Options{}).S3, Streams: []fh.Stream{st}})
		assert.ErrorIs(t, err, fh.ErrInvalidStream, "%+v", st)
	}
	_, err := fh.New(fh.Options{Streams: []fh.Stream{{Name: "n", Bucket: "b"}}})
	assert.ErrorIs(t, err, fh.ErrInvalidStream, "no S3 client")
}
