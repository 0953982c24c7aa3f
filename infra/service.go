package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3notifications"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsschedulertargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

// serviceStack holds what can be replaced at will: the functions and everything that calls them.
type serviceStack struct {
	awscdk.Stack
	Functions map[string]awslambda.Function // by topology name
	API       awsapigatewayv2.HttpApi
	// AccessLogs holds the HTTP API's access log, one JSON object per request.
	AccessLogs awslogs.LogGroup
	// AlarmTopic receives every alarm; an e-mail address from the context is subscribed to it.
	AlarmTopic awssns.Topic
}

// Alarm thresholds.
const (
	iteratorAgeAlarm = 5 * time.Minute // a stream mapping this far behind needs a person
	alarmPeriod      = 5 * time.Minute
)

func newServiceStack(scope constructs.Construct, id string, cfg config, state *stateStack) *serviceStack {
	t, set := cfg.Topology, cfg.Settings
	s := &serviceStack{
		Stack: awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
			Description: jsii.String("dcrm service: functions, HTTP API, stream mapping, bucket notifications, schedules, alarms"),
			Tags:        tags(set),
		}),
		Functions: map[string]awslambda.Function{},
	}

	for _, f := range t.Functions {
		s.Functions[f.Name] = newFunction(s.Stack, t, f, cfg, state)
		// dcrm schedule run finds the function by this variable, as on the local stack.
		output(s.Stack, constructID(f.Name)+"FunctionName", "DCRM_FUNCTION_"+strings.ToUpper(f.Name), s.Functions[f.Name].FunctionName())
		if f.FanOut {
			allowFanOut(s.Stack, f.Name, s.Functions[f.Name])
		}
		if f.Async != nil {
			configureAsync(f, s.Functions[f.Name], state)
		}
	}

	s.newAPI(t, set, state)
	beacon := s.API.ApiEndpoint()
	if set.BeaconFunctionURL {
		beacon = s.newBeaconURL()
	}
	awscdk.NewCfnOutput(s.Stack, jsii.String("TrackerSnippet"), &awscdk.CfnOutputProps{
		Value:       trackerSnippet(beacon),
		Description: jsii.String("the tracker snippet for a site's pages: put a source's write key (dcrm source add) for YOUR_WRITE_KEY"),
	})

	for _, m := range t.Mappings {
		addStreamMapping(m, s.Functions[m.Function], state)
	}
	s.addNotifications(t, state)
	for _, sc := range t.Schedules {
		addSchedule(s.Stack, sc, s.Functions[sc.Function], state)
	}
	s.AlarmTopic = newAlarmTopic(s.Stack, set)
	alarms := addAlarms(s.Stack, t, s.Functions, s.API, state)
	for _, a := range alarms {
		a.AddAlarmAction(awscloudwatchactions.NewSnsAction(s.AlarmTopic))
	}
	addDashboard(s.Stack, t, s.Functions, s.API, state, alarms)
	suppressServiceFindings(s)
	return s
}

