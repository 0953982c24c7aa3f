package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/dcrm-project/dcrm/infra/topology"
)

// stateStack holds what outlives a deployment: the stream, the tables, the queues and the
// buckets. Every resource is retained when the stack is deleted and has a generated physical name.
type stateStack struct {
	awscdk.Stack
	Streams     map[string]awskinesis.Stream // by logical name
	Tables      map[string]awsdynamodb.Table
	Queues      map[string]awssqs.Queue
	DeadLetters map[string]awssqs.Queue // dead-letter queue of the queue of that logical name
	Buckets     map[string]awss3.Bucket
	// DeliveryStreams are the Data Firehose delivery streams into the buckets.
	DeliveryStreams map[string]awskinesisfirehose.DeliveryStream
	// AccessLogs receives the buckets' server access logs (who put, read or deleted which file).
	AccessLogs awss3.Bucket
	Secrets    map[string]awssecretsmanager.Secret
	// Lake describes the archive bucket to Glue and Athena (lake.go); nil without an archive bucket.
	Lake *lake
	// Key is the customer-managed key of the stateful resources and of the logs; nil when the
	// deployment keeps AWS-managed encryption (context customerManagedKeys).
	Key awskms.Key
	// Console is the console's sign-in: the Cognito user pool, its groups and app client (console.go).
	Console *consoleAuth
	// usedAsDeadLetter marks the queues named as dead-letter queues outside a redrive policy (by
	// schedules), for cdk-nag's SQS3.
	usedAsDeadLetter map[string]bool
}

// queueRetention is how long queued messages are kept: the longest SQS allows, so that a
// downstream tool that stops polling for a while loses nothing.
const queueRetention = 14 // days

