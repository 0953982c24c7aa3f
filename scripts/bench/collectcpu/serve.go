package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/bench/benchevent"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/source"
)

// collect is the function measured.
const collect = "collect"

// serve runs the local host of collect alone until stdin closes, then stops it and deletes the
// stream, tables and queues it made. It prints a hostInfo line once it serves.
func serve(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	bootstrap := fs.String("bootstrap", "", "collect's bootstrap")
	logs := fs.String("logs", "", "folder of the function's log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "collectcpu-functions")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	abs, err := filepath.Abs(*bootstrap)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, collect), 0o755); err != nil {
		return err
	}
	if err := os.Symlink(abs, filepath.Join(dir, collect, "bootstrap")); err != nil {
		return err
	}

	ctx := context.Background()
	top := collectOnly(topology.Default())
	endpoints := localaws.DefaultEndpoints()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	st, err := stack.Start(ctx, stack.Config{
		Topology: &top, Prefix: "cpu-" + hex.EncodeToString(suffix[:]), FunctionsDir: dir, Endpoints: endpoints, LogDir: *logs,
	})
	if err != nil {
		return err
	}
	defer stack.DeleteResources(endpoints, top, st.Resources())
	defer st.Close()

	key := keystore.NewKey("wk_")
	keys := keystore.New(endpoints.Dynamo(), st.Resources()[topology.KeyTable])
	// The benchmark measures the work, not the source's rate.
	if err := keys.PutSource(ctx, key, source.Source{ID: "src_bench", Name: "bench", AllowedOrigins: []string{benchevent.Origin}, RateLimit: 1 << 30}); err != nil {
		return fmt.Errorf("seed the write key: %w", err)
	}
	if err := json.NewEncoder(stdout).Encode(hostInfo{API: st.APIURL(), WriteKey: key}); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, stdin)
	return nil
}

// collectOnly is the topology with collect as its only function, its routes, and no stream
// mapping, bucket notification or schedule: the resources stay, so collect's environment is as
// deployed.
func collectOnly(t topology.Topology) topology.Topology {
	out := t
	out.Functions, out.Routes, out.Mappings, out.Notifications, out.Schedules = nil, nil, nil, nil, nil
	for _, f := range t.Functions {
		if f.Name == collect {
			out.Functions = append(out.Functions, f)
		}
	}
	for _, r := range t.Routes {
		if r.Function == collect {
			out.Routes = append(out.Routes, r)
		}
	}
	return out
}
