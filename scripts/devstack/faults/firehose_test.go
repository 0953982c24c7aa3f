package faults_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/faults"
	fh "github.com/dcrm-project/dcrm/scripts/devstack/firehose"
	"github.com/dcrm-project/dcrm/scripts/devstack/firehose/firehosetest"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// TestFirehoseFaults: the local Data Firehose behind the injector fails calls and refuses records
// as Firehose does when it is busy, and delivers exactly the records answered as taken, in order.
func TestFirehoseFaults(t *testing.T) {
	feed := firehosetest.Feed("s")
	feed.BufferInterval = 0 // each call's records in an object of their own, at once
	w := firehosetest.Start(t, fh.Options{}, feed)
	in := faults.New(nil, faults.WithSeed(3))
	url := proxyTo(t, w.URL, in)
	c := firehosetest.Client(url)
	ctx := t.Context()
	batch := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("s")}
	for i := range 40 {
		batch.Records = append(batch.Records, types.Record{Data: fmt.Appendf(nil, "{\"n\":%d}\n", i)})
	}

	in.Add(faults.Rule{Name: "busy", Service: "firehose", Operations: []string{"PutRecordBatch"}, Times: 1, Error: faults.FirehoseUnavailable})
	_, err := c.PutRecordBatch(ctx, batch)
	var busy *types.ServiceUnavailableException
	require.ErrorAs(t, err, &busy)
	assert.Equal(t, 1, in.Fired("busy"))
	// The SDK retries it (503), as stitch's client does with AWS_MAX_ATTEMPTS.
	in.Add(faults.Rule{Name: "busy", Service: "firehose", Times: 2, Error: faults.FirehoseUnavailable})
	retrying := firehose.NewFromConfig(localaws.Endpoints{}.Config(), func(o *firehose.Options) {
		o.BaseEndpoint = aws.String(url)
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		})
	})
	_, err = retrying.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("s"), Record: &types.Record{Data: []byte("retried\n")}})
	require.NoError(t, err)
	assert.Equal(t, 2, in.Fired("busy"))
	assert.Equal(t, "retried\n", w.Content(t, w.Objects(t, 1)[0]))
	in.Clear()

	in.Add(faults.Rule{Name: "some", Service: "firehose", Operations: []string{"PutRecordBatch"}, FailRecords: 0.5})
	out, err := c.PutRecordBatch(ctx, batch)
	require.NoError(t, err)
	require.Len(t, out.RequestResponses, 40)
	var taken []string
	for i, r := range out.RequestResponses {
		if r.ErrorCode != nil {
			assert.Equal(t, "ServiceUnavailableException", aws.ToString(r.ErrorCode))
			assert.NotEmpty(t, aws.ToString(r.ErrorMessage))
			assert.Nil(t, r.RecordId)
			continue
		}
		assert.NotEmpty(t, aws.ToString(r.RecordId))
		taken = append(taken, string(batch.Records[i].Data))
	}
	assert.EqualValues(t, 40-len(taken), aws.ToInt32(out.FailedPutCount))
	assert.Greater(t, len(taken), 5)
	assert.Less(t, len(taken), 35)
	keys := w.Objects(t, 2)
	assert.Equal(t, strings.Join(taken, ""), w.Content(t, keys[1]), "exactly the records answered as taken, in order")
}
