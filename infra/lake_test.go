package main

import (
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/archive"
)

// The archive's tables, described once in package archive, are the Glue tables over the archive
// bucket, with Athena's partition projection on dt; the workgroup keeps its results in the bucket
// and caps a query's scan; every saved query is a named query of that workgroup.
func TestTheArchiveIsDescribedToGlueAndAthena(t *testing.T) {
	bucket := synth.bucketID[topology.ArchiveBucket]
	dbs := synth.stateJ.ofType("AWS::Glue::Database")
	if len(dbs) != 1 {
		t.Fatalf("%d Glue databases, want 1", len(dbs))
	}
	var db string
	for _, d := range dbs {
		db, _ = dig(d.props(), "DatabaseInput", "Name").(string)
	}
	tables := map[string]resource{}
	for _, tb := range synth.stateJ.ofType("AWS::Glue::Table") {
		if dig(tb.props(), "DatabaseName") != db {
			t.Errorf("a table of database %v, want %s", dig(tb.props(), "DatabaseName"), db)
		}
		tables[dig(tb.props(), "TableInput", "Name").(string)] = tb
	}
	if len(tables) != len(archive.Tables) {
		t.Fatalf("tables %v, want %d", tables, len(archive.Tables))
	}
	for _, want := range archive.Tables {
		tb, ok := tables[want.Name]
		if !ok {
			t.Errorf("no Glue table %s", want.Name)
			continue
		}
		in := dig(tb.props(), "TableInput")
		cols, _ := dig(in, "StorageDescriptor", "Columns").([]interface{})
		if len(cols) != len(want.Columns) {
			t.Errorf("%s: %d columns, want %d", want.Name, len(cols), len(want.Columns))
			continue
		}
		for i, c := range want.Columns {
			if dig(cols[i], "Name") != c.GlueName() || dig(cols[i], "Type") != c.Type {
				t.Errorf("%s column %d: %v, want %s %s", want.Name, i, cols[i], c.GlueName(), c.Type)
			}
		}
		if dig(in, "PartitionKeys", 0, "Name") != "dt" || dig(in, "Parameters", "projection.dt.type") != "date" || dig(in, "StorageDescriptor", "SerdeInfo", "SerializationLibrary") != archive.GlueSerDe {
			t.Errorf("%s: partitioning or format %v", want.Name, in)
		}
		if loc := fmtJSON(dig(in, "StorageDescriptor", "Location")); !strings.Contains(loc, bucket) || !strings.Contains(loc, want.Prefix) {
			t.Errorf("%s: location %s, want under the archive bucket %s at %s", want.Name, loc, bucket, want.Prefix)
		}
	}

	wgs := synth.stateJ.ofType("AWS::Athena::WorkGroup")
	if len(wgs) != 1 {
		t.Fatalf("%d workgroups, want 1", len(wgs))
	}
	for _, wg := range wgs {
		cfg := dig(wg.props(), "WorkGroupConfiguration")
		out := fmtJSON(dig(cfg, "ResultConfiguration", "OutputLocation"))
		if !strings.Contains(out, bucket) || !strings.Contains(out, topology.AthenaResultsPrefix) || dig(cfg, "EnforceWorkGroupConfiguration") != true ||
			dig(cfg, "BytesScannedCutoffPerQuery") == nil || dig(cfg, "ResultConfiguration", "EncryptionConfiguration", "EncryptionOption") != "SSE_S3" {
			t.Errorf("workgroup %v", cfg)
		}
	}
	queries := map[string]string{}
	for _, q := range synth.stateJ.ofType("AWS::Athena::NamedQuery") {
		queries[dig(q.props(), "Name").(string)], _ = dig(q.props(), "QueryString").(string)
		if dig(q.props(), "Database") != db {
			t.Errorf("named query on database %v", dig(q.props(), "Database"))
		}
	}
	saved := archive.SavedQueries()
	if len(queries) != len(saved) {
		t.Errorf("%d named queries, want %d", len(queries), len(saved))
	}
	for _, q := range saved {
		if queries[q.Name] != q.SQL {
			t.Errorf("named query %s is not the saved query's SQL", q.Name)
		}
	}
}
