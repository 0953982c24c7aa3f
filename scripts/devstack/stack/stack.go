// Package stack is dcrm's local host: it makes the local stack behave like the cloud one by
// running the same bootstrap binaries, with the same environment contract, behind the same kinds
// of triggers, all read from the one topology (infra/topology) the CDK app deploys.
//
// What Start does:
//
//   - provisions the topology's stream, tables and queues on the local AWS-compatible servers
//     (scripts/emulators) under the physical names <prefix>-<Logical>, idempotently (queues with a
//     dead-letter queue also get <prefix>-<Logical>-dlq);
//
//   - serves S3 (package s3server) on 127.0.0.1:S3Port with the topology's buckets, named
//     <prefix>-<logical> in lower case, their objects kept as files under S3Dir; and delivers the
//     buckets' notifications: for each object created by any client whose key a notification
//     matches, S3's event (events.S3Event) to the notification's function, as an asynchronous
//     invocation;
//
//   - serves Data Firehose (package firehose) on 127.0.0.1:FirehosePort with the topology's
//     delivery streams under their physical names: each gathers the records put to it and writes
//     them, gzipped, to its bucket through the S3 server above (so the bucket's notifications
//     fire), every FirehoseInterval (5 s by default, where AWS waits the topology's
//     BufferInterval) or when its buffer holds BufferBytes; Close writes what they hold first;
//
//   - hosts every function (package lambdahost: Runtime API, child processes, timeouts, crashes)
//     with the environment the CDK stack gives it: for each Use, EnvVar(resource) = the physical
//     name or queue URL; the function's Settings; the local AWS endpoints, region and credentials
//     (localaws.Endpoints.Environment, and AWS_ENDPOINT_URL_FIREHOSE); and what Lambda itself sets;
//
//   - serves the HTTP API (package httpapi, payload format 2.0) on 127.0.0.1:APIPort;
//
//   - runs each Kinesis event source mapping (package streammap);
//
//   - runs each schedule every Every with the event the CDK app has EventBridge Scheduler send, a
//     schedule.Event built by the same constructor (RunSchedule runs one now), as an asynchronous
//     invocation: a run that fails is retried the function's Async.Retries times (Lambda's two
//     without an Async), after AsyncRetryDelay and then twice that (where Lambda waits a minute and
//     then two), and then described on its Async.OnFailureQueue in Lambda's format;
//
//   - serves a local Cognito user pool (package cognito) on 127.0.0.1:AuthPort: the console signs
//     in with Cognito's InitiateAuth there and gets tokens that shared/consoleauth verifies, as it
//     verifies the CDK app's user pool's; the functions whose topology settings list
//     SettingAuthIssuer and SettingAuthClientID get the local issuer's; its users live in AuthDir,
//     and ConsoleUser, an admin, gets a new random password at every start (Env has both);
//
//   - serves Lambda's Invoke API on 127.0.0.1:LambdaPort, so `aws lambda invoke` and SDK clients
//     with AWS_ENDPOINT_URL_LAMBDA can run any function by its topology name, physical name or ARN;
//
//   - lets tests crash a function's running processes (Crash) and read their ids (PIDs).
//
//   - meters what the functions and the stream mapping ask of AWS (package usage): each function
//     reaches DynamoDB, Kinesis and SQS through a loopback reverse proxy per service, wrapped in
//     the meter and in Config.Middleware (S3 and Firehose are served behind both); the HTTP API
//     and Lambda's invocations and logs are metered too. GET <API URL>/_local/usage serves the
//     counts since start (a local route of the host, not of the API; Usage returns the same).
//
// Not emulated, beyond what the packages above list: IAM (grants are not enforced: a function can
// reach resources it does not Use, though it only learns the names of those it does), CloudWatch
// metrics and alarms, the schedules' first run at creation (the first local run is one period after
// start) and Scheduler's own retries and dead-letter queue (for runs Lambda would not take), the
// asynchronous invocations' maximum age, and concurrent runs of one schedule (a tick during a run is skipped).
// S3 is not behind the -faults-port injector of the command (its middleware hook takes it; Firehose
// is), and notifies of objects created only (not of deletions, nor of a browser's POST upload).
// Checkpoints of stream mappings live in memory: after a restart the stream is read again from the
// trim horizon.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/cognito"
	"github.com/dcrm-project/dcrm/scripts/devstack/firehose"
	"github.com/dcrm-project/dcrm/scripts/devstack/httpapi"
	"github.com/dcrm-project/dcrm/scripts/devstack/lambdahost"
	"github.com/dcrm-project/dcrm/scripts/devstack/streammap"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

