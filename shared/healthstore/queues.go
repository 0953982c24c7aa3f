package healthstore

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Queue is a queue whose depth is read: its logical name and URL.
type Queue struct {
	Name string
	URL  string
}

// Depth is how many messages a queue holds, as SQS approximates them.
type Depth struct {
	Name     string
	Messages int64 // visible: waiting to be received
	InFlight int64 // received, not yet deleted
	Delayed  int64
}

// AttributeGetter is SQS's GetQueueAttributes.
type AttributeGetter interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Depths reads the queues' depths from their attributes (GetQueueAttributes), all at once. It
// never receives a message to look: a receive would count toward a queue's redrive policy and
// hide the message from its consumers for a while.
func Depths(ctx context.Context, client AttributeGetter, queues []Queue) ([]Depth, error) {
	out := make([]Depth, len(queues))
	errs := make([]error, len(queues))
	var wg sync.WaitGroup
	for i, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL),
				AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
					types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
			if err != nil {
				errs[i] = fmt.Errorf("read the depth of %s: %w", q.Name, err)
				return
			}
			n := func(a types.QueueAttributeName) int64 {
				v, _ := strconv.ParseInt(res.Attributes[string(a)], 10, 64)
				return v
			}
			out[i] = Depth{Name: q.Name, Messages: n(types.QueueAttributeNameApproximateNumberOfMessages),
				InFlight: n(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
				Delayed:  n(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
