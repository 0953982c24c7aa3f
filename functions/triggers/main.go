// Command triggers runs on a schedule: it reads the profiles whose next trigger is due from the
// Profiles table's due index (never a scan), fires what is due (abandoned basket, browse and form,
// returning prospect and lapsed customer) onto the triggers queue, and records what fired on each
// profile so that no episode fires twice; each trigger sent is written to the activity log, which
// the console reads.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activitystore"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/healthstore"
	"github.com/dcrm-project/dcrm/shared/membership"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("triggers cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	runs, err := healthstore.RunsFromEnv(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("triggers cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(healthstore.Tracked(runs, runCount, h.handle, topology.TriggersSchedule))
}

// runCount is what a run kept for the health page did: the triggers it sent.
func runCount(s summary) (healthstore.Counted, bool) {
	return healthstore.Counted{Count: s.Sent, Unit: "triggers sent"}, true
}

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	env, err := topology.Default().FromEnv(getenv, topology.ProfileTable, topology.TriggerQueue,
		topology.TouchpointTable, topology.AudienceTable, topology.AudienceQueue, topology.AudienceMemberTable, topology.ActivityTable)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	db, queues := dynamo.New(cfg), sqs.NewFromConfig(cfg)
	st := profilestore.New(db, profilestore.Tables{Profiles: env[topology.ProfileTable], Touchpoints: env[topology.TouchpointTable],
		AudienceMembers: env[topology.AudienceMemberTable]})
	audiences := recording.WithAudiences(membership.NewSource(audiencestore.New(db, env[topology.AudienceTable])),
		membership.Queue{Sender: messagequeue.New(queues, env[topology.AudienceQueue])})
	return &handler{
		// The engine's default trigger rules are stitch's too: both must index by the same rules.
		store:    recording.New(st, audiences),
		triggers: messagequeue.New(queues, env[topology.TriggerQueue]),
		activity: activitystore.New(db, env[topology.ActivityTable]),
		log:      log,
	}, nil
}
