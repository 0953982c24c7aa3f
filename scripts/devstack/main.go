// Command devstack is dcrm's local host: in the foreground, it provisions the topology on the local
// AWS-compatible servers (scripts/emulators), runs the functions' bootstrap binaries behind an
// emulated HTTP API, Kinesis event source mapping, schedules and Lambda Invoke API, writes
// <state>/resources.env, and stops everything on SIGINT or SIGTERM. See package
// scripts/devstack/stack for what is emulated and what is not.
//
//	go run ./scripts/devstack [flags]      (or bin/devstack)
//
// Flags (and the environment variables that set their defaults):
//
//	-prefix       DCRM_PREFIX         physical names are <prefix>-<Logical> (default dcrm)
//	-api-port     DCRM_API_PORT       HTTP API port on 127.0.0.1 (default 8080)
//	-lambda-port  DCRM_LAMBDA_PORT    Lambda Invoke API port on 127.0.0.1 (default 9001)
//	-s3-port      DCRM_S3_PORT        S3 port on 127.0.0.1 (default 4572)
//	-firehose-port DCRM_FIREHOSE_PORT Data Firehose port on 127.0.0.1 (default 4573)
//	-auth-port    DCRM_AUTH_PORT      local Cognito user pool (sign-in for the console) on 127.0.0.1
//	                                  (default 4574); its users, ids and signing key are kept in
//	                                  <state>/auth (package scripts/devstack/cognito)
//	-console-user DCRM_CONSOLE_USER   an admin of the local user pool given a new random password
//	                                  at every start, written to resources.env with the pool's
//	                                  DCRM_AUTH_* variables (default admin; "" for none)
//	-firehose-interval DCRM_FIREHOSE_INTERVAL
//	                                  the delivery streams' buffer interval, a Go duration (default
//	                                  5s; AWS waits the topology's, up to 15m; "topology" keeps it)
//	-functions    DCRM_FUNCTIONS_DIR  folder with <function>/bootstrap (default bin/functions)
//	-state        DCRM_HOME           state folder: resources.env, logs/functions/<function>.log,
//	                                  secrets/<Name>, s3/ (the buckets' objects) (default .dcrm)
//	-environments DCRM_ENVIRONMENTS   processes per function, the invocations it runs at once (default 2)
//	-faults-port  DCRM_FAULTS_PORT    if set, every AWS call (S3's aside) goes through a fault
//	                                  injector whose rules are managed at
//	                                  http://127.0.0.1:<port>/faults
//	                                  (scripts/devstack/faults/README.md); 0: off (default)
//	-cpuprofile   DCRM_CPUPROFILE     write the host's own CPU profile (runtime/pprof) to this file
//	                                  from start to stop, for `go tool pprof`; "": none (default)
//	-quiet                            do not echo the functions' output
//	-v                                log the host's debug messages
//
// Unless GOGC is set, the host's garbage collector runs at GOGC=400 (see gcPercent).
//
// The local servers' addresses come from DCRM_DYNAMODB_ENDPOINT, DCRM_KINESIS_ENDPOINT and
// DCRM_SQS_ENDPOINT (defaults: the emulators' loopback ports).
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
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/faults"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// gcPercent is the host's heap growth between collections. The host relays every request of the
// stack and allocates a little for each; at Go's default of 100 its collector took about a tenth of
// its CPU under load. Its live heap is a few tens of MB, so four times that between collections
// costs little memory.
const gcPercent = 400

// maxProcs is the host's GOMAXPROCS unless the environment sets one. The host mostly relays
// requests between local processes that need the machine's cores; with a thread per core its
// runtime spent them spinning and waking between requests: at 2,000 events/s it used 291 CPU-s
// per million events with two, 227 with one (BENCHMARKS.md), and kept up all the same.
const maxProcs = 1

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(maxProcs)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		stop()
		os.Exit(1)
	}
}

