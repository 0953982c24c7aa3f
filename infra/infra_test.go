package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

// The app is synthesized once per test binary: starting jsii and synthesizing takes seconds.
var synth struct {
	topo     topology.Topology
	stacks   *stacks
	state    assertions.Template
	service  assertions.Template
	stateJ   template
	serviceJ template
	// logical ids in the stateful template, by topology name
	streamID, tableID, queueID, deadLetterID, secretID, bucketID, deliveryStreamID map[string]string
	// logical ids in the service template, by function name
	functionID map[string]string
	// the same app with every option a team may set (optionsContext)
	options                *stacks
	optState, optService   assertions.Template
	optStateJ, optServiceJ template
}

// optionsContext turns on every option of the settings, some given as the cdk CLI gives -c values
// (strings).
var optionsContext = map[string]interface{}{
	"stage":                    "staging",
	"customerManagedKeys":      true,
	"streamMode":               "PROVISIONED",
	"streamShards":             "4",
	"tableBillingMode":         "PROVISIONED",
	"tableReadCapacity":        5,
	"tableWriteCapacity":       5,
	"tableMaxReadCapacity":     "50",
	"tableMaxWriteCapacity":    100,
	"beaconFunctionUrl":        "true",
	"alarmEmail":               "ops@example.com",
	"domainName":               "collect.example.com",
	"certificateArn":           "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100",
	"reservedConcurrency":      "false",
	"logRetentionDays":         90,
	"schedules":                `{"score": "2h"}`,
	"apiThrottleRate":          "50",
	"stitchBatchSize":          "1000",
	"stitchBatchWindowSeconds": 10,
	"consoleAdminEmail":        "lead@example.com",
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	// Node 20 works but jsii warns loudly about its age; the warning is noise in test output.
	for k, v := range map[string]string{
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18,20",
		"JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION":  "1",
	} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	defer jsii.Close()

	tmp, err := os.MkdirTemp("", "dcrm-infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make temp dir:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	if err := synthesize(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "synthesize:", err)
		return 1
	}
	return m.Run()
}

func synthesize(tmp string) error {
	synth.topo = topology.Default()
	fns := filepath.Join(tmp, "functions")
	if err := placeholderBinaries(fns, synth.topo); err != nil {
		return err
	}
	root, err := projectRoot()
	if err != nil {
		return err
	}
	ctx, err := loadContext(filepath.Join(root, "cdk.json"))
	if err != nil {
		return err
	}
	app := newApp(appOptions{Outdir: filepath.Join(tmp, "cdk.out"), Context: ctx})
	s, err := buildStacks(app, config{Topology: synth.topo, FunctionsDir: fns})
	if err != nil {
		return err
	}
	synth.stacks = s
	synth.state = assertions.Template_FromStack(s.State.Stack, nil)
	synth.service = assertions.Template_FromStack(s.Service.Stack, nil)
	synth.stateJ = template(*synth.state.ToJSON())
	synth.serviceJ = template(*synth.service.ToJSON())

	optCtx := maps.Clone(ctx)
	maps.Copy(optCtx, optionsContext)
	optApp := newApp(appOptions{Outdir: filepath.Join(tmp, "cdk.out.options"), Context: optCtx})
	if synth.options, err = buildStacks(optApp, config{Topology: synth.topo, FunctionsDir: fns}); err != nil {
		return fmt.Errorf("with every option: %w", err)
	}
	synth.optState = assertions.Template_FromStack(synth.options.State.Stack, nil)
	synth.optService = assertions.Template_FromStack(synth.options.Service.Stack, nil)
	synth.optStateJ = template(*synth.optState.ToJSON())
	synth.optServiceJ = template(*synth.optService.ToJSON())

	synth.streamID, synth.tableID, synth.queueID = map[string]string{}, map[string]string{}, map[string]string{}
	synth.deadLetterID, synth.functionID, synth.secretID = map[string]string{}, map[string]string{}, map[string]string{}
	for name, c := range s.State.Secrets {
		synth.secretID[name] = logicalID(s.State.Stack, c)
	}
	synth.bucketID = map[string]string{}
	for name, c := range s.State.Buckets {
		synth.bucketID[name] = logicalID(s.State.Stack, c)
	}
	synth.deliveryStreamID = map[string]string{}
	for name, c := range s.State.DeliveryStreams {
		synth.deliveryStreamID[name] = logicalID(s.State.Stack, c)
	}
	for name, c := range s.State.Streams {
		synth.streamID[name] = logicalID(s.State.Stack, c)
	}
	for name, c := range s.State.Tables {
		synth.tableID[name] = logicalID(s.State.Stack, c)
	}
	for name, c := range s.State.Queues {
		synth.queueID[name] = logicalID(s.State.Stack, c)
	}
	for name, c := range s.State.DeadLetters {
		synth.deadLetterID[name] = logicalID(s.State.Stack, c)
	}
	for name, c := range s.Service.Functions {
		synth.functionID[name] = logicalID(s.Service.Stack, c)
	}
	return nil
}

// placeholderBinaries writes an empty <dir>/<name>/bootstrap for every function.
func placeholderBinaries(dir string, t topology.Topology) error {
	for _, f := range t.Functions {
		d := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "bootstrap"), nil, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func logicalID(stack awscdk.Stack, c constructs.IConstruct) string {
	return *stack.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
}

// check runs a CDK assertion, which panics on mismatch, and reports the mismatch as a test error.
func check(t *testing.T, what string, assertion func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	assertion()
}

func obj(kv map[string]interface{}) assertions.Matcher { return assertions.Match_ObjectLike(&kv) }
func arr(items ...interface{}) *[]interface{}          { return &items }

// --- stateful stack ----------------------------------------------------------------------------

func TestStateStackHasTheStreams(t *testing.T) {
	check(t, "stream count", func() {
		synth.state.ResourceCountIs(jsii.String("AWS::Kinesis::Stream"), jsii.Number(float64(len(synth.topo.Streams))))
	})
	for _, s := range synth.topo.Streams {
		r := synth.stateJ.resource(t, synth.streamID[s.Name])
		props := r.props()
		if s.Shards > 0 {
			if got := props["ShardCount"]; got != float64(s.Shards) {
				t.Errorf("stream %s: ShardCount = %v, want %d", s.Name, got, s.Shards)
			}
			if got := dig(props, "StreamModeDetails", "StreamMode"); got != "PROVISIONED" {
				t.Errorf("stream %s: StreamMode = %v, want PROVISIONED", s.Name, got)
			}
		}
		if got := dig(props, "StreamEncryption", "EncryptionType"); got != "KMS" {
			t.Errorf("stream %s: EncryptionType = %v, want KMS", s.Name, got)
		}
	}
	// The event stream is what collect writes and stitch reads.
	if _, ok := synth.streamID[topology.EventStream]; !ok {
		t.Errorf("no stream %s", topology.EventStream)
	}
}

func TestStateStackHasTheTablesWithTheirKeys(t *testing.T) {
	if len(synth.topo.Tables) != 9 {
		t.Fatalf("topology has %d tables, this test expects Profiles, Identities, Keys, Touchpoints, Models, Audiences, AudienceMembers, Health and Activity", len(synth.topo.Tables))
	}
	check(t, "table count", func() {
		synth.state.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(9))
	})
	for _, tb := range synth.topo.Tables {
		keys := []interface{}{map[string]interface{}{"AttributeName": tb.PartitionKey, "KeyType": "HASH"}}
		if tb.SortKey != "" {
			keys = append(keys, map[string]interface{}{"AttributeName": tb.SortKey, "KeyType": "RANGE"})
		}
		ttl := interface{}(assertions.Match_Absent())
		if tb.TTLAttribute != "" {
			ttl = map[string]interface{}{"AttributeName": tb.TTLAttribute, "Enabled": true}
		}
		check(t, "table "+tb.Name, func() {
			synth.state.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), obj(map[string]interface{}{
				"KeySchema":                        assertions.Match_ArrayEquals(&keys),
				"BillingMode":                      "PAY_PER_REQUEST",
				"PointInTimeRecoverySpecification": map[string]interface{}{"PointInTimeRecoveryEnabled": true},
				"TimeToLiveSpecification":          ttl,
			}))
		})
		got := synth.stateJ.resource(t, synth.tableID[tb.Name]).props()
		if pk := dig(got, "KeySchema", 0, "AttributeName"); pk != tb.PartitionKey {
			t.Errorf("table %s: partition key %v, want %s", tb.Name, pk, tb.PartitionKey)
		}
	}
	// Literal values, so a topology edit that loses them fails here.
	history := synth.stateJ.resource(t, synth.tableID[topology.TouchpointTable]).props()
	if got := dig(history, "KeySchema", 1, "AttributeName"); got != "at" {
		t.Errorf("Touchpoints table sort key = %v, want at", got)
	}
	if got := dig(history, "TimeToLiveSpecification", "AttributeName"); got != "expiresAt" {
		t.Errorf("Touchpoints table TTL attribute = %v, want expiresAt", got)
	}
	log := synth.stateJ.resource(t, synth.tableID[topology.ActivityTable]).props()
	if got := [3]any{dig(log, "KeySchema", 0, "AttributeName"), dig(log, "KeySchema", 1, "AttributeName"), dig(log, "TimeToLiveSpecification", "AttributeName")}; got != [3]any{"log", "at", "expiresAt"} {
		t.Errorf("Activity table keys and TTL = %v, want log, at, expiresAt", got)
	}
	profiles := synth.stateJ.resource(t, synth.tableID[topology.ProfileTable]).props()
	if got := dig(profiles, "KeySchema", 0, "AttributeName"); got != "profileId" {
		t.Errorf("Profiles table partition key = %v, want profileId", got)
	}
	if _, ok := profiles["TimeToLiveSpecification"]; ok {
		t.Errorf("Profiles table has a TTL; profiles must not expire")
	}
}