func newStateStack(scope constructs.Construct, id string, t topology.Topology, set settings) *stateStack {
	s := &stateStack{
		Stack: awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
			Description: jsii.String("dcrm stateful resources: event stream, tables, queues, buckets, secret (retained on delete)"),
			Tags:        tags(set),
		}),
		Streams:     map[string]awskinesis.Stream{},
		Tables:      map[string]awsdynamodb.Table{},
		Queues:      map[string]awssqs.Queue{},
		DeadLetters: map[string]awssqs.Queue{},
		Buckets:     map[string]awss3.Bucket{},
		Secrets:     map[string]awssecretsmanager.Secret{},

		DeliveryStreams: map[string]awskinesisfirehose.DeliveryStream{},
	}
	s.usedAsDeadLetter = map[string]bool{}
	for _, sc := range t.Schedules {
		if sc.DeadLetterQueue != "" {
			s.usedAsDeadLetter[sc.DeadLetterQueue] = true
		}
	}

	if set.CustomerManagedKeys {
		s.Key = newDataKey(s.Stack)
	}
	s.Console = newConsoleAuth(s, set)

	for _, st := range t.Streams {
		props := &awskinesis.StreamProps{
			Encryption:      awskinesis.StreamEncryption_MANAGED,
			RemovalPolicy:   awscdk.RemovalPolicy_RETAIN,
			StreamMode:      awskinesis.StreamMode_ON_DEMAND,
			RetentionPeriod: awscdk.Duration_Hours(jsii.Number(st.Retention.Hours())),
		}
		if s.Key != nil {
			props.Encryption, props.EncryptionKey = awskinesis.StreamEncryption_KMS, s.Key
		}
		if st.Shards > 0 {
			props.StreamMode = awskinesis.StreamMode_PROVISIONED
			props.ShardCount = jsii.Number(float64(st.Shards))
		}
		stream := awskinesis.NewStream(s.Stack, jsii.String(st.Name+"Stream"), props)
		s.Streams[st.Name] = stream
		output(s.Stack, st.Name+"StreamName", t.EnvVar(st.Name), stream.StreamName())
	}

	for _, tb := range t.Tables {
		props := &awsdynamodb.TableProps{
			PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(tb.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
			BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: jsii.Bool(true),
			},
			// A table is deleted only after someone turns this off on purpose.
			DeletionProtection: jsii.Bool(true),
			Encryption:         awsdynamodb.TableEncryption_AWS_MANAGED,
			RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
		}
		if s.Key != nil {
			props.Encryption, props.EncryptionKey = awsdynamodb.TableEncryption_CUSTOMER_MANAGED, s.Key
		}
		if set.TableBillingMode == "PROVISIONED" {
			props.BillingMode = awsdynamodb.BillingMode_PROVISIONED
			props.ReadCapacity = jsii.Number(float64(set.TableReadCapacity))
			props.WriteCapacity = jsii.Number(float64(set.TableWriteCapacity))
		}
		if tb.SortKey != "" {
			props.SortKey = &awsdynamodb.Attribute{Name: jsii.String(tb.SortKey), Type: awsdynamodb.AttributeType_STRING}
		}
		if tb.TTLAttribute != "" {
			props.TimeToLiveAttribute = jsii.String(tb.TTLAttribute)
		}
		table := awsdynamodb.NewTable(s.Stack, jsii.String(tb.Name+"Table"), props)
		for _, ix := range tb.Indexes {
			props := indexProps(ix)
			if set.TableBillingMode == "PROVISIONED" {
				props.ReadCapacity = jsii.Number(float64(set.TableReadCapacity))
				props.WriteCapacity = jsii.Number(float64(set.TableWriteCapacity))
			}
			table.AddGlobalSecondaryIndex(props)
			if set.TableMaxReadCapacity > 0 {
				autoScale(table.AutoScaleGlobalSecondaryIndexReadCapacity(jsii.String(ix.Name), scaling(set.TableReadCapacity, set.TableMaxReadCapacity)),
					table.AutoScaleGlobalSecondaryIndexWriteCapacity(jsii.String(ix.Name), scaling(set.TableWriteCapacity, set.TableMaxWriteCapacity)))
			}
		}
		if set.TableMaxReadCapacity > 0 {
			autoScale(table.AutoScaleReadCapacity(scaling(set.TableReadCapacity, set.TableMaxReadCapacity)),
				table.AutoScaleWriteCapacity(scaling(set.TableWriteCapacity, set.TableMaxWriteCapacity)))
		}
		s.Tables[tb.Name] = table
		output(s.Stack, tb.Name+"TableName", t.EnvVar(tb.Name), table.TableName())
	}

	for _, q := range t.Queues {
		props := queueProps(s.Key)
		if q.DeadLetterAfter > 0 {
			dlq := awssqs.NewQueue(s.Stack, jsii.String(q.Name+"DeadLetterQueue"), queueProps(s.Key))
			s.DeadLetters[q.Name] = dlq
			props.DeadLetterQueue = &awssqs.DeadLetterQueue{
				Queue:           dlq,
				MaxReceiveCount: jsii.Number(float64(q.DeadLetterAfter)),
			}
		}
		queue := awssqs.NewQueue(s.Stack, jsii.String(q.Name+"Queue"), props)
		s.Queues[q.Name] = queue
		output(s.Stack, q.Name+"QueueUrl", t.EnvVar(q.Name), queue.QueueUrl())
	}

	if len(t.Buckets) > 0 {
		s.AccessLogs = newAccessLogBucket(s.Stack, set)
	}
	for _, b := range t.Buckets {
		props := bucketProps(b, s.Key)
		props.ServerAccessLogsBucket = s.AccessLogs
		props.ServerAccessLogsPrefix = jsii.String(strings.ToLower(b.Name) + "/")
		bucket := awss3.NewBucket(s.Stack, jsii.String(b.Name+"Bucket"), props)
		s.Buckets[b.Name] = bucket
		output(s.Stack, b.Name+"BucketName", t.EnvVar(b.Name), bucket.BucketName())
	}
	if b, ok := s.Buckets[topology.ArchiveBucket]; ok {
		s.Lake = newLake(s, b)
	}
	for _, d := range t.DeliveryStreams {
		stream := newDeliveryStream(s, d)
		s.DeliveryStreams[d.Name] = stream
		output(s.Stack, d.Name+"DeliveryStreamName", t.EnvVar(d.Name), stream.DeliveryStreamName())
	}

	// A secret is generated once and retained: what was hashed under it (erased identifiers'
	// tombstones) is only found again with the same key.
	for _, sec := range t.Secrets {
		secret := awssecretsmanager.NewSecret(s.Stack, jsii.String(sec.Name+"Secret"), &awssecretsmanager.SecretProps{
			Description: jsii.String("dcrm " + sec.Name + ": generated, never shown; retained on delete"),
			GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
				PasswordLength: jsii.Number(64), ExcludePunctuation: jsii.Bool(true),
			},
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
		s.Secrets[sec.Name] = secret
		output(s.Stack, sec.Name+"SecretArn", t.EnvVar(sec.Name), secret.SecretArn())
	}
	return s
}

