// Command profiles is the profile API: it returns a customer's Single Customer View by profile id
// or by any identifier, their event history, export and merge log, records consent, erases a
// person and undoes a wrong merge, serves the attribution and journey reports and keeps the
// audience definitions, for callers holding a profile-API key; and it tells a page, with its write
// key, the public audiences and next action of the visitor holding a cookie (POST /v1/visitor).
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
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/hashkey"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/objectstore"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("profiles cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.handle)
}

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	env, err := topology.Default().FromEnv(getenv, topology.ProfileTable, topology.IdentityTable, topology.TouchpointTable, topology.KeyTable,
		topology.ProfileUpdateQueue, topology.ArchiveBucket, topology.ReportsBucket, topology.AudienceTable)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	key, err := hashkey.Load(ctx, getenv, cfg)
	if err != nil {
		return nil, err
	}
	db := dynamo.New(cfg)
	s3 := localaws.S3Client(cfg)
	keys := keystore.NewCache(keystore.New(db, env[topology.KeyTable]), keystore.CacheTTL)
	audiences := audiencestore.New(db, env[topology.AudienceTable])
	return &handler{
		keys: keys,
		profiles: recording.New(profilestore.New(db, profilestore.Tables{
			Profiles: env[topology.ProfileTable], Identities: env[topology.IdentityTable], Touchpoints: env[topology.TouchpointTable],
		}), recording.WithTombstoneKey(key)),
		updates:   messagequeue.New(sqs.NewFromConfig(cfg), env[topology.ProfileUpdateQueue]),
		archive:   objectstore.Bucket{Client: s3, Name: env[topology.ArchiveBucket]},
		reports:   reportStore{bucket: objectstore.Bucket{Client: s3, Name: env[topology.ReportsBucket]}},
		audiences: audiences,
		now:       time.Now,
		log:       log,
		sources:   keys,
		public:    &publicAudiences{list: publicOf(audiences)},
		visitors:  &visitorLimiter{},
	}, nil
}
