// Package faults injects failures into the traffic between dcrm's code and the local AWS-compatible
// servers, to show that nothing is lost or counted twice when AWS misbehaves as it does in
// production: throttling, partial PutRecords failures, internal errors, dropped connections,
// latency, and a function killed mid-request.
//
// An Injector holds rules; its Middleware wraps an http.Handler (a reverse proxy to one server,
// StartProxy) and, for each request a rule matches (service, operation, body), answers with the
// service's own error document, drops the connection, waits, fails some records of a PutRecords
// call, or calls a hook, instead of or before passing the request on. Rules are added and removed
// while traffic flows, from Go (Add, Remove, Clear) or over HTTP (Admin). Requests no rule
// matches pass through untouched.
package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxBody bounds the request body a rule reads to match on or rewrite: the largest AWS request
// dcrm makes is a 5 MB PutRecords call.
const maxBody = 6 << 20

// Rule says which requests to disturb and how. The zero values of the optional fields match
// everything and always fire.
type Rule struct {
	// Name identifies the rule (Remove, the admin API, the log); Add makes one when empty.
	Name string `json:"name"`

	// Which requests: Service is "kinesis", "dynamodb", "sqs" or "firehose" ("" any); Operations
	// are the API operations, as in X-Amz-Target or the Action parameter ("PutRecords",
	// "TransactWriteItems", "SendMessage", "PutRecordBatch"; none: any); BodyContains, when set,
	// must occur in the request body (a table, queue or stream name, an identifier).
	Service      string   `json:"service,omitempty"`
	Operations   []string `json:"operations,omitempty"`
	BodyContains string   `json:"bodyContains,omitempty"`

	// When, among the requests that match: After lets that many through first; Times fires at
	// most that many times (0: no limit); Probability fires on that share of them (0: all); For
	// fires only that long after the rule was added (0: until removed).
	After       int           `json:"after,omitempty"`
	Times       int           `json:"times,omitempty"`
	Probability float64       `json:"probability,omitempty"`
	For         time.Duration `json:"for,omitempty"`

	// What happens when it fires, in this order: Hook is called; the request waits Latency; then
	// one of: Drop closes the connection without an answer; Error is answered in the service's
	// error shape; FailRecords (Kinesis's PutRecords and Firehose's PutRecordBatch) forwards the
	// call without some of its records and answers with those refused, each with probability
	// FailRecords and the error code RecordError (default ProvisionedThroughputExceededException
	// for Kinesis, ServiceUnavailableException for Firehose). Otherwise the request goes on.
	Hook        func(*http.Request) `json:"-"`
	Latency     time.Duration       `json:"latency,omitempty"`
	Drop        bool                `json:"drop,omitempty"`
	Error       *Error              `json:"error,omitempty"`
	FailRecords float64             `json:"failRecords,omitempty"`
	RecordError string              `json:"recordError,omitempty"`
}

// Status is a rule with what it has done so far.
type Status struct {
	Rule
	Matched int       `json:"matched"` // requests that matched its Service, Operations and BodyContains
	Fired   int       `json:"fired"`
	Added   time.Time `json:"added"`
}

// MarshalJSON writes the rule's fields beside the counts.
func (s Status) MarshalJSON() ([]byte, error) {
	rule, err := s.Rule.MarshalJSON()
	if err != nil {
		return nil, err
	}
	counts, _ := json.Marshal(struct {
		Matched int       `json:"matched"`
		Fired   int       `json:"fired"`
		Added   time.Time `json:"added"`
	}{s.Matched, s.Fired, s.Added})
	return append(append(rule[:len(rule)-1:len(rule)-1], ','), counts[1:]...), nil
}

// Injector holds the rules and applies them; it is safe for concurrent use.
type Injector struct {
	mu    sync.Mutex
	rules []*Status
	rand  *rand.Rand
	next  int
	log   *slog.Logger
}

// Option configures an Injector.
type Option func(*Injector)

// WithSeed makes the rules' random choices (Probability, FailRecords) repeatable.
func WithSeed(seed uint64) Option {
	return func(in *Injector) { in.rand = rand.New(rand.NewPCG(seed, seed)) }
}

// WithLogger reports each fault injected.
func WithLogger(l *slog.Logger) Option { return func(in *Injector) { in.log = l } }

// New returns an injector with the given rules.
func New(rules []Rule, opts ...Option) *Injector {
	in := &Injector{rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(in)
	}
	for _, r := range rules {
		in.Add(r)
	}
	return in
}

// Middleware returns in's middleware: func(http.Handler) http.Handler.
func Middleware(in *Injector) func(http.Handler) http.Handler { return in.Middleware }

// Add adds a rule (replacing one of the same name) and returns its name.
func (in *Injector) Add(r Rule) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.next++
	if r.Name == "" {
		r.Name = fmt.Sprintf("rule-%d", in.next)
	}
	in.rules = slices.DeleteFunc(in.rules, func(s *Status) bool { return s.Name == r.Name })
	in.rules = append(in.rules, &Status{Rule: r, Added: time.Now()})
	return r.Name
}

// Remove removes the named rule; it reports whether there was one.
func (in *Injector) Remove(name string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := len(in.rules)
	in.rules = slices.DeleteFunc(in.rules, func(s *Status) bool { return s.Name == name })
	return len(in.rules) < n
}

