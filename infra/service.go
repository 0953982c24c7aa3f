package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsschedulertargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
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
}

// Alarm thresholds.
const (
	iteratorAgeAlarm = 5 * time.Minute // a stream mapping this far behind needs a person
	alarmPeriod      = 5 * time.Minute
)

func newServiceStack(scope constructs.Construct, id string, cfg config, state *stateStack) *serviceStack {
	t := cfg.Topology
	s := &serviceStack{
		Stack: awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
			Description: jsii.String("dcrm service: functions, HTTP API, stream mapping, schedules, alarms"),
			Tags:        &map[string]*string{"project": jsii.String("dcrm")},
		}),
		Functions: map[string]awslambda.Function{},
	}

	for _, f := range t.Functions {
		s.Functions[f.Name] = newFunction(s.Stack, t, f, cfg.FunctionsDir, state)
		if f.FanOut {
			allowFanOut(s.Stack, f.Name, s.Functions[f.Name])
		}
	}

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
	awscdk.NewCfnOutput(s.Stack, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
		Value:       s.API.ApiEndpoint(),
		Description: jsii.String("DCRM_API_URL: base URL of the beacon endpoint and the profile API"),
	})

	for _, m := range t.Mappings {
		addStreamMapping(m, s.Functions[m.Function], state)
	}
	for _, sc := range t.Schedules {
		addSchedule(s.Stack, sc, s.Functions[sc.Function])
	}
	addAlarms(s.Stack, t, s.Functions, state)
	return s
}

// newFunction builds one Lambda from <functionsDir>/<name>/bootstrap, gives it the environment
// contract of the topology and the grants of its Uses.
func newFunction(stack awscdk.Stack, t topology.Topology, f topology.Function, functionsDir string, state *stateStack) awslambda.Function {
	id := constructID(f.Name)
	env := map[string]*string{}
	for k, v := range f.Settings {
		env[k] = jsii.String(v)
	}
	for _, u := range f.Uses {
		env[t.EnvVar(u.Resource)] = resourceRef(t, u.Resource, state)
	}

	logs := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	fn := awslambda.NewFunction(stack, jsii.String(id+"Function"), &awslambda.FunctionProps{
		Description:  jsii.String("dcrm function " + f.Name),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(functionsDir, f.Name)), nil),
		MemorySize:   jsii.Number(float64(f.Memory)),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(f.Timeout.Seconds())),
		Environment:  &env,
		LogGroup:     logs,
	})
	for _, u := range f.Uses {
		grant(t, u, fn, state)
	}
	return fn
}

// fanOutMaxAge is how long an asynchronous invocation of a function that fans out may wait before
// Lambda drops it: a part of an hourly run that could not start within the hour is left to the
// next run.
const fanOutMaxAge = time.Hour

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
	fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(fanOutMaxAge.Seconds())),
		RetryAttempts: jsii.Number(2),
	})
}

// resourceRef is what a function finds under EnvVar(resource): a table's or stream's name, a
// queue's URL, a secret's ARN.
func resourceRef(t topology.Topology, resource string, state *stateStack) *string {
	switch t.Kind(resource) {
	case "table":
		return state.Tables[resource].TableName()
	case "stream":
		return state.Streams[resource].StreamName()
	case "queue":
		return state.Queues[resource].QueueUrl()
	case "secret":
		return state.Secrets[resource].SecretArn()
	}
	panic(fmt.Sprintf("infra: unknown resource %q", resource)) // validate rules this out
}

