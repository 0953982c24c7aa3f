// Package lambdahost runs Lambda functions on this machine: the very bootstrap binaries that ship
// (runtime provided.al2023), each started as a child process that talks to a small implementation of
// the Lambda Runtime API on a loopback port, as it would inside Lambda. Each process (execution
// environment) gets its own Runtime API listener and serves one invocation at a time; a function
// has up to Spec.Environments of them (default 2), so a manual run can overlap a scheduled one.
//
// Emulated: the Runtime API (next invocation, response, error, init error) with the request id,
// deadline, function ARN and trace id headers; the extensions registration that aws-lambda-go uses
// to receive SIGTERM; the function's environment (its contract, plus the variables Lambda sets);
// timeouts (the process is killed and the invocation fails, as Lambda resets the environment);
// crashes (the invocation fails with Runtime.ExitError and the next one starts a fresh process;
// Function.Crash causes one);
// the 6 MB synchronous payload limits; up to Spec.Environments execution environments per function,
// each serving one invocation at a time, started on demand and kept warm.
//
// Not emulated: memory limits (AWS_LAMBDA_FUNCTION_MEMORY_SIZE is set, nothing enforces it), the
// read-only file system and /tmp quota, the CPU share, the freezing of idle environments, the
// recycling of environments after hours, response streaming, layers, and the Telemetry and Logs APIs.
package lambdahost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/awsid"
)

// Account is the AWS account id the local stack pretends to run in.
const Account = "000000000000"

// MaxPayload is Lambda's limit on a synchronous invocation's request and response: 6 MB.
const MaxPayload = 6 * 1024 * 1024

// Errors.
var (
	ErrClosed           = errors.New("function host closed")
	ErrPayloadTooLarge  = errors.New("request payload exceeds 6 MB")
	ErrNoSuchFunction   = errors.New("no such function")
	errInvalidRequestID = errors.New("unknown request id")
	errGone             = errors.New("environment exited while idle")
)

// Spec describes one function to host.
type Spec struct {
	Name         string            // AWS_LAMBDA_FUNCTION_NAME
	Bootstrap    string            // path of the executable; it runs in its own directory
	Env          map[string]string // the function's environment: contract, settings, AWS endpoints and region
	Memory       int               // MB, reported to the function only
	Timeout      time.Duration     // per invocation; default 3s as in Lambda
	Region       string            // for the ARN; default AWS_REGION from Env, else us-east-1
	Environments int               // concurrent execution environments (processes); default 2
	InitTimeout  time.Duration     // time a new process has to ask for its first invocation; default 10s
	// Log receives the processes' standard output and error, line by line, and Lambda's
	// START / END / REPORT lines. Writes are serialised. Nil discards.
	Log io.Writer
	// SystemLogLevel filters Lambda's own lines as in AWS: WARN drops START, END and REPORT (they
	// are INFO) and keeps a timeout's; "" is INFO.
	SystemLogLevel string
	// Logger reports what the host does (environments started, killed); nil discards.
	Logger *slog.Logger
	// Started and Report, if set, are told when the process takes an invocation and how long it ran
	// (from the hand-off to its outcome, as Lambda's REPORT line gives it), for metering; every
	// Started is followed by one Report.
	Started func()
	Report  func(d time.Duration)
}

