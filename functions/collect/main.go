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
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/beaconstream"
	"github.com/dcrm-project/dcrm/shared/keystore"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("collect cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.handle)
}

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	t := topology.Default()
	streamName, keyTable := getenv(t.EnvVar(topology.EventStream)), getenv(t.EnvVar(topology.KeyTable))
	if streamName == "" || keyTable == "" {
		return nil, fmt.Errorf("read environment: %s and %s must be set", t.EnvVar(topology.EventStream), t.EnvVar(topology.KeyTable))
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	return &handler{
		keys:   keystore.New(dynamo.New(cfg), keyTable),
		stream: beaconstream.New(kinesis.NewFromConfig(cfg), streamName),
		now:    time.Now,
		newID:  beacon.NewMessageID,
		log:    log,
	}, nil
}