func TestStateStackHasTheTablesIndexes(t *testing.T) {
	for _, tb := range synth.topo.Tables {
		props := synth.stateJ.resource(t, synth.tableID[tb.Name]).props()
		gsis, _ := props["GlobalSecondaryIndexes"].([]interface{})
		if len(gsis) != len(tb.Indexes) {
			t.Errorf("table %s: %d indexes, want %d", tb.Name, len(gsis), len(tb.Indexes))
			continue
		}
		types := map[string]interface{}{}
		for _, a := range props["AttributeDefinitions"].([]interface{}) {
			types[fmt.Sprint(dig(a, "AttributeName"))] = dig(a, "AttributeType")
		}
		for i, ix := range tb.Indexes {
			g := gsis[i]
			keys := fmt.Sprint(dig(g, "KeySchema", 0, "AttributeName"), " ", dig(g, "KeySchema", 1, "AttributeName"))
			if dig(g, "IndexName") != ix.Name || keys != fmt.Sprint(ix.PartitionKey, " ", cmp.Or(ix.SortKey, "<nil>")) ||
				dig(g, "Projection", "ProjectionType") != string(ix.Projection) {
				t.Errorf("table %s: index %v, want %+v", tb.Name, g, ix)
			}
			if dig(g, "ProvisionedThroughput") != nil {
				t.Errorf("table %s: index %s has provisioned throughput on an on-demand table", tb.Name, ix.Name)
			}
			for _, k := range []string{ix.PartitionKey, ix.SortKey} {
				if k != "" && types[k] != "S" {
					t.Errorf("table %s: index key %s has type %v, want S", tb.Name, k, types[k])
				}
			}
		}
	}
	// Literal: the sparse due index of the profiles, keys only, that the triggers schedule reads.
	check(t, "due index", func() {
		synth.state.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), obj(map[string]interface{}{
			"KeySchema": arr(map[string]interface{}{"AttributeName": "profileId", "KeyType": "HASH"}),
			"GlobalSecondaryIndexes": arr(map[string]interface{}{
				"IndexName": "due",
				"KeySchema": arr(
					map[string]interface{}{"AttributeName": "dueShard", "KeyType": "HASH"},
					map[string]interface{}{"AttributeName": "dueAt", "KeyType": "RANGE"}),
				"Projection": map[string]interface{}{"ProjectionType": "KEYS_ONLY"},
			}),
		}))
	})
}

func TestStateStackHasTheQueuesWithDeadLetterRedrive(t *testing.T) {
	want := len(synth.topo.Queues)
	for _, q := range synth.topo.Queues {
		if q.DeadLetterAfter > 0 {
			want++
		}
	}
	check(t, "queue count", func() {
		synth.state.ResourceCountIs(jsii.String("AWS::SQS::Queue"), jsii.Number(float64(want)))
	})
	for _, q := range synth.topo.Queues {
		props := synth.stateJ.resource(t, synth.queueID[q.Name]).props()
		if props["SqsManagedSseEnabled"] != true {
			t.Errorf("queue %s: SqsManagedSseEnabled = %v, want true", q.Name, props["SqsManagedSseEnabled"])
		}
		redrive, hasRedrive := props["RedrivePolicy"].(map[string]interface{})
		if q.DeadLetterAfter == 0 {
			if hasRedrive {
				t.Errorf("queue %s: unexpected RedrivePolicy %v", q.Name, redrive)
			}
			continue
		}
		if !hasRedrive {
			t.Errorf("queue %s: no RedrivePolicy", q.Name)
			continue
		}
		if got := redrive["maxReceiveCount"]; got != float64(q.DeadLetterAfter) {
			t.Errorf("queue %s: maxReceiveCount = %v, want %d", q.Name, got, q.DeadLetterAfter)
		}
		if got := synth.stateJ.target(redrive["deadLetterTargetArn"]); got != synth.deadLetterID[q.Name] {
			t.Errorf("queue %s: dead-letter target %q, want its own dead-letter queue %q", q.Name, got, synth.deadLetterID[q.Name])
		}
	}
	// Alerts are redriven after 5 receives (literal, from the issue).
	alerts := synth.stateJ.resource(t, synth.queueID[topology.AlertQueue]).props()
	if got := dig(alerts, "RedrivePolicy", "maxReceiveCount"); got != float64(5) {
		t.Errorf("Alerts maxReceiveCount = %v, want 5", got)
	}
}

func TestStateStackRetainsEverything(t *testing.T) {
	for _, typ := range []string{"AWS::Kinesis::Stream", "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket"} {
		for id, r := range synth.stateJ.ofType(typ) {
			if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
				t.Errorf("%s %s: DeletionPolicy %v, UpdateReplacePolicy %v; want Retain", typ, id, r["DeletionPolicy"], r["UpdateReplacePolicy"])
			}
		}
	}
}

func TestNothingHasAPhysicalName(t *testing.T) {
	nameProps := map[string]string{
		"AWS::Kinesis::Stream":        "Name",
		"AWS::DynamoDB::Table":        "TableName",
		"AWS::SQS::Queue":             "QueueName",
		"AWS::Lambda::Function":       "FunctionName",
		"AWS::IAM::Role":              "RoleName",
		"AWS::Logs::LogGroup":         "LogGroupName",
		"AWS::Scheduler::Schedule":    "Name",
		"AWS::CloudWatch::Alarm":      "AlarmName",
		"AWS::CloudWatch::Dashboard":  "DashboardName",
		"AWS::SNS::Topic":             "TopicName",
		"AWS::SecretsManager::Secret": "Name",
		"AWS::S3::Bucket":             "BucketName",
	}
	seen := 0
	for _, tmpl := range []template{synth.stateJ, synth.serviceJ} {
		for typ, prop := range nameProps {
			for id, r := range tmpl.ofType(typ) {
				seen++
				if v, ok := r.props()[prop]; ok {
					t.Errorf("%s %s has the physical name %s = %v", typ, id, prop, v)
				}
			}
		}
	}
	if seen < 10 {
		t.Errorf("checked only %d resources; the templates look empty", seen)
	}
}

// --- service stack -----------------------------------------------------------------------------

func TestServiceStackHasOneFunctionPerTopologyFunction(t *testing.T) {
	// With bucket notifications, the construct library adds its own function that configures them.
	handlers := 0
	if len(synth.topo.Notifications) > 0 {
		handlers = 1
	}
	check(t, "function count", func() {
		synth.service.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(float64(len(synth.topo.Functions)+handlers)))
	})
	for _, f := range synth.topo.Functions {
		env := map[string]interface{}{}
		for _, u := range f.Uses {
			env[synth.topo.EnvVar(u.Resource)] = assertions.Match_AnyValue()
			if q, _ := synth.topo.Queue(u.Resource); u.Access == topology.Attributes && q.DeadLetterAfter > 0 {
				env[synth.topo.DeadLetterEnvVar(u.Resource)] = assertions.Match_AnyValue()
			}
		}
		for k, v := range f.Settings {
			env[k] = v
			if k == topology.SettingAuthIssuer || k == topology.SettingAuthClientID {
				env[k] = assertions.Match_AnyValue() // the user pool's (TestConsoleUserPool)
			}
		}
		check(t, "function "+f.Name, func() {
			synth.service.HasResourceProperties(jsii.String("AWS::Lambda::Function"), obj(map[string]interface{}{
				"Description":   "dcrm function " + f.Name,
				"Runtime":       "provided.al2023",
				"Architectures": []interface{}{"arm64"},
				"Handler":       "bootstrap",
				"MemorySize":    f.Memory,
				"Timeout":       f.Timeout.Seconds(),
				"Environment":   map[string]interface{}{"Variables": assertions.Match_ObjectEquals(&env)},
			}))
		})

		// Every resource variable names the resource the topology says.
		vars, _ := dig(synth.serviceJ.resource(t, synth.functionID[f.Name]).props(), "Environment", "Variables").(map[string]interface{})
		for _, u := range f.Uses {
			name := synth.topo.EnvVar(u.Resource)
			if got, want := synth.serviceJ.target(vars[name]), stateID(u.Resource); got != want {
				t.Errorf("function %s: %s refers to %q, want %q (%s)", f.Name, name, got, want, u.Resource)
			}
		}
	}

	// Each function's name is an output described by the variable dcrm schedule run reads.
	for _, f := range synth.topo.Functions {
		out, _ := dig(map[string]interface{}(synth.serviceJ), "Outputs", constructID(f.Name)+"FunctionName").(map[string]interface{})
		if out["Description"] != "DCRM_FUNCTION_"+strings.ToUpper(f.Name) || synth.serviceJ.target(out["Value"]) != synth.functionID[f.Name] {
			t.Errorf("function %s: output %v, want its name described by DCRM_FUNCTION_%s", f.Name, out, strings.ToUpper(f.Name))
		}
	}

	// Literal contract values, as the functions read them.
	collect := envOf(t, "collect")
	for _, k := range []string{"DCRM_BEACONS_STREAM", "DCRM_KEYS_TABLE"} {
		if _, ok := collect[k]; !ok {
			t.Errorf("collect has no %s", k)
		}
	}
	if got := envOf(t, "stitch")["DCRM_TOUCHPOINT_TTL"]; got != "9480h" {
		t.Errorf("stitch DCRM_TOUCHPOINT_TTL = %v, want 9480h", got)
	}
	score := envOf(t, "score")
	for _, k := range []string{"DCRM_ALERTS_QUEUE_URL", "DCRM_PROFILES_TABLE", "DCRM_MODELS_TABLE"} {
		if _, ok := score[k]; !ok {
			t.Errorf("score has no %s", k)
		}
	}
	for k, want := range map[string]string{"DCRM_CLV_WEEKS": "52", "DCRM_LAPSE_THRESHOLD": "0.8", "DCRM_FIT_SAMPLE": "20000"} {
		if score[k] != want {
			t.Errorf("score %s = %v, want %s", k, score[k], want)
		}
	}
}

// A function that fans out may invoke itself, and nothing else, asynchronously, and Lambda drops
// a part that waited an hour.
func TestFanOutFunctionsInvokeThemselves(t *testing.T) {
	fanOut := 0
	for _, f := range synth.topo.Functions {
		id := synth.functionID[f.Name]
		invokes := synth.serviceJ.roleActions(t, id)[id]["lambda:InvokeFunction"]
		if invokes != f.FanOut {
			t.Errorf("function %s may invoke itself: %v, want %v", f.Name, invokes, f.FanOut)
		}
		if f.FanOut {
			fanOut++
		}
	}
	if fn, _ := synth.topo.Function("score"); !fn.FanOut {
		t.Errorf("score does not fan out")
	}
	// Asynchronous invocations (schedules, fan-out) are configured as the topology says, and the
	// ones that fail or expire are recorded on a queue rather than dropped.
	configs := synth.serviceJ.ofType("AWS::Lambda::EventInvokeConfig")
	async := 0
	for _, f := range synth.topo.Functions {
		if f.Async == nil {
			continue
		}
		async++
		var p map[string]interface{}
		for _, c := range configs {
			if synth.serviceJ.target(c.props()["FunctionName"]) == synth.functionID[f.Name] {
				p = c.props()
			}
		}
		if p == nil {
			t.Errorf("function %s: no asynchronous invocation configuration", f.Name)
			continue
		}
		if p["MaximumEventAgeInSeconds"] != f.Async.MaxAge.Seconds() || p["MaximumRetryAttempts"] != float64(f.Async.Retries) {
			t.Errorf("function %s: asynchronous invocations %v, want %+v", f.Name, p, *f.Async)
		}
		if got := synth.serviceJ.target(dig(p, "DestinationConfig", "OnFailure", "Destination")); got != synth.queueID[f.Async.OnFailureQueue] {
			t.Errorf("function %s: failed asynchronous invocations go to %q, want %s", f.Name, got, f.Async.OnFailureQueue)
		}
	}
	if len(configs) != async {
		t.Errorf("%d asynchronous invocation configurations, want %d", len(configs), async)
	}
	// Literal: score's parts wait at most an hour, are retried twice, and failures reach FailedEvents.
	score, _ := synth.topo.Function("score")
	if score.Async == nil || score.Async.MaxAge != time.Hour || score.Async.Retries != 2 || score.Async.OnFailureQueue != topology.FailedQueue {
		t.Errorf("score's asynchronous invocations: %+v", score.Async)
	}
}

