package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/dcrm-project/dcrm/infra/topology"
)

// Stack names, which are also the names of the templates in cdk.out (<name>.template.json).
const (
	stateStackName   = "DcrmState"
	serviceStackName = "DcrmService"
)

// appOptions are what newApp needs to build an App.
type appOptions struct {
	Outdir  string                 // where Synth writes the cloud assembly
	Context map[string]interface{} // context values, e.g. the feature flags of cdk.json
}

// newApp builds the CDK App. Context given by the cdk CLI takes precedence over opts.Context.
func newApp(opts appOptions) awscdk.App {
	props := &awscdk.AppProps{}
	if opts.Outdir != "" {
		props.Outdir = jsii.String(opts.Outdir)
	}
	if len(opts.Context) > 0 {
		props.Context = &opts.Context
	}
	return awscdk.NewApp(props)
}

// loadContext reads the "context" object of a cdk.json, so that an App run without the cdk CLI
// gets the same feature flags as one run by it. A missing file gives no context.
func loadContext(path string) (map[string]interface{}, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var doc struct {
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return doc.Context, nil
}

// config is everything buildStacks needs besides the App.
type config struct {
	Topology     topology.Topology
	FunctionsDir string // holds <name>/bootstrap for every function of the topology
	Settings     settings
}

// stacks are the two stacks of the app, and what they were built from.
type stacks struct {
	State    *stateStack
	Service  *serviceStack
	Topology topology.Topology // the topology with the settings applied
	Settings settings
}

// buildStacks checks cfg and adds the stateful and the service stack to app. Everything it
// deploys comes from cfg.Topology.
//
// The settings are read from the app's context, applied to the topology and checked with it; the
// AwsSolutions rules of cdk-nag check every resource when the app synthesizes.
func buildStacks(app awscdk.App, cfg config) (*stacks, error) {
	set, err := parseSettings(cfg.Topology, func(key string) interface{} {
		return app.Node().TryGetContext(jsii.String(key))
	})
	if err != nil {
		return nil, err
	}
	cfg.Settings = set
	cfg.Topology = set.apply(cfg.Topology)
	if err := validate(cfg); err != nil {
		return nil, err
	}
	state := newStateStack(app, stackName(stateStackName, set), cfg.Topology, set)
	service := newServiceStack(app, stackName(serviceStackName, set), cfg, state)
	suppressStateFindings(state)
	checkWithNag(app)
	return &stacks{State: state, Service: service, Topology: cfg.Topology, Settings: set}, nil
}

// stackName is a stack's name in the deployment: the name itself for the main deployment, with
// the stage appended for another (DcrmState-staging).
func stackName(name string, set settings) string {
	if set.Stage == "" {
		return name
	}
	return name + "-" + set.Stage
}

// ErrInvalidConfig is returned (wrapped) by buildStacks when the topology cannot be deployed as is.
var ErrInvalidConfig = errors.New("invalid deployment configuration")

// validate finds what CloudFormation or the CDK would reject, before any construct is built, so
// the error is one clear sentence instead of a stack trace from the construct library.
func validate(cfg config) error {
	t := cfg.Topology
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%w: topology: %w", ErrInvalidConfig, err)
	}
	if len(t.Functions) == 0 {
		return fmt.Errorf("%w: topology has no functions", ErrInvalidConfig)
	}
	for _, s := range t.Streams {
		if s.Shards < 0 {
			return fmt.Errorf("%w: stream %s: negative shard count %d", ErrInvalidConfig, s.Name, s.Shards)
		}
		if s.Retention < 24*time.Hour || s.Retention > 8760*time.Hour || s.Retention%time.Hour != 0 {
			return fmt.Errorf("%w: stream %s: retention %s: want whole hours from 24h to 8760h", ErrInvalidConfig, s.Name, s.Retention)
		}
	}
	for _, tb := range t.Tables {
		if tb.PartitionKey == "" {
			return fmt.Errorf("%w: table %s has no partition key", ErrInvalidConfig, tb.Name)
		}
	}
	for _, q := range t.Queues {
		if q.DeadLetterAfter < 0 || q.DeadLetterAfter > 1000 {
			return fmt.Errorf("%w: queue %s: dead-letter receive count %d outside 0..1000", ErrInvalidConfig, q.Name, q.DeadLetterAfter)
		}
	}
	for _, f := range t.Functions {
		if err := validateFunction(t, f, cfg.FunctionsDir); err != nil {
			return fmt.Errorf("%w: function %s: %w", ErrInvalidConfig, f.Name, err)
		}
	}
	routes := map[string]bool{}
	for _, r := range t.Routes {
		if !httpMethods[r.Method] {
			return fmt.Errorf("%w: route %s %s: unknown method", ErrInvalidConfig, r.Method, r.Path)
		}
		if len(r.Path) == 0 || r.Path[0] != '/' {
			return fmt.Errorf("%w: route %s %q: path must start with /", ErrInvalidConfig, r.Method, r.Path)
		}
		key := r.Method + " " + r.Path
		if routes[key] {
			return fmt.Errorf("%w: route %s declared twice", ErrInvalidConfig, key)
		}
		routes[key] = true
	}
	for _, m := range t.Mappings {
		if err := validateMapping(t, m); err != nil {
			return fmt.Errorf("%w: mapping %s -> %s: %w", ErrInvalidConfig, m.Stream, m.Function, err)
		}
	}
	for _, s := range t.Schedules {
		if _, err := rateExpression(s.Every); err != nil {
			return fmt.Errorf("%w: schedule %s: %w", ErrInvalidConfig, s.Name, err)
		}
		if s.RetryAttempts < 0 || s.RetryAttempts > 185 {
			return fmt.Errorf("%w: schedule %s: retry attempts %d outside 0..185", ErrInvalidConfig, s.Name, s.RetryAttempts)
		}
	}
	return nil
}

