// Command collect is the beacon endpoint: it authorises calls in the shape of Segment's Tracking
// API by write key and origin, validates their events and puts them on the beacon stream.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/beaconstream"
	"github.com/dcrm-project/dcrm/shared/healthstore"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/lambdamem"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
)

func main() {
	lambdamem.TuneGC(os.Getenv, gcPercent)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("collect cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.StartHandler(invocations(h))
}

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	env, err := topology.Default().FromEnv(getenv, topology.EventStream, topology.KeyTable, topology.FailedQueue, topology.HealthTable)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	db := dynamo.New(cfg)
	return &handler{
		keys:   keystore.NewCache(keystore.New(db, env[topology.KeyTable]), keystore.CacheTTL),
		stream: beaconstream.New(kinesis.NewFromConfig(cfg, boundedBackoff), env[topology.EventStream]),
		now:    time.Now,
		newID:  beacon.NewMessageID,
		log:    log,
		failed: messagequeue.New(sqs.NewFromConfig(cfg), env[topology.FailedQueue]),
		counts: healthstore.New(db, env[topology.HealthTable]),
	}, nil
}

// maxStreamBackoff bounds the SDK's wait between two attempts on the stream (its default grows to
// 20 s): a few attempts then end well within the invocation's 10 s, so a stream that keeps
// throttling is answered from the last attempt's error — 429, slow down — rather than cut off by
// the deadline (503), and the function is not billed for waiting.
const maxStreamBackoff = time.Second

func boundedBackoff(o *kinesis.Options) {
	o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, maxStreamBackoff)
}

// invocations is what the Lambda runtime calls with each event (invocation.go).
func invocations(h *handler) lambda.Handler { return invocation{h} }

// gcPercent is collect's GOGC (package lambdamem): a call allocates a few times its body while the
// heap that lives on is a few megabytes, so 400 lets five calls' worth pass before a collection.
const gcPercent = 400