func envOf(t *testing.T, fn string) map[string]interface{} {
	t.Helper()
	id, ok := synth.functionID[fn]
	if !ok {
		t.Fatalf("no function %s", fn)
	}
	vars, _ := dig(synth.serviceJ.resource(t, id).props(), "Environment", "Variables").(map[string]interface{})
	return vars
}

func stateID(resource string) string {
	switch synth.topo.Kind(resource) {
	case "table":
		return synth.tableID[resource]
	case "stream":
		return synth.streamID[resource]
	case "queue":
		return synth.queueID[resource]
	case "secret":
		return synth.secretID[resource]
	case "bucket":
		return synth.bucketID[resource]
	case "deliverystream":
		return synth.deliveryStreamID[resource]
	}
	return ""
}

func TestFunctionsGetTheGrantsOfTheirUses(t *testing.T) {
	mapped := map[string][]string{} // function -> extra resources its stream mapping needs
	for _, m := range synth.topo.Mappings {
		mapped[m.Function] = append(mapped[m.Function], m.Stream)
		if m.OnFailureQueue != "" {
			mapped[m.Function] = append(mapped[m.Function], m.OnFailureQueue)
		}
	}
	for _, f := range synth.topo.Functions {
		actions := synth.serviceJ.roleActions(t, synth.functionID[f.Name])
		allowed := map[string]bool{}
		for _, r := range mapped[f.Name] {
			allowed[stateID(r)] = true
		}
		for _, u := range f.Uses {
			id := stateID(u.Resource)
			allowed[id] = true
			if tb, _ := synth.topo.Table(u.Resource); len(tb.Indexes) > 0 {
				allowed[id+"/index/*"] = true
			}
			got := actions[id]
			if u.Access == topology.Attributes { // the queue's depths only, and its dead-letter queue's
				// It sends only as the queue's writer too, or as Lambda's on-failure destination.
				sends := f.Async != nil && f.Async.OnFailureQueue == u.Resource || slices.ContainsFunc(f.Uses, func(w topology.Use) bool {
					return w.Resource == u.Resource && (w.Access == topology.Write || w.Access == topology.ReadWrite)
				})
				if !got["sqs:GetQueueAttributes"] || got["sqs:ReceiveMessage"] || got["sqs:DeleteMessage"] || got["sqs:SendMessage"] != sends {
					t.Errorf("function %s, %s (attributes): %v, want sqs:GetQueueAttributes and no receive", f.Name, u.Resource, got)
				}
				if dlq, ok := synth.deadLetterID[u.Resource]; ok {
					allowed[dlq] = true
					if dg := actions[dlq]; !dg["sqs:GetQueueAttributes"] || len(dg) != 1 {
						t.Errorf("function %s, %s's dead-letter queue: %v, want sqs:GetQueueAttributes alone", f.Name, u.Resource, dg)
					}
				}
				continue
			}
			read := u.Access == topology.Read || u.Access == topology.ReadWrite
			write := u.Access == topology.Write || u.Access == topology.ReadWrite
			var readAction, writeAction string
			switch synth.topo.Kind(u.Resource) {
			case "table":
				readAction, writeAction = "dynamodb:GetItem", "dynamodb:PutItem"
			case "stream":
				readAction, writeAction = "kinesis:GetRecords", "kinesis:PutRecords"
			case "queue":
				readAction, writeAction = "sqs:ReceiveMessage", "sqs:SendMessage"
			case "secret":
				readAction, writeAction = "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"
			case "bucket":
				readAction, writeAction = "s3:GetObject*", "s3:PutObject"
			case "deliverystream": // write-only
				readAction, writeAction = "firehose:DescribeDeliveryStream", "firehose:PutRecordBatch"
			}
			if got[readAction] != read {
				t.Errorf("function %s, %s (%s): %s granted = %v, want %v", f.Name, u.Resource, u.Access, readAction, got[readAction], read)
			}
			if got[writeAction] != write && !slices.Contains(mapped[f.Name], u.Resource) {
				t.Errorf("function %s, %s (%s): %s granted = %v, want %v", f.Name, u.Resource, u.Access, writeAction, got[writeAction], write)
			}
		}
		if f.FanOut { // TestFanOutFunctionsInvokeThemselves
			allowed[synth.functionID[f.Name]] = true
		}
		if f.Async != nil && f.Async.OnFailureQueue != "" { // Lambda sends the on-failure record as the function
			allowed[stateID(f.Async.OnFailureQueue)] = true
		}
		// Its own log group, written only.
		logs := logicalID(synth.stacks.Service.Stack, synth.stacks.Service.Stack.Node().FindChild(jsii.String(constructID(f.Name)+"Logs")))
		allowed[logs] = true
		if got := slices.Sorted(maps.Keys(actions[logs])); !slices.Equal(got, []string{"logs:CreateLogStream", "logs:PutLogEvents"}) {
			t.Errorf("function %s: on its log group may %v, want to create streams and put events", f.Name, got)
		}
		// "*" only for X-Ray, whose actions take no resource.
		allowed["*"] = true
		if got := slices.Sorted(maps.Keys(actions["*"])); !slices.Equal(got, []string{"xray:PutTelemetryRecords", "xray:PutTraceSegments"}) {
			t.Errorf("function %s: may %v on every resource; want only X-Ray's trace actions", f.Name, got)
		}
		for id := range actions {
			if !allowed[id] {
				t.Errorf("function %s has access to %s, which it does not use", f.Name, id)
			}
		}
		// On tables, exactly the actions of its access: no Scan unless it scans, nothing else.
		for _, u := range f.Uses {
			if synth.topo.Kind(u.Resource) != "table" {
				continue
			}
			var want []string
			if u.Access != topology.Write {
				want = append(want, "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query")
				if slices.Contains(f.Scans, u.Resource) {
					want = append(want, "dynamodb:Scan")
				}
			}
			if u.Access != topology.Read {
				want = append(want, "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
			}
			slices.Sort(want)
			if got := slices.Sorted(maps.Keys(actions[stateID(u.Resource)])); !slices.Equal(got, want) {
				t.Errorf("function %s on table %s: %v, want %v", f.Name, u.Resource, got, want)
			}
		}
	}
	// Literal: only score scans the profiles, and snapshot the profiles and identifiers (a grant on
	// a table covers its indexes); profiles scans the keys (the key routes).
	scans := func(f, id string) bool {
		on := func(table string) bool { return strings.HasPrefix(id, synth.tableID[table]) }
		return f == "score" && on(topology.ProfileTable) || f == "snapshot" && (on(topology.ProfileTable) || on(topology.IdentityTable)) ||
			f == "profiles" && on(topology.KeyTable)
	}
	for _, f := range synth.topo.Functions {
		for id, acts := range synth.serviceJ.roleActions(t, synth.functionID[f.Name]) {
			if acts["dynamodb:Scan"] != scans(f.Name, id) {
				t.Errorf("function %s: Scan on %s = %v", f.Name, id, acts["dynamodb:Scan"])
			}
		}
	}
	// Literal: the profile API deletes what an erasure removes.
	profiles := synth.serviceJ.roleActions(t, synth.functionID["profiles"])
	for _, table := range []string{topology.ProfileTable, topology.IdentityTable, topology.TouchpointTable} {
		if !profiles[synth.tableID[table]]["dynamodb:DeleteItem"] {
			t.Errorf("profiles may not delete from the %s table (erasure)", table)
		}
	}
	// Literal: the triggers function queries the due index and may send triggers.
	triggers := synth.serviceJ.roleActions(t, synth.functionID["triggers"])
	if !triggers[synth.tableID[topology.ProfileTable]+"/index/*"]["dynamodb:Query"] {
		t.Errorf("triggers may not query the indexes of the %s table", topology.ProfileTable)
	}
	if !triggers[synth.queueID[topology.TriggerQueue]]["sqs:SendMessage"] {
		t.Errorf("triggers may not send to the %s queue", topology.TriggerQueue)
	}
	if !synth.serviceJ.roleActions(t, synth.functionID["collect"])[synth.streamID[topology.EventStream]]["kinesis:PutRecords"] {
		t.Errorf("collect may not put records on the event stream")
	}
}

func TestAPIHasEveryTopologyRoute(t *testing.T) {
	check(t, "route count", func() {
		synth.service.ResourceCountIs(jsii.String("AWS::ApiGatewayV2::Route"), jsii.Number(float64(len(synth.topo.Routes))))
	})
	routes := map[string]map[string]interface{}{} // route key -> properties
	for _, r := range synth.serviceJ.ofType("AWS::ApiGatewayV2::Route") {
		routes[fmt.Sprint(r.props()["RouteKey"])] = r.props()
	}
	for _, r := range synth.topo.Routes {
		key := r.Method + " " + r.Path
		props, ok := routes[key]
		if !ok {
			t.Errorf("no route %q; have %v", key, sortedKeys(routes))
			continue
		}
		// route -> integration -> function
		integrationID := synth.serviceJ.target(dig(props, "Target", "Fn::Join", 1, 1))
		integration := synth.serviceJ.resource(t, integrationID).props()
		if got := integration["PayloadFormatVersion"]; got != "2.0" {
			t.Errorf("route %s: payload format %v, want 2.0", key, got)
		}
		if got := integration["IntegrationType"]; got != "AWS_PROXY" {
			t.Errorf("route %s: integration type %v, want AWS_PROXY", key, got)
		}
		if got, want := synth.serviceJ.target(integration["IntegrationUri"]), synth.functionID[r.Function]; got != want {
			t.Errorf("route %s: served by %q, want %q (%s)", key, got, want, r.Function)
		}
	}
	for _, key := range []string{"POST /v1/batch", "POST /v1/track", "GET /v1/profiles/{profileId}",
		"GET /v1/profiles/{profileId}/merges", "POST /v1/profiles/{profileId}/split"} {
		if _, ok := routes[key]; !ok {
			t.Errorf("no route %q", key)
		}
	}
	check(t, "API URL output", func() {
		synth.service.HasOutput(jsii.String("ApiUrl"), obj(map[string]interface{}{}))
	})
}

func TestStreamMappingFailsOnlyTheBadRecords(t *testing.T) {
	check(t, "mapping count", func() {
		synth.service.ResourceCountIs(jsii.String("AWS::Lambda::EventSourceMapping"), jsii.Number(float64(len(synth.topo.Mappings))))
	})
	mappings := synth.serviceJ.ofType("AWS::Lambda::EventSourceMapping")
	for _, m := range synth.topo.Mappings {
		var props map[string]interface{}
		for _, r := range mappings {
			if synth.serviceJ.target(r.props()["FunctionName"]) == synth.functionID[m.Function] {
				props = r.props()
			}
		}
		if props == nil {
			t.Errorf("no mapping for %s", m.Function)
			continue
		}
		want := map[string]interface{}{
			"BatchSize":                      float64(m.BatchSize),
			"MaximumBatchingWindowInSeconds": m.MaxBatchingWindow.Seconds(),
			"BisectBatchOnFunctionError":     m.BisectOnError,
			"MaximumRetryAttempts":           float64(m.RetryAttempts),
			"MaximumRecordAgeInSeconds":      m.MaxRecordAge.Seconds(),
			"StartingPosition":               "TRIM_HORIZON",
		}
		for k, v := range want {
			if props[k] != v {
				t.Errorf("mapping %s -> %s: %s = %v, want %v", m.Stream, m.Function, k, props[k], v)
			}
		}
		types, _ := props["FunctionResponseTypes"].([]interface{})
		if got := slices.Contains(types, "ReportBatchItemFailures"); got != m.ReportBatchItemFailures {
			t.Errorf("mapping %s -> %s: ReportBatchItemFailures = %v, want %v", m.Stream, m.Function, got, m.ReportBatchItemFailures)
		}
		if got := synth.serviceJ.target(props["EventSourceArn"]); got != synth.streamID[m.Stream] {
			t.Errorf("mapping reads %q, want stream %q", got, synth.streamID[m.Stream])
		}
		if m.OnFailureQueue != "" {
			dest := dig(props, "DestinationConfig", "OnFailure", "Destination")
			if got := synth.serviceJ.target(dest); got != synth.queueID[m.OnFailureQueue] {
				t.Errorf("mapping sends failures to %q, want queue %q", got, synth.queueID[m.OnFailureQueue])
			}
		}
	}
	// Literal values of the walking skeleton.
	check(t, "stitch mapping literals", func() {
		synth.service.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), obj(map[string]interface{}{
			"BatchSize":                  500,
			"BisectBatchOnFunctionError": true,
			"MaximumRetryAttempts":       3,
			"MaximumRecordAgeInSeconds":  86400,
			"FunctionResponseTypes":      []interface{}{"ReportBatchItemFailures"},
			"DestinationConfig":          obj(map[string]interface{}{"OnFailure": obj(map[string]interface{}{"Destination": assertions.Match_AnyValue()})}),
		}))
	})
}

