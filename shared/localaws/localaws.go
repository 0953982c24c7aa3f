// Package localaws provisions the topology's stream, tables and queues on AWS-API-compatible servers
// (DynamoDB Local, the local Kinesis server, local-aws-sqs) and gives tests a configuration that
// talks to them and to the local S3 server, which the local host runs (scripts/devstack/s3server).
// The same calls work against AWS itself; in AWS the CDK app provisions instead.
package localaws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
)

// Endpoints are the loopback addresses of the local servers.
type Endpoints struct {
	DynamoDB string
	Kinesis  string
	SQS      string
	// S3 is the local S3 server's, which the local host runs (not the emulators): "" where there
	// is none. Check does not look for it.
	S3 string
}

// DefaultS3Port is where the local host serves S3 unless DCRM_S3_PORT says otherwise.
const DefaultS3Port = 4572

// DefaultEndpoints reads DCRM_DYNAMODB_ENDPOINT, DCRM_KINESIS_ENDPOINT, DCRM_SQS_ENDPOINT and
// DCRM_S3_ENDPOINT, falling back to the ports scripts/emulators/emulators.sh listens on and the
// local host's S3 port.
func DefaultEndpoints() Endpoints {
	return Endpoints{
		DynamoDB: env("DCRM_DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
		Kinesis:  env("DCRM_KINESIS_ENDPOINT", "http://127.0.0.1:4568"),
		SQS:      env("DCRM_SQS_ENDPOINT", "http://127.0.0.1:9324"),
		S3:       env("DCRM_S3_ENDPOINT", fmt.Sprintf("http://127.0.0.1:%d", DefaultS3Port)),
	}
}

// ErrNotRunning is what Endpoints.Check returns, to errors.Is, when a local server does not accept
// connections.
var ErrNotRunning = errors.New("local server not running")

// Check returns nil when DynamoDB Local, the Kinesis server and local-aws-sqs all accept connections at
// these endpoints; otherwise an ErrNotRunning that names each one that does not, where it was looked
// for, and how to start them.
func (e Endpoints) Check() error {
	var down notRunning
	for _, s := range []struct{ name, endpoint string }{
		{"DynamoDB Local", e.DynamoDB}, {"the Kinesis server", e.Kinesis}, {"local-aws-sqs", e.SQS},
	} {
		if err := dial(s.endpoint); err != nil {
			down = append(down, fmt.Sprintf("%s is not running at %s (%v)", s.name, s.endpoint, err))
		}
	}
	if len(down) == 0 {
		return nil
	}
	return down
}

// notRunning lists the servers that do not accept connections.
type notRunning []string

func (n notRunning) Error() string {
	return strings.Join(n, "; ") + ": start the local servers with `make up` or scripts/emulators/emulators.sh start"
}

func (notRunning) Is(target error) bool { return target == ErrNotRunning }

// dial opens and closes a connection to the endpoint's host, the reason it cannot as its error.
func dial(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return errors.New("not a URL with a host")
	}
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return op.Err
		}
		return err
	}
	return conn.Close()
}

// Region and credentials used locally; the emulators accept any.
const (
	Region    = "us-east-1"
	AccessKey = "local"
	SecretKey = "local"
)

// Environment is what a process needs to reach the local servers through the SDK's standard
// configuration (service-specific endpoint variables), exactly as functions read it in AWS. S3's
// clients built by S3Client(cfg) then use path-style addresses, as the local server wants.
func (e Endpoints) Environment() map[string]string {
	env := map[string]string{
		"AWS_REGION":                  Region,
		"AWS_ACCESS_KEY_ID":           AccessKey,
		"AWS_SECRET_ACCESS_KEY":       SecretKey,
		"AWS_ENDPOINT_URL_DYNAMODB":   e.DynamoDB,
		"AWS_ENDPOINT_URL_KINESIS":    e.Kinesis,
		"AWS_ENDPOINT_URL_SQS":        e.SQS,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_SDK_LOAD_CONFIG":         "0",
		"AWS_RETRY_MODE":              "standard",
		"AWS_MAX_ATTEMPTS":            "5",
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_CONFIG_FILE":             os.DevNull,
	}
	if e.S3 != "" {
		env["AWS_ENDPOINT_URL_S3"] = e.S3
	}
	return env
}

// Config is an aws.Config whose clients reach the local servers.
func (e Endpoints) Config() aws.Config {
	cfg := aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		HTTPClient:  &http.Client{Transport: plainBodies{awshttp.NewBuildableClient().GetTransport()}},
	}
	return cfg
}

// plainBodies sends request bodies through their Read method only. The SDK closes a request's body
// as soon as the response arrives, and its body's WriteTo then returns io.EOF as an error; when a
// server answers before the transport has finished with the body (a local server answers in
// microseconds), the transport takes that for a failed write and closes the connection under the
// response still being read: "use of closed network connection" on large responses such as
// GetRecords'. Read after close returns io.EOF as the end of the body, which is harmless.
type plainBodies struct{ http.RoundTripper }

func (t plainBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		plain := *r
		plain.Body = struct{ io.ReadCloser }{r.Body}
		r = &plain
	}
	return t.RoundTripper.RoundTrip(r)
}

// DynamoDBClient, KinesisClient and SQSClient build clients for the local servers.
func (e Endpoints) DynamoDBClient() *dynamodb.Client {
	return dynamodb.NewFromConfig(e.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(e.DynamoDB) })
}

