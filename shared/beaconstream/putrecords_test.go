package beaconstream

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// sent is what a Kinesis client sends for one PutRecords call: its headers that do not change
// with the time or the call, and its body. No request leaves the process: the client's HTTP
// client keeps it and answers that every record was taken.
type sent struct {
	header http.Header
	body   []byte
}

func send(t testing.TB, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) sent {
	t.Helper()
	var got sent
	client := kinesis.New(kinesis.Options{
		Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String("http://127.0.0.1:1"),
		HTTPClient: doFunc(func(r *http.Request) (*http.Response, error) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return nil, err
			}
			got = sent{header: r.Header.Clone(), body: body}
			for _, h := range []string{"Amz-Sdk-Invocation-Id", "Amz-Sdk-Request", "X-Amz-Date", "Authorization", "User-Agent"} {
				got.header.Del(h)
			}
			if r.ContentLength != int64(len(body)) {
				t.Errorf("Content-Length %d for a body of %d bytes", r.ContentLength, len(body))
			}
			answer := `{"FailedRecordCount":0,"Records":[` + strings.Repeat(`{"SequenceNumber":"1","ShardId":"shardId-000000000000"},`, len(in.Records))
			answer = strings.TrimSuffix(answer, ",") + `]}`
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
				Body: io.NopCloser(strings.NewReader(answer)), ContentLength: int64(len(answer)), Request: r}, nil
		}),
	})
	if _, err := client.PutRecords(context.Background(), in, opts...); err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	return got
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func putInput(stream string, recs ...[2]string) *kinesis.PutRecordsInput {
	in := &kinesis.PutRecordsInput{StreamName: aws.String(stream)}
	for _, r := range recs {
		in.Records = append(in.Records, types.PutRecordsRequestEntry{Data: []byte(r[0]), PartitionKey: aws.String(r[1])})
	}
	return in
}

// The request is the client's own, byte for byte, headers included: for the requests the
// stream makes, and for those it takes the client's encoder for.
func TestPutRecordsAsTheClientEncodesThem(t *testing.T) {
	for name, in := range map[string]*kinesis.PutRecordsInput{
		"records":            putInput("dcrm-beacons", [2]string{`[{"type":"track"}]`, "0f6e2a51-3c84"}, [2]string{"\x00\xff binary", "b"}),
		"one record":         putInput("s", [2]string{"x", "k"}),
		"empty data":         putInput("s", [2]string{"", "k"}),
		"escaped key":        putInput("s", [2]string{"x", "a\"b\\c\u00e9<&>\x7f"}),
		"escaped stream":     putInput("a<b>\u2028", [2]string{"x", "k"}),
		"explicit hash key":  {StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{{Data: []byte("x"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("1")}}},
		"stream ARN as well": {StreamName: aws.String("s"), StreamARN: aws.String("arn:aws:kinesis:eu-west-1:123456789012:stream/s"), Records: putInput("s", [2]string{"x", "k"}).Records},
	} {
		t.Run(name, func(t *testing.T) {
			want, got := send(t, in), send(t, in, encodePutRecords)
			if !bytes.Equal(got.body, want.body) {
				t.Errorf("body\n got %s\nwant %s", got.body, want.body)
			}
			for k := range want.header {
				if got.header.Get(k) != want.header.Get(k) {
					t.Errorf("header %s = %q, want %q", k, got.header.Get(k), want.header.Get(k))
				}
			}
			if len(got.header) != len(want.header) {
				t.Errorf("headers %v, want %v", got.header, want.header)
			}
		})
	}
}

// Only the requests putRecordsBody can write the client's way are written by it.
func TestPutRecordsBodyTakesPlainRequestsOnly(t *testing.T) {
	if _, ok := putRecordsBody(putInput("s", [2]string{"x", "k"})); !ok {
		t.Error("a plain request is not taken")
	}
	for name, in := range map[string]*kinesis.PutRecordsInput{
		"escaped key":    putInput("s", [2]string{"x", "a\"b"}),
		"non-ASCII key":  putInput("s", [2]string{"x", "é"}),
		"escaped stream": putInput("a\\b", [2]string{"x", "k"}),
		"no stream name": {Records: putInput("s", [2]string{"x", "k"}).Records},
		"no records":     {StreamName: aws.String("s")},
		"dry run":        {StreamName: aws.String("s"), DryRun: aws.Bool(true), Records: putInput("s", [2]string{"x", "k"}).Records},
	} {
		if _, ok := putRecordsBody(in); ok {
			t.Errorf("%s: taken", name)
		}
	}
}

// FuzzPutRecordsBody: whatever the records, the request sent is the client's own.
func FuzzPutRecordsBody(f *testing.F) {
	f.Add([]byte(`[{"type":"track"}]`), "0f6e2a51-3c84", []byte("x"), "k", "dcrm-beacons")
	f.Add([]byte{0, 0xff}, "a\"b", []byte{}, "é", "s<")
	f.Fuzz(func(t *testing.T, d1 []byte, k1 string, d2 []byte, k2, stream string) {
		if k1 == "" || k2 == "" || stream == "" {
			return // the client refuses them before encoding
		}
		in := putInput(stream, [2]string{string(d1), k1}, [2]string{string(d2), k2})
		want, got := send(t, in), send(t, in, encodePutRecords)
		if !bytes.Equal(got.body, want.body) {
			t.Fatalf("body\n got %q\nwant %q", got.body, want.body)
		}
	})
}
