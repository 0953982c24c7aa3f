// Command score rates every customer. On the "fit" schedule (daily) it reads a random sample of
// the profiles and fits the models: RFM and engagement cut points, the purchase models (BG/NBD,
// Pareto/NBD, Gamma-Gamma) and the co-occurrence model of next best actions, stored versioned in
// the Models table. On the "score" schedule (hourly) it applies them to every live profile: RFM
// segment, P(alive), expected purchases and spend, CLV, lapse risk and next best actions, saved on
// the profile; a valuable customer whose lapse risk crosses the line raises a lapse alert (version
// 2) on the alerts queue, once per crossing, and in the activity log the console reads. A large table is scored in parts, one asynchronous
// invocation of this function each. See README.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activitystore"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/fanout"
	"github.com/dcrm-project/dcrm/shared/healthstore"
	"github.com/dcrm-project/dcrm/shared/membership"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/scoring"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("score cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	runs, err := healthstore.RunsFromEnv(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("score cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(healthstore.Tracked(runs, runCount, h.handle, topology.ScoreSchedule, topology.FitSchedule))
}

// runCount is what a run kept for the health page did: the profiles it scored (a run fanned out
// counts its parts, which score apart), or the profiles a fit sampled.
func runCount(s summary) (healthstore.Counted, bool) {
	switch {
	case s.Mode == "fit" && s.Fit != nil:
		return healthstore.Counted{Count: int64(s.Fit.Sample.Buyers), Unit: "buyers sampled"}, true
	case s.Parts > 1:
		return healthstore.Counted{Count: int64(s.Parts), Unit: "parts sent"}, true
	case s.Mode == "score":
		return healthstore.Counted{Count: s.Scored, Unit: "profiles scored"}, true
	}
	return healthstore.Counted{}, false
}

// setup reads the environment once and builds the clients once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*handler, error) {
	env, err := topology.Default().FromEnv(getenv, topology.ProfileTable, topology.ModelTable, topology.AlertQueue, topology.AudienceTable,
		topology.AudienceQueue, topology.TouchpointTable, topology.AudienceMemberTable, topology.ActivityTable)
	if err != nil {
		return nil, err
	}
	cfg, size, err := settings(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	db, queues := dynamo.New(awsCfg), sqs.NewFromConfig(awsCfg)
	definitions := audiencestore.New(db, env[topology.AudienceTable])
	source := membership.NewSource(definitions)
	engine := recording.New(profilestore.New(db, profilestore.Tables{Profiles: env[topology.ProfileTable], Touchpoints: env[topology.TouchpointTable],
		AudienceMembers: env[topology.AudienceMemberTable]}),
		recording.WithAudiences(source, membership.Queue{Sender: messagequeue.New(queues, env[topology.AudienceQueue])}))
	h := &handler{
		store:     profilestore.NewProfileTable(db, env[topology.ProfileTable]),
		models:    profilestore.NewModelStore(db, env[topology.ModelTable]),
		audiences: definitions,
		members:   keeper{engine, source},
		sizes:     definitions,
		alerts:    messagequeue.New(queues, env[topology.AlertQueue]),
		activity:  activitystore.New(db, env[topology.ActivityTable]),
		cfg:       cfg, size: size, log: log,
	}
	// Lambda names the function in its environment; outside Lambda every part is scored here.
	if self, ok := fanout.Self(awsCfg, getenv); ok {
		h.parts = self
	}
	return h, nil
}

// keeper keeps audience membership: the engine evaluates, with the definitions the source reads.
type keeper struct {
	*recording.Engine
	*membership.Source
}

// settings reads the score settings (topology.Setting*); each has a default.
func settings(getenv func(string) string) (scoring.Config, sizing, error) {
	cfg, size := scoring.Default, defaultSizing
	var err error
	read := func(name string, parse func(string) error) {
		if v := getenv(name); v != "" && err == nil {
			if perr := parse(v); perr != nil {
				err = fmt.Errorf("read environment: %s=%q: %w", name, v, perr)
			}
		}
	}
	number := func(dst *float64, lo, hi float64) func(string) error {
		return func(s string) error {
			f, perr := strconv.ParseFloat(s, 64)
			if perr != nil || math.IsNaN(f) || f < lo || f > hi {
				return fmt.Errorf("want a number from %g to %g", lo, hi)
			}
			*dst = f
			return nil
		}
	}
	count := func(dst *int, lo int) func(string) error {
		return func(s string) error {
			n, perr := strconv.Atoi(s)
			if perr != nil || n < lo {
				return fmt.Errorf("want a whole number of at least %d", lo)
			}
			*dst = n
			return nil
		}
	}
	read(topology.SettingCLVWeeks, number(&cfg.Valuation.Horizon, 1, 520))
	read(topology.SettingCLVDiscount, number(&cfg.Valuation.AnnualRate, 0, 1))
	read(topology.SettingCLVMargin, number(&cfg.Valuation.Margin, 0, 1))
	read(topology.SettingLapseThreshold, number(&cfg.Lapse.Threshold, 0, 1))
	read(topology.SettingLapseMinValue, number(&cfg.Lapse.MinValue, 0, math.MaxFloat64))
	read(topology.SettingLapseCooldown, func(s string) error {
		d, perr := time.ParseDuration(s)
		if perr != nil || d < 0 {
			return fmt.Errorf("want a Go duration such as 720h")
		}
		cfg.Lapse.Cooldown = d
		return nil
	})
	read(topology.SettingScoreRefresh, func(s string) error {
		d, perr := time.ParseDuration(s)
		if perr != nil || d < time.Hour || d > 30*24*time.Hour || d%time.Hour != 0 {
			return fmt.Errorf("want whole hours from 1h to 720h, such as 24h")
		}
		cfg.Refresh = d
		return nil
	})
	read(topology.SettingFitSample, count(&size.FitSample, 100))
	read(topology.SettingScorePart, count(&size.PartSize, 1))
	return cfg, size, err
}
