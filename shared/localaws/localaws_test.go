package localaws

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dcrm-project/dcrm/infra/topology"
)

func TestProvisionsTopologyResources(t *testing.T) {
	ctx := context.Background()
	e := Reachable(t)
	events := topology.Table{Name: "Events", PartitionKey: "messageId", TTLAttribute: "expiresAt"}
	table := NewTable(t, events)
	d, err := e.DynamoDBClient().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(d.Table.KeySchema[0].AttributeName); got != "messageId" {
		t.Errorf("partition key = %s, want messageId", got)
	}
	// Creating it again is not an error: provisioning is idempotent.
	if err := CreateTable(ctx, e.DynamoDBClient(), table, events); err != nil {
		t.Errorf("second create: %v", err)
	}

	stream := NewStream(t, 2)
	s, err := e.KinesisClient().DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.StreamDescription.Shards); n != 2 {
		t.Errorf("stream has %d shards, want 2", n)
	}

	name := UniqueName("test-alerts")
	url, err := CreateQueue(ctx, e.SQSClient(), name, topology.Queue{Name: name, DeadLetterAfter: 3})
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
