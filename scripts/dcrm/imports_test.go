package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/cost"
	"github.com/dcrm-project/dcrm/shared/datasets"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// dcrm import uploads a file with its options, waits for its report and prints it; a bad option
// is refused before anything is uploaded; dcrm import status prints the report again. Then the
// public online retail set, imported as orders through the local stack as it ships, gives the
// file's revenue net of returns, orders and returns on the profiles of a sample of customers.
func TestImportThroughTheLocalStack(t *testing.T) {
	ctx := context.Background()
	localawstest.Reachable(t)
	st, keys := devtest.Stack(t, "dcrmimport")
	profileKey := keystore.NewKey("pk_")
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "import"))
	for k, v := range st.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("DCRM_PROFILE_API_KEY", profileKey)

	dir := t.TempDir()
	customers := filepath.Join(dir, "crm.csv")
	require.NoError(t, os.WriteFile(customers, []byte("CRM_ID;Mail;Tier;Since\nc-1;Ann@Example.com;gold;2020-01-02\nc-2;bob@example.com;silver;2021-03-04\n;;;\n"), 0o644))
	var out strings.Builder
	err := run(ctx, []string{"import", customers, "--kind", "customers", "--comma", ";", "--map", "userId=CRM_ID,email=Mail,tier=Tier,createdAt=Since",
		"--key", "customers/crm.csv"}, &out)
	require.NoError(t, err, out.String())
	require.Contains(t, out.String(), "customers/crm.csv: done; 3 rows: 2 imported, 1 rejected")
	var status strings.Builder
	require.NoError(t, run(ctx, []string{"import", "status", "customers/crm.csv"}, &status))
	require.Contains(t, status.String(), "2 imported")
	require.ErrorContains(t, run(ctx, []string{"import", customers, "--kind", "customers", "--map", "nope=CRM_ID"}, &out), "nope")
	require.ErrorIs(t, run(ctx, []string{"import", customers}, &out), errUsage)
	require.Eventually(t, func() bool {
		var p strings.Builder
		return run(ctx, []string{"profile", "get", "--user-id", "c-1"}, &p) == nil && strings.Contains(p.String(), `"tier": "gold"`)
	}, 60*time.Second, 250*time.Millisecond, "the CRM's customer is a profile with its tier")

	// The online retail set, as shared/importing's README maps it.
	retail := datasets.Path("events", "online_retail", "OnlineRetail_invoice_level.csv")
	waitIdle(t, st)
	before := st.Usage()
	out.Reset()
	require.NoError(t, run(ctx, []string{"import", retail, "--kind", "orders", "--time-layout", "1/2/2006 15:04", "--currency", "GBP", "--nulls", "(blank)",
		"--map", "order_id=InvoiceNo,userId=CustomerID,quantity=Quantity,price=UnitPrice,timestamp=InvoiceDate,properties.country=Country"}, &out), out.String())
	require.Contains(t, out.String(), ": done; 25943 rows: 22221 imported, 3722 rejected, 0 duplicates; 22190 events")

	// Directly from the file: revenue net of returns, orders, returns per customer.
	f, err := os.Open(retail)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	type figures struct {
		revenue         float64
		orders, returns map[string]bool
	}
	want := map[string]*figures{}
	var order []string
	for _, r := range rows[1:] {
		if r[2] == "(blank)" {
			continue
		}
		c := want[r[2]]
		if c == nil {
			c = &figures{orders: map[string]bool{}, returns: map[string]bool{}}
			want[r[2]] = c
			order = append(order, r[2])
		}
		q, _ := strconv.ParseFloat(r[4], 64)
		price, _ := strconv.ParseFloat(r[5], 64)
		c.revenue += q * price
		if q > 0 {
			c.orders[r[0]] = true
		} else {
			c.returns[r[0]] = true
		}
	}
	// Every 40th customer in the file's order, once stitch has recorded them.
	for i := 0; i < len(order); i += 40 {
		id, w := order[i], want[order[i]]
		require.Eventually(t, func() bool {
			var p strings.Builder
			if run(ctx, []string{"profile", "get", "--user-id", id}, &p) != nil {
				return false
			}
			got := parseProfile(t, p.String())
			returns := 0.0
			if r, ok := got["returns"].(map[string]any); ok {
				returns = r["count"].(float64)
			}
			revenue, _ := got["revenue"].(float64)
			return got["orders"] == float64(len(w.orders)) && returns == float64(len(w.returns)) &&
				math.Abs(revenue-w.revenue) <= 1e-6*math.Max(1, math.Abs(w.revenue))
		}, 2*time.Minute, 500*time.Millisecond, "customer %s: revenue %.2f, %d orders, %d returns", id, w.revenue, len(w.orders), len(w.returns))
	}

	// What the import asked of AWS, per million rows of the file (the import, the stream, stitch,
	// the archive), priced: the measure in BENCHMARKS.md ("Import and archive").
	waitIdle(t, st)
	used := st.Usage().Sub(before)
	const fileRows = 25943
	u := used.CostUsage(fileRows)
	var report strings.Builder
	fmt.Fprintf(&report, "online retail import, %d rows, %d events: per row %.3f Kinesis records, %.2f WRU, %.2f RRU, %.4f Lambda GB-s, %.0f Firehose bytes billed\n",
		fileRows, 22190, u.KinesisRecords/fileRows, u.DynamoWRU/fileRows, u.DynamoRRU/fileRows, u.LambdaGBSeconds/fileRows, u.FirehoseBilledBytes/fileRows)
	a := cost.DefaultAssumptions()
	a.Streams, a.Tables = 0, 0 // the stream and the tables' least capacity are paid by live traffic already
	for _, mode := range []cost.Mode{cost.OnDemand, cost.Provisioned} {
		e, err := cost.PerMillion(u, a, cost.Setup{Capacity: mode, Beacon: cost.FunctionURL})
		require.NoError(t, err)
		fmt.Fprintf(&report, "per million rows, %s: USD %.3f (most: %s, %.3f)\n", mode, e.USD, cost.Describe(e.Dominant().Price), e.Dominant().USD)
	}
	t.Log("\n" + report.String())
	require.Positive(t, u.DynamoWRU, "the import's events were recorded")
	require.Positive(t, u.FirehoseBilledBytes, "and handed to the archive")
}

// waitIdle waits until the stream mapping has read every record put and stitch and archive are
// idle, three looks in a row, by the local host's usage counts.
func waitIdle(t *testing.T, st *stack.Stack) {
	t.Helper()
	quiet := 0
	var last usage.Snapshot
	require.Eventually(t, func() bool {
		u := st.Usage()
		if u.Kinesis.RecordsRead >= u.Kinesis.Records && u.Lambda["stitch"].InFlight == 0 && u.Lambda["archive"].InFlight == 0 &&
			u.Lambda["archive"].Invocations == last.Lambda["archive"].Invocations && u.Firehose.Records == last.Firehose.Records {
			quiet++
		} else {
			quiet = 0
		}
		last = u
		return quiet >= 3
	}, 3*time.Minute, 2*time.Second)
}

func parseProfile(t *testing.T, s string) map[string]any {
	t.Helper()
	var p map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &p), s)
	return p
}