func (e Endpoints) KinesisClient() *kinesis.Client {
	return kinesis.NewFromConfig(e.Config(), func(o *kinesis.Options) { o.BaseEndpoint = aws.String(e.Kinesis) })
}

func (e Endpoints) SQSClient() *sqs.Client {
	return sqs.NewFromConfig(e.Config(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(e.SQS) })
}

// S3Client builds a client for the local S3 server.
func (e Endpoints) S3Client() *s3.Client {
	return S3Client(e.Config(), func(o *s3.Options) { o.BaseEndpoint = aws.String(e.S3) })
}

// S3Client is how functions and commands build their S3 client from the SDK's configuration
// (config.LoadDefaultConfig): in AWS as S3 wants it; with an endpoint of its own, such as the
// local server's (AWS_ENDPOINT_URL_S3, or an option setting BaseEndpoint), with path-style
// addresses (http://host/bucket/key), since a local server has no per-bucket host names.
func S3Client(cfg aws.Config, optFns ...func(*s3.Options)) *s3.Client {
	return s3.NewFromConfig(cfg, append(optFns, func(o *s3.Options) {
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
	})...)
}

// CreateTable creates the table under the given physical name if it does not exist, with its
// global secondary indexes and TTL when the topology asks for them, and waits until it is active.
// An existing table is left as it is (the local servers keep nothing across restarts: after a
// topology change, restart them).
func CreateTable(ctx context.Context, db *dynamodb.Client, name string, t topology.Table) error {
	attrs := attributes(t)
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name), AttributeDefinitions: attrs, KeySchema: keySchema(t.PartitionKey, t.SortKey),
		BillingMode: ddbtypes.BillingModePayPerRequest, GlobalSecondaryIndexes: indexes(t.Indexes),
	})
	var exists *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	if t.TTLAttribute != "" && err == nil {
		_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(name),
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(t.TTLAttribute), Enabled: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("enable ttl on %s: %w", name, err)
		}
	}
	return nil
}

// attributes are the definitions of the table's and its indexes' key attributes (all strings).
func attributes(t topology.Table) []ddbtypes.AttributeDefinition {
	names := []string{t.PartitionKey, t.SortKey}
	for _, ix := range t.Indexes {
		names = append(names, ix.PartitionKey, ix.SortKey)
	}
	var out []ddbtypes.AttributeDefinition
	seen := map[string]bool{"": true}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, ddbtypes.AttributeDefinition{AttributeName: aws.String(n), AttributeType: ddbtypes.ScalarAttributeTypeS})
		}
	}
	return out
}

func keySchema(partition, sort string) []ddbtypes.KeySchemaElement {
	keys := []ddbtypes.KeySchemaElement{{AttributeName: aws.String(partition), KeyType: ddbtypes.KeyTypeHash}}
	if sort != "" {
		keys = append(keys, ddbtypes.KeySchemaElement{AttributeName: aws.String(sort), KeyType: ddbtypes.KeyTypeRange})
	}
	return keys
}

func indexes(ixs []topology.Index) []ddbtypes.GlobalSecondaryIndex {
	var out []ddbtypes.GlobalSecondaryIndex
	for _, ix := range ixs {
		p := &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(ix.Projection)}
		if len(ix.NonKeyAttributes) > 0 {
			p.NonKeyAttributes = ix.NonKeyAttributes
		}
		out = append(out, ddbtypes.GlobalSecondaryIndex{IndexName: aws.String(ix.Name), KeySchema: keySchema(ix.PartitionKey, ix.SortKey), Projection: p})
	}
	return out
}

// CreateStream creates the stream if it does not exist and waits until it is active: with the
// topology's shards, or on demand when it names none, as the CDK app deploys it.
func CreateStream(ctx context.Context, k *kinesis.Client, name string, s topology.Stream) error {
	in := &kinesis.CreateStreamInput{StreamName: aws.String(name)}
	if s.Shards > 0 {
		in.ShardCount = aws.Int32(int32(s.Shards))
	} else {
		in.StreamModeDetails = &kintypes.StreamModeDetails{StreamMode: kintypes.StreamModeOnDemand}
	}
	_, err := k.CreateStream(ctx, in)
	var exists *kintypes.ResourceInUseException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	if err := kinesis.NewStreamExistsWaiter(k).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, time.Minute, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	}); err != nil {
		return fmt.Errorf("wait for stream %s: %w", name, err)
	}
	return nil
}

// CreateQueue creates the queue (and its dead-letter queue, named name+"-dlq") and returns its URL.
// Creating an existing queue with the same attributes returns the existing URL.
func CreateQueue(ctx context.Context, q *sqs.Client, name string, spec topology.Queue) (string, error) {
	attrs := map[string]string{}
	if spec.DeadLetterAfter > 0 {
		dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
		if err != nil {
			return "", fmt.Errorf("create queue %s-dlq: %w", name, err)
		}
		arn, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			return "", fmt.Errorf("get arn of %s-dlq: %w", name, err)
		}
		attrs["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, arn.Attributes["QueueArn"], spec.DeadLetterAfter)
	}
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// Dynamo is a guregu/dynamo handle on DynamoDB Local.
func (e Endpoints) Dynamo() *dynamo.DB {
	return dynamo.New(e.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(e.DynamoDB) })
}
