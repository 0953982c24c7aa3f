package beaconstream

import (
	"bytes"
	"context"
	"encoding/base64"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The Kinesis client encodes a PutRecords request into a buffer that starts at 1 KB and doubles
// as it goes (clearing each new part before the base64 of a record overwrites it), then copies
// the result: for a call of 100 events (160 KB of request) that was over half of what the client
// spends. putRecordsBody writes the same bytes into one buffer of the right size. It stands in
// for the client's encoder of PutRecords alone (the protocol's SerializeRequest), per call: the
// headers are still set by the client's own protocol, whatever does not need the fast way is
// still encoded by it, and every other call goes to it unchanged.

// encodePutRecords is the per-call option of the Kinesis client that puts putRecordsProtocol in
// front of its protocol.
func encodePutRecords(o *kinesis.Options) {
	if o.Protocol != nil {
		o.Protocol = putRecordsProtocol{o.Protocol}
	}
}

type putRecordsProtocol struct{ smithyhttp.ClientProtocol }

func (p putRecordsProtocol) SerializeRequest(ctx context.Context, schema *smithy.OperationSchema, in smithy.Serializable, req *smithyhttp.Request) error {
	put, ok := in.(*kinesis.PutRecordsInput)
	if !ok || schema.ID().Name != "PutRecords" {
		return p.ClientProtocol.SerializeRequest(ctx, schema, in, req)
	}
	body, ok := putRecordsBody(put)
	if !ok {
		return p.ClientProtocol.SerializeRequest(ctx, schema, in, req)
	}
	// The client's protocol sets the method, path and headers for a request without records, a
	// few bytes to encode; the body is then ours.
	if err := p.ClientProtocol.SerializeRequest(ctx, schema, &kinesis.PutRecordsInput{StreamName: put.StreamName}, req); err != nil {
		return err
	}
	sreq, err := req.SetStream(bytes.NewReader(body))
	if err != nil {
		return err
	}
	*req = *sreq
	return nil
}

// putRecordsBody is the JSON the Kinesis client writes for in (awsJson 1.1: the members in the
// order of the model, the data in standard base64), for the requests beaconstream makes: records
// with data and a partition key, a stream name, and nothing else; every string plain printable
// ASCII, which the client writes as it is. ok is false for any other request.
func putRecordsBody(in *kinesis.PutRecordsInput) ([]byte, bool) {
	if in.DryRun != nil || in.StreamARN != nil || in.StreamId != nil || in.StreamName == nil || in.Records == nil || !plain(*in.StreamName) {
		return nil, false
	}
	size := len(`{"Records":[],"StreamName":""}`) + len(*in.StreamName)
	for _, r := range in.Records {
		if r.Data == nil || r.PartitionKey == nil || r.ExplicitHashKey != nil || !plain(*r.PartitionKey) {
			return nil, false
		}
		size += len(`{"Data":"","PartitionKey":""},`) + base64.StdEncoding.EncodedLen(len(r.Data)) + len(*r.PartitionKey)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"Records":[`...)
	for i, r := range in.Records {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Data":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Data)
		b = append(b, `","PartitionKey":"`...)
		b = append(b, aws.ToString(r.PartitionKey)...)
		b = append(b, `"}`...)
	}
	b = append(b, `],"StreamName":"`...)
	b = append(b, *in.StreamName...)
	return append(b, `"}`...), true
}

// plain tells whether s is printable ASCII without a quote or a backslash: a JSON string literal
// of s is s in quotes, however an encoder escapes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
