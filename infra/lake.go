package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsathena"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/archive"
)

// archiveSince is the first day Athena's partition projection lists for the archive's tables: a
// query without a dt condition reads the days from it to today.
const archiveSince = "2026-01-01"

// lake describes the event archive to Glue and Athena (package archive: one description of its
// tables for the CDK app and `dcrm sql`): a Glue database with the tables events, profiles,
// identifiers and merges over the archive bucket, partitioned by dt and projected, so that a new
// day needs no crawler; an Athena workgroup that keeps its results under AthenaResultsPrefix,
// encrypted, with a cap on the bytes a query may scan; and the saved queries as named queries.
type lake struct {
	Database  awsglue.CfnDatabase
	Tables    map[string]awsglue.CfnTable
	WorkGroup awsathena.CfnWorkGroup
}

// maxScanBytes caps what one query may scan (and cost: USD 5 per TB): a month of events at 100
// million events a month is about 6 GB.
const maxScanBytes = 100 << 30

func newLake(s *stateStack, bucket awss3.Bucket) *lake {
	l := &lake{Tables: map[string]awsglue.CfnTable{}}
	// Glue and Athena names: lower case letters, digits and underscores, unique to the stack.
	name := strings.ToLower(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, *awscdk.Names_UniqueId(s.Stack)+"_archive"))
	l.Database = awsglue.NewCfnDatabase(s.Stack, jsii.String("ArchiveDatabase"), &awsglue.CfnDatabaseProps{
		CatalogId: awscdk.Aws_ACCOUNT_ID(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:        jsii.String(name),
			Description: jsii.String("dcrm's event archive: events, profiles, identifiers, merges (shared/archive)"),
		},
	})
	for _, t := range archive.Tables {
		var cols []interface{}
		for _, c := range t.Columns {
			cols = append(cols, &awsglue.CfnTable_ColumnProperty{Name: jsii.String(c.GlueName()), Type: jsii.String(c.Type)})
		}
		params := map[string]*string{}
		for k, v := range t.GlueParameters(*bucket.BucketName(), "", archiveSince) {
			params[k] = jsii.String(v)
		}
		table := awsglue.NewCfnTable(s.Stack, jsii.String("Archive"+strings.ToUpper(t.Name[:1])+t.Name[1:]+"Table"), &awsglue.CfnTableProps{
			CatalogId:    awscdk.Aws_ACCOUNT_ID(),
			DatabaseName: jsii.String(name),
			TableInput: &awsglue.CfnTable_TableInputProperty{
				Name:          jsii.String(t.Name),
				TableType:     jsii.String("EXTERNAL_TABLE"),
				Parameters:    params,
				PartitionKeys: []interface{}{&awsglue.CfnTable_ColumnProperty{Name: jsii.String(t.Partition.GlueName()), Type: jsii.String(t.Partition.Type)}},
				StorageDescriptor: &awsglue.CfnTable_StorageDescriptorProperty{
					Columns:      cols,
					Location:     jsii.String(t.Location(*bucket.BucketName(), "")),
					InputFormat:  jsii.String(archive.GlueInputFormat),
					OutputFormat: jsii.String(archive.GlueOutputFormat),
					SerdeInfo:    &awsglue.CfnTable_SerdeInfoProperty{SerializationLibrary: jsii.String(archive.GlueSerDe)},
				},
			},
		})
		table.AddDependency(l.Database)
		l.Tables[t.Name] = table
	}
	l.WorkGroup = awsathena.NewCfnWorkGroup(s.Stack, jsii.String("ArchiveWorkGroup"), &awsathena.CfnWorkGroupProps{
		Name:        jsii.String(name),
		Description: jsii.String("dcrm: queries on the event archive"),
		State:       jsii.String("ENABLED"),
		WorkGroupConfiguration: &awsathena.CfnWorkGroup_WorkGroupConfigurationProperty{
			EnforceWorkGroupConfiguration:   jsii.Bool(true),
			PublishCloudWatchMetricsEnabled: jsii.Bool(true),
			BytesScannedCutoffPerQuery:      jsii.Number(maxScanBytes),
			ResultConfiguration: &awsathena.CfnWorkGroup_ResultConfigurationProperty{
				OutputLocation:          jsii.String("s3://" + *bucket.BucketName() + "/" + topology.AthenaResultsPrefix),
				EncryptionConfiguration: &awsathena.CfnWorkGroup_EncryptionConfigurationProperty{EncryptionOption: jsii.String("SSE_S3")},
			},
		},
		RecursiveDeleteOption: jsii.Bool(false),
	})
	l.WorkGroup.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	for _, q := range archive.SavedQueries() {
		nq := awsathena.NewCfnNamedQuery(s.Stack, jsii.String("Query"+strings.ReplaceAll(q.Name, "_", "")), &awsathena.CfnNamedQueryProps{
			Name:        jsii.String(q.Name),
			Description: optional(truncate(q.Description, 1024)),
			Database:    jsii.String(name),
			QueryString: jsii.String(q.SQL),
			WorkGroup:   l.WorkGroup.Name(),
		})
		nq.AddDependency(l.WorkGroup)
	}
	output(s.Stack, "ArchiveDatabaseName", "DCRM_ARCHIVE_DATABASE", jsii.String(name))
	output(s.Stack, "ArchiveWorkGroupName", "DCRM_ARCHIVE_WORKGROUP", l.WorkGroup.Name())
	return l
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return jsii.String(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
