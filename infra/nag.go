package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// checkWithNag applies cdk-nag's AwsSolutions rules to every stack of the app: a finding is an
// error annotation at synthesis (and in cdk.out/AwsSolutions-*-NagReport.csv), unless it is
// suppressed below with the reason it does not apply.
func checkWithNag(app awscdk.App) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// suppress records why a rule does not apply to a construct (and its children).
func suppress(construct interface{}, rule, reason string, appliesTo ...interface{}) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		s.AppliesTo = &appliesTo
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}

func regex(r string) cdknag.RegexAppliesTo { return cdknag.RegexAppliesTo{Regex: jsii.String(r)} }

// suppressStateFindings records why AwsSolutions rules that fire on the stateful stack do not apply.
func suppressStateFindings(s *stateStack) {
	if s.Console != nil {
		suppress(s.Console.Pool, "AwsSolutions-COG3", "Threat protection (advanced security) needs Cognito's Plus plan, "+
			"billed per active user; the console's users are a handful of staff made by an admin (no self sign-up), with a "+
			"12-character password policy, optional MFA, and the console's own per-user rate limit of failed sign-ins. "+
			"A team that wants it sets the plan on the pool.")
		suppress(s.Console.Pool, "AwsSolutions-COG2", "MFA is optional rather than required: the first sign-in of a user made "+
			"with a temporary password cannot yet have a second factor, and the console offers the authenticator app; "+
			"a team can require it on the pool.")
	}
	for _, sec := range s.Secrets {
		suppress(sec, "AwsSolutions-SMG4", "The secret is the key of keyed hashes that are stored (erased identifiers' "+
			"tombstones, deduplication scopes); a rotated key would no longer find them, so it is generated once, never "+
			"shown, read only by the functions granted it, and retained.")
	}
	if s.AccessLogs != nil {
		suppress(s.AccessLogs, "AwsSolutions-S1", "This bucket receives the other buckets' server access logs; logging "+
			"its own requests would log the log deliveries, without end.")
	}
	for _, d := range s.DeliveryStreams {
		suppress(d, "AwsSolutions-IAM5", "The delivery stream's role writes to its one bucket (<bucket ARN>/*) with the "+
			"construct library's grant, the action families S3 delivery needs (reading the bucket's location and "+
			"multipart uploads, writing and aborting objects); with the customer-managed key it generates and "+
			"re-encrypts data keys under that one key.", regex(`/^Resource::.*Bucket.*\/\*$/g`),
			"Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*", "Action::s3:PutObject*", "Action::s3:Abort*",
			"Action::s3:DeleteObject*", "Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*")
	}
	for _, name := range failureDestinations(s) {
		suppress(s.Queues[name], "AwsSolutions-SQS3", "This queue is itself a dead-letter destination ("+name+": the "+
			"schedules' dead-letter queue), set on the schedules rather than by a redrive policy, which is the only "+
			"way the rule recognises one; its depth is alarmed.")
	}
}

// failureDestinations are the queues that are dead-letter destinations without a dead-letter
// queue of their own.
func failureDestinations(s *stateStack) []string {
	var names []string
	for name := range s.Queues {
		if _, ok := s.DeadLetters[name]; !ok && s.usedAsDeadLetter[name] {
			names = append(names, name)
		}
	}
	return names
}

// suppressServiceFindings records why AwsSolutions rules that fire on the service stack do not apply.
func suppressServiceFindings(s *serviceStack) {
	suppress(s.API, "AwsSolutions-APIG4", "Every route authorises its caller in the function, by the key it carries: "+
		"the collection routes by a source's write key (allowed origins, trusted or not, per source), the profile "+
		"API by a profile-API key with scopes, both looked up by hash in the Keys table; an API Gateway authorizer "+
		"would add a second lookup per request and could not apply the per-source rules.")
	for _, fn := range s.Functions {
		suppress(fn.Role(), "AwsSolutions-IAM5", "X-Ray's PutTraceSegments and PutTelemetryRecords take no resource, "+
			"so active tracing needs '*'; every other action of the role names its resources (least-privilege tests "+
			"in infra_test.go).", "Resource::*")
		suppress(fn.Role(), "AwsSolutions-IAM5", "A grant on a table covers its global secondary indexes "+
			"(<table>/index/*) so that the function may query the index it reads (the Profiles due index); the actions "+
			"are the table's.", regex(`/^Resource::.*\/index\/\*$/g`))
	}
	// The construct library's grants on a bucket: its objects (<bucket ARN>/*) and the action
	// families of reading, writing and deleting them.
	for _, fn := range s.Functions {
		suppress(fn.Role(), "AwsSolutions-IAM5", "A grant on a bucket (the construct library's grantRead/grantWrite) "+
			"covers the objects of that one bucket (<bucket ARN>/*) with the action families of reading (s3:GetObject*, "+
			"s3:GetBucket*, s3:List*) or writing (s3:PutObject*, s3:Abort*, s3:DeleteObject*) them; the function is "+
			"granted only the buckets it uses.", regex(`/^Resource::.*Bucket.*\/\*$/g`),
			"Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*", "Action::s3:PutObject*", "Action::s3:Abort*",
			"Action::s3:DeleteObject*")
	}
	// The construct library's handler that sets the buckets' notification configuration at deployment.
	for _, child := range *s.Stack.Node().Children() {
		if strings.HasPrefix(*child.Node().Id(), "BucketNotificationsHandler") {
			suppress(child, "AwsSolutions-IAM4", "The construct library's handler that writes the buckets' notification "+
				"configuration during a deployment logs with the AWS-managed basic execution policy; it runs only then.",
				"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
		}
	}
	// With the customer-managed key, the construct library's grants on the stream and the queues.
	for _, fn := range s.Functions {
		suppress(fn.Role(), "AwsSolutions-IAM5", "With a customer-managed key, the construct library's grants on the "+
			"stream and the queues let the function generate and re-encrypt data keys under that one key (kms:GenerateDataKey*, "+
			"kms:ReEncrypt*), as Kinesis and SQS encryption need; the resource is the key.",
			"Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*")
	}
	// EventBridge Scheduler's role for a Lambda target may invoke the function's versions and
	// aliases (<function>:*), as the schedule targets construct grants.
	cdknag.NagSuppressions_AddStackSuppressions(s.Stack, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("The schedules' roles may invoke their function and its versions or aliases " +
			"(<function ARN>:*), as the Scheduler targets construct grants; nothing else."),
		AppliesTo: &[]interface{}{regex(`/^Resource::<[A-Za-z]+Function[0-9A-F]+\.Arn>:\*$/g`)},
	}}, nil)
}