func TestSchedulesRunTheirFunctionOnTheirRate(t *testing.T) {
	check(t, "schedule count", func() {
		synth.service.ResourceCountIs(jsii.String("AWS::Scheduler::Schedule"), jsii.Number(float64(len(synth.topo.Schedules))))
	})
	schedules := synth.serviceJ.ofType("AWS::Scheduler::Schedule")
	for _, sc := range synth.topo.Schedules {
		rate, err := rateExpression(sc.Every)
		if err != nil {
			t.Fatalf("schedule %s: %v", sc.Name, err)
		}
		found := false
		for _, r := range schedules {
			p := r.props()
			if p["ScheduleExpression"] != rate || synth.serviceJ.target(dig(p, "Target", "Arn")) != synth.functionID[sc.Function] {
				continue
			}
			found = true
			checkScheduleInput(t, sc.Name, fmt.Sprint(dig(p, "Target", "Input")))
			if dig(p, "Target", "RoleArn") == nil {
				t.Errorf("schedule %s: no role", sc.Name)
			}
		}
		if !found {
			t.Errorf("no schedule running %s at %s", sc.Function, rate)
		}
	}
	check(t, "hourly score", func() {
		synth.service.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), obj(map[string]interface{}{
			"ScheduleExpression": "rate(1 hour)",
			"State":              "ENABLED",
		}))
	})
	// The daily fit is the score function, told by the schedule's name in its input.
	fit := false
	for _, r := range schedules {
		p := r.props()
		var event map[string]interface{}
		_ = json.Unmarshal([]byte(fmt.Sprint(dig(p, "Target", "Input"))), &event)
		if p["ScheduleExpression"] == "rate(1 day)" && event["schedule"] == topology.FitSchedule &&
			synth.serviceJ.target(dig(p, "Target", "Arn")) == synth.functionID["score"] {
			fit = true
		}
	}
	if !fit {
		t.Errorf("no daily fit schedule running score")
	}
}

// checkScheduleInput holds a schedule's target input to what the functions read and to the sample
// under events/scheduler: the same fields as the sample, the schedule's name, the time left to
// Scheduler; filled in as Scheduler does, it is a run of the schedule.
func checkScheduleInput(t *testing.T, name, input string) {
	t.Helper()
	placeholder := *awsscheduler.ContextAttribute_ScheduledTime()
	var fields map[string]interface{}
	if err := json.Unmarshal([]byte(input), &fields); err != nil {
		t.Errorf("schedule %s: input is not JSON: %v", name, err)
		return
	}
	sample, err := os.ReadFile(filepath.Join("..", "events", "scheduler", name+".json"))
	if err != nil {
		t.Errorf("schedule %s: no sample of its input: %v", name, err)
		return
	}
	var sampleFields map[string]interface{}
	if err := json.Unmarshal(sample, &sampleFields); err != nil {
		t.Errorf("schedule %s: sample is not JSON: %v", name, err)
	}
	if got, want := slices.Sorted(maps.Keys(fields)), slices.Sorted(maps.Keys(sampleFields)); !slices.Equal(got, want) {
		t.Errorf("schedule %s: input has the fields %v, its sample %v", name, got, want)
	}
	if fields["schedule"] != name || fields["time"] != placeholder {
		t.Errorf("schedule %s: input %s does not name it with Scheduler's time %s", name, input, placeholder)
	}
	if _, err := schedule.Parse(sample, name); err != nil {
		t.Errorf("schedule %s: sample: %v", name, err)
	}
	filled := strings.ReplaceAll(input, placeholder, "2025-03-15T12:00:00Z")
	if e, err := schedule.Parse([]byte(filled), name); err != nil || e.Schedule != name {
		t.Errorf("schedule %s: the input Scheduler delivers, %s, is not a run of it: %v", name, filled, err)
	}
}

func TestAlarmsWatchTheMappingAndTheFailureQueues(t *testing.T) {
	alarms := synth.serviceJ.ofType("AWS::CloudWatch::Alarm")
	has := func(metric, dimension, target string) bool {
		for _, a := range alarms {
			p := a.props()
			if p["MetricName"] == metric && dig(p, "Dimensions", 0, "Name") == dimension &&
				synth.serviceJ.target(dig(p, "Dimensions", 0, "Value")) == target {
				return true
			}
		}
		return false
	}
	for _, m := range synth.topo.Mappings {
		if !has("IteratorAge", "FunctionName", synth.functionID[m.Function]) {
			t.Errorf("no iterator age alarm on %s", m.Function)
		}
		if m.OnFailureQueue != "" && !has("ApproximateNumberOfMessagesVisible", "QueueName", synth.queueID[m.OnFailureQueue]) {
			t.Errorf("no depth alarm on %s", m.OnFailureQueue)
		}
	}
	for name, id := range synth.deadLetterID {
		if !has("ApproximateNumberOfMessagesVisible", "QueueName", id) {
			t.Errorf("no depth alarm on the dead-letter queue of %s", name)
		}
	}
}

// --- without jsii ------------------------------------------------------------------------------

func TestValidateRejectsWhatCannotBeDeployed(t *testing.T) {
	dir := t.TempDir()
	if err := placeholderBinaries(dir, topology.Default()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*config)
		want   string // in the error; "" means valid
	}{
		{"default topology", func(*config) {}, ""},
		{"missing binary", func(c *config) { c.FunctionsDir = filepath.Join(dir, "nowhere") }, "nowhere/collect/bootstrap"},
		{"unknown resource", func(c *config) {
			c.Topology.Functions[0].Uses = append(c.Topology.Functions[0].Uses, topology.Use{Resource: "Nope", Access: topology.Read})
		}, `unknown resource "Nope"`},
		{"unknown access", func(c *config) { c.Topology.Functions[0].Uses[0].Access = "admin" }, `unknown access "admin"`},
		{"resource used twice", func(c *config) {
			c.Topology.Functions[0].Uses = append(c.Topology.Functions[0].Uses, topology.Use{Resource: topology.FailedQueue, Access: topology.Read})
		}, "uses FailedEvents twice"},
		{"a queue's depths read twice", func(c *config) {
			c.Topology.Functions[0].Uses = append(c.Topology.Functions[0].Uses, topology.Use{Resource: topology.FailedQueue, Access: topology.Attributes},
				topology.Use{Resource: topology.FailedQueue, Access: topology.Attributes})
		}, "uses FailedEvents twice"},
		{"a queue's depths beside another use", func(c *config) {
			c.Topology.Functions[0].Uses = append(c.Topology.Functions[0].Uses, topology.Use{Resource: topology.FailedQueue, Access: topology.Attributes})
		}, ""},
		{"fractional timeout", func(c *config) { c.Topology.Functions[0].Timeout = 1500 * time.Millisecond }, "timeout 1.5s"},
		{"too little memory", func(c *config) { c.Topology.Functions[0].Memory = 64 }, "memory 64 MB"},
		{"setting shadows a resource", func(c *config) {
			c.Topology.Functions[0].Settings = map[string]string{"DCRM_KEYS_TABLE": "x"}
		}, "setting DCRM_KEYS_TABLE collides"},
		{"bad method", func(c *config) { c.Topology.Routes[0].Method = "FETCH" }, "unknown method"},
		{"route twice", func(c *config) { c.Topology.Routes = append(c.Topology.Routes, c.Topology.Routes[0]) }, "declared twice"},
		{"route to nobody", func(c *config) { c.Topology.Routes[0].Function = "ghost" }, `unknown function "ghost"`},
		{"batching window", func(c *config) { c.Topology.Mappings[0].MaxBatchingWindow = 10 * time.Minute }, "batching window 10m0s"},
		{"schedule in seconds", func(c *config) { c.Topology.Schedules[0].Every = 90 * time.Second }, "period 1m30s"},
		{"negative dead-letter count", func(c *config) { c.Topology.Queues[0].DeadLetterAfter = -1 }, "dead-letter receive count -1"},
		{"stream kept an hour", func(c *config) { c.Topology.Streams[0].Retention = time.Hour }, "retention 1h0m0s"},
		{"records kept longer than the stream", func(c *config) { c.Topology.Mappings[0].MaxRecordAge = 7 * 24 * time.Hour }, "less than the stream's retention"},
		{"record age in milliseconds", func(c *config) { c.Topology.Mappings[0].MaxRecordAge = 1500 * time.Millisecond }, "max record age 1.5s"},
		{"asynchronous age", func(c *config) { c.Topology.Functions[2].Async.MaxAge = 7 * time.Hour }, "asynchronous max age 7h0m0s"},
		{"asynchronous retries", func(c *config) { c.Topology.Functions[2].Async.Retries = 3 }, "asynchronous retries 3"},
		{"negative reservation", func(c *config) { c.Topology.Functions[0].ReservedConcurrency = -1 }, "reserved concurrency -1"},
		{"schedule retries", func(c *config) { c.Topology.Schedules[0].RetryAttempts = 186 }, "retry attempts 186"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config{Topology: topology.Default(), FunctionsDir: dir}
			tc.change(&cfg)
			err := validate(cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("validate accepted it; want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %q is not ErrInvalidConfig", err)
			}
		})
	}
}