// newDeliveryStream is a Direct PUT delivery stream into its bucket: its buffer encrypted (with
// the data key, or a key AWS owns), its objects gzipped under the prefix and then the UTC hour of
// their oldest record (YYYY/MM/DD/HH/, as the local stand-in names them too), encrypted as the
// bucket is, what it cannot deliver under the error prefix by kind of error, its own errors logged.
func newDeliveryStream(s *stateStack, d topology.DeliveryStream) awskinesisfirehose.DeliveryStream {
	props := &awskinesisfirehose.S3BucketProps{
		BufferingInterval: awscdk.Duration_Seconds(jsii.Number(d.BufferInterval.Seconds())),
		BufferingSize:     awscdk.Size_Mebibytes(jsii.Number(float64(d.BufferBytes >> 20))),
		Compression:       awskinesisfirehose.Compression_GZIP(),
		DataOutputPrefix:  jsii.String(d.Prefix + "!{timestamp:yyyy/MM/dd/HH}/"),
		ErrorOutputPrefix: jsii.String(d.ErrorPrefix + "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"),
	}
	encryption := awskinesisfirehose.StreamEncryption_AwsOwnedKey()
	if s.Key != nil {
		props.EncryptionKey = s.Key
		encryption = awskinesisfirehose.StreamEncryption_CustomerManagedKey(s.Key)
	}
	return awskinesisfirehose.NewDeliveryStream(s.Stack, jsii.String(d.Name+"DeliveryStream"), &awskinesisfirehose.DeliveryStreamProps{
		Destination: awskinesisfirehose.NewS3Bucket(s.Buckets[d.Bucket], props),
		Encryption:  encryption,
	})
}

// incompleteUploads is how long the parts of a multipart upload that was neither completed nor
// aborted (a `dcrm import` interrupted) are kept, and billed, before S3 deletes them.
const incompleteUploads = 7 // days

// bucketProps: private (public access blocked, ACLs off), reached over TLS 1.2 or later only,
// encrypted (S3-managed keys, or the data key with S3 Bucket Keys, which ask KMS once per bucket
// and period rather than once per object), retained, expiring what the topology says.
func bucketProps(b topology.Bucket, key awskms.IKey) *awss3.BucketProps {
	rules := []*awss3.LifecycleRule{{
		Id:                                  jsii.String("abort-incomplete-uploads"),
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(incompleteUploads)),
	}}
	for _, e := range b.Expire {
		rule := &awss3.LifecycleRule{
			Id:         jsii.String("expire-" + strings.TrimSuffix(e.Prefix, "/")),
			Expiration: awscdk.Duration_Days(jsii.Number(e.After.Hours() / 24)),
		}
		if e.Prefix == "" {
			rule.Id = jsii.String("expire-all")
		} else {
			rule.Prefix = jsii.String(e.Prefix)
		}
		rules = append(rules, rule)
	}
	props := &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules:    &rules,
	}
	if key != nil {
		props.Encryption, props.EncryptionKey, props.BucketKeyEnabled = awss3.BucketEncryption_KMS, key, jsii.Bool(true)
	}
	return props
}

