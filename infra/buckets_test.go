package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/dcrm-project/dcrm/infra/topology"
)

// Every bucket of the topology: private, TLS only, encrypted, owner-enforced, retained, without a
// physical name, its lifecycle as the topology says, its name published under its variable.
func TestStateStackHasTheBuckets(t *testing.T) {
	if len(synth.topo.Buckets) == 0 {
		t.Fatal("the topology has no bucket")
	}
	for _, b := range synth.topo.Buckets {
		id := logicalID(synth.stacks.State.Stack, synth.stacks.State.Buckets[b.Name])
		r := synth.stateJ.resource(t, id)
		if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v; want Retain", b.Name, r["DeletionPolicy"], r["UpdateReplacePolicy"])
		}
		p := r.props()
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if dig(p, "PublicAccessBlockConfiguration", k) != true {
				t.Errorf("%s: %s is not set", b.Name, k)
			}
		}
		if got := dig(p, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "SSEAlgorithm"); got != "AES256" {
			t.Errorf("%s: encryption %v, want S3-managed (AES256)", b.Name, got)
		}
		if got := dig(p, "OwnershipControls", "Rules", 0, "ObjectOwnership"); got != "BucketOwnerEnforced" {
			t.Errorf("%s: object ownership %v, want BucketOwnerEnforced (no ACLs)", b.Name, got)
		}
		if _, named := p["BucketName"]; named {
			t.Errorf("%s has a physical name", b.Name)
		}

		rules := map[string]map[string]interface{}{}
		list, _ := dig(p, "LifecycleConfiguration", "Rules").([]interface{})
		for _, x := range list {
			rule := x.(map[string]interface{})
			rules[rule["Id"].(string)] = rule
		}
		if got := dig(rules["abort-incomplete-uploads"], "AbortIncompleteMultipartUpload", "DaysAfterInitiation"); got != float64(7) {
			t.Errorf("%s: incomplete uploads aborted after %v days, want 7", b.Name, got)
		}
		for _, e := range b.Expire {
			id := "expire-" + strings.TrimSuffix(e.Prefix, "/")
			if e.Prefix == "" {
				id = "expire-all"
			}
			rule := rules[id]
			if rule == nil || rule["ExpirationInDays"] != e.After.Hours()/24 || rule["Status"] != "Enabled" {
				t.Errorf("%s: rule %s = %v, want objects under %q expired after %v", b.Name, id, rule, e.Prefix, e.After)
				continue
			}
			if got, _ := rule["Prefix"].(string); got != e.Prefix {
				t.Errorf("%s: rule %s on prefix %q, want %q", b.Name, id, got, e.Prefix)
			}
		}

		// The bucket policy refuses plain HTTP and TLS before 1.2.
		policies := 0
		for _, pol := range synth.stateJ.ofType("AWS::S3::BucketPolicy") {
			if synth.stateJ.target(pol.props()["Bucket"]) != id {
				continue
			}
			policies++
			doc, _ := json.Marshal(pol.props()["PolicyDocument"])
			for _, want := range []string{`"aws:SecureTransport":"false"`, `"s3:TlsVersion":1.2`, `"Effect":"Deny"`} {
				if !strings.Contains(string(doc), want) {
					t.Errorf("%s: policy %s lacks %s", b.Name, doc, want)
				}
			}
		}
		if policies != 1 {
			t.Errorf("%s: %d bucket policies, want 1", b.Name, policies)
		}
		found := false
		for _, o := range synth.stateJ["Outputs"].(map[string]interface{}) {
			out := o.(map[string]interface{})
			found = found || out["Description"] == synth.topo.EnvVar(b.Name) && synth.stateJ.target(out["Value"]) == id
		}
		if !found {
			t.Errorf("%s: no output of its name described as %s", b.Name, synth.topo.EnvVar(b.Name))
		}
	}
	if got := topology.ImportRetention; got != 30*24*time.Hour {
		t.Errorf("imported files are kept %v", got)
	}
}