// newAPI builds the HTTP API: every topology route, a throttled default stage with JSON access
// logs, and the custom domain when the deployment has one.
func (s *serviceStack) newAPI(t topology.Topology, set settings, state *stateStack) {
	s.API = awsapigatewayv2.NewHttpApi(s.Stack, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		Description:        jsii.String("dcrm beacon endpoint and profile API"),
		CreateDefaultStage: jsii.Bool(true),
	})
	integrations := map[string]awsapigatewayv2integrations.HttpLambdaIntegration{}
	for _, r := range t.Routes {
		integration, ok := integrations[r.Function]
		if !ok {
			integration = awsapigatewayv2integrations.NewHttpLambdaIntegration(
				jsii.String(constructID(r.Function)+"Integration"), s.Functions[r.Function],
				&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
					PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
				})
			integrations[r.Function] = integration
		}
		s.API.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: integration,
		})
	}

	// The default stage, throttled as a whole (a flood of one source cannot take more than the
	// stage allows) and logging each request without anything personal: the route template, never
	// the path (it may hold a profile id) or the query (a write key), and no address or user agent.
	s.AccessLogs = newLogGroup(s.Stack, "ApiAccessLogs", set, state)
	stage := s.API.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage)
	stage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingRateLimit:  jsii.Number(float64(set.APIThrottleRate)),
		ThrottlingBurstLimit: jsii.Number(float64(set.APIThrottleBurst)),
	})
	stage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: s.AccessLogs.LogGroupArn(),
		Format:         jsii.String(accessLogFormat),
	})

	awscdk.NewCfnOutput(s.Stack, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
		Value:       s.API.ApiEndpoint(),
		Description: jsii.String("DCRM_API_URL: base URL of the beacon endpoint and the profile API"),
	})

	if set.DomainName != "" {
		domain := awsapigatewayv2.NewDomainName(s.Stack, jsii.String("ApiDomain"), &awsapigatewayv2.DomainNameProps{
			DomainName:  jsii.String(set.DomainName),
			Certificate: awscertificatemanager.Certificate_FromCertificateArn(s.Stack, jsii.String("ApiCertificate"), jsii.String(set.CertificateARN)),
		})
		awsapigatewayv2.NewApiMapping(s.Stack, jsii.String("ApiDomainMapping"), &awsapigatewayv2.ApiMappingProps{
			Api: s.API, DomainName: domain, Stage: s.API.DefaultStage(),
		})
		awscdk.NewCfnOutput(s.Stack, jsii.String("ApiDomainTarget"), &awscdk.CfnOutputProps{
			Value:       domain.RegionalDomainName(),
			Description: jsii.String("the name a DNS record (CNAME or alias) for " + set.DomainName + " points to"),
		})
		awscdk.NewCfnOutput(s.Stack, jsii.String("ApiDomainUrl"), &awscdk.CfnOutputProps{
			Value:       jsii.String("https://" + set.DomainName),
			Description: jsii.String("DCRM_API_URL on the custom domain, once its DNS record is in place"),
		})
	}
}

// newBeaconURL gives collect a function URL of its own besides its HTTP API routes, and returns
// its base URL (without the trailing slash, as the API's). A request through it costs one Lambda
// invocation and no API Gateway request: for browser traffic, where a request carries a page's
// few events, that is most of the cost per event (BENCHMARKS.md). It is public (AuthType NONE) as
// the API's collection routes are: collect authorises every call by its write key and answers
// CORS itself, with each source's allowed origins, so the URL has no CORS configuration of its
// own. What it does not have: a custom domain (that needs CloudFront in front, billed per
// request again), the stage's throttling (collect's reserved concurrency caps it instead) and
// access logs (collect logs every refusal itself).
func (s *serviceStack) newBeaconURL() *string {
	url := s.Functions["collect"].AddFunctionUrl(&awslambda.FunctionUrlOptions{
		AuthType:   awslambda.FunctionUrlAuthType_NONE,
		InvokeMode: awslambda.InvokeMode_BUFFERED,
	})
	host := awscdk.Fn_Select(jsii.Number(2), awscdk.Fn_Split(jsii.String("/"), url.Url(), nil))
	base := awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("https://"), host})
	awscdk.NewCfnOutput(s.Stack, jsii.String("BeaconUrl"), &awscdk.CfnOutputProps{
		Value:       base,
		Description: jsii.String("collect's function URL: the beacon endpoint the tracker snippet uses (the collection routes of DCRM_API_URL, without API Gateway)"),
	})
	return base
}

// accessLogFormat is one JSON object per request: what happened, how long it took, nothing
// personal (no address, agent, path or query).
var accessLogFormat = func() string {
	b, _ := json.Marshal(map[string]string{
		"requestId":         "$context.requestId",
		"time":              "$context.requestTimeEpoch",
		"route":             "$context.routeKey",
		"status":            "$context.status",
		"protocol":          "$context.protocol",
		"responseLength":    "$context.responseLength",
		"latencyMs":         "$context.responseLatency",
		"integrationMs":     "$context.integrationLatency",
		"integrationStatus": "$context.integrationStatus",
		"integrationError":  "$context.integrationErrorMessage",
		"error":             "$context.error.message",
	})
	return string(b)
}()

// trackerSnippet is the tracker snippet of functions/collect/README.md with the API's URL filled
// in: what a site pastes into its pages, with a source's write key for YOUR_WRITE_KEY.
func trackerSnippet(apiURL *string) *string {
	before, after, _ := strings.Cut(trackerSnippetTemplate, apiURLPlaceholder)
	return awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String(before), apiURL, jsii.String(after)})
}

const apiURLPlaceholder = "{{API_URL}}"

