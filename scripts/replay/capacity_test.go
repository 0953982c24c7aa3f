package main

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/guregu/dynamo/v2"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// The meter adds up the write and read units DynamoDB reports for requests that did not ask for
// them, per table and operation, and counts failed writes apart.
func TestMeterCountsWritesAndReads(t *testing.T) {
	endpoints := localawstest.Reachable(t)
	table := localawstest.NewTopologyTable(t, topology.TouchpointTable)
	meter, err := NewMeter(endpoints.DynamoDB)
	require.NoError(t, err)
	proxy := httptest.NewServer(meter)
	t.Cleanup(proxy.Close)
	metered := endpoints
	metered.DynamoDB = proxy.URL
	tb := metered.Dynamo().Table(table)
	ctx := context.Background()

	type item struct {
		P string `dynamo:"profileId,hash"`
		S string `dynamo:"at,range"`
		V string `dynamo:"v"`
	}
	require.NoError(t, tb.Put(item{P: "p", S: "1", V: "x"}).Run(ctx))
	require.Error(t, tb.Put(item{P: "p", S: "1", V: "y"}).If("attribute_not_exists('at')").Run(ctx))
	var got item
	require.NoError(t, tb.Get("profileId", "p").Range("at", dynamo.Equal, "1").Consistent(true).One(ctx, &got))
	var all []item
	require.NoError(t, tb.Get("profileId", "p").Consistent(true).All(ctx, &all))

	u := meter.Usage()
	require.Equal(t, 1.0, u.Total(table), "one write of an item under 1 KB")
	require.Equal(t, 2.0, u.ReadTotal(table), "two consistent reads of an item under 4 KB")
	require.Equal(t, 1, u.Ops["PutItem"])
	require.Equal(t, 1, u.Failed["PutItem"])
	require.Equal(t, map[string]int{"PutItem": 1, "GetItem": 1, "Query": 1}, u.Ops)
	require.Less(t, meter.Idle(), time.Minute)
}
