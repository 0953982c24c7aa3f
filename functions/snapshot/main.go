// Command snapshot writes the daily snapshot of the profiles, their identifiers and the merges to
// the archive bucket, as the archive's profiles, identifiers and merges tables (package
// shared/archive), in the partition of the run's UTC date, which Athena and dcrm sql query. The
// "snapshot" schedule runs it daily; a large table is written in parts, one asynchronous
// invocation of this function per scan segment. See README.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/fanout"
	"github.com/dcrm-project/dcrm/shared/healthstore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/objectstore"
	"github.com/dcrm-project/dcrm/shared/profilestore"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("snapshot cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	runs, err := healthstore.RunsFromEnv(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("snapshot cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(healthstore.Tracked(runs, runCount, h.handle, topology.SnapshotSchedule))
}

// runCount is what a run kept for the health page did: the profiles written (a run fanned out
// counts its parts, which write apart).
func runCount(s summary) (healthstore.Counted, bool) {
	if s.Parts > 1 {
		return healthstore.Counted{Count: int64(s.Parts), Unit: "parts sent"}, true
	}
	return healthstore.Counted{Count: s.Profiles, Unit: "profiles written"}, true
}

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	env, err := topology.Default().FromEnv(getenv, topology.ProfileTable, topology.IdentityTable, topology.ArchiveBucket)
	if err != nil {
		return nil, err
	}
	size := defaultSizing
	if v := getenv(settingPart); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("read environment: %s=%q: want a whole number of at least 1", settingPart, v)
		}
		size.PartProfiles = n
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	store := profilestore.New(dynamo.New(cfg), profilestore.Tables{Profiles: env[topology.ProfileTable], Identities: env[topology.IdentityTable]})
	h := &handler{
		profiles:   store.ProfileTable,
		identities: store.IdentityTable,
		files:      objectstore.Bucket{Client: localaws.S3Client(cfg), Name: env[topology.ArchiveBucket]},
		size:       size,
		log:        log,
	}
	// Lambda names the function in its environment; outside Lambda every part is written here.
	if self, ok := fanout.Self(cfg, getenv); ok {
		h.parts = self
	}
	return h, nil
}