// trackerSnippetTemplate is the snippet of functions/collect/README.md (a test holds them together).
const trackerSnippetTemplate = `<script>
!function(w,d,k,u){var a=w.dcrm=w.dcrm||[];if(a.loaded||a.stub)return;a.stub=1;
"config consent track page identify alias checkout reset cart.add cart.remove form.start form.submit".split(" ").forEach(function(m){
var p=m.split("."),o=p[1]?a[p[0]]=a[p[0]]||{}:a;o[p[1]||m]=function(){a.push([m].concat([].slice.call(arguments)))}});
var s=d.createElement("script");s.async=1;s.src=u+"/t.js";s.setAttribute("data-write-key",k);d.head.appendChild(s)
}(window,document,"YOUR_WRITE_KEY","{{API_URL}}");
</script>`

// newLogGroup is a log group kept as the deployment says, encrypted with the data key when there
// is one. Deleting the stack deletes it: logs hold no state.
func newLogGroup(stack awscdk.Stack, id string, set settings, state *stateStack) awslogs.LogGroup {
	props := &awslogs.LogGroupProps{
		Retention:     logRetentions[set.LogRetentionDays],
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	}
	if state.Key != nil {
		props.EncryptionKey = state.Key
	}
	return awslogs.NewLogGroup(stack, jsii.String(id), props)
}

// newFunction builds one Lambda from <functionsDir>/<name>/bootstrap, gives it the environment
// contract of the topology and the grants of its Uses, and nothing else: its role has no managed
// policy, only the grants, writing to its own log group and sending traces.
func newFunction(stack awscdk.Stack, t topology.Topology, f topology.Function, cfg config, state *stateStack) awslambda.Function {
	id := constructID(f.Name)
	env := map[string]*string{}
	for k, v := range f.Settings {
		env[k] = jsii.String(v)
		if ref := state.Console.authSetting(k); ref != nil {
			env[k] = ref // filled in by the deployment: the console's user pool
		}
	}
	for _, u := range f.Uses {
		env[t.EnvVar(u.Resource)] = resourceRef(t, u.Resource, state)
		if dlq, ok := state.DeadLetters[u.Resource]; ok && u.Access == topology.Attributes {
			env[t.DeadLetterEnvVar(u.Resource)] = dlq.QueueUrl()
		}
	}

	logs := newLogGroup(stack, id+"Logs", cfg.Settings, state)
	role := awsiam.NewRole(stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("dcrm function " + f.Name + ": the grants of its uses"),
	})
	logs.GrantWrite(role)
	props := &awslambda.FunctionProps{
		Description:   jsii.String("dcrm function " + f.Name),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(cfg.FunctionsDir, f.Name)), nil),
		MemorySize:    jsii.Number(float64(f.Memory)),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(f.Timeout.Seconds())),
		Environment:   &env,
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Tracing:       awslambda.Tracing_ACTIVE,
	}
	if f.SystemLogLevel != "" {
		props.SystemLogLevelV2 = awslambda.SystemLogLevel(f.SystemLogLevel)
	}
	if f.ReservedConcurrency > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(float64(f.ReservedConcurrency))
	}
	fn := awslambda.NewFunction(stack, jsii.String(id+"Function"), props)
	for _, u := range f.Uses {
		grant(t, f, u, fn, state)
	}
	return fn
}

// allowFanOut lets a function invoke itself asynchronously (topology.Function.FanOut). The grant
// is a policy of its own: in the role's default policy, which the function depends on, it would
// name the function and make a circular dependency.
func allowFanOut(stack awscdk.Stack, name string, fn awslambda.Function) {
	awsiam.NewPolicy(stack, jsii.String(constructID(name)+"FanOutPolicy"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{fn.Role()},
		Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("lambda:InvokeFunction"),
			Resources: &[]*string{fn.FunctionArn()},
		})},
	})
}

// configureAsync sets how Lambda treats the function's asynchronous invocations: their age, their
// retries, and the queue that receives Lambda's record of one that failed or expired.
func configureAsync(f topology.Function, fn awslambda.Function, state *stateStack) {
	opts := &awslambda.EventInvokeConfigOptions{
		MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(f.Async.MaxAge.Seconds())),
		RetryAttempts: jsii.Number(float64(f.Async.Retries)),
	}
	if f.Async.OnFailureQueue != "" {
		opts.OnFailure = awslambdadestinations.NewSqsDestination(state.Queues[f.Async.OnFailureQueue])
	}
	fn.ConfigureAsyncInvoke(opts)
}

