package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// collect looks write keys up through keystore's cache, so that a flood of calls with one bad
// key reads the Keys table once per instance and keystore.CacheTTL, not once per call.
func TestWriteKeysAreCached(t *testing.T) {
	top := topology.Default()
	fn, _ := top.Function("collect")
	env := map[string]string{"AWS_REGION": localaws.Region}
	for _, u := range fn.Uses {
		env[top.EnvVar(u.Resource)] = "http://127.0.0.1:9324/000000000000/" + u.Resource
	}
	h, err := setup(context.Background(), func(k string) string { return env[k] }, slog.Default())
	require.NoError(t, err)
	require.IsType(t, &keystore.Cache{}, h.keys)
}
