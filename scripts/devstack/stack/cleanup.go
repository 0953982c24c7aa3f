package stack

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// DeleteResources removes a stack's streams, tables and queues (resources as Stack.Resources lists
// them, by their logical names in top) from the local servers, which outlive the stack: for a
// stack of a test, a benchmark or a soak, under a prefix of its own. Failures are ignored: what is
// left costs the local servers some memory, nothing else.
func DeleteResources(e localaws.Endpoints, top topology.Topology, resources map[string]string) {
	ctx := context.Background()
	for logical, name := range resources {
		switch top.Kind(logical) {
		case "stream":
			_, _ = e.KinesisClient().DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name), EnforceConsumerDeletion: aws.Bool(true)})
		case "table":
			_, _ = e.DynamoDBClient().DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		default: // queues, and their dead-letter queues listed beside them
			if strings.HasPrefix(name, "http") {
				_, _ = e.SQSClient().DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(name)})
			}
		}
	}
}