// resourceRef is what a function finds under EnvVar(resource): a table's, stream's, bucket's or
// delivery stream's name, a queue's URL, a secret's ARN.
func resourceRef(t topology.Topology, resource string, state *stateStack) *string {
	switch t.Kind(resource) {
	case "table":
		return state.Tables[resource].TableName()
	case "stream":
		return state.Streams[resource].StreamName()
	case "queue":
		return state.Queues[resource].QueueUrl()
	case "bucket":
		return state.Buckets[resource].BucketName()
	case "secret":
		return state.Secrets[resource].SecretArn()
	case "deliverystream":
		return state.DeliveryStreams[resource].DeliveryStreamName()
	}
	panic(fmt.Sprintf("infra: unknown resource %q", resource)) // validate rules this out
}

// DynamoDB actions by access. Scan is granted only on the tables a function declares it scans.
var (
	tableReadActions  = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"}
	tableWriteActions = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
)

// grant turns a Use into the construct library's grant for that kind of resource; for tables, the
// precise actions (table.Grant covers the table and its indexes) and the key's use when the table
// has a customer-managed key.
func grant(t topology.Topology, f topology.Function, u topology.Use, fn awslambda.Function, state *stateStack) {
	read := u.Access == topology.Read || u.Access == topology.ReadWrite
	write := u.Access == topology.Write || u.Access == topology.ReadWrite
	switch t.Kind(u.Resource) {
	case "table":
		var actions []string
		if read {
			actions = append(actions, tableReadActions...)
			if slices.Contains(f.Scans, u.Resource) {
				actions = append(actions, "dynamodb:Scan")
			}
		}
		if write {
			actions = append(actions, tableWriteActions...)
		}
		state.Tables[u.Resource].Grant(fn, *jsii.Strings(actions...)...)
		if state.Key != nil {
			if write {
				state.Key.GrantEncryptDecrypt(fn)
			} else {
				state.Key.GrantDecrypt(fn)
			}
		}
	case "stream":
		stream := state.Streams[u.Resource]
		switch {
		case read && write:
			stream.GrantReadWrite(fn)
		case read:
			stream.GrantRead(fn)
		case write:
			stream.GrantWrite(fn)
		}
	case "queue":
		queue := state.Queues[u.Resource]
		if u.Access == topology.Attributes {
			// the depths only (the console's health page): no message is sent or received
			queue.Grant(fn, jsii.String("sqs:GetQueueAttributes"))
			if dlq, ok := state.DeadLetters[u.Resource]; ok {
				dlq.Grant(fn, jsii.String("sqs:GetQueueAttributes"))
			}
			return
		}
		if read {
			queue.GrantConsumeMessages(fn)
		}
		if write {
			queue.GrantSendMessages(fn)
		}
	case "bucket":
		// The construct library's grants: objects and listing to read; put, abort and delete to
		// write; the key's use with them when the bucket has the data key.
		bucket := state.Buckets[u.Resource]
		switch {
		case read && write:
			bucket.GrantReadWrite(fn, nil)
		case read:
			bucket.GrantRead(fn, nil)
		case write:
			bucket.GrantWrite(fn, nil, nil)
		}
	case "secret":
		state.Secrets[u.Resource].GrantRead(fn, nil)
	case "deliverystream":
		if read {
			panic(fmt.Sprintf("infra: function %s reads delivery stream %s, which is write-only", f.Name, u.Resource))
		}
		state.DeliveryStreams[u.Resource].GrantPutRecords(fn)
	}
}

