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

// take puts records into the named stream's buffer, in their order, once they are within the
// limits: a PutRecordBatch's (batch) 1 to 500 records and 4 MiB of data, and 1,000 KiB a record.
func (s *Server) take(name string, records []*record, batch bool) error {
	st, ok := s.streams[name]
	if !ok {
		return s.notFound(name)
	}
	switch {
	case batch && len(records) == 0:
		return invalidArgument("Records must hold at least 1 record")
	case batch && len(records) > MaxBatchRecords:
		return invalidArgument("Records holds %d records; a PutRecordBatch takes at most %d", len(records), MaxBatchRecords)
	}
	data := make([][]byte, len(records))
	total := 0
	for i, r := range records {
		field := "Record"
		if batch {
			field = fmt.Sprintf("Records[%d]", i)
		}
		if r == nil || r.Data == nil {
			return invalidArgument("%s.Data is required", field)
		}
		if len(r.Data) > MaxRecordBytes {
			return invalidArgument("%s: %d bytes of data; a record holds at most %d (1,000 KiB) before base64", field, len(r.Data), MaxRecordBytes)
		}
		total += len(r.Data)
		data[i] = r.Data
	}
	if total > MaxBatchBytes {
		return invalidArgument("the records hold %d bytes of data; a PutRecordBatch takes at most %d (4 MiB)", total, MaxBatchBytes)
	}
	return st.put(data)
}

// putRecordBatch takes up to 500 records of up to 1,000 KiB, 4 MiB in all, into a stream's buffer,
// in their order. Every record is taken or the call fails as a whole: this server refuses single
// records only under fault injection (scripts/devstack/faults), as AWS does when it is busy.
func (s *Server) putRecordBatch(body []byte) (any, error) {
	var in putBatchInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := s.take(in.DeliveryStreamName, in.Records, true); err != nil {
		return nil, err
	}
	out := putBatchOutput{RequestResponses: make([]putResult, len(in.Records))}
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
	if err := s.take(in.DeliveryStreamName, []*record{in.Record}, false); err != nil {
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
	st, ok := s.streams[in.DeliveryStreamName]
	if !ok {
		return nil, s.notFound(in.DeliveryStreamName)
	}
	if _, err := limit(in.Limit, 1); err != nil {
		return nil, err
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
	n, err := limit(in.Limit, 10)
	if err != nil {
		return nil, err
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
	more := len(names) > n
	if more {
		names = names[:n]
	}
	return map[string]any{"DeliveryStreamNames": names, "HasMoreDeliveryStreams": more}, nil
}

// limit reads a call's Limit, 1 to 10,000 (fallback when it has none).
func limit(v *int, fallback int) (int, error) {
	if v == nil {
		return fallback, nil
	}
	if *v < 1 || *v > 10000 {
		return 0, invalidArgument("Limit %d, want 1 to 10000", *v)
	}
	return *v, nil
}
