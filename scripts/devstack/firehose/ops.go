package firehose

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/awsid"
)

type record struct {
	Data []byte // base64 in the JSON, as the SDKs send it
}

type putBatchInput struct {
	DeliveryStreamName string
	Records            []*record
}

type putInput struct {
	DeliveryStreamName string
	Record             *record
}

// putResult is one record's entry of a PutRecordBatch answer: its id, or why it was refused.
type putResult struct {
	RecordID     string `json:"RecordId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type putBatchOutput struct {
	FailedPutCount   int
	Encrypted        bool
	RequestResponses []putResult
}

type putOutput struct {
	RecordID  string `json:"RecordId"`
	Encrypted bool
}

func (s *Server) stream(name string) (*stream, error) {
	st, ok := s.streams[name]
	if !ok {
		return nil, s.notFound(name)
	}
	return st, nil
}

// putRecordBatch takes up to 500 records of up to 1,000 KiB, 4 MiB in all, into a stream's buffer,
// in their order. Every record is taken or the call fails as a whole: this server refuses single
// records only under fault injection (scripts/devstack/faults), as AWS does when it is busy.
func (s *Server) putRecordBatch(body []byte) (any, error) {
	var in putBatchInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	st, err := s.stream(in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.Records) == 0:
		return nil, invalidArgument("Records must hold at least 1 record")
	case len(in.Records) > MaxBatchRecords:
		return nil, invalidArgument("Records holds %d records; a PutRecordBatch takes at most %d", len(in.Records), MaxBatchRecords)
	}
	data := make([][]byte, len(in.Records))
	total := 0
	for i, r := range in.Records {
		if r == nil || r.Data == nil {
			return nil, invalidArgument("Records[%d]: Data is required", i)
		}
		if len(r.Data) > MaxRecordBytes {
			return nil, invalidArgument("Records[%d]: %d bytes of data; a record holds at most %d (1,000 KiB) before base64", i, len(r.Data), MaxRecordBytes)
		}
		total += len(r.Data)
		data[i] = r.Data
	}
	if total > MaxBatchBytes {
		return nil, invalidArgument("the records hold %d bytes of data; a PutRecordBatch takes at most %d (4 MiB)", total, MaxBatchBytes)
	}
	if err := st.put(data); err != nil {
		return nil, err
	}
	out := putBatchOutput{RequestResponses: make([]putResult, len(data))}
	for i := range out.RequestResponses {
		out.RequestResponses[i].RecordID = recordID()
	}
	return out, nil
}

// putRecord takes one record of up to 1,000 KiB.
func (s *Server) putRecord(body []byte) (any, error) {
	var in putInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	st, err := s.stream(in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	switch {
	case in.Record == nil || in.Record.Data == nil:
		return nil, invalidArgument("Record.Data is required")
	case len(in.Record.Data) > MaxRecordBytes:
		return nil, invalidArgument("%d bytes of data; a record holds at most %d (1,000 KiB) before base64", len(in.Record.Data), MaxRecordBytes)
	}
	if err := st.put([][]byte{in.Record.Data}); err != nil {
		return nil, err
	}
	return putOutput{RecordID: recordID()}, nil
}

// recordID is an opaque id for a record taken, of the length and alphabet Firehose's have.
func recordID() string { return awsid.Hex(112) }

type describeInput struct {
	DeliveryStreamName          string
	Limit                       *int
	ExclusiveStartDestinationId string
}

// description is what DescribeDeliveryStream tells of a stream: ACTIVE, Direct PUT, version 1,
// and its one S3 destination (as S3DestinationDescription and ExtendedS3DestinationDescription,
// as AWS describes a stream made with an extended S3 configuration).
type description struct {
	DeliveryStreamName                    string
	DeliveryStreamARN                     string
	DeliveryStreamStatus                  string
	DeliveryStreamType                    string
	VersionId                             string
	CreateTimestamp                       float64
	DeliveryStreamEncryptionConfiguration map[string]string
	Destinations                          []destination
	HasMoreDestinations                   bool
}

type destination struct {
	DestinationId                    string
	S3DestinationDescription         s3Destination
	ExtendedS3DestinationDescription extendedS3Destination
}

type s3Destination struct {
	RoleARN                  string
	BucketARN                string
	Prefix                   string
	ErrorOutputPrefix        string
	BufferingHints           bufferingHints
	CompressionFormat        string
	EncryptionConfiguration  map[string]string
	CloudWatchLoggingOptions map[string]bool
}

type extendedS3Destination struct {
	s3Destination
	S3BackupMode string
}

type bufferingHints struct {
	SizeInMBs         int
	IntervalInSeconds int
}

const destinationID = "destinationId-000000000001"

func (s *Server) describe(body []byte) (any, error) {
	var in describeInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	st, err := s.stream(in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	if in.Limit != nil && (*in.Limit < 1 || *in.Limit > 10000) {
		return nil, invalidArgument("Limit %d, want 1 to 10000", *in.Limit)
	}
	c := st.cfg
	dest := s3Destination{
		RoleARN:           fmt.Sprintf("arn:aws:iam::%s:role/%s-delivery", s.opts.Account, c.Name),
		BucketARN:         "arn:aws:s3:::" + c.Bucket,
		Prefix:            c.Prefix,
		ErrorOutputPrefix: c.ErrorPrefix,
		BufferingHints: bufferingHints{
			SizeInMBs:         max(1, (c.BufferBytes+1<<20-1)>>20),
			IntervalInSeconds: int(c.BufferInterval / time.Second),
		},
		CompressionFormat:        "GZIP",
		EncryptionConfiguration:  map[string]string{"NoEncryptionConfig": "NoEncryption"},
		CloudWatchLoggingOptions: map[string]bool{"Enabled": false},
	}
	d := description{
		DeliveryStreamName: c.Name, DeliveryStreamARN: s.ARN(c.Name), DeliveryStreamStatus: "ACTIVE", DeliveryStreamType: "DirectPut",
		VersionId: "1", CreateTimestamp: float64(st.created.UnixMilli()) / 1000,
		DeliveryStreamEncryptionConfiguration: map[string]string{"Status": "DISABLED"},
		Destinations:                          []destination{},
	}
	if in.ExclusiveStartDestinationId < destinationID {
		d.Destinations = append(d.Destinations, destination{DestinationId: destinationID, S3DestinationDescription: dest,
			ExtendedS3DestinationDescription: extendedS3Destination{s3Destination: dest, S3BackupMode: "Disabled"}})
	}
	return map[string]description{"DeliveryStreamDescription": d}, nil
}

type listInput struct {
	Limit                            *int
	DeliveryStreamType               string
	ExclusiveStartDeliveryStreamName string
}

var streamTypes = []string{"DirectPut", "KinesisStreamAsSource", "MSKAsSource", "DatabaseAsSource"}

// list names the streams in order, Limit at a time (10 unless said), after
// ExclusiveStartDeliveryStreamName; every stream here is DirectPut.
func (s *Server) list(body []byte) (any, error) {
	var in listInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit := 10
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 10000 {
			return nil, invalidArgument("Limit %d, want 1 to 10000", *in.Limit)
		}
		limit = *in.Limit
	}
	if in.DeliveryStreamType != "" && !slices.Contains(streamTypes, in.DeliveryStreamType) {
		return nil, invalidArgument("DeliveryStreamType %q, want one of %s", in.DeliveryStreamType, strings.Join(streamTypes, ", "))
	}
	names := []string{}
	if in.DeliveryStreamType == "" || in.DeliveryStreamType == "DirectPut" {
		for _, n := range s.names {
			if n > in.ExclusiveStartDeliveryStreamName {
				names = append(names, n)
			}
		}
	}
	more := len(names) > limit
	if more {
		names = names[:limit]
	}
	return map[string]any{"DeliveryStreamNames": names, "HasMoreDeliveryStreams": more}, nil
}
