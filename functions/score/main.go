// Command score runs on a schedule: it scores every live profile (recency / frequency) and raises
// a lapse alert on the alerts queue, once per lapse, for customers inactive longer than
// DCRM_LAPSE_AFTER.
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
		log.Error("score cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.handle)
}

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	env, err := topology.Default().FromEnv(getenv, topology.ProfileTable, topology.AlertQueue)
	if err != nil {
		return nil, err
	}
	lapseAfter, err := topology.DurationSetting(getenv, topology.SettingLapseAfter, 0)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	return &handler{
		store:      profilestore.New(dynamo.New(cfg), profilestore.Tables{Profiles: env[topology.ProfileTable]}),
		alerts:     alertqueue.New(sqs.NewFromConfig(cfg), env[topology.AlertQueue]),
		lapseAfter: lapseAfter,
		now:        time.Now,
		log:        log,
	}, nil
}