// run starts the stack and keeps it up until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix := fs.String("prefix", envOr("DCRM_PREFIX", "dcrm"), "physical names are <prefix>-<Logical>")
	apiPort := fs.Int("api-port", envInt("DCRM_API_PORT", 8080), "HTTP API port on 127.0.0.1")
	lambdaPort := fs.Int("lambda-port", envInt("DCRM_LAMBDA_PORT", 9001), "Lambda Invoke API port on 127.0.0.1")
	s3Port := fs.Int("s3-port", envInt("DCRM_S3_PORT", localaws.DefaultS3Port), "S3 port on 127.0.0.1")
	firehosePort := fs.Int("firehose-port", envInt("DCRM_FIREHOSE_PORT", stack.DefaultFirehosePort), "Data Firehose port on 127.0.0.1")
	authPort := fs.Int("auth-port", envInt("DCRM_AUTH_PORT", stack.DefaultAuthPort), "local Cognito user pool port on 127.0.0.1")
	consoleUser := fs.String("console-user", envOr("DCRM_CONSOLE_USER", "admin"), `an admin of the local user pool, given a new password at each start ("" for none)`)
	firehoseInterval := fs.String("firehose-interval", envOr("DCRM_FIREHOSE_INTERVAL", stack.DefaultFirehoseInterval.String()),
		`the delivery streams' buffer interval (a Go duration, or "topology" for the topology's, as in AWS)`)
	functions := fs.String("functions", envOr("DCRM_FUNCTIONS_DIR", filepath.Join("bin", "functions")), "folder with <function>/bootstrap")
	state := fs.String("state", envOr("DCRM_HOME", ".dcrm"), "state folder")
	environments := fs.Int("environments", envInt("DCRM_ENVIRONMENTS", 2), "processes per function: the invocations it runs at once")
	faultsPort := fs.Int("faults-port", envInt("DCRM_FAULTS_PORT", 0), "serve fault-injection rules on this 127.0.0.1 port and send every AWS call through them (0: off)")
	cpuProfile := fs.String("cpuprofile", os.Getenv("DCRM_CPUPROFILE"), "write the host's CPU profile to this file until it stops")
	quiet := fs.Bool("quiet", false, "do not echo the functions' output")
	verbose := fs.Bool("v", false, "log debug messages")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	interval, err := bufferInterval(*firehoseInterval)
	if err != nil {
		return err
	}

	if *cpuProfile != "" {
		stop, err := profileCPU(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var echo io.Writer
	if !*quiet {
		echo = stdout
	}
	logDir := filepath.Join(*state, "logs", "functions")
	envFile := filepath.Join(*state, "resources.env")

	endpoints := localaws.DefaultEndpoints()
	var middleware []func(string, http.Handler) http.Handler
	if *faultsPort > 0 {
		in, stop, err := injectFaults(&endpoints, *faultsPort, logger)
		if err != nil {
			return err
		}
		middleware = append(middleware, firehoseFaults(in))
		defer stop()
		fmt.Fprintf(stdout, "devstack: fault injection: rules at http://127.0.0.1:%d/faults\n", *faultsPort)
	}
	s, err := stack.Start(ctx, stack.Config{
		Prefix: *prefix, APIPort: *apiPort, LambdaPort: *lambdaPort, S3Port: *s3Port, S3Dir: filepath.Join(*state, "s3"), FunctionsDir: *functions,
		FirehosePort: *firehosePort, FirehoseInterval: interval,
		Endpoints: endpoints, LogDir: logDir, Echo: echo, Logger: logger, Middleware: middleware,
		SecretDir: filepath.Join(*state, "secrets"), MappingState: filepath.Join(*state, "mappings.json"), Environments: *environments,
		AuthPort: *authPort, AuthDir: filepath.Join(*state, "auth"), ConsoleUser: *consoleUser,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.WriteEnvFile(envFile); err != nil {
		return err
	}
	defer os.Remove(envFile)
	fmt.Fprintf(stdout, "devstack: ready: API %s  Lambda %s  S3 %s  Firehose %s  sign-in %s  resources %s  function logs %s\n",
		s.APIURL(), s.LambdaURL(), s.S3URL(), s.FirehoseURL(), s.AuthURL(), envFile, logDir)

	<-ctx.Done()
	fmt.Fprintln(stdout, "devstack: stopping")
	if err := s.Close(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}

// injectFaults puts a proxy with one fault injector in front of each local server, points the
// endpoints at the proxies, and serves the injector's rules on the port.
func injectFaults(e *localaws.Endpoints, port int, logger *slog.Logger) (in *faults.Injector, stop func(), err error) {
	in = faults.New(nil, faults.WithLogger(logger.With("component", "faults")))
	var closers []func() error
	stop = func() {
		for _, c := range closers {
			_ = c()
		}
	}
	for _, ep := range []*string{&e.DynamoDB, &e.Kinesis, &e.SQS} {
		p, err := faults.StartProxy(*ep, faults.Middleware(in))
		if err != nil {
			stop()
			return nil, nil, err
		}
		closers = append(closers, p.Close)
		*ep = p.URL()
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("fault rules (another program has the port? set DCRM_FAULTS_PORT): %w", err)
	}
	srv := &http.Server{Handler: in.Admin(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	closers = append(closers, srv.Close)
	return in, stop, nil
}

// firehoseFaults puts the injector in front of the local host's own Data Firehose server too
// (S3's stays out of it), so that its calls fail as the rules say.
func firehoseFaults(in *faults.Injector) func(string, http.Handler) http.Handler {
	return func(service string, next http.Handler) http.Handler {
		if service != usage.Firehose {
			return next
		}
		return in.Middleware(next)
	}
}

// bufferInterval reads -firehose-interval: a duration of 0 to 900 s, or "topology" (a negative
// interval for stack.Config: the topology's own).
func bufferInterval(v string) (time.Duration, error) {
	if v == "topology" {
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > 900*time.Second {
		return 0, fmt.Errorf("-firehose-interval %q: want a duration from 0s to 15m, or topology", v)
	}
	if d == 0 {
		d = time.Nanosecond // stack.Config reads 0 as its default; a nanosecond writes at once just the same
	}
	return d, nil
}

// profileCPU profiles the process's CPU into path until stop is called.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func envInt(name string, fallback int) int {
	v, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return fallback
	}
	return v
}