// With the customer-managed key, the buckets use it, with S3 Bucket Keys.
func TestBucketsUseTheDataKey(t *testing.T) {
	for _, b := range synth.topo.Buckets {
		id := logicalID(synth.options.State.Stack, synth.options.State.Buckets[b.Name])
		p := synth.optStateJ.resource(t, id).props()
		rule := dig(p, "BucketEncryption", "ServerSideEncryptionConfiguration", 0)
		if dig(rule, "ServerSideEncryptionByDefault", "SSEAlgorithm") != "aws:kms" || dig(rule, "BucketKeyEnabled") != true {
			t.Errorf("%s: encryption %v, want the data key with bucket keys", b.Name, rule)
		}
	}
}

func fmtJSON(v interface{}) string { b, _ := json.Marshal(v); return string(b) }

// notifying is the default topology with an import function that S3 invokes for the CSV files
// under orders/ and the JSON Lines files under customers/, synthesized once.
var notifying = sync.OnceValues(func() (*stacks, error) {
	top := topology.Default()
	top.Functions = append(top.Functions, topology.Function{Name: "importer", Memory: 512, Timeout: time.Minute,
		Uses:  []topology.Use{{Resource: topology.ImportBucket, Access: topology.Read}},
		Async: &topology.AsyncInvoke{MaxAge: 6 * time.Hour, Retries: 2, OnFailureQueue: topology.FailedQueue}})
	top.Notifications = []topology.Notification{
		{Bucket: topology.ImportBucket, Prefix: "orders/", Suffix: ".csv", Function: "importer"},
		{Bucket: topology.ImportBucket, Prefix: "customers/", Suffix: ".jsonl", Function: "importer"},
	}
	dir, err := os.MkdirTemp("", "dcrm-infra-notify-")
	if err != nil {
		return nil, err
	}
	if err := placeholderBinaries(filepath.Join(dir, "functions"), top); err != nil {
		return nil, err
	}
	root, err := projectRoot()
	if err != nil {
		return nil, err
	}
	ctx, err := loadContext(filepath.Join(root, "cdk.json"))
	if err != nil {
		return nil, err
	}
	app := newApp(appOptions{Outdir: filepath.Join(dir, "cdk.out"), Context: maps.Clone(ctx)})
	return buildStacks(app, config{Topology: top, FunctionsDir: filepath.Join(dir, "functions")})
})