func TestRateExpression(t *testing.T) {
	tests := []struct {
		every string
		want  string
	}{
		{"1m", "rate(1 minute)"},
		{"5m", "rate(5 minutes)"},
		{"1h", "rate(1 hour)"},
		{"90m", "rate(90 minutes)"},
		{"6h", "rate(6 hours)"},
		{"24h", "rate(1 day)"},
		{"48h", "rate(2 days)"},
		{"36h", "rate(36 hours)"},
	}
	for _, tc := range tests {
		got, err := rateExpression(mustDuration(t, tc.every))
		if err != nil || got != tc.want {
			t.Errorf("rateExpression(%s) = %q, %v; want %q", tc.every, got, err, tc.want)
		}
	}
	for _, bad := range []string{"0s", "-1h", "30s", "61s"} {
		if got, err := rateExpression(mustDuration(t, bad)); err == nil {
			t.Errorf("rateExpression(%s) = %q; want an error", bad, got)
		}
	}
}

func TestResolveFunctionsDir(t *testing.T) {
	root := filepath.FromSlash("/repo")
	tests := []struct {
		context, env, want string
	}{
		{"", "", "/repo/bin/lambda"},
		{"", "out/fns", "/repo/out/fns"},
		{"", "/abs/fns", "/abs/fns"},
		{"ctx/fns", "/abs/fns", "/repo/ctx/fns"},
		{"/ctx/abs", "", "/ctx/abs"},
		{"", "  ", "/repo/bin/lambda"},
	}
	for _, tc := range tests {
		if got := resolveFunctionsDir(tc.context, tc.env, root); got != filepath.FromSlash(tc.want) {
			t.Errorf("resolveFunctionsDir(%q, %q) = %q, want %q", tc.context, tc.env, got, tc.want)
		}
	}
}