// FunctionError is an invocation that failed inside the function: an error the handler returned,
// a panic, a crash, a timeout. Payload is the error document Lambda would return to the caller.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
	Payload []byte `json:"-"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

func newFunctionError(typ, msg string) *FunctionError {
	e := &FunctionError{Type: typ, Message: msg}
	e.Payload, _ = json.Marshal(e)
	return e
}

// Function hosts one function's execution environments.
type Function struct {
	spec  Spec
	arn   string
	slots chan struct{} // one per environment that may run at once
	log   *syncWriter

	mu     sync.Mutex
	idle   []*environment
	all    map[*environment]struct{}
	closed bool
	nextID int
	exited time.Duration // CPU used by the environments that have exited
}

// New checks the spec and returns a host for it. No process starts until the first invocation.
func New(spec Spec) (*Function, error) {
	if spec.Name == "" {
		return nil, errors.New("function spec without a name")
	}
	info, err := os.Stat(spec.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("function %s: bootstrap: %w", spec.Name, err)
	}
	if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("function %s: bootstrap %s is not an executable file", spec.Name, spec.Bootstrap)
	}
	if spec.Timeout <= 0 {
		spec.Timeout = 3 * time.Second
	}
	if spec.InitTimeout <= 0 {
		spec.InitTimeout = 10 * time.Second
	}
	if spec.Environments <= 0 {
		spec.Environments = 2
	}
	if spec.Region == "" {
		spec.Region = spec.Env["AWS_REGION"]
	}
	if spec.Region == "" {
		spec.Region = "us-east-1"
	}
	if spec.Memory <= 0 {
		spec.Memory = 128
	}
	if spec.Logger == nil {
		spec.Logger = slog.New(slog.DiscardHandler)
	}
	out := spec.Log
	if out == nil {
		out = io.Discard
	}
	return &Function{
		spec:  spec,
		arn:   fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", spec.Region, Account, spec.Name),
		slots: make(chan struct{}, spec.Environments),
		log:   &syncWriter{w: out},
		all:   map[*environment]struct{}{},
	}, nil
}

// Name is the function's name.
func (f *Function) Name() string { return f.spec.Name }

// ARN is the function's ARN.
func (f *Function) ARN() string { return f.arn }

// Invoke runs one invocation and returns the function's response. Failures inside the function come
// back as a *FunctionError; a timeout or crash also replaces the environment. Invoke never waits
// longer than the context allows before the function has the invocation, nor longer than the
// function's timeout after.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if len(payload) > MaxPayload {
		return nil, ErrPayloadTooLarge
	}
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-f.slots }()

	for {
		env, err := f.environment()
		if err != nil {
			return nil, err
		}
		out, healthy, err := env.invoke(ctx, payload)
		if healthy {
			f.release(env)
		} else {
			f.discard(env)
		}
		if errors.Is(err, errGone) {
			continue // the idle process had exited (after a panic, say): the invocation never started
		}
		return out, err
	}
}

// Crash kills (SIGKILL, no warning) every process of the function that is running an invocation,
// as a crash or an out-of-memory kill would: each such invocation fails with Runtime.ExitError,
// whatever the process had written by then stays written, and the next invocation starts a fresh
// process. It returns how many processes it killed.
func (f *Function) Crash() int {
	// Only a process that took its invocation is running one: one killed before that would be
	// replaced and the invocation started again elsewhere, which is not a crash mid-invocation.
	f.mu.Lock()
	var busy []*environment
	for env := range f.all {
		if env.running.Load() {
			busy = append(busy, env)
		}
	}
	f.mu.Unlock()
	for _, env := range busy {
		forceKill(env.cmd)
	}
	if len(busy) > 0 {
		f.spec.Logger.Warn("function processes killed", "function", f.spec.Name, "processes", len(busy))
	}
	return len(busy)
}

// PIDs are the process ids of the function's execution environments, idle or busy.
func (f *Function) PIDs() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var pids []int
	for env := range f.all {
		pids = append(pids, env.cmd.Process.Pid)
	}
	slices.Sort(pids)
	return pids
}

// environment returns an idle environment or starts one.
func (f *Function) environment() (*environment, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(f.idle); n > 0 {
		env := f.idle[n-1]
		f.idle = f.idle[:n-1]
		f.mu.Unlock()
		return env, nil
	}
	f.nextID++
	id := f.nextID
	f.mu.Unlock()

	env, err := startEnvironment(f, id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.closed {
		// Not under f.mu: the process's exit is recorded under it, and kill waits for that.
		f.mu.Unlock()
		env.kill(false)
		return nil, ErrClosed
	}
	f.all[env] = struct{}{}
	f.mu.Unlock()
	return env, nil
}

func (f *Function) release(env *environment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.idle = append(f.idle, env)
}

func (f *Function) discard(env *environment) {
	env.kill(false)
	f.mu.Lock()
	delete(f.all, env)
	f.mu.Unlock()
}

// CPU is the user and system CPU time the function's processes have used: those that exited and,
// where the system says (Linux), those still running.
func (f *Function) CPU() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	total := f.exited
	for env := range f.all {
		if !env.gone {
			total += processCPU(env.pid)
		}
	}
	return total
}

// Close stops every process of the function (SIGTERM, then SIGKILL after half a second, as Lambda
// does at shutdown) and waits until they are gone. Invocations in flight fail.
func (f *Function) Close() error {
	f.mu.Lock()
	f.closed = true
	envs := slices.Collect(maps.Keys(f.all))
	f.all = map[*environment]struct{}{}
	f.idle = nil
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, env := range envs {
		wg.Go(func() { env.kill(true) })
	}
	wg.Wait()
	return nil
}

// environment is one process of the function with its own Runtime API endpoint.
type environment struct {
	fn      *Function
	id      int
	srv     *http.Server
	addr    string
	cmd     *exec.Cmd
	out     *lineWriter
	handoff chan *invocation // the Runtime API's /next takes invocations from here
	ready   chan struct{}    // closed on the process's first /next
	exited  chan struct{}    // closed when the process has exited
	stop    chan struct{}    // closed when the environment is torn down
	once    sync.Once        // guards ready
	kill1   sync.Once
	served  int         // invocations handed to the process; touched only by the invoker holding the environment
	running atomic.Bool // the process has taken an invocation and not answered it yet
	pid     int
	gone    bool // the process has exited and its CPU is counted in the function's; guarded by fn.mu

	mu      sync.Mutex
	current *invocation
	initErr *FunctionError
	exitErr error
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	result   chan result // buffered; receives exactly one result
}

type result struct {
	payload []byte
	err     *FunctionError
}

func startEnvironment(f *Function, id int) (*environment, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for runtime api of %s: %w", f.spec.Name, err)
	}
	env := &environment{
		fn:      f,
		id:      id,
		addr:    ln.Addr().String(),
		handoff: make(chan *invocation),
		ready:   make(chan struct{}),
		exited:  make(chan struct{}),
		stop:    make(chan struct{}),
	}
	env.srv = &http.Server{Handler: env.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = env.srv.Serve(ln) }()

	cmd := exec.Command(f.spec.Bootstrap)
	cmd.Dir = filepath.Dir(f.spec.Bootstrap)
	cmd.Env = env.environ()
	env.out = &lineWriter{dst: f.log}
	cmd.Stdout, cmd.Stderr = env.out, env.out
	cmd.WaitDelay = time.Second
	setProcessAttributes(cmd)
	if err := cmd.Start(); err != nil {
		_ = env.srv.Close()
		return nil, &FunctionError{Type: "Runtime.InvalidEntrypoint", Message: fmt.Sprintf("start %s: %v", f.spec.Bootstrap, err),
			Payload: mustJSON(map[string]string{"errorType": "Runtime.InvalidEntrypoint", "errorMessage": err.Error()})}
	}
	env.cmd = cmd
	env.pid = cmd.Process.Pid
	f.spec.Logger.Debug("environment started", "function", f.spec.Name, "environment", id, "pid", cmd.Process.Pid, "runtimeApi", env.addr)
	go func() {
		err := cmd.Wait()
		env.out.flush()
		f.mu.Lock()
		if ps := cmd.ProcessState; ps != nil {
			f.exited += ps.UserTime() + ps.SystemTime()
		}
		env.gone = true
		f.mu.Unlock()
		env.mu.Lock()
		env.exitErr = err
		env.mu.Unlock()
		close(env.exited)
		env.teardown()
	}()
	return env, nil
}

// environ is the process environment: what Lambda sets for a provided runtime, then the function's
// own variables, then the ones that tie the process to this environment.
func (e *environment) environ() []string {
	s := e.fn.spec
	vars := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
		"LAMBDA_TASK_ROOT":                filepath.Dir(s.Bootstrap),
		"LAMBDA_RUNTIME_DIR":              filepath.Dir(s.Bootstrap),
		"AWS_REGION":                      s.Region,
		"AWS_DEFAULT_REGION":              s.Region,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + s.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + awsid.Hex(16),
		"AWS_XRAY_CONTEXT_MISSING":        "LOG_ERROR",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(s.Memory),
		// One thread running Go code per function environment: the host runs many of them on a
		// small machine, and a Go runtime with a thread per core spends its spare ones spinning
		// and waking between requests (stitch used 12 % more CPU per event with two). A
		// function's own environment may set another value.
		"GOMAXPROCS": "1",
	}
	maps.Copy(vars, s.Env)
	if v := s.Env["AWS_REGION"]; v != "" && s.Env["AWS_DEFAULT_REGION"] == "" {
		vars["AWS_DEFAULT_REGION"] = v
	}
	vars["AWS_LAMBDA_FUNCTION_NAME"] = s.Name
	vars["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(s.Memory)
	vars["AWS_LAMBDA_RUNTIME_API"] = e.addr
	vars["_HANDLER"] = "bootstrap"
	list := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		list = append(list, k+"="+vars[k])
	}
	return list
}

// invoke hands the invocation to the process and waits for its outcome. healthy says whether the
// environment may serve another invocation.
func (e *environment) invoke(ctx context.Context, payload []byte) (out []byte, healthy bool, err error) {
	inv := &invocation{id: awsid.UUID(), payload: payload, result: make(chan result, 1)}
	timeout := e.fn.spec.Timeout

	// A new process first initialises; Lambda gives that phase its own limit.
	initTimer := time.NewTimer(e.fn.spec.InitTimeout)
	defer initTimer.Stop()
	gone := func() error {
		if e.served > 0 {
			return errGone
		}
		return e.exitError(inv.id)
	}
	select {
	case <-e.ready:
	case <-e.exited:
		return nil, false, gone()
	case <-initTimer.C:
		return nil, false, newFunctionError("Runtime.InitTimeout",
			fmt.Sprintf("RequestId: %s Error: init did not finish within %s", inv.id, e.fn.spec.InitTimeout))
	case <-ctx.Done():
		return nil, false, ctx.Err() // an environment still initialising is not worth keeping
	}

	start := time.Now()
	inv.deadline = start.Add(timeout)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case e.handoff <- inv:
		e.served++
		e.running.Store(true)
		defer e.running.Store(false)
		if e.fn.spec.Started != nil {
			e.fn.spec.Started()
		}
	case <-e.exited:
		return nil, false, gone()
	case <-deadline.C:
		return nil, false, e.timedOut(inv.id, timeout)
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
	e.platformf("START RequestId: %s Version: $LATEST", inv.id)
	var r result
	select {
	case r = <-inv.result:
	case <-e.exited:
		// A response posted just before the process exited still counts.
		select {
		case r = <-inv.result:
		default:
			e.report(inv.id, start)
			return nil, false, e.exitError(inv.id)
		}
	case <-deadline.C:
		e.report(inv.id, start)
		return nil, false, e.timedOut(inv.id, timeout)
	}
	e.report(inv.id, start)
	if r.err != nil {
		return nil, true, r.err
	}
	return r.payload, true, nil
}

func (e *environment) report(id string, start time.Time) {
	d := time.Since(start)
	if e.fn.spec.Report != nil {
		e.fn.spec.Report(d)
	}
	// Both lines in one write: one write to the log file (and the echo) rather than two.
	e.platformf("END RequestId: %s\nREPORT RequestId: %s\tDuration: %.2f ms\tMemory Size: %d MB", id, id, float64(d.Microseconds())/1000, e.fn.spec.Memory)
}

func (e *environment) timedOut(id string, timeout time.Duration) *FunctionError {
	msg := fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", id, timeout.Seconds())
	e.logf("%s %s", time.Now().UTC().Format(time.RFC3339Nano), msg)
	e.fn.spec.Logger.Warn("function timed out", "function", e.fn.spec.Name, "requestId", id, "timeout", timeout)
	return newFunctionError("Sandbox.Timedout", msg)
}

func (e *environment) exitError(id string) *FunctionError {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.initErr != nil {
		return e.initErr
	}
	status := "exit"
	if e.exitErr != nil {
		status = e.exitErr.Error()
	}
	msg := fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", id, status)
	e.fn.spec.Logger.Warn("function process exited", "function", e.fn.spec.Name, "requestId", id, "status", status)
	return newFunctionError("Runtime.ExitError", msg)
}

func (e *environment) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(e.out, format+"\n", args...)
}

// platformf writes one of Lambda's INFO lines, unless the system log level leaves them out.
func (e *environment) platformf(format string, args ...any) {
	if e.fn.spec.SystemLogLevel != "WARN" {
		e.logf(format, args...)
	}
}

// kill ends the process (gracefully: SIGTERM first) and waits until it has exited.
func (e *environment) kill(graceful bool) {
	e.kill1.Do(func() {
		if e.cmd == nil || e.cmd.Process == nil {
			e.teardown()
			return
		}
		if graceful {
			terminate(e.cmd)
			t := time.NewTimer(500 * time.Millisecond)
			defer t.Stop()
			select {
			case <-e.exited:
			case <-t.C:
			}
		}
		forceKill(e.cmd)
		<-e.exited
		e.fn.spec.Logger.Debug("environment stopped", "function", e.fn.spec.Name, "environment", e.id)
	})
}

func (e *environment) teardown() {
	e.mu.Lock()
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	e.mu.Unlock()
	_ = e.srv.Close()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
