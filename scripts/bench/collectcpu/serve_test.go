package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
)

// The measured host is the deployment with collect alone: a valid topology (a notification or
// mapping left pointing at a function it dropped once kept the host from starting).
func TestCollectOnlyIsAValidTopologyOfCollectAlone(t *testing.T) {
	top := collectOnly(topology.Default())
	require.NoError(t, top.Validate())
	require.Len(t, top.Functions, 1)
	require.Equal(t, collect, top.Functions[0].Name)
	require.NotEmpty(t, top.Routes)
	for _, r := range top.Routes {
		require.Equal(t, collect, r.Function)
	}
	require.Equal(t, topology.Default().Tables, top.Tables, "the resources stay")
}
