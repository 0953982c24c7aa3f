package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"

	"github.com/dcrm-project/dcrm/infra/topology"
)

// settings are what a team changes per deployment, read from the CDK context (cdk.json, or
// `cdk deploy -c key=value`). Everything else comes from the topology. infra/README.md has the table.
type settings struct {
	Stage string // names a second deployment in the same account and region; "" is the main one

	DomainName     string // custom domain of the HTTP API, with CertificateARN (ACM, same region)
	CertificateARN string

	// BeaconFunctionURL gives collect a Lambda function URL, which the tracker snippet then uses:
	// no API Gateway request per beacon (service.go, newBeaconURL).
	BeaconFunctionURL bool

	LogRetentionDays int // function and access logs

	StreamMode      string        // ON_DEMAND or PROVISIONED
	StreamShards    int           // with PROVISIONED
	StreamRetention time.Duration // Kinesis retention

	TableBillingMode   string // PAY_PER_REQUEST or PROVISIONED
	TableReadCapacity  int    // per table and index, with PROVISIONED; the least when auto scaled
	TableWriteCapacity int
	// TableMaxReadCapacity and TableMaxWriteCapacity, when set, scale each table's and index's
	// capacity between the least above and these, tracking TableTargetUtilization of it.
	TableMaxReadCapacity  int
	TableMaxWriteCapacity int

	CustomerManagedKeys bool // a customer-managed KMS key for tables, stream, queues, secret and logs

	// ReservedConcurrency by function; nil when reservations are off (reservedConcurrency: false).
	ReservedConcurrency map[string]int

	APIThrottleRate  int // requests per second, steady, over the whole default stage
	APIThrottleBurst int

	Schedules map[string]time.Duration // schedule name -> period, overriding the topology's

	// StitchBatchSize and StitchBatchWindow are the stream mapping's batch: the longer the window,
	// the more of a visitor's events share one profile write (fewer write units), the later they
	// are on the profile.
	StitchBatchSize   int
	StitchBatchWindow time.Duration

	AlarmEmail string // subscribed to the alarm topic when set

	// ConsoleAdminEmail, when set, makes a first console user "admin" in the admin group, to whom
	// Cognito e-mails a temporary password.
	ConsoleAdminEmail string
}

// Context keys of the settings.
const (
	ctxStage               = "stage"
	ctxDomainName          = "domainName"
	ctxCertificateARN      = "certificateArn"
	ctxLogRetentionDays    = "logRetentionDays"
	ctxStreamMode          = "streamMode"
	ctxStreamShards        = "streamShards"
	ctxStreamRetention     = "streamRetentionHours"
	ctxTableBillingMode    = "tableBillingMode"
	ctxTableReadCapacity   = "tableReadCapacity"
	ctxTableWriteCapacity  = "tableWriteCapacity"
	ctxTableMaxRead        = "tableMaxReadCapacity"
	ctxTableMaxWrite       = "tableMaxWriteCapacity"
	ctxBeaconFunctionURL   = "beaconFunctionUrl"
	ctxCustomerManagedKeys = "customerManagedKeys"
	ctxReservedConcurrency = "reservedConcurrency"
	ctxAPIThrottleRate     = "apiThrottleRate"
	ctxAPIThrottleBurst    = "apiThrottleBurst"
	ctxSchedules           = "schedules"
	ctxAlarmEmail          = "alarmEmail"
	ctxStitchBatchSize     = "stitchBatchSize"
	ctxStitchBatchWindow   = "stitchBatchWindowSeconds"
	ctxConsoleAdminEmail   = "consoleAdminEmail"
)

// settingKeys are every context key the app reads besides the CDK's feature flags.
var settingKeys = []string{
	ctxStage, ctxDomainName, ctxCertificateARN, ctxLogRetentionDays, ctxStreamMode, ctxStreamShards,
	ctxStreamRetention, ctxTableBillingMode, ctxTableReadCapacity, ctxTableWriteCapacity,
	ctxTableMaxRead, ctxTableMaxWrite, ctxBeaconFunctionURL,
	ctxCustomerManagedKeys, ctxReservedConcurrency, ctxAPIThrottleRate, ctxAPIThrottleBurst,
	ctxSchedules, ctxAlarmEmail, ctxStitchBatchSize, ctxStitchBatchWindow, contextFunctionsDir,
	ctxConsoleAdminEmail,
}

// Defaults of the settings that are not in the topology.
const (
	defaultLogRetentionDays = 30
	defaultThrottleRate     = 1000
	defaultThrottleBurst    = 2000
	// TableTargetUtilization is the share of an auto-scaled table's capacity its consumption is
	// kept at (DynamoDB's own default): headroom for a minute's rise before the scaling follows.
	TableTargetUtilization = 70
)

