package localaws_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

func TestCheckNamesEachServerThatIsNotRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	up := "http://" + ln.Addr().String()
	if err := (localaws.Endpoints{DynamoDB: up, Kinesis: up, SQS: up}).Check(); err != nil {
		t.Errorf("all three accept connections, yet: %v", err)
	}

	err = localaws.Endpoints{DynamoDB: up, Kinesis: "http://127.0.0.1:1", SQS: "127.0.0.1"}.Check()
	if !errors.Is(err, localaws.ErrNotRunning) {
		t.Fatalf("err = %v, want ErrNotRunning", err)
	}
	msg := err.Error()
	for _, want := range []string{"the Kinesis server is not running at http://127.0.0.1:1", "local-aws-sqs is not running at 127.0.0.1 (not a URL with a host)", "`make up`"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "DynamoDB") {
		t.Errorf("%q names DynamoDB Local, which is running", msg)
	}
}

func TestProvisionsTopologyResources(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	events := topology.Table{Name: "Events", PartitionKey: "messageId", TTLAttribute: "expiresAt"}
	table := localawstest.NewTable(t, events)
	d, err := e.DynamoDBClient().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(d.Table.KeySchema[0].AttributeName); got != "messageId" {
		t.Errorf("partition key = %s, want messageId", got)
	}
	// Creating it again is not an error: provisioning is idempotent.
	if err := localaws.CreateTable(ctx, e.DynamoDBClient(), table, events); err != nil {
		t.Errorf("second create: %v", err)
	}

	stream := localawstest.NewStream(t, 2)
	s, err := e.KinesisClient().DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.StreamDescription.Shards); n != 2 {
		t.Errorf("stream has %d shards, want 2", n)
	}
	// A stream of the topology without shards is on demand, as the CDK app deploys it.
	onDemand := localawstest.UniqueName("test-stream")
	if err := localaws.CreateStream(ctx, e.KinesisClient(), onDemand, topology.Stream{Name: onDemand}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.KinesisClient().DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(onDemand)})
	})
	sum, err := e.KinesisClient().DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(onDemand)})
	if err != nil {
		t.Fatal(err)
	}
	if mode := sum.StreamDescriptionSummary.StreamModeDetails.StreamMode; mode != "ON_DEMAND" {
		t.Errorf("stream mode %s, want ON_DEMAND", mode)
	}

	name := localawstest.UniqueName("test-alerts")
	url, err := localaws.CreateQueue(ctx, e.SQSClient(), name, topology.Queue{Name: name, DeadLetterAfter: 3})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := e.SQSClient().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"RedrivePolicy"}})
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Attributes["RedrivePolicy"] == "" {
		t.Error("queue has no redrive policy to its dead-letter queue")
	}
}

func TestTablesGetTheirIndexes(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	db := e.DynamoDBClient()
	due := topology.Index{Name: "due", PartitionKey: "shard", SortKey: "at", Projection: topology.ProjectKeysOnly}
	spec := topology.Table{Name: "Things", PartitionKey: "id", Indexes: []topology.Index{
		due, {Name: "byOwner", PartitionKey: "owner", Projection: topology.ProjectInclude, NonKeyAttributes: []string{"size"}},
	}}
	check := func(name string) {
		t.Helper()
		d, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, g := range d.Table.GlobalSecondaryIndexes {
			desc := string(g.Projection.ProjectionType) + fmt.Sprint(g.Projection.NonKeyAttributes)
			for _, k := range g.KeySchema {
				desc += " " + string(k.KeyType) + ":" + aws.ToString(k.AttributeName)
			}
			got[aws.ToString(g.IndexName)] = desc
		}
		want := map[string]string{"due": "KEYS_ONLY[] HASH:shard RANGE:at", "byOwner": "INCLUDE[size] HASH:owner"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: indexes %v, want %v", name, got, want)
		}
	}
	name := localawstest.NewTable(t, spec)
	check(name)
	if err := localaws.CreateTable(ctx, db, name, spec); err != nil {
		t.Errorf("second create: %v", err)
	}
	check(name)

	// The index is sparse: only items with its keys are in it.
	ddb := e.Dynamo()
	type thing struct {
		ID    string `dynamo:"id,hash"`
		Shard string `dynamo:"shard,omitempty"`
		At    string `dynamo:"at,omitempty"`
	}
	for _, it := range []thing{{"a", "1", "2025-01-01"}, {"b", "1", "2025-03-01"}, {"c", "", ""}, {"d", "2", "2025-01-01"}} {
		if err := ddb.Table(name).Put(it).Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var got []thing
	if err := ddb.Table(name).Get("shard", "1").Index("due").Range("at", dynamo.LessOrEqual, "2025-02-01").All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "a" {
		t.Errorf("due in shard 1 by February: %+v, want a", got)
	}
}

// writeToSpy is a request body that notes whether the transport used its WriteTo.
type writeToSpy struct {
	*strings.Reader
	wroteTo bool
}

func (b *writeToSpy) WriteTo(w io.Writer) (int64, error) {
	b.wroteTo = true
	return b.Reader.WriteTo(w)
}
func (b *writeToSpy) Close() error { return nil }

// The SDK's request bodies return io.EOF from WriteTo once closed, which the transport takes for a
// failed write when a fast local server has answered already, dropping the connection under the
// response; the local configuration's client sends bodies through Read only.
func TestLocalClientSendsBodiesThroughReadOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	body := &writeToSpy{Reader: strings.NewReader(strings.Repeat("x", 100_000))}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(body.Len())
	hc := localaws.Endpoints{}.Config().HTTPClient
	if hc == nil {
		t.Fatal("the local configuration has no HTTP client of its own")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if body.wroteTo {
		t.Error("the transport used the body's WriteTo")
	}
}

// Functions and commands build their S3 client with S3Client from the SDK's configuration: with a
// local endpoint (AWS_ENDPOINT_URL_S3, as the local host sets it) it addresses buckets by path; with
// none it is AWS's own, addressed as AWS wants.
func TestS3ClientUsesPathStyleWithAnEndpoint(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.Host+" "+r.URL.Path)
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(localaws.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	if err != nil {
		t.Fatal(err)
	}
	c := localaws.S3Client(cfg)
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("dcrm-import"), Key: aws.String("orders/a b.csv"),
		Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	want := strings.TrimPrefix(srv.URL, "http://") + " /dcrm-import/orders/a b.csv"
	if len(paths) != 1 || paths[0] != want {
		t.Errorf("requests %q, want %q", paths, want)
	}

	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	os.Unsetenv("AWS_ENDPOINT_URL_S3")
	cfg, err = config.LoadDefaultConfig(context.Background(), config.WithRegion("eu-west-1"))
	if err != nil {
		t.Fatal(err)
	}
	if o := localaws.S3Client(cfg).Options(); o.UsePathStyle || o.BaseEndpoint != nil {
		t.Errorf("without an endpoint: path style %v, endpoint %v; want AWS's own", o.UsePathStyle, o.BaseEndpoint)
	}
	if env := (localaws.Endpoints{S3: "http://127.0.0.1:4572"}).Environment(); env["AWS_ENDPOINT_URL_S3"] != "http://127.0.0.1:4572" {
		t.Errorf("Environment: %v", env)
	}
}
