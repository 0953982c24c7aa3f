// Command kinesisd serves the local stack's Kinesis (package scripts/devstack/kinesis) on loopback
// until SIGINT or SIGTERM. scripts/emulators/emulators.sh builds and starts it.
//
//	go run ./scripts/devstack/kinesisd [flags]
//
// Flags (and the environment variables that set their defaults):
//
//	-port          DCRM_KINESIS_PORT          port on 127.0.0.1 (default 4568)
//	-stream-bytes  DCRM_KINESIS_STREAM_BYTES  most bytes a stream keeps before its oldest records
//	                                          are dropped (default 268435456, 256 MiB; 0: no budget)
//	-throttle      DCRM_KINESIS_THROTTLE      enforce AWS's per-shard throughput limits (default true)
//	-v                                        log every stream created and deleted
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/kinesis"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "kinesisd:", err)
		stop()
		os.Exit(1)
	}
}

// run serves until ctx ends; ready, when set, receives the address once it listens.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("kinesisd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", envInt("DCRM_KINESIS_PORT", 4568), "port on 127.0.0.1")
	budget := fs.Int64("stream-bytes", int64(envInt("DCRM_KINESIS_STREAM_BYTES", 256<<20)), "most bytes a stream keeps (0: no budget)")
	throttle := fs.Bool("throttle", envBool("DCRM_KINESIS_THROTTLE", true), "enforce AWS's per-shard throughput limits")
	verbose := fs.Bool("v", false, "log every stream created and deleted")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts := kinesis.Options{StreamBytes: *budget, Logger: log}
	if !*throttle {
		opts.Limits = &kinesis.Limits{}
	}
	srv := kinesis.New(opts)

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	log.Warn("kinesisd listening", "addr", ln.Addr().String(), "streamBytes", *budget, "throttle", *throttle)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	sweep := time.NewTicker(10 * time.Second)
	defer sweep.Stop()
	for {
		select {
		case <-sweep.C:
			srv.Sweep()
		case err := <-done:
			return err
		case <-ctx.Done():
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return hs.Shutdown(shut)
		}
	}
}

func envInt(name string, fallback int) int {
	v, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return fallback
	}
	return v
}

func envBool(name string, fallback bool) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	if err != nil {
		return fallback
	}
	return v
}