// Errors.
var (
	ErrServersDown     = errors.New("local AWS servers not reachable")
	ErrUnknownFunction = errors.New("unknown function")
	ErrUnknownSchedule = errors.New("unknown schedule")
)

// Config says what to run and where.
type Config struct {
	Topology     *topology.Topology // nil: topology.Default()
	Prefix       string             // physical names are <Prefix>-<Logical>; default "dcrm"
	APIPort      int                // HTTP API port on 127.0.0.1; 0 picks a free one
	LambdaPort   int                // Invoke API port on 127.0.0.1; 0 picks a free one
	S3Port       int                // S3 port on 127.0.0.1; 0 picks a free one
	S3Dir        string             // where S3 keeps its objects; "" keeps them in a temporary folder removed by Close
	FirehosePort int                // Data Firehose port on 127.0.0.1; 0 picks a free one
	FunctionsDir string             // holds <function>/bootstrap; default "bin/functions"
	Endpoints    localaws.Endpoints // zero: localaws.DefaultEndpoints()
	LogDir       string             // functions' output goes to <LogDir>/<function>.log; "" writes no files
	Echo         io.Writer          // if set, functions' output is also written here, each line prefixed "[function] "
	Environments int                // processes per function; default 2
	PollInterval time.Duration      // between reads of an idle shard; default 250ms
	RetryDelay   time.Duration      // before a stream batch is retried; default 200ms
	// AsyncRetryDelay is how long a failed asynchronous invocation waits before its first retry,
	// doubled for each further one; default 1s (Lambda waits about a minute, then two).
	AsyncRetryDelay time.Duration
	Logger          *slog.Logger // the host's own log; nil discards
	// Middleware wraps the proxy in front of each AWS service's local server ("dynamodb",
	// "kinesis", "sqs", "s3", "firehose": the usage package's names), outside the meter, first in
	// the list outermost; for fault injection. A middleware that answers without calling next is
	// not billed.
	Middleware []func(service string, next http.Handler) http.Handler
	// SecretDir keeps each topology secret's value in a file <SecretDir>/<Name>, made on first start,
	// so a restarted stack keeps the keys its data was written under; "" makes new values each start.
	SecretDir string
	// AuthPort is the local user pool's port on 127.0.0.1; 0 picks a free one.
	AuthPort int
	// AuthDir keeps the local user pool: its users (users.json), ids and signing key; "" keeps them
	// in a temporary folder removed by Close.
	AuthDir string
	// ConsoleUser is made an admin of the local user pool with a new random password at every
	// start (Env: DCRM_CONSOLE_USER, DCRM_CONSOLE_PASSWORD); "" makes none.
	ConsoleUser string
	// FirehoseInterval is the delivery streams' buffer interval: 0 means DefaultFirehoseInterval
	// (5 s), a negative value the topology's own (AWS's; up to 15 minutes).
	FirehoseInterval time.Duration
	// MappingState keeps the stream mappings' checkpoints between runs (checkpoints.go); "" keeps
	// them for the run alone, and a stack started again reads its streams from the trim horizon.
	MappingState string
}

// Stack is a running local host.
type Stack struct {
	cfg       Config
	topo      topology.Topology
	resources map[string]string
	functions map[string]*lambdahost.Function // by topology name
	apiURL    string
	lambdaURL string
	servers   []*http.Server
	files     []*os.File
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	log       *slog.Logger
	meter     *usage.Meter
	proxied   localaws.Endpoints // the proxies the functions and mappings reach AWS through
	bg        context.Context    // ends at Close
	s3URL     string
	s3Temp    string                    // S3's temporary folder, removed by Close
	mappings  map[string]runningMapping // by mappingKey
	created   map[string]time.Time      // the streams' creation times, by logical name
	notices   chan notice               // the buckets' notifications to deliver

	firehose     *firehose.Server
	firehoseURL  string
	firehoseHTTP *http.Server

	auth            *cognito.Issuer
	authDir         string
	authTemp        string // the pool's temporary folder, removed by Close
	consolePassword string
}