// grant turns a Use into the construct library's grant for that kind of resource.
func grant(t topology.Topology, u topology.Use, fn awslambda.Function, state *stateStack) {
	read := u.Access == topology.Read || u.Access == topology.ReadWrite
	write := u.Access == topology.Write || u.Access == topology.ReadWrite
	switch t.Kind(u.Resource) {
	case "table":
		table := state.Tables[u.Resource]
		switch {
		case read && write:
			table.GrantReadWriteData(fn)
		case read:
			table.GrantReadData(fn)
		case write:
			table.GrantWriteData(fn)
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
		if read {
			queue.GrantConsumeMessages(fn)
		}
		if write {
			queue.GrantSendMessages(fn)
		}
	case "secret":
		state.Secrets[u.Resource].GrantRead(fn, nil)
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
	fn.AddEventSource(awslambdaeventsources.NewKinesisEventSource(state.Streams[m.Stream], props))
}

// addSchedule runs fn on the schedule's rate through EventBridge Scheduler. The function receives
// a schedule.Event: the schedule's name, and the run's scheduled time, which Scheduler fills in.
func addSchedule(stack awscdk.Stack, sc topology.Schedule, fn awslambda.Function) {
	rate, err := rateExpression(sc.Every)
	if err != nil {
		panic(fmt.Sprintf("infra: schedule %s: %v", sc.Name, err)) // validate rules this out
	}
	maxAge := sc.Every
	if maxAge > 24*time.Hour {
		maxAge = 24 * time.Hour
	}
	awsscheduler.NewSchedule(stack, jsii.String(constructID(sc.Name)+"Schedule"), &awsscheduler.ScheduleProps{
		Description: jsii.String(fmt.Sprintf("dcrm schedule %s: runs %s %s", sc.Name, sc.Function, rate)),
		Schedule:    awsscheduler.ScheduleExpression_Expression(jsii.String(rate), nil),
		Target: awsschedulertargets.NewLambdaInvoke(fn, &awsschedulertargets.ScheduleTargetBaseProps{
			Input:       awsscheduler.ScheduleTargetInput_FromObject(schedule.Input(sc.Name, *awsscheduler.ContextAttribute_ScheduledTime())),
			MaxEventAge: awscdk.Duration_Seconds(jsii.Number(maxAge.Seconds())),
		}),
	})
}

// addAlarms watches what would otherwise fail quietly: a stream mapping falling behind, records
// or messages parked on a failure or dead-letter queue, function errors.
func addAlarms(stack awscdk.Stack, t topology.Topology, fns map[string]awslambda.Function, state *stateStack) {
	period := awscdk.Duration_Seconds(jsii.Number(alarmPeriod.Seconds()))
	for _, m := range t.Mappings {
		fn := fns[m.Function]
		awscloudwatch.NewAlarm(stack, jsii.String(constructID(m.Function)+"IteratorAgeAlarm"), &awscloudwatch.AlarmProps{
			AlarmDescription: jsii.String(fmt.Sprintf("%s reads %s more than %s behind", m.Function, m.Stream, iteratorAgeAlarm)),
			Metric: fn.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{
				Statistic: jsii.String("Maximum"),
				Period:    period,
			}),
			Threshold:          jsii.Number(float64(iteratorAgeAlarm.Milliseconds())),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}

	watched := map[string]awssqs.IQueue{}
	for _, m := range t.Mappings {
		if m.OnFailureQueue != "" {
			watched[m.OnFailureQueue] = state.Queues[m.OnFailureQueue]
		}
	}
	for _, q := range t.Queues {
		if dlq, ok := state.DeadLetters[q.Name]; ok {
			watched[q.Name+"DeadLetter"] = dlq
		}
	}
	for _, name := range sortedKeys(watched) {
		awscloudwatch.NewAlarm(stack, jsii.String(name+"DepthAlarm"), &awscloudwatch.AlarmProps{
			AlarmDescription: jsii.String(fmt.Sprintf("messages waiting on %s: failed work to look at", name)),
			Metric: watched[name].MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
				Statistic: jsii.String("Maximum"),
				Period:    period,
			}),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}

	for _, f := range t.Functions {
		awscloudwatch.NewAlarm(stack, jsii.String(constructID(f.Name)+"ErrorsAlarm"), &awscloudwatch.AlarmProps{
			AlarmDescription: jsii.String(fmt.Sprintf("function %s returned errors", f.Name)),
			Metric: fns[f.Name].MetricErrors(&awscloudwatch.MetricOptions{
				Statistic: jsii.String("Sum"),
				Period:    period,
			}),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}
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