// logRetentions are the retention periods CloudWatch Logs accepts, in days.
var logRetentions = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

var stagePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)

// parseSettings reads the settings through get (the context: a value from cdk.json is JSON, one
// from `-c key=value` a string) and checks them against the topology. The error names the key.
func parseSettings(t topology.Topology, get func(key string) interface{}) (settings, error) {
	s := settings{
		LogRetentionDays: defaultLogRetentionDays,
		StreamMode:       "ON_DEMAND",
		TableBillingMode: "PAY_PER_REQUEST",
		APIThrottleRate:  defaultThrottleRate,
		APIThrottleBurst: defaultThrottleBurst,
		Schedules:        map[string]time.Duration{},
	}
	if st := eventStream(t); st.Shards > 0 {
		s.StreamMode, s.StreamShards = "PROVISIONED", st.Shards
	}
	s.StreamRetention = eventStream(t).Retention
	s.ReservedConcurrency = map[string]int{}
	for _, f := range t.Functions {
		if f.ReservedConcurrency > 0 {
			s.ReservedConcurrency[f.Name] = f.ReservedConcurrency
		}
	}
	for _, sc := range t.Schedules {
		s.Schedules[sc.Name] = sc.Every
	}
	stitch := stitchMapping(t)
	s.StitchBatchSize, s.StitchBatchWindow = stitch.BatchSize, stitch.MaxBatchingWindow

	r := reader{get: get}
	s.Stage = r.str(ctxStage, s.Stage)
	s.DomainName = r.str(ctxDomainName, "")
	s.CertificateARN = r.str(ctxCertificateARN, "")
	s.LogRetentionDays = r.integer(ctxLogRetentionDays, s.LogRetentionDays)
	s.StreamMode = strings.ToUpper(r.str(ctxStreamMode, s.StreamMode))
	s.StreamShards = r.integer(ctxStreamShards, s.StreamShards)
	s.StreamRetention = time.Duration(r.integer(ctxStreamRetention, int(s.StreamRetention/time.Hour))) * time.Hour
	s.TableBillingMode = strings.ToUpper(r.str(ctxTableBillingMode, s.TableBillingMode))
	s.TableReadCapacity = r.integer(ctxTableReadCapacity, 0)
	s.TableWriteCapacity = r.integer(ctxTableWriteCapacity, 0)
	s.TableMaxReadCapacity = r.integer(ctxTableMaxRead, 0)
	s.TableMaxWriteCapacity = r.integer(ctxTableMaxWrite, 0)
	s.BeaconFunctionURL = r.boolean(ctxBeaconFunctionURL, false)
	s.CustomerManagedKeys = r.boolean(ctxCustomerManagedKeys, false)
	s.APIThrottleRate = r.integer(ctxAPIThrottleRate, s.APIThrottleRate)
	s.APIThrottleBurst = r.integer(ctxAPIThrottleBurst, s.APIThrottleBurst)
	s.AlarmEmail = r.str(ctxAlarmEmail, "")
	s.ConsoleAdminEmail = r.str(ctxConsoleAdminEmail, "")
	s.StitchBatchSize = r.integer(ctxStitchBatchSize, s.StitchBatchSize)
	s.StitchBatchWindow = time.Duration(r.integer(ctxStitchBatchWindow, int(s.StitchBatchWindow/time.Second))) * time.Second
	r.reserved(&s)
	r.schedules(s.Schedules)
	if r.err != nil {
		return settings{}, fmt.Errorf("%w: %w", ErrInvalidConfig, r.err)
	}
	if err := s.check(t); err != nil {
		return settings{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return s, nil
}

func (s settings) check(t topology.Topology) error {
	switch {
	case s.Stage != "" && !stagePattern.MatchString(s.Stage):
		return fmt.Errorf("context %s=%q: want lower-case letters, digits and '-', starting with a letter, at most 20", ctxStage, s.Stage)
	case (s.DomainName == "") != (s.CertificateARN == ""):
		return fmt.Errorf("context %s and %s go together: a custom domain needs its ACM certificate", ctxDomainName, ctxCertificateARN)
	case s.CertificateARN != "" && !strings.HasPrefix(s.CertificateARN, "arn:") || strings.ContainsAny(s.DomainName, "/: "):
		return fmt.Errorf("context %s=%q / %s=%q: want a host name and a certificate ARN", ctxDomainName, s.DomainName, ctxCertificateARN, s.CertificateARN)
	case logRetentions[s.LogRetentionDays] == "":
		return fmt.Errorf("context %s=%d: CloudWatch Logs accepts %v", ctxLogRetentionDays, s.LogRetentionDays, slices.Sorted(maps.Keys(logRetentions)))
	case s.StreamMode != "ON_DEMAND" && s.StreamMode != "PROVISIONED":
		return fmt.Errorf("context %s=%q: want ON_DEMAND or PROVISIONED", ctxStreamMode, s.StreamMode)
	case s.StreamMode == "PROVISIONED" && (s.StreamShards < 1 || s.StreamShards > 500):
		return fmt.Errorf("context %s=%d: a PROVISIONED stream needs 1 to 500 shards", ctxStreamShards, s.StreamShards)
	case s.StreamMode == "ON_DEMAND" && s.StreamShards != 0:
		return fmt.Errorf("context %s=%d: shards are set only with %s PROVISIONED", ctxStreamShards, s.StreamShards, ctxStreamMode)
	case s.StreamRetention < 24*time.Hour || s.StreamRetention > 8760*time.Hour:
		return fmt.Errorf("context %s=%d: Kinesis keeps records 24 to 8760 hours", ctxStreamRetention, int(s.StreamRetention/time.Hour))
	case s.TableBillingMode != "PAY_PER_REQUEST" && s.TableBillingMode != "PROVISIONED":
		return fmt.Errorf("context %s=%q: want PAY_PER_REQUEST or PROVISIONED", ctxTableBillingMode, s.TableBillingMode)
	case s.TableBillingMode == "PROVISIONED" && (s.TableReadCapacity < 1 || s.TableWriteCapacity < 1):
		return fmt.Errorf("context %s PROVISIONED needs %s and %s of at least 1", ctxTableBillingMode, ctxTableReadCapacity, ctxTableWriteCapacity)
	case s.TableBillingMode == "PAY_PER_REQUEST" && (s.TableReadCapacity != 0 || s.TableWriteCapacity != 0 || s.TableMaxReadCapacity != 0 || s.TableMaxWriteCapacity != 0):
		return fmt.Errorf("context %s, %s, %s and %s are set only with %s PROVISIONED", ctxTableReadCapacity, ctxTableWriteCapacity, ctxTableMaxRead, ctxTableMaxWrite, ctxTableBillingMode)
	case (s.TableMaxReadCapacity == 0) != (s.TableMaxWriteCapacity == 0):
		return fmt.Errorf("context %s and %s go together: auto scaling sets both", ctxTableMaxRead, ctxTableMaxWrite)
	case s.TableMaxReadCapacity != 0 && (s.TableMaxReadCapacity < s.TableReadCapacity || s.TableMaxWriteCapacity < s.TableWriteCapacity || s.TableMaxReadCapacity > 40000 || s.TableMaxWriteCapacity > 40000):
		return fmt.Errorf("context %s=%d, %s=%d: want at least %s and %s, at most 40000", ctxTableMaxRead, s.TableMaxReadCapacity, ctxTableMaxWrite, s.TableMaxWriteCapacity, ctxTableReadCapacity, ctxTableWriteCapacity)
	case s.APIThrottleRate < 1 || s.APIThrottleBurst < 1 || s.APIThrottleBurst > 5000:
		return fmt.Errorf("context %s=%d, %s=%d: want a positive rate and a burst of 1 to 5000", ctxAPIThrottleRate, s.APIThrottleRate, ctxAPIThrottleBurst, s.APIThrottleBurst)
	case s.StitchBatchSize < 1 || s.StitchBatchSize > 10000:
		return fmt.Errorf("context %s=%d: a Kinesis event source mapping takes 1 to 10000 records", ctxStitchBatchSize, s.StitchBatchSize)
	case s.StitchBatchWindow < 0 || s.StitchBatchWindow > 300*time.Second:
		return fmt.Errorf("context %s=%d: want 0 to 300 seconds", ctxStitchBatchWindow, int(s.StitchBatchWindow/time.Second))
	case s.AlarmEmail != "" && !validEmail(s.AlarmEmail):
		return fmt.Errorf("context %s=%q is not an e-mail address", ctxAlarmEmail, s.AlarmEmail)
	case s.ConsoleAdminEmail != "" && !validEmail(s.ConsoleAdminEmail):
		return fmt.Errorf("context %s=%q is not an e-mail address", ctxConsoleAdminEmail, s.ConsoleAdminEmail)
	}
	for name, n := range s.ReservedConcurrency {
		if _, ok := t.Function(name); !ok {
			return fmt.Errorf("context %s: unknown function %q", ctxReservedConcurrency, name)
		}
		if n < 0 || n > 10000 {
			return fmt.Errorf("context %s: %s=%d: want 0 (none) to 10000", ctxReservedConcurrency, name, n)
		}
	}
	for name, every := range s.Schedules {
		var sc *topology.Schedule
		for i := range t.Schedules {
			if t.Schedules[i].Name == name {
				sc = &t.Schedules[i]
			}
		}
		if sc == nil {
			return fmt.Errorf("context %s: unknown schedule %q", ctxSchedules, name)
		}
		if _, err := rateExpression(every); err != nil {
			return fmt.Errorf("context %s: %s: %w", ctxSchedules, name, err)
		}
		// A run that may last longer than the period would overlap the next one.
		if fn, _ := t.Function(sc.Function); every < fn.Timeout {
			return fmt.Errorf("context %s: %s every %s is shorter than %s's timeout %s: runs would overlap", ctxSchedules, name, every, fn.Name, fn.Timeout)
		}
	}
	return nil
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// apply puts the settings into the topology the stacks are built from: the stream, the stitch
// mapping's batch, the schedules' periods, the reserved concurrencies.
func (s settings) apply(t topology.Topology) topology.Topology {
	t.Streams = slices.Clone(t.Streams)
	for i := range t.Streams {
		if t.Streams[i].Name == topology.EventStream {
			t.Streams[i].Shards = s.StreamShards
			t.Streams[i].Retention = s.StreamRetention
		}
	}
	t.Schedules = slices.Clone(t.Schedules)
	for i := range t.Schedules {
		t.Schedules[i].Every = s.Schedules[t.Schedules[i].Name]
	}
	t.Mappings = slices.Clone(t.Mappings)
	for i := range t.Mappings {
		if t.Mappings[i].Function == "stitch" {
			t.Mappings[i].BatchSize, t.Mappings[i].MaxBatchingWindow = s.StitchBatchSize, s.StitchBatchWindow
		}
	}
	t.Functions = slices.Clone(t.Functions)
	for i := range t.Functions {
		t.Functions[i].ReservedConcurrency = s.ReservedConcurrency[t.Functions[i].Name]
	}
	return t
}

func stitchMapping(t topology.Topology) topology.StreamMapping {
	for _, m := range t.Mappings {
		if m.Function == "stitch" {
			return m
		}
	}
	return topology.StreamMapping{}
}

func eventStream(t topology.Topology) topology.Stream {
	for _, st := range t.Streams {
		if st.Name == topology.EventStream {
			return st
		}
	}
	return topology.Stream{}
}

// reader reads context values of the expected type, keeping the first error.
type reader struct {
	get func(string) interface{}
	err error
}

func (r *reader) fail(key string, v interface{}, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("context %s=%v: want %s", key, v, want)
	}
}

func (r *reader) str(key, fallback string) string {
	switch v := r.get(key).(type) {
	case nil:
		return fallback
	case string:
		return strings.TrimSpace(v)
	default:
		r.fail(key, v, "a string")
		return fallback
	}
}

func (r *reader) integer(key string, fallback int) int {
	switch v := r.get(key).(type) {
	case nil:
		return fallback
	case int:
		return v
	case float64:
		if v == float64(int(v)) {
			return int(v)
		}
	case string: // -c key=value gives strings
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n
		}
	}
	r.fail(key, r.get(key), "a whole number")
	return fallback
}

func (r *reader) boolean(key string, fallback bool) bool {
	switch v := r.get(key).(type) {
	case nil:
		return fallback
	case bool:
		return v
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
			return b
		}
	}
	r.fail(key, r.get(key), "true or false")
	return fallback
}