// Start provisions the resources, starts the servers and the background work, and returns once the
// stack serves requests. ctx bounds the start only; the stack runs until Close.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if cfg.Topology == nil {
		t := topology.Default()
		cfg.Topology = &t
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "dcrm"
	}
	if cfg.FunctionsDir == "" {
		cfg.FunctionsDir = filepath.Join("bin", "functions")
	}
	// Functions run in a working directory of their own, so a relative path would not find them.
	dir, err := filepath.Abs(cfg.FunctionsDir)
	if err != nil {
		return nil, fmt.Errorf("functions dir: %w", err)
	}
	cfg.FunctionsDir = dir
	if cfg.Endpoints == (localaws.Endpoints{}) {
		cfg.Endpoints = localaws.DefaultEndpoints()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AsyncRetryDelay == 0 {
		cfg.AsyncRetryDelay = time.Second
	}
	topo := *cfg.Topology
	if err := topo.Validate(); err != nil {
		return nil, fmt.Errorf("validate topology: %w", err)
	}
	bg, cancel := context.WithCancel(context.Background())
	s := &Stack{cfg: cfg, topo: topo, resources: map[string]string{}, functions: map[string]*lambdahost.Function{},
		cancel: cancel, log: cfg.Logger, bg: bg, mappings: map[string]runningMapping{}, created: map[string]time.Time{}}
	s.meter = usage.New(s.cpu)
	if err := s.start(ctx, bg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Stack) start(ctx, bg context.Context) error {
	// Fail fast, with which server is not running and how to start it.
	if err := s.cfg.Endpoints.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrServersDown, err)
	}
	streamARNs, err := s.provision(ctx)
	if err != nil {
		return err
	}
	apiLn, err := listen(s.cfg.APIPort, "DCRM_API_PORT")
	if err != nil {
		return err
	}
	lambdaLn, err := listen(s.cfg.LambdaPort, "DCRM_LAMBDA_PORT")
	if err != nil {
		apiLn.Close()
		return err
	}
	s.apiURL = "http://" + apiLn.Addr().String()
	s.lambdaURL = "http://" + lambdaLn.Addr().String()
	if err := s.startProxies(); err != nil {
		apiLn.Close()
		lambdaLn.Close()
		return err
	}
	if err := s.startS3(bg); err != nil {
		apiLn.Close()
		lambdaLn.Close()
		return err
	}
	if err := s.startFirehose(); err != nil {
		apiLn.Close()
		lambdaLn.Close()
		return err
	}
	if err := s.startAuth(); err != nil {
		apiLn.Close()
		lambdaLn.Close()
		return err
	}
	if err := s.startFunctions(); err != nil {
		apiLn.Close()
		lambdaLn.Close()
		return err
	}

	api, err := httpapi.New(s.topo.Routes, invoker{s}, httpapi.WithLogger(s.log.With("component", "httpapi")))
	if err != nil {
		apiLn.Close()
		lambdaLn.Close()
		return fmt.Errorf("http api: %w", err)
	}
	s.serve(apiLn, s.withUsage(api))
	s.serve(lambdaLn, lambdahost.NewInvokeAPI(bg, s.lookup, s.log.With("component", "invoke")))

	saved, err := readMappingState(s.cfg.MappingState)
	if err != nil {
		s.log.Warn("stream mappings' checkpoints not read; the streams are read from their trim horizon", "error", err)
	}
	var running sync.WaitGroup
	for _, m := range s.topo.Mappings {
		fn := s.functions[m.Function]
		key := mappingKey(s.resources[m.Stream], fn.ARN())
		mapping, err := streammap.New(streammap.Config{
			Mapping: m, StreamName: s.resources[m.Stream], StreamARN: streamARNs[m.Stream], FunctionARN: fn.ARN(),
			FailureQueueURL: s.resources[m.OnFailureQueue], Region: localaws.Region,
			Kinesis: s.proxied.KinesisClient(), SQS: s.proxied.SQSClient(),
			Invoke: fn.Invoke, IsFunctionError: isFunctionError,
			Resume:       resumeFrom(saved, key, s.created[m.Stream]),
			PollInterval: s.cfg.PollInterval, RetryDelay: s.cfg.RetryDelay, Logger: s.log.With("component", "streammap"),
		})
		if err != nil {
			return fmt.Errorf("stream mapping %s -> %s: %w", m.Stream, m.Function, err)
		}
		s.mappings[key] = runningMapping{mapping: mapping, streamCreated: s.created[m.Stream]}
		running.Go(func() { _ = mapping.Run(bg) })
	}
	done := make(chan struct{})
	s.wg.Go(func() { running.Wait(); close(done) })
	if s.cfg.MappingState != "" {
		s.wg.Go(func() { s.keepCheckpoints(bg, time.Second, done) })
	}
	for _, sc := range s.topo.Schedules {
		s.wg.Go(func() { s.schedule(bg, sc) })
	}
	return nil
}