// Clear removes every rule: traffic flows untouched again.
func (in *Injector) Clear() {
	in.mu.Lock()
	in.rules = nil
	in.mu.Unlock()
}

// Rules returns the rules with their counts, in the order added.
func (in *Injector) Rules() []Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]Status, len(in.rules))
	for i, s := range in.rules {
		out[i] = *s
	}
	return out
}

// Fired is how many times the named rule has fired (0 for an unknown rule).
func (in *Injector) Fired(name string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, s := range in.rules {
		if s.Name == name {
			return s.Fired
		}
	}
	return 0
}

// call is what the rules look at in a request.
type call struct {
	service, operation string
	body               []byte
}

// pick returns the first rule that fires on c, counting it, or nil.
func (in *Injector) pick(c call) *Rule {
	in.mu.Lock()
	defer in.mu.Unlock()
	now := time.Now()
	for _, s := range in.rules {
		if !s.matches(c) {
			continue
		}
		s.Matched++
		switch {
		case s.Matched <= s.After,
			s.Times > 0 && s.Fired >= s.Times,
			s.For > 0 && now.Sub(s.Added) > s.For,
			s.Probability > 0 && s.Probability < 1 && in.rand.Float64() >= s.Probability:
			continue
		}
		s.Fired++
		r := s.Rule
		return &r
	}
	return nil
}

func (r *Rule) matches(c call) bool {
	return (r.Service == "" || strings.EqualFold(r.Service, c.service)) &&
		(len(r.Operations) == 0 || slices.Contains(r.Operations, c.operation)) &&
		(r.BodyContains == "" || bytes.Contains(c.body, []byte(r.BodyContains)))
}

// Middleware applies the rules to each request before next sees it.
func (in *Injector) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		in.mu.Lock()
		idle := len(in.rules) == 0
		in.mu.Unlock()
		if idle {
			next.ServeHTTP(w, req)
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, maxBody))
		if err != nil {
			http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		c := call{body: body}
		c.service, c.operation = identify(req, body)
		r := in.pick(c)
		if r == nil {
			next.ServeHTTP(w, req)
			return
		}
		in.log.Info("fault injected", "rule", r.Name, "service", c.service, "operation", c.operation)
		if r.Hook != nil {
			r.Hook(req)
		}
		if r.Latency > 0 {
			t := time.NewTimer(r.Latency)
			select {
			case <-t.C:
			case <-req.Context().Done():
				t.Stop()
				return // the caller gave up (or was killed) while waiting
			}
		}
		switch {
		case r.Drop:
			drop(w)
		case r.Error != nil:
			r.Error.write(w, c.service, req)
		case r.FailRecords > 0 && batchCalls[c.operation].list != "":
			in.failRecords(w, req, next, body, r, batchCalls[c.operation])
		default:
			next.ServeHTTP(w, req)
		}
	})
}

// drop closes the connection without an answer, as a server that crashed or a broken network
// would; the client sees EOF or a reset.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server closes the stream without a response
	}
	_ = conn.Close()
}

// identify names the service and operation of an AWS request: the JSON protocols' X-Amz-Target
// ("Kinesis_20131202.PutRecords", "DynamoDB_20120810.GetItem", "AmazonSQS.SendMessage",
// "Firehose_20150804.PutRecordBatch"), or the
// query protocol's Action parameter (SQS).
func identify(req *http.Request, body []byte) (service, operation string) {
	if t := req.Header.Get("X-Amz-Target"); t != "" {
		prefix, op, _ := strings.Cut(t, ".")
		return serviceOf(prefix), op
	}
	if strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		q, _ := parseQuery(body)
		return "sqs", q.Get("Action")
	}
	return "", req.URL.Query().Get("Action")
}

func serviceOf(targetPrefix string) string {
	switch {
	case strings.HasPrefix(targetPrefix, "Kinesis"):
		return "kinesis"
	case strings.HasPrefix(targetPrefix, "DynamoDBStreams"):
		return "dynamodbstreams"
	case strings.HasPrefix(targetPrefix, "DynamoDB"):
		return "dynamodb"
	case strings.HasPrefix(targetPrefix, "AmazonSQS"):
		return "sqs"
	case strings.HasPrefix(targetPrefix, "Firehose"):
		return "firehose"
	}
	return strings.ToLower(targetPrefix)
}

// MarshalJSON writes durations as Go duration strings ("250ms").
func (r Rule) MarshalJSON() ([]byte, error) {
	type plain Rule
	return json.Marshal(struct {
		plain
		For     string `json:"for,omitempty"`
		Latency string `json:"latency,omitempty"`
	}{plain(r), durationText(r.For), durationText(r.Latency)})
}

// UnmarshalJSON reads durations as Go duration strings ("30s", "250ms").
func (r *Rule) UnmarshalJSON(b []byte) error {
	type plain Rule
	var v struct {
		plain
		For     string `json:"for"`
		Latency string `json:"latency"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*r = Rule(v.plain)
	var err error
	if r.For, err = parseDuration("for", v.For); err != nil {
		return err
	}
	r.Latency, err = parseDuration("latency", v.Latency)
	return err
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %q is not a duration such as 250ms or 30s", field, s)
	}
	return d, nil
}