var httpMethods = map[string]bool{
	"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "HEAD": true, "OPTIONS": true, "ANY": true,
}

func validateFunction(t topology.Topology, f topology.Function, functionsDir string) error {
	if f.Memory < 128 || f.Memory > 10240 {
		return fmt.Errorf("memory %d MB outside 128..10240", f.Memory)
	}
	if f.Timeout < time.Second || f.Timeout > 15*time.Minute || f.Timeout%time.Second != 0 {
		return fmt.Errorf("timeout %s: want whole seconds from 1s to 15m", f.Timeout)
	}
	if f.ReservedConcurrency < 0 {
		return fmt.Errorf("reserved concurrency %d is negative", f.ReservedConcurrency)
	}
	if a := f.Async; a != nil {
		if a.MaxAge < time.Minute || a.MaxAge > 6*time.Hour || a.MaxAge%time.Second != 0 {
			return fmt.Errorf("asynchronous max age %s: want whole seconds from 1m to 6h", a.MaxAge)
		}
		if a.Retries < 0 || a.Retries > 2 {
			return fmt.Errorf("asynchronous retries %d outside 0..2", a.Retries)
		}
	}
	env := map[string]bool{}    // by variable, the uses but reading a queue's depths
	depths := map[string]bool{} // the queues whose depths it reads, which may also have a use above
	for _, u := range f.Uses {
		switch u.Access {
		case topology.Read, topology.Write, topology.ReadWrite, topology.Attributes:
		default:
			return fmt.Errorf("unknown access %q to %s", u.Access, u.Resource)
		}
		seen := env
		if u.Access == topology.Attributes {
			seen = depths
		}
		name := t.EnvVar(u.Resource)
		if seen[name] {
			return fmt.Errorf("uses %s twice", u.Resource)
		}
		seen[name] = true
	}
	for k := range f.Settings {
		if env[k] || depths[k] {
			return fmt.Errorf("setting %s collides with a resource variable", k)
		}
	}
	bootstrap := filepath.Join(functionsDir, f.Name, "bootstrap")
	info, err := os.Stat(bootstrap)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no binary at %s: build the functions for linux/arm64 first (make lambdas)", bootstrap)
	}
	if err != nil {
		return fmt.Errorf("check binary: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("binary %s is not a regular file", bootstrap)
	}
	return nil
}

func validateMapping(t topology.Topology, m topology.StreamMapping) error {
	if m.MaxRecordAge != 0 {
		var retention time.Duration
		for _, s := range t.Streams {
			if s.Name == m.Stream {
				retention = s.Retention
			}
		}
		if m.MaxRecordAge < time.Minute || m.MaxRecordAge > 7*24*time.Hour || m.MaxRecordAge%time.Second != 0 {
			return fmt.Errorf("max record age %s: want whole seconds from 1m to 168h", m.MaxRecordAge)
		}
		// A record given up on is replayed from the stream, so it must still be there.
		if m.MaxRecordAge >= retention {
			return fmt.Errorf("max record age %s: want less than the stream's retention %s", m.MaxRecordAge, retention)
		}
	}
	if m.BatchSize < 0 || m.BatchSize > 10000 {
		return fmt.Errorf("batch size %d outside 1..10000", m.BatchSize)
	}
	if m.MaxBatchingWindow < 0 || m.MaxBatchingWindow > 300*time.Second || m.MaxBatchingWindow%time.Second != 0 {
		return fmt.Errorf("batching window %s: want whole seconds up to 5m", m.MaxBatchingWindow)
	}
	if m.RetryAttempts < -1 || m.RetryAttempts > 10000 {
		return fmt.Errorf("retry attempts %d outside -1..10000", m.RetryAttempts)
	}
	return nil
}

// rateExpression turns a period into an EventBridge Scheduler rate expression, in the largest
// unit that divides it: 1h gives "rate(1 hour)", 90m "rate(90 minutes)", 48h "rate(2 days)".
func rateExpression(every time.Duration) (string, error) {
	if every < time.Minute || every%time.Minute != 0 {
		return "", fmt.Errorf("period %s: want a positive whole number of minutes", every)
	}
	n, unit := int64(every/time.Minute), "minute"
	switch {
	case every%(24*time.Hour) == 0:
		n, unit = int64(every/(24*time.Hour)), "day"
	case every%time.Hour == 0:
		n, unit = int64(every/time.Hour), "hour"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("rate(%d %s)", n, unit), nil
}