// provision creates the stream, tables and queues, and returns the streams' ARNs.
func (s *Stack) provision(ctx context.Context) (map[string]string, error) {
	e := s.cfg.Endpoints
	k, db, q := e.KinesisClient(), e.DynamoDBClient(), e.SQSClient()
	arns := map[string]string{}
	for _, st := range s.topo.Streams {
		name := s.physical(st.Name)
		if err := localaws.CreateStream(ctx, k, name, st); err != nil {
			return nil, fmt.Errorf("provision: %w", err)
		}
		out, err := k.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("describe stream %s: %w", name, err)
		}
		arns[st.Name] = aws.ToString(out.StreamDescriptionSummary.StreamARN)
		s.created[st.Name] = aws.ToTime(out.StreamDescriptionSummary.StreamCreationTimestamp)
		s.resources[st.Name] = name
	}
	for _, t := range s.topo.Tables {
		name := s.physical(t.Name)
		if err := localaws.CreateTable(ctx, db, name, t); err != nil {
			return nil, fmt.Errorf("provision: %w", err)
		}
		s.resources[t.Name] = name
	}
	for _, qu := range s.topo.Queues {
		u, err := localaws.CreateQueue(ctx, q, s.physical(qu.Name), qu)
		if err != nil {
			return nil, fmt.Errorf("provision: %w", err)
		}
		s.resources[qu.Name] = u
		if qu.DeadLetterAfter > 0 {
			dlq, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(s.physical(qu.Name) + "-dlq")})
			if err != nil {
				return nil, fmt.Errorf("find dead-letter queue of %s: %w", qu.Name, err)
			}
			s.resources[qu.Name+"DeadLetter"] = aws.ToString(dlq.QueueUrl)
		}
	}
	for _, sec := range s.topo.Secrets {
		v, err := localSecret(s.cfg.SecretDir, sec.Name)
		if err != nil {
			return nil, fmt.Errorf("provision: secret %s: %w", sec.Name, err)
		}
		s.resources[sec.Name] = v
	}
	s.log.Info("resources ready", "prefix", s.cfg.Prefix, "streams", len(s.topo.Streams), "tables", len(s.topo.Tables), "queues", len(s.topo.Queues), "buckets", len(s.topo.Buckets))
	return arns, nil
}

func (s *Stack) startFunctions() error {
	for _, f := range s.topo.Functions {
		out, err := s.functionLog(f.Name)
		if err != nil {
			return err
		}
		fn, err := lambdahost.New(lambdahost.Spec{
			Name:           s.physical(f.Name),
			Bootstrap:      filepath.Join(s.cfg.FunctionsDir, f.Name, "bootstrap"),
			Env:            s.FunctionEnv(f.Name),
			Memory:         f.Memory,
			Timeout:        f.Timeout,
			Region:         localaws.Region,
			Environments:   s.cfg.Environments,
			Log:            out,
			SystemLogLevel: f.SystemLogLevel,
			Logger:         s.log.With("component", "lambda"),
			Started:        func() { s.meter.Started(f.Name) },
			Report:         func(d time.Duration) { s.meter.Invocation(f.Name, f.Memory, d) },
		})
		if err != nil {
			return fmt.Errorf("function %s: %w (build the functions first: they are looked for in %s)", f.Name, err, s.cfg.FunctionsDir)
		}
		s.functions[f.Name] = fn
	}
	return nil
}

func (s *Stack) functionLog(name string) (io.Writer, error) {
	var ws []io.Writer
	if s.cfg.LogDir != "" {
		if err := os.MkdirAll(s.cfg.LogDir, 0o755); err != nil {
			return nil, fmt.Errorf("create log folder: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(s.cfg.LogDir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open function log: %w", err)
		}
		s.files = append(s.files, f)
		ws = append(ws, f)
	}
	if s.cfg.Echo != nil {
		ws = append(ws, lambdahost.PrefixWriter(s.cfg.Echo, "["+name+"] "))
	}
	ws = append(ws, countingWriter(s.meter.LogWriter(name)))
	return io.MultiWriter(ws...), nil
}

