// Command profiles is the profile API: it returns a customer's Single Customer View by profile id
// or by any identifier, their event history, export and merge log, records consent, erases a
// person and undoes a wrong merge, serves the attribution and journey reports and keeps the
// audience definitions, for callers holding a profile-API key; and it tells a page, with its write
// key, the public audiences and next action of the visitor holding a cookie (POST /v1/visitor).
// It serves the alerts and triggers sent and the audit log of the changes made through it, which
// it writes (the Activity table).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activitystore"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/consoleauth"
	"github.com/dcrm-project/dcrm/shared/fanout"
	"github.com/dcrm-project/dcrm/shared/hashkey"
	"github.com/dcrm-project/dcrm/shared/healthstore"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/membership"
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
	lambda.Start(h.invoke)
}

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	env, err := topology.Default().FromEnv(getenv, topology.ProfileTable, topology.IdentityTable, topology.TouchpointTable, topology.KeyTable,
		topology.ProfileUpdateQueue, topology.ArchiveBucket, topology.ReportsBucket, topology.AudienceTable,
		topology.AudienceMemberTable, topology.ExportsBucket, topology.HealthTable, topology.ActivityTable)
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
	s3c := localaws.S3Client(cfg)
	keyTable := keystore.New(db, env[topology.KeyTable])
	keys := keystore.NewCache(keyTable, keystore.CacheTTL)
	audiences := audiencestore.New(db, env[topology.AudienceTable])
	store := profilestore.New(db, profilestore.Tables{
		Profiles: env[topology.ProfileTable], Identities: env[topology.IdentityTable], Touchpoints: env[topology.TouchpointTable],
		AudienceMembers: env[topology.AudienceMemberTable],
	})
	exportCfg, err := exportSettingsFrom(getenv)
	if err != nil {
		return nil, err
	}
	h := &handler{
		keys:        keys,
		keyStore:    keyTable,
		profiles:    recording.New(store, recording.WithTombstoneKey(key)),
		members:     store,
		exports:     objectstore.Bucket{Client: s3c, Name: env[topology.ExportsBucket]},
		links:       presigner{s3.NewPresignClient(s3c), env[topology.ExportsBucket]},
		updates:     messagequeue.New(sqs.NewFromConfig(cfg), env[topology.ProfileUpdateQueue]),
		archive:     objectstore.Bucket{Client: s3c, Name: env[topology.ArchiveBucket]},
		reports:     reportStore{bucket: objectstore.Bucket{Client: s3c, Name: env[topology.ReportsBucket]}},
		audiences:   audiences,
		activity:    activitystore.New(db, env[topology.ActivityTable]),
		pseudonymOf: func(id string) string { return key.Sum("activity", id) },
		now:         time.Now,
		log:         log,
		sources:     keys,
		public:      &publicAudiences{list: publicOf(audiences)},
		definitions: membership.NewSource(audiences),
		visitors:    &visitorLimiter{},
		exportCfg:   exportCfg,
		health:      healthstore.New(db, env[topology.HealthTable]),
		queues:      queueWatch{client: sqs.NewFromConfig(cfg), queues: watchedQueues(getenv)},
	}
	if self, ok := fanout.Self(cfg, getenv); ok {
		h.steps = self
	}
	// The console's user pool (Cognito on AWS; the local host's locally): none configured, and
	// only profile-API keys are taken.
	if issuer, client := getenv(topology.SettingAuthIssuer), getenv(topology.SettingAuthClientID); issuer != "" && client != "" {
		v, err := consoleauth.NewVerifier(consoleauth.Config{Issuer: issuer, ClientID: client})
		if err != nil {
			return nil, err
		}
		h.signIn = consoleSignIn{issuer: issuer, clientID: client, verifier: v}
	}
	return h, nil
}

// exportSettingsFrom reads the export steps' settings; each unset keeps its default.
func exportSettingsFrom(getenv func(string) string) (exportSettings, error) {
	s := defaultExportSettings
	for name, into := range map[string]*int{settingExportPage: &s.page, settingExportStepPages: &s.stepPages, settingExportPartBytes: &s.partBytes} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return s, fmt.Errorf("%s=%q: want a whole number above 0", name, v)
			}
			*into = n
		}
	}
	if s.page > profilestore.MaxMembersPage {
		return s, fmt.Errorf("%s=%d: at most %d", settingExportPage, s.page, profilestore.MaxMembersPage)
	}
	if v := getenv(settingExportReserve); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return s, fmt.Errorf("%s=%q: want a Go duration", settingExportReserve, v)
		}
		s.reserve = d
	}
	return s, nil
}

// presigner links to objects of a bucket by S3's presigned GET.
type presigner struct {
	client *s3.PresignClient
	bucket string
}

func (p presigner) Link(ctx context.Context, key string, ttl time.Duration) (string, error) {
	req, err := p.client.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(key)}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("link %s: %w", key, err)
	}
	return req.URL, nil
}