func TestBucketNotificationsInvokeTheirFunction(t *testing.T) {
	s, err := notifying()
	if err != nil {
		t.Fatal(err)
	}
	state := template(*assertions.Template_FromStack(s.State.Stack, nil).ToJSON())
	service := template(*assertions.Template_FromStack(s.Service.Stack, nil).ToJSON())
	importer := logicalID(s.Service.Stack, s.Service.Functions["importer"])
	bucketID := logicalID(s.State.Stack, s.State.Buckets[topology.ImportBucket])
	// Follows a cross-stack reference of the service stack into this state stack.
	inState := func(v interface{}) string {
		m, _ := v.(map[string]interface{})
		outputs := state["Outputs"].(map[string]interface{})
		if gso, ok := m["Fn::GetStackOutput"].(map[string]interface{}); ok {
			out, _ := outputs[gso["OutputName"].(string)].(map[string]interface{})
			return state.target(out["Value"])
		}
		name, _ := m["Fn::ImportValue"].(string)
		for _, o := range outputs {
			out := o.(map[string]interface{})
			if dig(out, "Export", "Name") == name {
				return state.target(out["Value"])
			}
		}
		return ""
	}

	configs := service.ofType("Custom::S3BucketNotifications")
	if len(configs) != 1 {
		t.Fatalf("%d notification configurations, want one for the import bucket", len(configs))
	}
	for _, c := range configs {
		p := c.props()
		if inState(p["BucketName"]) != bucketID {
			t.Errorf("notifications of %v, want the import bucket %s", p["BucketName"], bucketID)
		}
		if p["Managed"] != false {
			t.Errorf("Managed = %v: the configuration must keep what others set on the bucket", p["Managed"])
		}
		fns, _ := dig(p, "NotificationConfiguration", "LambdaFunctionConfigurations").([]interface{})
		got := map[string]bool{}
		for _, f := range fns {
			if service.target(dig(f, "LambdaFunctionArn")) != importer || dig(f, "Events", 0) != "s3:ObjectCreated:*" {
				t.Errorf("configuration %v, want objects created to the importer", f)
			}
			rules := map[string]interface{}{}
			list, _ := dig(f, "Filter", "Key", "FilterRules").([]interface{})
			for _, r := range list {
				rules[dig(r, "Name").(string)] = dig(r, "Value")
			}
			got[rules["prefix"].(string)+"*"+rules["suffix"].(string)] = true
		}
		if !got["orders/*.csv"] || !got["customers/*.jsonl"] || len(got) != 2 {
			t.Errorf("filters %v, want orders/*.csv and customers/*.jsonl", got)
		}
	}

	// S3 may invoke the function for this bucket of this account only: a grant, not a policy.
	allowed := 0
	for _, perm := range service.ofType("AWS::Lambda::Permission") {
		p := perm.props()
		if p["Principal"] != "s3.amazonaws.com" {
			continue
		}
		allowed++
		if service.target(p["FunctionName"]) != importer || p["Action"] != "lambda:InvokeFunction" || inState(p["SourceArn"]) != bucketID || p["SourceAccount"] == nil {
			t.Errorf("permission %v, want the importer invoked by the import bucket of this account", p)
		}
	}
	if allowed != 1 {
		t.Errorf("%d permissions for S3, want 1", allowed)
	}

	// The importer reads the bucket by the construct library's grant, and keeps what it fails on.
	actions := map[string]bool{}
	role := logicalID(s.Service.Stack, s.Service.Functions["importer"].Role())
	for _, pol := range service.ofType("AWS::IAM::Policy") {
		if service.target(dig(pol.props(), "Roles", 0)) == role {
			for _, st := range dig(pol.props(), "PolicyDocument", "Statement").([]interface{}) {
				if !strings.Contains(fmtJSON(dig(st, "Resource")), "ImportBucket") {
					continue
				}
				switch a := dig(st, "Action").(type) {
				case string:
					actions[a] = true
				case []interface{}:
					for _, x := range a {
						actions[x.(string)] = true
					}
				}
			}
		}
	}
	for _, want := range []string{"s3:GetObject*", "s3:List*"} {
		if !actions[want] {
			t.Errorf("the importer may not %s (it may %v)", want, actions)
		}
	}
	for a := range actions {
		if strings.HasPrefix(a, "s3:Put") || strings.HasPrefix(a, "s3:Delete") {
			t.Errorf("the importer, which reads, may %s", a)
		}
	}
	invokeConfigs := 0
	for _, c := range service.ofType("AWS::Lambda::EventInvokeConfig") {
		if service.target(c.props()["FunctionName"]) == importer {
			invokeConfigs++
			if dig(c.props(), "MaximumRetryAttempts") != float64(2) || dig(c.props(), "DestinationConfig", "OnFailure", "Destination") == nil {
				t.Errorf("importer's asynchronous invocations: %v", c.props())
			}
		}
	}
	if invokeConfigs != 1 {
		t.Errorf("%d asynchronous configurations of the importer, want 1", invokeConfigs)
	}

	// The stateful stack names nothing of the service stack: no cycle between them.
	raw, _ := json.Marshal(state)
	if strings.Contains(string(raw), "Fn::ImportValue") {
		t.Error("the stateful stack imports from the service stack")
	}
	for _, st := range []awscdk.Stack{s.State.Stack, s.Service.Stack} {
		errs := assertions.Annotations_FromStack(st).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, e := range *errs {
			t.Errorf("%s %s: %v", *st.StackName(), *e.Id, e.Entry.Data)
		}
	}
}
