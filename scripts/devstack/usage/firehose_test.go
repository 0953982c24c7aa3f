package usage_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fh "github.com/dcrm-project/dcrm/scripts/devstack/firehose"
	"github.com/dcrm-project/dcrm/scripts/devstack/firehose/firehosetest"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
)

// TestMetersFirehose puts records of chosen sizes through the meter to the local Data Firehose and
// checks what it counted, the 5 KB billing increments included.
func TestMetersFirehose(t *testing.T) {
	w := firehosetest.Start(t, fh.Options{}, firehosetest.Feed("s"))
	m := usage.New(nil)
	// Half the records refused on their way (as Firehose does when busy), inside the meter, so the
	// meter reads the answer's per-record failures.
	refuse := &refuser{}
	srv := httptest.NewServer(m.Middleware(usage.Firehose, refuse.wrap(w.Server)))
	t.Cleanup(srv.Close)
	c := firehosetest.Client(srv.URL)
	ctx := t.Context()
	put := func(records ...string) (*firehose.PutRecordBatchOutput, error) {
		in := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("s")}
		for _, r := range records {
			in.Records = append(in.Records, types.Record{Data: []byte(r)})
		}
		return c.PutRecordBatch(ctx, in)
	}

	before := m.Snapshot()
	// 0, 1, 5,120, 5,121 and 20,000 bytes: billed 5, 5, 5, 10 and 20 KB.
	_, err := put("", "x", strings.Repeat("a", 5120), strings.Repeat("b", 5121), strings.Repeat("\"", 20000))
	require.NoError(t, err)
	_, err = c.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("s"), Record: &types.Record{Data: []byte("y\n")}})
	require.NoError(t, err)
	_, err = c.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("nope"), Record: &types.Record{Data: []byte("y\n")}})
	require.Error(t, err)
	_, err = c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("s")})
	require.NoError(t, err)
	refuse.next = true
	out, err := put("1", "2", "3", "4")
	require.NoError(t, err)
	require.Equal(t, int32(2), aws.ToInt32(out.FailedPutCount))

	d := m.Snapshot().Sub(before).Firehose
	assert.Equal(t, map[string]int64{"PutRecordBatch": 2, "PutRecord": 2, "DescribeDeliveryStream": 1}, d.Requests)
	assert.Equal(t, map[string]int64{"PutRecord": 1}, d.Errors)
	assert.Equal(t, int64(5+1+2), d.Records)
	assert.Equal(t, int64(2), d.FailedRecords)
	assert.Equal(t, int64(1+5120+5121+20000+2+2), d.Bytes)
	// In 5 KB units: 1+1+1+2+4 for the first batch, 1 for the record, 1+1 for the two taken.
	assert.Equal(t, int64(12)*usage.FirehoseIncrement, d.BilledBytes)
}

// refuser answers the next PutRecordBatch with every other record refused, as Firehose answers
// when it cannot take some.
type refuser struct{ next bool }

func (r *refuser) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.next {
			next.ServeHTTP(w, req)
			return
		}
		r.next = false
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"FailedPutCount":2,"Encrypted":false,"RequestResponses":[{"RecordId":"a"},` +
			`{"ErrorCode":"ServiceUnavailableException","ErrorMessage":"busy"},{"RecordId":"c"},{"ErrorCode":"InternalFailure","ErrorMessage":"oops"}]}`))
	})
}