func TestLoadContext(t *testing.T) {
	dir := t.TempDir()
	if got, err := loadContext(filepath.Join(dir, "missing.json")); err != nil || got != nil {
		t.Errorf("missing file: got %v, %v; want no context, no error", got, err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadContext(bad); err == nil || !strings.Contains(err.Error(), "parse") {
		t.Errorf("malformed file: err = %v, want a parse error", err)
	}
	good := filepath.Join(dir, "cdk.json")
	if err := os.WriteFile(good, []byte(`{"app":"x","context":{"a":true,"b":["c"]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := loadContext(good)
	if err != nil || got["a"] != true || len(got["b"].([]interface{})) != 1 {
		t.Errorf("good file: got %v, %v", got, err)
	}
}

// The project's cdk.json runs this app and holds no looked-up (account- or region-specific) values.
func TestProjectCdkJSON(t *testing.T) {
	root, err := projectRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		t.Fatalf("read cdk.json: %v", err)
	}
	var doc struct {
		App     string                 `json:"app"`
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse cdk.json: %v", err)
	}
	if doc.App != "go run ./infra" {
		t.Errorf("app = %q, want %q", doc.App, "go run ./infra")
	}
	for k := range doc.Context {
		if !strings.HasPrefix(k, "@aws-cdk") && !slices.Contains(settingKeys, k) {
			t.Errorf("context key %q is neither a feature flag nor a setting (lookups do not belong in cdk.json)", k)
		}
	}
	// The defaults it writes out are the topology's: the deployment is the local stack.
	set, err := parseSettings(topology.Default(), func(k string) interface{} { return doc.Context[k] })
	if err != nil {
		t.Fatalf("cdk.json settings: %v", err)
	}
	if got := set.apply(topology.Default()); !reflect.DeepEqual(got, topology.Default()) {
		t.Errorf("cdk.json's settings change the topology the local stack runs:\n%+v\nwant\n%+v", got, topology.Default())
	}
}

// --- template helpers --------------------------------------------------------------------------

type template map[string]interface{}

type resource map[string]interface{}

func (r resource) props() map[string]interface{} {
	p, _ := r["Properties"].(map[string]interface{})
	return p
}

func (tm template) resources() map[string]interface{} {
	rs, _ := tm["Resources"].(map[string]interface{})
	return rs
}

func (tm template) resource(t *testing.T, id string) resource {
	t.Helper()
	r, ok := tm.resources()[id].(map[string]interface{})
	if !ok {
		t.Fatalf("no resource %q in template", id)
	}
	return r
}

func (tm template) ofType(typ string) map[string]resource {
	out := map[string]resource{}
	for id, v := range tm.resources() {
		if r, ok := v.(map[string]interface{}); ok && r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// target follows a reference (Ref, Fn::GetAtt, or a cross-stack Fn::GetStackOutput /
// Fn::ImportValue into the stateful stack) to the logical id it names; "" if v is no reference.
func (tm template) target(v interface{}) string {
	m, ok := v.(map[string]interface{})
	if !ok {
		return ""
	}
	if id, ok := m["Ref"].(string); ok {
		return id
	}
	if ga, ok := m["Fn::GetAtt"].([]interface{}); ok && len(ga) > 0 {
		return fmt.Sprint(ga[0])
	}
	outputs, _ := synth.stateJ["Outputs"].(map[string]interface{})
	if gso, ok := m["Fn::GetStackOutput"].(map[string]interface{}); ok {
		out, _ := outputs[fmt.Sprint(gso["OutputName"])].(map[string]interface{})
		return synth.stateJ.target(out["Value"])
	}
	if name, ok := m["Fn::ImportValue"].(string); ok {
		for _, o := range outputs {
			out, _ := o.(map[string]interface{})
			if dig(out, "Export", "Name") == name {
				return synth.stateJ.target(out["Value"])
			}
		}
	}
	return ""
}

// objectsOf is the bucket whose objects a resource names ("<bucket ARN>/*"), "" for anything else:
// a bucket's grants cover it and its objects alike.
func (tm template) objectsOf(v interface{}) string {
	parts, _ := dig(v, "Fn::Join", 1).([]interface{})
	if len(parts) == 2 && parts[1] == "/*" {
		return tm.target(parts[0])
	}
	return ""
}

// roleActions is, for the role of a function, the IAM actions it is allowed on each resource
// (by logical id in the stateful stack).
func (tm template) roleActions(t *testing.T, functionID string) map[string]map[string]bool {
	t.Helper()
	role := tm.target(tm.resource(t, functionID).props()["Role"])
	out := map[string]map[string]bool{}
	for _, p := range tm.ofType("AWS::IAM::Policy") {
		roles, _ := p.props()["Roles"].([]interface{})
		if len(roles) == 0 || tm.target(roles[0]) != role {
			continue
		}
		statements, _ := dig(p.props(), "PolicyDocument", "Statement").([]interface{})
		for _, s := range statements {
			st, _ := s.(map[string]interface{})
			var actions []string
			switch a := st["Action"].(type) {
			case string:
				actions = []string{a}
			case []interface{}:
				for _, x := range a {
					actions = append(actions, fmt.Sprint(x))
				}
			}
			resources, ok := st["Resource"].([]interface{})
			if !ok {
				resources = []interface{}{st["Resource"]}
			}
			for _, r := range resources {
				id := tm.target(r)
				if id == "" {
					id = tm.indexesOf(r)
				}
				if id == "" {
					id = tm.objectsOf(r)
				}
				if id == "" {
					id = fmt.Sprint(r)
				}
				if out[id] == nil {
					out[id] = map[string]bool{}
				}
				for _, a := range actions {
					out[id][a] = true
				}
			}
		}
	}
	return out
}

// indexesOf names the indexes of a table, written {"Fn::Join": ["", [<table arn>, "/index/*"]]}, as
// "<table logical id>/index/*"; "" if v is something else.
func (tm template) indexesOf(v interface{}) string {
	parts, _ := dig(v, "Fn::Join", 1).([]interface{})
	if len(parts) != 2 || parts[1] != "/index/*" || tm.target(parts[0]) == "" {
		return ""
	}
	return tm.target(parts[0]) + "/index/*"
}

// dig walks nested maps (string keys) and slices (int keys); nil when the path is absent.
func dig(v interface{}, path ...interface{}) interface{} {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]interface{})
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]interface{})
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// cdk-nag's AwsSolutions rules run on every synthesis; every finding is fixed or suppressed with
// its reason (infra/nag.go), so none is left as an error.
func TestNagFindsNoUnsuppressedError(t *testing.T) {
	for _, st := range []awscdk.Stack{synth.stacks.State.Stack, synth.stacks.Service.Stack, synth.options.State.Stack, synth.options.Service.Stack} {
		errs := assertions.Annotations_FromStack(st).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, e := range *errs {
			t.Errorf("%s %s: %v", *st.StackName(), *e.Id, e.Entry.Data)
		}
		warnings := assertions.Annotations_FromStack(st).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, w := range *warnings {
			t.Logf("warning: %s %s: %v", *st.StackName(), *w.Id, w.Entry.Data)
		}
	}
}

// --- capacity, failures, review-grade resources, settings -------------------------------------

// With beaconFunctionUrl, collect has a public function URL without CORS of its own (collect answers
// preflights with each source's origins), and the tracker snippet points to it.
func TestBeaconFunctionURL(t *testing.T) {
	urls := synth.optServiceJ.ofType("AWS::Lambda::Url")
	if len(urls) != 1 {
		t.Fatalf("options: %d function URLs, want collect's", len(urls))
	}
	var urlID string
	for id, u := range urls {
		urlID = id
		p := u.props()
		if synth.optServiceJ.target(p["TargetFunctionArn"]) != logicalID(synth.options.Service.Stack, synth.options.Service.Functions["collect"]) {
			t.Errorf("function URL of %v, want collect", p["TargetFunctionArn"])
		}
		if p["AuthType"] != "NONE" || p["Cors"] != nil || (p["InvokeMode"] != nil && p["InvokeMode"] != "BUFFERED") {
			t.Errorf("function URL %v: want public, buffered, no CORS configuration", p)
		}
	}
	outputs := map[string]interface{}(synth.optServiceJ)
	beacon := dig(outputs, "Outputs", "BeaconUrl", "Value")
	if !strings.Contains(fmt.Sprint(beacon), urlID) || !strings.Contains(fmt.Sprint(beacon), "https://") {
		t.Errorf("BeaconUrl output %v, want https:// and the host of %s", beacon, urlID)
	}
	snippet := fmt.Sprint(dig(outputs, "Outputs", "TrackerSnippet", "Value"))
	for api := range synth.optServiceJ.ofType("AWS::ApiGatewayV2::Api") {
		if !strings.Contains(snippet, urlID) || !strings.Contains(snippet, `"https://`) || strings.Contains(snippet, api) {
			t.Errorf("options: tracker snippet %v, want it on the function URL's host, not the API %s", snippet, api)
		}
	}
	perms := 0
	for _, r := range synth.optServiceJ.ofType("AWS::Lambda::Permission") {
		if p := r.props(); p["FunctionUrlAuthType"] == "NONE" && p["Principal"] == "*" {
			perms++
		}
	}
	if perms == 0 {
		t.Errorf("options: no permission lets anyone invoke collect's function URL")
	}
}

// With tableMaxReadCapacity and tableMaxWriteCapacity, every table's and index's read and write
// capacity scales between the least and the most given, tracking 70 % utilisation.
func TestProvisionedTablesScaleWithTheLoad(t *testing.T) {
	if n := len(synth.stateJ.ofType("AWS::ApplicationAutoScaling::ScalableTarget")); n != 0 {
		t.Errorf("on-demand tables: %d scalable targets, want none", n)
	}
	indexes := 0
	for _, tb := range synth.topo.Tables {
		indexes += len(tb.Indexes)
	}
	targets := synth.optStateJ.ofType("AWS::ApplicationAutoScaling::ScalableTarget")
	if want := 2 * (len(synth.topo.Tables) + indexes); len(targets) != want {
		t.Errorf("options: %d scalable targets, want %d (read and write of every table and index)", len(targets), want)
	}
	for id, r := range targets {
		p := r.props()
		want := map[string][2]float64{"dynamodb:table:ReadCapacityUnits": {5, 50}, "dynamodb:table:WriteCapacityUnits": {5, 100},
			"dynamodb:index:ReadCapacityUnits": {5, 50}, "dynamodb:index:WriteCapacityUnits": {5, 100}}[fmt.Sprint(p["ScalableDimension"])]
		if p["MinCapacity"] != want[0] || p["MaxCapacity"] != want[1] {
			t.Errorf("options: %s scales %v from %v to %v, want %v", id, p["ScalableDimension"], p["MinCapacity"], p["MaxCapacity"], want)
		}
	}
	policies := synth.optStateJ.ofType("AWS::ApplicationAutoScaling::ScalingPolicy")
	if len(policies) != len(targets) {
		t.Errorf("options: %d scaling policies for %d targets", len(policies), len(targets))
	}
	for id, r := range policies {
		p := r.props()
		if p["PolicyType"] != "TargetTrackingScaling" || dig(p, "TargetTrackingScalingPolicyConfiguration", "TargetValue") != float64(70) {
			t.Errorf("options: policy %s %v, want target tracking at 70 %%", id, p)
		}
	}
}

// The app deploys the topology the local stack runs (scripts/devstack reads topology.Default()):
// the same functions, routes, mappings, schedules and settings, with the project's cdk.json.
func TestTheDeployedTopologyIsTheLocalOne(t *testing.T) {
	if !reflect.DeepEqual(synth.stacks.Topology, topology.Default()) {
		t.Errorf("the app deploys\n%+v\nthe local stack runs\n%+v", synth.stacks.Topology, topology.Default())
	}
	// And the options change only what they say.
	opt := synth.options.Topology
	if got := eventStream(opt); got.Shards != 4 || got.Retention != 7*24*time.Hour {
		t.Errorf("options: stream %+v, want 4 shards kept 7 days", got)
	}
	for _, f := range opt.Functions {
		if f.ReservedConcurrency != 0 {
			t.Errorf("options: %s reserves %d, want none (reservedConcurrency false)", f.Name, f.ReservedConcurrency)
		}
	}
	for _, sc := range opt.Schedules {
		want := map[string]time.Duration{topology.ScoreSchedule: 2 * time.Hour, topology.FitSchedule: 24 * time.Hour, topology.TriggersSchedule: 5 * time.Minute,
			topology.SnapshotSchedule: 24 * time.Hour, topology.ArchiveErasureSchedule: 24 * time.Hour, topology.ReportsSchedule: 24 * time.Hour}[sc.Name]
		if sc.Every != want {
			t.Errorf("options: schedule %s every %s, want %s", sc.Name, sc.Every, want)
		}
	}
	if *synth.options.State.StackName() != "DcrmState-staging" || *synth.options.Service.StackName() != "DcrmService-staging" {
		t.Errorf("options: stacks %s, %s; want the stage in their names", *synth.options.State.StackName(), *synth.options.Service.StackName())
	}
}

func TestStreamIsOnDemandAndKeptAWeek(t *testing.T) {
	props := synth.stateJ.resource(t, synth.streamID[topology.EventStream]).props()
	if dig(props, "StreamModeDetails", "StreamMode") != "ON_DEMAND" || props["ShardCount"] != nil {
		t.Errorf("stream: mode %v, shards %v; want ON_DEMAND without shards", dig(props, "StreamModeDetails", "StreamMode"), props["ShardCount"])
	}
	if props["RetentionPeriodHours"] != float64(168) {
		t.Errorf("stream: retention %v hours, want 168", props["RetentionPeriodHours"])
	}
	for _, r := range synth.optStateJ.ofType("AWS::Kinesis::Stream") {
		p := r.props()
		if dig(p, "StreamModeDetails", "StreamMode") != "PROVISIONED" || p["ShardCount"] != float64(4) {
			t.Errorf("options: stream %v, want PROVISIONED with 4 shards", p)
		}
		if dig(p, "StreamEncryption", "EncryptionType") != "KMS" || synth.optStateJ.target(dig(p, "StreamEncryption", "KeyId")) != dataKeyID(t) {
			t.Errorf("options: stream encryption %v, want the data key", p["StreamEncryption"])
		}
	}
}

func dataKeyID(t *testing.T) string {
	t.Helper()
	if synth.options.State.Key == nil {
		t.Fatal("options: no customer-managed key")
	}
	return logicalID(synth.options.State.Stack, synth.options.State.Key)
}

func TestTablesAreProtectedAndEncrypted(t *testing.T) {
	for id, r := range synth.stateJ.ofType("AWS::DynamoDB::Table") {
		p := r.props()
		if p["DeletionProtectionEnabled"] != true {
			t.Errorf("table %s: no deletion protection", id)
		}
		if dig(p, "SSESpecification", "SSEEnabled") != true || dig(p, "SSESpecification", "KMSMasterKeyId") != nil {
			t.Errorf("table %s: encryption %v, want the AWS-managed key", id, p["SSESpecification"])
		}
	}
	key := dataKeyID(t)
	for id, r := range synth.optStateJ.ofType("AWS::DynamoDB::Table") {
		p := r.props()
		if synth.optStateJ.target(dig(p, "SSESpecification", "KMSMasterKeyId")) != key {
			t.Errorf("options: table %s encryption %v, want the data key", id, p["SSESpecification"])
		}
		if (p["BillingMode"] != nil && p["BillingMode"] != "PROVISIONED") || dig(p, "ProvisionedThroughput", "ReadCapacityUnits") != float64(5) {
			t.Errorf("options: table %s billing %v %v, want 5 provisioned units", id, p["BillingMode"], p["ProvisionedThroughput"])
		}
		indexes, _ := dig(p, "GlobalSecondaryIndexes").([]interface{})
		for _, g := range indexes {
			if dig(g, "ProvisionedThroughput", "WriteCapacityUnits") != float64(5) {
				t.Errorf("options: table %s index %v without provisioned units", id, dig(g, "IndexName"))
			}
		}
	}
	for id, r := range synth.optStateJ.ofType("AWS::SQS::Queue") {
		if synth.optStateJ.target(r.props()["KmsMasterKeyId"]) != key {
			t.Errorf("options: queue %s not encrypted with the data key", id)
		}
	}
	for _, r := range synth.optStateJ.ofType("AWS::KMS::Key") {
		if r.props()["EnableKeyRotation"] != true || r["DeletionPolicy"] != "Retain" {
			t.Errorf("options: data key %v, want rotated and retained", r)
		}
	}
	for id, r := range synth.optServiceJ.ofType("AWS::Logs::LogGroup") {
		if r.props()["KmsKeyId"] == nil || r.props()["RetentionInDays"] != float64(90) {
			t.Errorf("options: log group %s: %v, want the data key and 90 days", id, r.props())
		}
	}
	// A function reading a table under the data key may decrypt with it.
	stitch := synth.optServiceJ.resource(t, logicalID(synth.options.Service.Stack, synth.options.Service.Functions["stitch"]))
	if !rolesMay(synth.optServiceJ, stitch, "kms:Decrypt") {
		t.Errorf("options: stitch may not decrypt with the data key")
	}
}

// rolesMay tells whether the role of a function has an action on any resource.
func rolesMay(tm template, fn resource, action string) bool {
	role := tm.target(fn.props()["Role"])
	for _, p := range tm.ofType("AWS::IAM::Policy") {
		roles, _ := p.props()["Roles"].([]interface{})
		if len(roles) == 0 || tm.target(roles[0]) != role {
			continue
		}
		if strings.Contains(fmt.Sprint(dig(p.props(), "PolicyDocument")), action) {
			return true
		}
	}
	return false
}

func TestFunctionsAreTracedLoggedInJSONAndReserved(t *testing.T) {
	for _, f := range synth.topo.Functions {
		fn := synth.serviceJ.resource(t, synth.functionID[f.Name])
		p := fn.props()
		if dig(p, "TracingConfig", "Mode") != "Active" {
			t.Errorf("function %s: tracing %v, want Active", f.Name, p["TracingConfig"])
		}
		if dig(p, "LoggingConfig", "LogFormat") != "JSON" {
			t.Errorf("function %s: log format %v, want JSON", f.Name, dig(p, "LoggingConfig", "LogFormat"))
		}
		logs := synth.serviceJ.resource(t, synth.serviceJ.target(dig(p, "LoggingConfig", "LogGroup")))
		if logs.props()["RetentionInDays"] != float64(30) {
			t.Errorf("function %s: logs kept %v days, want 30", f.Name, logs.props()["RetentionInDays"])
		}
		if got, want := p["ReservedConcurrentExecutions"], f.ReservedConcurrency; (want == 0 && got != nil) || (want > 0 && got != float64(want)) {
			t.Errorf("function %s: reserved concurrency %v, want %d", f.Name, got, want)
		}
		role := synth.serviceJ.resource(t, synth.serviceJ.target(p["Role"]))
		if role.props()["ManagedPolicyArns"] != nil {
			t.Errorf("function %s: its role has managed policies %v; want only its grants", f.Name, role.props()["ManagedPolicyArns"])
		}
	}
	// Literal: collect, invoked per request, logs no START/END/REPORT lines; the others do.
	for _, f := range synth.topo.Functions {
		got := dig(synth.serviceJ.resource(t, synth.functionID[f.Name]).props(), "LoggingConfig", "SystemLogLevel")
		if want := map[string]interface{}{"collect": "WARN"}[f.Name]; got != want {
			t.Errorf("function %s: system log level %v, want %v", f.Name, got, want)
		}
	}
	// Literal: collect is capped, stitch and the profile API guaranteed.
	for name, want := range map[string]float64{"collect": 200, "stitch": 20, "profiles": 20} {
		if got := synth.serviceJ.resource(t, synth.functionID[name]).props()["ReservedConcurrentExecutions"]; got != want {
			t.Errorf("function %s: reserved concurrency %v, want %v", name, got, want)
		}
	}
	for id, r := range synth.optServiceJ.ofType("AWS::Lambda::Function") {
		if v, ok := r.props()["ReservedConcurrentExecutions"]; ok {
			t.Errorf("options: function %s reserves %v; reservedConcurrency false reserves none", id, v)
		}
	}
}

func TestAPIStageIsThrottledAndLogged(t *testing.T) {
	stages := synth.serviceJ.ofType("AWS::ApiGatewayV2::Stage")
	if len(stages) != 1 {
		t.Fatalf("%d stages, want the default one", len(stages))
	}
	for _, st := range stages {
		p := st.props()
		if p["StageName"] != "$default" || dig(p, "DefaultRouteSettings", "ThrottlingRateLimit") != float64(1000) ||
			dig(p, "DefaultRouteSettings", "ThrottlingBurstLimit") != float64(2000) {
			t.Errorf("stage %v: want $default throttled at 1000/s, bursts of 2000", p)
		}
		logs := synth.serviceJ.resource(t, synth.serviceJ.target(dig(p, "AccessLogSettings", "DestinationArn")))
		if logs["Type"] != "AWS::Logs::LogGroup" || logs.props()["RetentionInDays"] != float64(30) {
			t.Errorf("access logs go to %v, want a log group kept 30 days", logs)
		}
		var format map[string]string
		if err := json.Unmarshal([]byte(fmt.Sprint(dig(p, "AccessLogSettings", "Format"))), &format); err != nil {
			t.Fatalf("access log format is not JSON: %v", err)
		}
		if format["requestId"] != "$context.requestId" || format["route"] != "$context.routeKey" || format["status"] != "$context.status" {
			t.Errorf("access log format %v lacks the request id, route or status", format)
		}
		// The local host meters the bytes of this line per request (scripts/devstack/usage).
		if keys := slices.Sorted(maps.Keys(format)); !slices.Equal(keys, usage.AccessLogKeys) {
			t.Errorf("access log fields %v, the local meter counts %v", keys, usage.AccessLogKeys)
		}
		for _, v := range format {
			for _, personal := range []string{"sourceIp", "userAgent", "path", "identity"} {
				if strings.Contains(v, personal) {
					t.Errorf("access log format logs %s (%s): personal data or keys", personal, v)
				}
			}
		}
	}
	for _, st := range synth.optServiceJ.ofType("AWS::ApiGatewayV2::Stage") {
		if got := dig(st.props(), "DefaultRouteSettings", "ThrottlingRateLimit"); got != float64(50) {
			t.Errorf("options: throttled at %v/s, want 50", got)
		}
	}
	for _, m := range synth.optServiceJ.ofType("AWS::Lambda::EventSourceMapping") {
		if p := m.props(); p["BatchSize"] != float64(1000) || p["MaximumBatchingWindowInSeconds"] != float64(10) {
			t.Errorf("options: stitch's batch %v records / %v s, want 1000 / 10", p["BatchSize"], p["MaximumBatchingWindowInSeconds"])
		}
	}
	check(t, "options: custom domain", func() {
		synth.optService.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::DomainName"), obj(map[string]interface{}{
			"DomainName": "collect.example.com",
		}))
		synth.optService.ResourceCountIs(jsii.String("AWS::ApiGatewayV2::ApiMapping"), jsii.Number(1))
		synth.optService.HasOutput(jsii.String("ApiDomainTarget"), obj(map[string]interface{}{}))
	})
	// The tracker snippet output is the snippet of the collect README, on the API's URL.
	outputs := map[string]interface{}(synth.serviceJ)
	parts, _ := dig(outputs, "Outputs", "TrackerSnippet", "Value", "Fn::Join", 1).([]interface{})
	api := dig(outputs, "Outputs", "ApiUrl", "Value")
	if len(parts) != 3 || !reflect.DeepEqual(parts[1], api) {
		t.Fatalf("tracker snippet output %v, want the snippet around the API URL %v", parts, api)
	}
	if urls := synth.serviceJ.ofType("AWS::Lambda::Url"); len(urls) != 0 {
		t.Errorf("function URLs %v without beaconFunctionUrl", urls)
	}
	readme, err := os.ReadFile(filepath.Join("..", "functions", "collect", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const example = "https://collect.example.com"
	if snippet := fmt.Sprint(parts[0]) + example + fmt.Sprint(parts[2]); !strings.Contains(string(readme), "```html\n"+snippet+"\n```") {
		t.Errorf("tracker snippet output\n%s\nis not the snippet of functions/collect/README.md", snippet)
	}
}

func TestSchedulesRetryAndKeepWhatTheyGiveUp(t *testing.T) {
	for _, r := range synth.serviceJ.ofType("AWS::Scheduler::Schedule") {
		var event map[string]interface{}
		_ = json.Unmarshal([]byte(fmt.Sprint(dig(r.props(), "Target", "Input"))), &event)
		var sc topology.Schedule
		for _, x := range synth.topo.Schedules {
			if x.Name == event["schedule"] {
				sc = x
			}
		}
		if sc.Name == "" {
			t.Errorf("schedule with input %v is not in the topology", event)
			continue
		}
		if got := dig(r.props(), "Target", "RetryPolicy", "MaximumRetryAttempts"); got != float64(sc.RetryAttempts) {
			t.Errorf("schedule %s: %v retries, want %d", sc.Name, got, sc.RetryAttempts)
		}
		if got := synth.serviceJ.target(dig(r.props(), "Target", "DeadLetterConfig", "Arn")); got != synth.queueID[sc.DeadLetterQueue] {
			t.Errorf("schedule %s: dead-letter queue %q, want %s", sc.Name, got, sc.DeadLetterQueue)
		}
	}
	// Least privilege: a schedule's role invokes its function (and its versions) and sends to its
	// dead-letter queue, nothing else.
	for _, r := range synth.serviceJ.ofType("AWS::Scheduler::Schedule") {
		role := synth.serviceJ.target(dig(r.props(), "Target", "RoleArn"))
		fn := synth.serviceJ.target(dig(r.props(), "Target", "Arn"))
		for _, p := range synth.serviceJ.ofType("AWS::IAM::Policy") {
			roles, _ := p.props()["Roles"].([]interface{})
			if len(roles) == 0 || synth.serviceJ.target(roles[0]) != role {
				continue
			}
			statements, _ := dig(p.props(), "PolicyDocument", "Statement").([]interface{})
			for _, st := range statements {
				action, resource := fmt.Sprint(dig(st, "Action")), dig(st, "Resource")
				switch action {
				case "lambda:InvokeFunction":
					resources, _ := resource.([]interface{})
					for _, r := range resources {
						id := synth.serviceJ.target(r) // the function, or {"Fn::Join": ["", [<function ARN>, ":*"]]}
						if id == "" {
							id = synth.serviceJ.target(dig(r, "Fn::Join", 1, 0))
						}
						if id != fn {
							t.Errorf("schedule role %s may invoke %v, want only %s", role, r, fn)
						}
					}
				case "sqs:SendMessage":
					if synth.serviceJ.target(resource) != synth.queueID[topology.FailedRunQueue] {
						t.Errorf("schedule role %s may send to %v, want only FailedRuns", role, resource)
					}
				default:
					t.Errorf("schedule role %s may %s on %v", role, action, resource)
				}
			}
		}
	}
	if sc := synth.topo.Schedules[0]; sc.DeadLetterQueue != topology.FailedRunQueue || sc.RetryAttempts < 1 {
		t.Errorf("schedule %s: %+v, want retries and the FailedRuns queue", sc.Name, sc)
	}
	// With the data key, a schedule's role may encrypt what it puts on its dead-letter queue.
	for id, r := range synth.optServiceJ.ofType("AWS::Scheduler::Schedule") {
		role := synth.optServiceJ.target(dig(r.props(), "Target", "RoleArn"))
		found := false
		for _, p := range synth.optServiceJ.ofType("AWS::IAM::Policy") {
			roles, _ := p.props()["Roles"].([]interface{})
			if len(roles) > 0 && synth.optServiceJ.target(roles[0]) == role && strings.Contains(fmt.Sprint(p.props()), "kms:GenerateDataKey") {
				found = true
			}
		}
		if !found {
			t.Errorf("options: schedule %s cannot use the data key of its dead-letter queue", id)
		}
	}
	check(t, "options: score every 2 hours", func() {
		synth.optService.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), obj(map[string]interface{}{
			"ScheduleExpression": "rate(2 hours)",
		}))
	})
}

