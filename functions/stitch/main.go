// Command stitch reads beacon events from the stream (Kinesis event source mapping with partial
// batch responses) and records each on the customer's profile, resolving and merging identities.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/alertqueue"
	"github.com/dcrm-project/dcrm/shared/profilestore"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("stitch cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.handle)
}

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	t := topology.Default()
	env := map[string]string{}
	for _, r := range []string{topology.ProfileTable, topology.IdentityTable, topology.EventTable, topology.FailedQueue} {
		name := t.EnvVar(r)
		if env[r] = getenv(name); env[r] == "" {
			return nil, fmt.Errorf("read environment: %s is not set", name)
		}
	}
	ttl := profilestore.DefaultEventTTL
	if v := getenv(topology.SettingEventTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("read environment: %s=%q is not a positive duration", topology.SettingEventTTL, v)
		}
		ttl = d
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	store := profilestore.New(dynamo.New(cfg), profilestore.Tables{
		Profiles: env[topology.ProfileTable], Identities: env[topology.IdentityTable], Events: env[topology.EventTable],
	}, profilestore.WithEventTTL(ttl))
	return &handler{
		store:  store,
		failed: alertqueue.New(sqs.NewFromConfig(cfg), env[topology.FailedQueue]),
		now:    time.Now,
		log:    log,
	}, nil
}