// addNotifications has each bucket invoke the functions of its notifications for the objects
// created under their prefixes (asynchronously: the function's Async decides the retries and
// where a failure is recorded). The notification configuration lives in this stack, on the bucket
// imported by reference: set on the bucket in the stateful stack it would name the functions, and
// the stacks would depend on each other. The construct library's destination grants S3 the
// invocation (a resource-based permission for this bucket and account only).
func (s *serviceStack) addNotifications(t topology.Topology, state *stateStack) {
	imported := map[string]awss3.IBucket{}
	for _, n := range t.Notifications {
		bucket, ok := imported[n.Bucket]
		if !ok {
			b := state.Buckets[n.Bucket]
			bucket = awss3.Bucket_FromBucketAttributes(s.Stack, jsii.String(n.Bucket+"BucketRef"), &awss3.BucketAttributes{
				BucketArn: b.BucketArn(), BucketName: b.BucketName(),
			})
			imported[n.Bucket] = bucket
		}
		filter := &awss3.NotificationKeyFilter{}
		if n.Prefix != "" {
			filter.Prefix = jsii.String(n.Prefix)
		}
		if n.Suffix != "" {
			filter.Suffix = jsii.String(n.Suffix)
		}
		bucket.AddEventNotification(awss3.EventType_OBJECT_CREATED, awss3notifications.NewLambdaDestination(s.Functions[n.Function]), filter)
	}
}

// addStreamMapping adds the Kinesis event source mapping: records from the trim horizon, one
// record failing only itself (partial batch response, bisect), exhausted records to a queue.
func addStreamMapping(m topology.StreamMapping, fn awslambda.Function, state *stateStack) {
	props := &awslambdaeventsources.KinesisEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BisectBatchOnError:      jsii.Bool(m.BisectOnError),
		ReportBatchItemFailures: jsii.Bool(m.ReportBatchItemFailures),
		RetryAttempts:           jsii.Number(float64(m.RetryAttempts)),
	}
	if m.BatchSize > 0 {
		props.BatchSize = jsii.Number(float64(m.BatchSize))
	}
	if m.MaxBatchingWindow > 0 {
		props.MaxBatchingWindow = awscdk.Duration_Seconds(jsii.Number(m.MaxBatchingWindow.Seconds()))
	}
	if m.OnFailureQueue != "" {
		props.OnFailure = awslambdaeventsources.NewSqsDlq(state.Queues[m.OnFailureQueue])
	}
	if m.MaxRecordAge > 0 {
		props.MaxRecordAge = awscdk.Duration_Seconds(jsii.Number(m.MaxRecordAge.Seconds()))
	}
	fn.AddEventSource(awslambdaeventsources.NewKinesisEventSource(state.Streams[m.Stream], props))
}

// addSchedule runs fn on the schedule's rate through EventBridge Scheduler. The function receives
// a schedule.Event: the schedule's name, and the run's scheduled time, which Scheduler fills in.
func addSchedule(stack awscdk.Stack, sc topology.Schedule, fn awslambda.Function, state *stateStack) {
	rate, err := rateExpression(sc.Every)
	if err != nil {
		panic(fmt.Sprintf("infra: schedule %s: %v", sc.Name, err)) // validate rules this out
	}
	maxAge := sc.Every
	if maxAge > 24*time.Hour {
		maxAge = 24 * time.Hour
	}
	target := &awsschedulertargets.ScheduleTargetBaseProps{
		Input:         awsscheduler.ScheduleTargetInput_FromObject(schedule.Input(sc.Name, *awsscheduler.ContextAttribute_ScheduledTime())),
		MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(maxAge.Seconds())),
		RetryAttempts: jsii.Number(float64(sc.RetryAttempts)),
	}
	if sc.DeadLetterQueue != "" {
		target.DeadLetterQueue = state.Queues[sc.DeadLetterQueue]
		// The targets construct lets the schedule's role send to the queue but not use its key.
		if state.Key != nil {
			role := awsiam.NewRole(stack, jsii.String(constructID(sc.Name)+"ScheduleRole"), &awsiam.RoleProps{
				AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
					Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"aws:SourceAccount": *awscdk.Aws_ACCOUNT_ID()}},
				}),
				Description: jsii.String("dcrm schedule " + sc.Name + ": invokes its function, keeps a run it gave up on"),
			})
			role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
				Resources: &[]*string{state.Key.KeyArn()},
			}))
			target.Role = role
		}
	}
	awsscheduler.NewSchedule(stack, jsii.String(constructID(sc.Name)+"Schedule"), &awsscheduler.ScheduleProps{
		Description: jsii.String(fmt.Sprintf("dcrm schedule %s: runs %s %s", sc.Name, sc.Function, rate)),
		Schedule:    awsscheduler.ScheduleExpression_Expression(jsii.String(rate), nil),
		Target:      awsschedulertargets.NewLambdaInvoke(fn, target),
	})
}