func (s *Stack) serve(ln net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	s.servers = append(s.servers, srv)
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server stopped", "address", ln.Addr().String(), "error", err)
		}
	})
	return srv
}

func (s *Stack) physical(logical string) string { return s.cfg.Prefix + "-" + logical }

// localEnvVar is the topology's variable for a resource, but for a secret the one that carries its
// value: there is no Secrets Manager locally.
func (s *Stack) localEnvVar(resource string) string {
	if s.topo.Kind(resource) == "secret" {
		return s.topo.SecretValueEnvVar(resource)
	}
	return s.topo.EnvVar(resource)
}

// localSecret reads a secret's value from dir, or makes one (32 random bytes, hex) and keeps it
// there, readable by the owner only.
func localSecret(dir, name string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	fresh := hex.EncodeToString(b[:])
	if dir == "" {
		return fresh, nil
	}
	path := filepath.Join(dir, name)
	if v, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(v)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return fresh, os.WriteFile(path, []byte(fresh+"\n"), 0o600)
}

// FunctionEnv is the environment contract of one function, as the CDK stack sets it, for the
// local resources: EnvVar(resource) for each Use, the Settings, the AWS endpoints and credentials,
// and for a function that fans out (Function.FanOut) the local Invoke API as its Lambda endpoint.
func (s *Stack) FunctionEnv(name string) map[string]string {
	f, ok := s.topo.Function(name)
	if !ok {
		return nil
	}
	env := s.proxied.Environment()
	maps.Copy(env, f.Settings)
	for _, u := range f.Uses {
		env[s.localEnvVar(u.Resource)] = s.resources[u.Resource]
		if dlq, ok := s.resources[u.Resource+"DeadLetter"]; ok && u.Access == topology.Attributes {
			env[s.topo.DeadLetterEnvVar(u.Resource)] = dlq
		}
	}
	if f.FanOut && s.lambdaURL != "" {
		env["AWS_ENDPOINT_URL_LAMBDA"] = s.lambdaURL
	}
	if s.firehoseURL != "" {
		env["AWS_ENDPOINT_URL_FIREHOSE"] = s.firehoseURL
	}
	s.fillAuthSettings(env, f.Settings)
	return env
}

// Env is what scripts and people need to use the stack: every resource's variable, the functions'
// settings, the AWS endpoint variables (Lambda, S3 and Firehose included), DCRM_API_URL, the local
// servers' DCRM_*_ENDPOINT (S3's and Firehose's too), and DCRM_FUNCTION_<NAME> with each
// function's physical name.
func (s *Stack) Env() map[string]string {
	env := s.cfg.Endpoints.Environment()
	for _, f := range s.topo.Functions {
		for k, v := range f.Settings {
			if _, taken := env[k]; !taken {
				env[k] = v
			}
		}
		env["DCRM_FUNCTION_"+strings.ToUpper(f.Name)] = s.physical(f.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(s.resources)) {
		if s.topo.Kind(name) != "" {
			env[s.localEnvVar(name)] = s.resources[name]
		}
	}
	env["AWS_ENDPOINT_URL_LAMBDA"] = s.lambdaURL
	env["AWS_DEFAULT_REGION"] = localaws.Region // the AWS CLI reads this one
	env["DCRM_API_URL"] = s.apiURL
	env["DCRM_USAGE_URL"] = s.apiURL + usage.Path
	env["DCRM_PREFIX"] = s.cfg.Prefix
	env["DCRM_DYNAMODB_ENDPOINT"] = s.cfg.Endpoints.DynamoDB
	env["DCRM_KINESIS_ENDPOINT"] = s.cfg.Endpoints.Kinesis
	env["DCRM_SQS_ENDPOINT"] = s.cfg.Endpoints.SQS
	env["DCRM_S3_ENDPOINT"] = s.s3URL
	env["AWS_ENDPOINT_URL_S3"] = s.s3URL
	env["DCRM_FIREHOSE_ENDPOINT"] = s.firehoseURL
	env["AWS_ENDPOINT_URL_FIREHOSE"] = s.firehoseURL
	maps.Copy(env, s.authEnv())
	return env
}

// WriteEnvFile writes Env as shell-sourceable KEY=value lines, atomically: readers never see a
// partial file.
func (s *Stack) WriteEnvFile(path string) error {
	env := s.Env()
	var b strings.Builder
	b.WriteString("# dcrm local stack: resources and endpoints (written by the local host)\n")
	for _, k := range slices.Sorted(maps.Keys(env)) {
		b.WriteString(k + "=" + shellQuote(env[k]) + "\n")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create folder of %s: %w", path, err)
	}
	tmp := path + ".tmp"
	// Readable by the owner only: it holds the console user's password.
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("move %s into place: %w", path, err)
	}
	return nil
}