// Every alarm notifies the alarm topic, which is encrypted, refuses plain HTTP, lets CloudWatch
// publish, and mails the address of the context when there is one.
func TestEveryAlarmNotifiesAnEncryptedTopic(t *testing.T) {
	topics := synth.serviceJ.ofType("AWS::SNS::Topic")
	if len(topics) != 1 {
		t.Fatalf("%d topics, want the alarm topic", len(topics))
	}
	var topicID string
	for id, r := range topics {
		topicID = id
		key := synth.serviceJ.resource(t, synth.serviceJ.target(r.props()["KmsMasterKeyId"]))
		if key["Type"] != "AWS::KMS::Key" || key.props()["EnableKeyRotation"] != true {
			t.Errorf("alarm topic key %v, want a rotated customer-managed key", key)
		}
		if !strings.Contains(fmt.Sprint(dig(key.props(), "KeyPolicy")), "cloudwatch.amazonaws.com") {
			t.Errorf("CloudWatch may not use the alarm topic's key")
		}
	}
	policy := ""
	for _, p := range synth.serviceJ.ofType("AWS::SNS::TopicPolicy") {
		policy += fmt.Sprint(p.props())
	}
	if !strings.Contains(policy, "aws:SecureTransport") || !strings.Contains(policy, "cloudwatch.amazonaws.com") {
		t.Errorf("alarm topic policy %s: want TLS enforced and CloudWatch let publish", policy)
	}
	alarms := synth.serviceJ.ofType("AWS::CloudWatch::Alarm")
	for id, a := range alarms {
		actions, _ := a.props()["AlarmActions"].([]interface{})
		if len(actions) != 1 || synth.serviceJ.target(actions[0]) != topicID {
			t.Errorf("alarm %s: actions %v, want the alarm topic", id, actions)
		}
	}
	has := func(metric string) int {
		n := 0
		for _, a := range alarms {
			if strings.Contains(fmt.Sprint(a.props()), "MetricName:"+metric+" ") || a.props()["MetricName"] == metric {
				n++
			}
		}
		return n
	}
	n := len(synth.topo.Functions)
	for metric, want := range map[string]int{"Errors": n, "Throttles": n, "5xx": 1, "IteratorAge": len(synth.topo.Mappings),
		"ReadThrottleEvents": len(synth.topo.Tables), "WriteThrottleEvents": len(synth.topo.Tables)} {
		if got := has(metric); got != want {
			t.Errorf("%d alarms on %s, want %d", got, metric, want)
		}
	}
	// Every dead-letter queue, FailedEvents and FailedRuns.
	depth := map[string]bool{}
	for _, a := range alarms {
		if a.props()["MetricName"] == "ApproximateNumberOfMessagesVisible" {
			depth[synth.serviceJ.target(dig(a.props(), "Dimensions", 0, "Value"))] = true
		}
	}
	for _, id := range []string{synth.queueID[topology.FailedQueue], synth.queueID[topology.FailedRunQueue]} {
		if !depth[id] {
			t.Errorf("no depth alarm on %s", id)
		}
	}
	for name, id := range synth.deadLetterID {
		if !depth[id] {
			t.Errorf("no depth alarm on the dead-letter queue of %s", name)
		}
	}
	if _, ok := synth.deadLetterID[topology.FailedQueue]; !ok {
		t.Errorf("FailedEvents has no dead-letter queue")
	}
	check(t, "no subscription without alarmEmail", func() {
		synth.service.ResourceCountIs(jsii.String("AWS::SNS::Subscription"), jsii.Number(0))
	})
	check(t, "options: e-mail subscription", func() {
		synth.optService.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), obj(map[string]interface{}{
			"Protocol": "email", "Endpoint": "ops@example.com",
		}))
	})
	check(t, "dashboard", func() {
		synth.service.ResourceCountIs(jsii.String("AWS::CloudWatch::Dashboard"), jsii.Number(1))
	})
}