// newAlarmTopic is the topic every alarm notifies. Its key is its own: CloudWatch can publish to a
// topic only under a key whose policy lets it, which the AWS-managed aws/sns key does not.
func newAlarmTopic(stack awscdk.Stack, set settings) awssns.Topic {
	key := awskms.NewKey(stack, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("dcrm alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY, // it encrypts notifications in flight only
	})
	cloudwatch := awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)
	key.Grant(cloudwatch, jsii.String("kms:Decrypt"), jsii.String("kms:GenerateDataKey*"))
	topic := awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("dcrm alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	// The topic's policy (which enforcing TLS creates) replaces SNS's default one: CloudWatch is let
	// publish the alarms of this account.
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsOfThisAccount"),
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]interface{}{
			"ArnLike":      map[string]interface{}{"aws:SourceArn": "arn:" + *awscdk.Aws_PARTITION() + ":cloudwatch:" + *awscdk.Aws_REGION() + ":" + *awscdk.Aws_ACCOUNT_ID() + ":alarm:*"},
			"StringEquals": map[string]interface{}{"aws:SourceAccount": *awscdk.Aws_ACCOUNT_ID()},
		},
	}))
	if set.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(set.AlarmEmail), nil))
	}
	awscdk.NewCfnOutput(stack, jsii.String("AlarmTopicArn"), &awscdk.CfnOutputProps{
		Value:       topic.TopicArn(),
		Description: jsii.String("the topic every alarm notifies: subscribe a pager, chat or e-mail to it"),
	})
	return topic
}

// watchedQueues are the queues where failed work waits for a person: the on-failure destinations
// of the stream mappings, of asynchronous invocations and of schedules, and every dead-letter queue.
// Keyed by a name for the alarm.
func watchedQueues(t topology.Topology, state *stateStack) map[string]awssqs.IQueue {
	watched := map[string]awssqs.IQueue{}
	for _, m := range t.Mappings {
		if m.OnFailureQueue != "" {
			watched[m.OnFailureQueue] = state.Queues[m.OnFailureQueue]
		}
	}
	for _, f := range t.Functions {
		if f.Async != nil && f.Async.OnFailureQueue != "" {
			watched[f.Async.OnFailureQueue] = state.Queues[f.Async.OnFailureQueue]
		}
	}
	for _, sc := range t.Schedules {
		if sc.DeadLetterQueue != "" {
			watched[sc.DeadLetterQueue] = state.Queues[sc.DeadLetterQueue]
		}
	}
	for _, q := range t.Queues {
		if dlq, ok := state.DeadLetters[q.Name]; ok {
			watched[q.Name+"DeadLetter"] = dlq
		}
	}
	return watched
}

// addAlarms watches what would otherwise fail quietly: a stream mapping falling behind, records,
// runs or messages parked on a failure or dead-letter queue, function errors and throttles, API
// errors, DynamoDB throttling. Each alarm notifies the alarm topic.
func addAlarms(stack awscdk.Stack, t topology.Topology, fns map[string]awslambda.Function, api awsapigatewayv2.HttpApi, state *stateStack) []awscloudwatch.Alarm {
	period := awscdk.Duration_Seconds(jsii.Number(alarmPeriod.Seconds()))
	var alarms []awscloudwatch.Alarm
	alarm := func(id, description string, metric awscloudwatch.IMetric, threshold float64) {
		alarms = append(alarms, awscloudwatch.NewAlarm(stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		}))
	}
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period}
	maximum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period}

	for _, m := range t.Mappings {
		alarm(constructID(m.Function)+"IteratorAgeAlarm",
			fmt.Sprintf("%s reads %s more than %s behind", m.Function, m.Stream, iteratorAgeAlarm),
			fns[m.Function].Metric(jsii.String("IteratorAge"), maximum), float64(iteratorAgeAlarm.Milliseconds()))
	}
	watched := watchedQueues(t, state)
	for _, name := range sortedKeys(watched) {
		alarm(name+"DepthAlarm", fmt.Sprintf("messages waiting on %s: failed work to look at", name),
			watched[name].MetricApproximateNumberOfMessagesVisible(maximum), 1)
	}
	for _, f := range t.Functions {
		alarm(constructID(f.Name)+"FunctionErrorsAlarm", fmt.Sprintf("function %s returned errors", f.Name),
			fns[f.Name].MetricErrors(sum), 1)
		alarm(constructID(f.Name)+"FunctionThrottlesAlarm", fmt.Sprintf("function %s was throttled (concurrency reached)", f.Name),
			fns[f.Name].MetricThrottles(sum), 1)
	}
	alarm("Api5xxAlarm", "the HTTP API answered with server errors (5xx)", api.MetricServerError(sum), 1)
	for _, tb := range t.Tables {
		table := state.Tables[tb.Name]
		alarm(tb.Name+"TableThrottlesAlarm", fmt.Sprintf("DynamoDB throttled reads or writes of the %s table", tb.Name),
			awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
				Expression: jsii.String("reads + writes"),
				Label:      jsii.String(tb.Name + " throttle events"),
				Period:     period,
				UsingMetrics: &map[string]awscloudwatch.IMetric{
					"reads":  table.Metric(jsii.String("ReadThrottleEvents"), sum),
					"writes": table.Metric(jsii.String("WriteThrottleEvents"), sum),
				},
			}), 1)
	}
	return alarms
}

