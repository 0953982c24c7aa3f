package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/importing"
)

// The topology notifies the import of a file under each kind's prefix, and of nothing else.
func TestEveryKindHasItsPrefix(t *testing.T) {
	var kinds []string
	for _, k := range importing.AllKinds {
		kinds = append(kinds, string(k))
	}
	require.Equal(t, kinds, topology.ImportKinds)
	for _, n := range topology.Default().Notifications {
		if n.Function == "import" {
			require.False(t, n.Prefix == "" || importing.ReportKey("x") == n.Prefix+"x.json", "a report must start no import")
		}
	}
}

func TestWhereReportsAndSpendGo(t *testing.T) {
	require.Equal(t, "status/orders/a b.csv.json", importing.ReportKey("orders/a b.csv"))
	require.Equal(t, "status/orders/x.csv.json", importing.ReportKey("/orders/../orders/x.csv"))
	require.Equal(t, "spend/spend/2024.csv.jsonl", SpendKey("spend/2024.csv"))
}