// object reads a JSON object, given as one or as a string holding one.
func (r *reader) object(key string) map[string]interface{} {
	switch v := r.get(key).(type) {
	case nil:
		return nil
	case map[string]interface{}:
		return v
	case string:
		var m map[string]interface{}
		if err := json.Unmarshal([]byte(v), &m); err == nil {
			return m
		}
	}
	r.fail(key, r.get(key), "a JSON object")
	return nil
}

// reserved reads reservedConcurrency: false (no reservations, for an account whose concurrency
// limit leaves nothing to reserve), or an object of function -> executions (0: none) overriding
// the topology's.
func (r *reader) reserved(s *settings) {
	switch r.get(ctxReservedConcurrency) {
	case false, "false":
		s.ReservedConcurrency = map[string]int{}
		return
	case true, "true":
		return
	}
	for name, n := range r.object(ctxReservedConcurrency) {
		count, ok := n.(float64)
		if !ok || count != float64(int(count)) {
			r.fail(ctxReservedConcurrency+"."+name, n, "a whole number")
			continue
		}
		s.ReservedConcurrency[name] = int(count) // 0 reserves none
	}
}

// schedules reads schedules: an object of schedule name -> period (a Go duration, "1h").
func (r *reader) schedules(into map[string]time.Duration) {
	for name, v := range r.object(ctxSchedules) {
		str, _ := v.(string)
		d, err := time.ParseDuration(str)
		if err != nil {
			r.fail(ctxSchedules+"."+name, v, "a duration such as \"1h\" or \"5m\"")
			continue
		}
		into[name] = d
	}
}