// newAccessLogBucket is where S3 writes the buckets' server access logs, kept as long as the
// other logs (logRetentionDays). S3 writes them with S3-managed encryption only (it cannot use a
// KMS key for them), and they are not logged themselves.
func newAccessLogBucket(stack awscdk.Stack, set settings) awss3.Bucket {
	return awss3.NewBucket(stack, jsii.String("AccessLogsBucket"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id: jsii.String("expire-logs"), Expiration: awscdk.Duration_Days(jsii.Number(float64(set.LogRetentionDays))),
		}},
	})
}

// scaling is an auto-scaled capacity's range.
func scaling(least, most int) *awsdynamodb.EnableScalingProps {
	return &awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(float64(least)), MaxCapacity: jsii.Number(float64(most))}
}

// autoScale makes provisioned capacity follow the load (Application Auto Scaling, target
// tracking), so a deployment pays for what the day's traffic needs rather than for its peak all day.
func autoScale(read, write awsdynamodb.IScalableTableAttribute) {
	for _, a := range []awsdynamodb.IScalableTableAttribute{read, write} {
		a.ScaleOnUtilization(&awsdynamodb.UtilizationScalingProps{TargetUtilizationPercent: jsii.Number(TableTargetUtilization)})
	}
}

// indexProps describes a global secondary index. On an on-demand table it takes no capacity
// settings; its reads and writes are paid per request like the table's.
func indexProps(ix topology.Index) *awsdynamodb.GlobalSecondaryIndexProps {
	props := &awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(ix.Name),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(ix.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
		ProjectionType: awsdynamodb.ProjectionType(ix.Projection),
	}
	if ix.SortKey != "" {
		props.SortKey = &awsdynamodb.Attribute{Name: jsii.String(ix.SortKey), Type: awsdynamodb.AttributeType_STRING}
	}
	if len(ix.NonKeyAttributes) > 0 {
		props.NonKeyAttributes = jsii.Strings(ix.NonKeyAttributes...)
	}
	return props
}

func queueProps(key awskms.IKey) *awssqs.QueueProps {
	props := &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(queueRetention)),
		RemovalPolicy:   awscdk.RemovalPolicy_RETAIN,
	}
	if key != nil {
		props.Encryption, props.EncryptionMasterKey = awssqs.QueueEncryption_KMS, key
		// A data key is reused for 5 minutes rather than asked of KMS per message.
		props.DataKeyReuse = awscdk.Duration_Minutes(jsii.Number(5))
	}
	return props
}

// newDataKey is the customer-managed key of the tables, stream, queues and logs (the secret keeps
// Secrets Manager's key: its grant to a function in the other stack would name the function's
// role in this key's policy and tie the stacks in a cycle): rotated yearly,
// retained (what it encrypted cannot be read without it), usable by CloudWatch Logs for the log
// groups of this account and region.
func newDataKey(stack awscdk.Stack) awskms.Key {
	key := awskms.NewKey(stack, jsii.String("DataKey"), &awskms.KeyProps{
		Description:       jsii.String("dcrm data: tables, stream, queues, logs"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsOfThisAccount"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+*awscdk.Aws_REGION()+".amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{"ArnLike": map[string]interface{}{
			"kms:EncryptionContext:aws:logs:arn": "arn:" + *awscdk.Aws_PARTITION() + ":logs:" + *awscdk.Aws_REGION() + ":" + *awscdk.Aws_ACCOUNT_ID() + ":log-group:*",
		}},
	}), nil)
	return key
}

// tags are the tags of both stacks.
func tags(set settings) *map[string]*string {
	t := map[string]*string{"project": jsii.String("dcrm")}
	if set.Stage != "" {
		t["stage"] = jsii.String(set.Stage)
	}
	return &t
}

// output publishes a physical name or URL as a stack output described by the environment
// variable that carries it, so operators and scripts can find it with describe-stacks.
func output(stack awscdk.Stack, id, envVar string, value *string) {
	awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{
		Value:       value,
		Description: jsii.String(envVar),
	})
}
