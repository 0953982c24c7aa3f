package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/journey"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/objectstore"
)

// maxGoalsFile bounds the goals file read: a configuration of the most goals journey allows is a
// few tens of KB.
const maxGoalsFile = 1 << 20

// goals is `dcrm goals`: the conversion goals and funnel the reports are made for, kept in the
// reports bucket (topology.GoalsKey):
//
//	dcrm goals show          the configured goals, or the defaults the reports use without them
//	dcrm goals check FILE    whether FILE is a configuration the reports take, and why not
//	dcrm goals set FILE      check FILE, then keep it for the next reports
func goals(ctx context.Context, args []string, out io.Writer) error {
	if len(args) < 1 {
		return fmt.Errorf("%w (dcrm goals show | check FILE | set FILE)", errUsage)
	}
	switch {
	case args[0] == "show" && len(args) == 1:
		b, err := reportsBucket(ctx)
		if err != nil {
			return err
		}
		body, err := b.Get(ctx, topology.GoalsKey, maxGoalsFile)
		if errors.Is(err, objectstore.ErrNotFound) {
			fmt.Fprintln(out, "# no goals configured: the reports use the defaults")
			return writeGoals(out, journey.DefaultConfig())
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", topology.GoalsKey, err)
		}
		cfg, err := journey.ParseConfig(body)
		if err != nil {
			return fmt.Errorf("the configured goals do not read (the reports fail until they do; dcrm goals set FILE): %w", err)
		}
		return writeGoals(out, cfg)
	case (args[0] == "check" || args[0] == "set") && len(args) == 2:
		body, err := readGoalsFile(args[1])
		if err != nil {
			return err
		}
		cfg, err := journey.ParseConfig(body)
		if err != nil {
			return fmt.Errorf("%s: %w", args[1], err)
		}
		if args[0] == "check" {
			lookback, _ := journey.Duration(cfg.LookbackOrDefault()).MarshalJSON()
			fmt.Fprintf(out, "%s: %d goals, lookback %s%s\n", args[1], len(cfg.Goals), strings.Trim(string(lookback), `"`), funnelNote(cfg))
			return nil
		}
		b, err := reportsBucket(ctx)
		if err != nil {
			return err
		}
		if err := b.Put(ctx, topology.GoalsKey, body); err != nil {
			return fmt.Errorf("keep the goals: %w", err)
		}
		fmt.Fprintf(out, "goals kept (%d goals%s); the next reports use them\n", len(cfg.Goals), funnelNote(cfg))
		return nil
	}
	return fmt.Errorf("%w (dcrm goals show | check FILE | set FILE)", errUsage)
}

func funnelNote(cfg journey.Config) string {
	if cfg.Funnel == nil {
		return ", no funnel"
	}
	return fmt.Sprintf(", funnel %q of %d steps", cfg.Funnel.Name, len(cfg.Funnel.Steps))
}

func readGoalsFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, maxGoalsFile+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxGoalsFile {
		return nil, fmt.Errorf("%s: more than %d bytes: not a goals configuration", path, maxGoalsFile)
	}
	return body, nil
}

func writeGoals(out io.Writer, cfg journey.Config) error {
	body, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", body)
	return err
}

func reportsBucket(ctx context.Context) (objectstore.Bucket, error) {
	name := os.Getenv(topology.Default().EnvVar(topology.ReportsBucket))
	if name == "" {
		return objectstore.Bucket{}, fmt.Errorf("%s is not set (source .dcrm/local.env, or the stack's output)", topology.Default().EnvVar(topology.ReportsBucket))
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return objectstore.Bucket{}, err
	}
	return objectstore.Bucket{Client: localaws.S3Client(cfg), Name: name}, nil
}