// shellQuote leaves plain values as they are (so simple KEY=value readers work) and single-quotes
// anything a shell would interpret.
func shellQuote(v string) string {
	plain := v != ""
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:@%+=,", r)) {
			plain = false
			break
		}
	}
	if plain {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// APIURL is the base URL of the HTTP API.
func (s *Stack) APIURL() string { return s.apiURL }

// LambdaURL is the base URL of the Invoke API (for AWS_ENDPOINT_URL_LAMBDA).
func (s *Stack) LambdaURL() string { return s.lambdaURL }

// Resources maps logical names to physical names (stream, tables, buckets, delivery streams) and
// URLs (queues); a queue's dead-letter queue is under <Logical>DeadLetter.
func (s *Stack) Resources() map[string]string { return maps.Clone(s.resources) }

// Invoke runs a function by topology name and returns its response; a failure inside the function
// is a *lambdahost.FunctionError.
func (s *Stack) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	fn, ok := s.functions[function]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFunction, function)
	}
	return fn.Invoke(ctx, payload)
}

// Crash kills the processes of a function that are running an invocation, by topology name, as
// a crash would (lambdahost.Function.Crash); it returns how many it killed.
func (s *Stack) Crash(function string) (int, error) {
	fn, ok := s.functions[function]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownFunction, function)
	}
	return fn.Crash(), nil
}

// PIDs are the process ids of each function's execution environments, by topology name.
func (s *Stack) PIDs() map[string][]int {
	out := map[string][]int{}
	for name, fn := range s.functions {
		out[name] = fn.PIDs()
	}
	return out
}

// lookup finds a function by topology or physical name, for the Invoke API.
func (s *Stack) lookup(name string) (*lambdahost.Function, bool) {
	if fn, ok := s.functions[name]; ok {
		return fn, true
	}
	fn, ok := s.functions[strings.TrimPrefix(name, s.cfg.Prefix+"-")]
	return fn, ok && strings.HasPrefix(name, s.cfg.Prefix+"-")
}

// RunSchedule runs a schedule's function now with the event the schedule sends, and returns the
// function's response.
func (s *Stack) RunSchedule(ctx context.Context, name string) ([]byte, error) {
	for _, sc := range s.topo.Schedules {
		if sc.Name == name {
			return s.Invoke(ctx, sc.Function, schedule.Payload(sc.Name, time.Now()))
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownSchedule, name)
}

// schedule invokes the schedule's function on its period, asynchronously as Scheduler does: a run
// that fails is retried and then described on the function's on-failure queue (invokeAsync).
func (s *Stack) schedule(ctx context.Context, sc topology.Schedule) {
	fn, _ := s.topo.Function(sc.Function)
	ticker := time.NewTicker(sc.Every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case at := <-ticker.C:
			if err := s.invokeAsync(ctx, fn, schedule.Payload(sc.Name, at)); err != nil && ctx.Err() == nil {
				s.log.Warn("scheduled run failed", "schedule", sc.Name, "function", sc.Function, "error", err)
			}
		}
	}
}

// Close stops the schedules and mappings, the servers and every function process, and waits for
// them. It is safe to call more than once.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		s.stopFirehose() // while S3 still takes its objects
		s.cancel()
		for _, srv := range s.servers {
			_ = srv.Close()
		}
		var wg sync.WaitGroup
		for _, fn := range s.functions {
			wg.Go(func() { _ = fn.Close() })
		}
		wg.Wait()
		s.wg.Wait()
		for _, f := range s.files {
			_ = f.Close()
		}
		if s.s3Temp != "" {
			_ = os.RemoveAll(s.s3Temp)
		}
		if s.authTemp != "" {
			_ = os.RemoveAll(s.authTemp)
		}
		s.log.Info("local host stopped")
	})
	return nil
}

type invoker struct{ s *Stack }

func (i invoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	return i.s.Invoke(ctx, function, payload)
}

func isFunctionError(err error) bool {
	var fe *lambdahost.FunctionError
	return errors.As(err, &fe)
}

func listen(port int, envName string) (net.Listener, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (another program has the port? set %s): %w", addr, envName, err)
	}
	return ln, nil
}
