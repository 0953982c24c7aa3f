// Command reports computes the attribution and journey reports of a period from the archive
// bucket's files (the events, the latest merges and profiles snapshots, the imported spend) and
// keeps them under reports/ in the reports bucket, where the profile API serves them. The "reports"
// schedule runs it daily for the days up to the one before the run's. See README.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/healthstore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/objectstore"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("reports cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	runs, err := healthstore.RunsFromEnv(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("reports cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(healthstore.Tracked(runs, runCount, h.handle, topology.ReportsSchedule))
}

// runCount is what a run kept for the health page did: the archive's events it read.
func runCount(s summary) (healthstore.Counted, bool) {
	return healthstore.Counted{Count: int64(s.Events), Unit: "events read"}, true
}

// maxDays bounds a scheduled report's period: journey's lookback is at most 366 days too.
const maxDays = 366

// setup reads the environment once and builds the client once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	env, err := topology.Default().FromEnv(getenv, topology.ArchiveBucket, topology.ReportsBucket)
	if err != nil {
		return nil, err
	}
	days := 30
	if v := getenv(topology.SettingReportDays); v != "" {
		if days, err = strconv.Atoi(v); err != nil || days < 1 || days > maxDays {
			return nil, fmt.Errorf("read environment: %s=%q: want a whole number of days from 1 to %d", topology.SettingReportDays, v, maxDays)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	c := localaws.S3Client(cfg)
	return &handler{
		archive: s3Bucket{Bucket: objectstore.Bucket{Client: c, Name: env[topology.ArchiveBucket]}},
		reports: s3Bucket{Bucket: objectstore.Bucket{Client: c, Name: env[topology.ReportsBucket]}},
		days:    days, tempDir: os.TempDir(), now: time.Now, log: log,
	}, nil
}

// maxObject bounds what one read of a bucket holds in memory: an archive file of a day's delivery
// (~35 MB at 100 M events a month, functions/archive/README.md) with room to spare.
const maxObject = 256 << 20

// s3Bucket is a bucket through S3.
type s3Bucket struct{ objectstore.Bucket }

// Get reads a whole object, of at most maxObject bytes; objectstore.ErrNotFound when there is
// none.
func (b s3Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	return b.Bucket.Get(ctx, key, maxObject)
}
