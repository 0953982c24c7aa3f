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
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/hashkey"
	"github.com/dcrm-project/dcrm/shared/health"
	"github.com/dcrm-project/dcrm/shared/healthstore"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/lambdamem"
	"github.com/dcrm-project/dcrm/shared/membership"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// gcPercent is stitch's GOGC (package lambdamem): a batch allocates many times what lives on
// between batches (the clients), so 400 lets the heap grow before a collection starts, within the
// function's memory.
const gcPercent = 400

func main() {
	lambdamem.TuneGC(os.Getenv, gcPercent)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("stitch cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.StartHandler(entry(h))
}

// entry is what the Lambda runtime calls with each batch.
func entry(h *handler) lambda.Handler { return invocation{h} }

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	env, err := topology.Default().FromEnv(getenv, topology.ProfileTable, topology.IdentityTable, topology.TouchpointTable, topology.FailedQueue, topology.ProfileUpdateQueue, topology.ArchiveFeed,
		topology.AudienceTable, topology.AudienceQueue, topology.AudienceMemberTable, topology.HealthTable)
	if err != nil {
		return nil, err
	}
	retention, err := topology.DurationSetting(getenv, topology.SettingTouchpointTTL, history.DefaultTTL)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	key, err := hashkey.Load(ctx, getenv, cfg) // dedup scopes and erased identifiers' sealed forms are hashed under it
	if err != nil {
		return nil, err
	}
	db, client := dynamo.New(cfg), sqs.NewFromConfig(cfg)
	// Audience membership is evaluated in the write that records each batch (real time).
	audiences := recording.WithAudiences(membership.NewSource(audiencestore.New(db, env[topology.AudienceTable])),
		membership.Queue{Sender: messagequeue.New(client, env[topology.AudienceQueue])})
	store := recording.New(profilestore.New(db, profilestore.Tables{
		Profiles: env[topology.ProfileTable], Identities: env[topology.IdentityTable],
		Touchpoints: env[topology.TouchpointTable], AudienceMembers: env[topology.AudienceMemberTable],
	}), recording.WithRetention(retention), recording.WithTombstoneKey(key), audiences)
	return &handler{
		store:   store,
		failed:  newPatient(messagequeue.New(client, env[topology.FailedQueue]), log),
		updates: newPatient(messagequeue.New(client, env[topology.ProfileUpdateQueue]), log),
		feed:    newFirehoseFeed(firehose.NewFromConfig(cfg), env[topology.ArchiveFeed]),
		now:     time.Now,
		log:     log,
		hashKey: &key,
		health:  healthstore.New(db, env[topology.HealthTable]),
		lagDue:  health.Throttle{Every: health.LagEvery},
	}, nil
}