func TestParseSettings(t *testing.T) {
	top := topology.Default()
	tests := []struct {
		name    string
		context map[string]interface{}
		want    string // in the error; "" means valid
	}{
		{"none", nil, ""},
		{"cli strings", map[string]interface{}{"streamMode": "provisioned", "streamShards": "2", "customerManagedKeys": "true", "reservedConcurrency": `{"collect": 5}`}, ""},
		{"bad stage", map[string]interface{}{"stage": "Prod_1"}, "context stage"},
		{"domain without certificate", map[string]interface{}{"domainName": "x.example.com"}, "certificateArn go together"},
		{"retention", map[string]interface{}{"logRetentionDays": 31}, "logRetentionDays=31"},
		{"stream mode", map[string]interface{}{"streamMode": "FAST"}, "streamMode"},
		{"provisioned without shards", map[string]interface{}{"streamMode": "PROVISIONED"}, "1 to 500 shards"},
		{"shards on demand", map[string]interface{}{"streamShards": 3}, "only with streamMode PROVISIONED"},
		{"stream retention", map[string]interface{}{"streamRetentionHours": 12}, "24 to 8760 hours"},
		{"tables provisioned without capacity", map[string]interface{}{"tableBillingMode": "PROVISIONED"}, "tableReadCapacity"},
		{"capacity on demand", map[string]interface{}{"tableReadCapacity": 5}, "only with tableBillingMode PROVISIONED"},
		{"auto scaling on demand", map[string]interface{}{"tableMaxWriteCapacity": 5}, "only with tableBillingMode PROVISIONED"},
		{"auto scaling half set", map[string]interface{}{"tableBillingMode": "PROVISIONED", "tableReadCapacity": 1, "tableWriteCapacity": 1, "tableMaxReadCapacity": 9}, "go together"},
		{"auto scaling below the least", map[string]interface{}{"tableBillingMode": "PROVISIONED", "tableReadCapacity": 10, "tableWriteCapacity": 10, "tableMaxReadCapacity": 9, "tableMaxWriteCapacity": 20}, "want at least"},
		{"function url not a bool", map[string]interface{}{"beaconFunctionUrl": "sometimes"}, "true or false"},
		{"kms not a bool", map[string]interface{}{"customerManagedKeys": "yes please"}, "true or false"},
		{"throttle", map[string]interface{}{"apiThrottleBurst": 0}, "apiThrottleBurst=0"},
		{"fractional", map[string]interface{}{"apiThrottleRate": 1.5}, "a whole number"},
		{"email", map[string]interface{}{"alarmEmail": "ops at example"}, "not an e-mail address"},
		{"console admin email", map[string]interface{}{"consoleAdminEmail": "lead"}, "consoleAdminEmail"},
		{"reserved unknown", map[string]interface{}{"reservedConcurrency": map[string]interface{}{"nope": 1.0}}, `unknown function "nope"`},
		{"reserved negative", map[string]interface{}{"reservedConcurrency": map[string]interface{}{"collect": -1.0}}, "collect=-1"},
		{"reserved not an object", map[string]interface{}{"reservedConcurrency": 7.0}, "a JSON object"},
		{"schedule unknown", map[string]interface{}{"schedules": map[string]interface{}{"nightly": "24h"}}, `unknown schedule "nightly"`},
		{"schedule not a duration", map[string]interface{}{"schedules": map[string]interface{}{"score": "hourly"}}, "schedules.score"},
		{"schedule overlaps", map[string]interface{}{"schedules": map[string]interface{}{"triggers": "1m"}}, "runs would overlap"},
		{"schedule seconds", map[string]interface{}{"schedules": map[string]interface{}{"score": "90s"}}, "whole number of minutes"},
		{"stitch batch", map[string]interface{}{"stitchBatchSize": 20000}, "1 to 10000 records"},
		{"stitch window", map[string]interface{}{"stitchBatchWindowSeconds": 301}, "0 to 300 seconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseSettings(top, func(k string) interface{} { return tc.context[k] })
			if tc.want == "" {
				if err != nil {
					t.Fatalf("parseSettings: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("parseSettings = %+v, %v; want an ErrInvalidConfig mentioning %q", s, err, tc.want)
			}
		})
	}
	s, err := parseSettings(top, func(k string) interface{} {
		return map[string]interface{}{"streamMode": "provisioned", "streamShards": "2", "reservedConcurrency": `{"collect": 5, "stitch": 0}`}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	applied := s.apply(top)
	if st := eventStream(applied); st.Shards != 2 {
		t.Errorf("stream shards %d, want 2", st.Shards)
	}
	for _, f := range applied.Functions {
		want := map[string]int{"collect": 5, "profiles": 20}[f.Name]
		if f.ReservedConcurrency != want {
			t.Errorf("%s reserves %d, want %d", f.Name, f.ReservedConcurrency, want)
		}
	}
	if eventStream(top).Shards != 0 || top.Functions[0].ReservedConcurrency != 200 {
		t.Errorf("apply changed the topology it was given")
	}
}

// The archive feed: a Direct PUT delivery stream into the archive bucket's incoming/ prefix under
// the UTC hour (the layout the local stand-in writes), gzipped, with the topology's buffer, its
// buffer encrypted (the data key with the option), failures under the error prefix.
func TestTheArchiveFeedDeliversToTheArchiveBucket(t *testing.T) {
	d := synth.topo.DeliveryStreams[0]
	props := synth.stateJ.resource(t, synth.deliveryStreamID[topology.ArchiveFeed]).props()
	s3, _ := props["ExtendedS3DestinationConfiguration"].(map[string]interface{})
	if props["DeliveryStreamType"] != "DirectPut" {
		t.Errorf("feed: type %v, want DirectPut", props["DeliveryStreamType"])
	}
	if synth.stateJ.target(s3["BucketARN"]) != synth.bucketID[d.Bucket] {
		t.Errorf("feed: into %v, want the %s bucket", s3["BucketARN"], d.Bucket)
	}
	if s3["Prefix"] != d.Prefix+"!{timestamp:yyyy/MM/dd/HH}/" || s3["CompressionFormat"] != "GZIP" ||
		!strings.HasPrefix(fmt.Sprint(s3["ErrorOutputPrefix"]), d.ErrorPrefix) {
		t.Errorf("feed: prefix %v, error prefix %v, compression %v", s3["Prefix"], s3["ErrorOutputPrefix"], s3["CompressionFormat"])
	}
	if dig(s3, "BufferingHints", "IntervalInSeconds") != d.BufferInterval.Seconds() || dig(s3, "BufferingHints", "SizeInMBs") != float64(d.BufferBytes>>20) {
		t.Errorf("feed: buffer %v, want %v and %d MiB", s3["BufferingHints"], d.BufferInterval, d.BufferBytes>>20)
	}
	if dig(props, "DeliveryStreamEncryptionConfigurationInput", "KeyType") != "AWS_OWNED_CMK" {
		t.Errorf("feed: encryption %v, want a key AWS owns", props["DeliveryStreamEncryptionConfigurationInput"])
	}
	for _, r := range synth.optStateJ.ofType("AWS::KinesisFirehose::DeliveryStream") {
		enc, _ := r.props()["DeliveryStreamEncryptionConfigurationInput"].(map[string]interface{})
		if enc["KeyType"] != "CUSTOMER_MANAGED_CMK" || synth.optStateJ.target(enc["KeyARN"]) != dataKeyID(t) {
			t.Errorf("options: feed encryption %v, want the data key", enc)
		}
	}
}