// addDashboard shows the deployment on one page: traffic and errors of the API, each function's
// invocations, errors, throttles and duration, the stream and how far stitch is behind, the failure
// queues, DynamoDB's use and throttling, and every alarm's state.
func addDashboard(stack awscdk.Stack, t topology.Topology, fns map[string]awslambda.Function, api awsapigatewayv2.HttpApi, state *stateStack, alarms []awscloudwatch.Alarm) {
	period := awscdk.Duration_Seconds(jsii.Number(alarmPeriod.Seconds()))
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period}
	p99 := &awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: period}
	maximum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period}
	graph := func(title string, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &left, Width: jsii.Number(8), Height: jsii.Number(6),
		})
	}
	dash := awscloudwatch.NewDashboard(stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(24)),
	})
	var alarmRefs []interfacesawscloudwatch.IAlarmRef
	for _, a := range alarms {
		alarmRefs = append(alarmRefs, a)
	}
	dash.AddWidgets(awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title: jsii.String("Alarms"), Alarms: &alarmRefs, Width: jsii.Number(24),
	}))
	dash.AddWidgets(
		graph("API requests and errors", api.MetricCount(sum), api.MetricClientError(sum), api.MetricServerError(sum)),
		graph("API latency (p99, ms)", api.MetricLatency(p99), api.MetricIntegrationLatency(p99)),
	)
	for _, m := range t.Mappings {
		dash.AddWidgets(graph(m.Function+" behind "+m.Stream+" (ms)", fns[m.Function].Metric(jsii.String("IteratorAge"), maximum)))
	}
	var row []awscloudwatch.IWidget
	for _, f := range t.Functions {
		fn := fns[f.Name]
		row = append(row, graph("function "+f.Name, fn.MetricInvocations(sum), fn.MetricErrors(sum), fn.MetricThrottles(sum)))
	}
	dash.AddWidgets(row...)
	var depths []awscloudwatch.IMetric
	watched := watchedQueues(t, state)
	for _, name := range sortedKeys(watched) {
		depths = append(depths, watched[name].MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("Maximum"), Period: period, Label: jsii.String(name),
		}))
	}
	var throttles, consumed []awscloudwatch.IMetric
	for _, tb := range t.Tables {
		table := state.Tables[tb.Name]
		label := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period, Label: jsii.String(tb.Name)}
		throttles = append(throttles, table.Metric(jsii.String("WriteThrottleEvents"), label), table.Metric(jsii.String("ReadThrottleEvents"), label))
		consumed = append(consumed, table.MetricConsumedWriteCapacityUnits(label))
	}
	var incoming []awscloudwatch.IMetric
	for _, st := range t.Streams {
		incoming = append(incoming, state.Streams[st.Name].MetricIncomingRecords(sum))
	}
	dash.AddWidgets(
		graph("failed work waiting (messages)", depths...),
		graph("DynamoDB throttle events", throttles...),
		graph("DynamoDB write units", consumed...),
	)
	dash.AddWidgets(graph("stream records in", incoming...))
	awscdk.NewCfnOutput(stack, jsii.String("DashboardName"), &awscdk.CfnOutputProps{
		Value:       dash.DashboardName(),
		Description: jsii.String("the CloudWatch dashboard of the deployment"),
	})
}

// constructID turns a topology name into a construct id: "collect" -> "Collect".
func constructID(name string) string {
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
