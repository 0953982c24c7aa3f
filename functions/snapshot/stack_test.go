package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	devstack "github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/profilestore"
)

// build builds a command of the module into dir/out, with cgo or without.
func build(t *testing.T, pkg, out string, cgo bool, tags ...string) string {
	t.Helper()
	args := []string{"build", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = devtest.RepoRoot()
	cmd.Env = append(os.Environ(), map[bool]string{true: "CGO_ENABLED=1", false: "CGO_ENABLED=0"}[cgo])
	output, err := cmd.CombinedOutput()
	require.NoError(t, err, "build %s: %s", pkg, output)
	return out
}

// The snapshot function as it ships (its bootstrap binary on the local host, with the environment
// the CDK stack gives it), run by the operator's `dcrm schedule run snapshot`: the run fans out to
// three parts through the local Invoke API, each writes its files to the local S3, and `dcrm sql`
// reads them back with DuckDB under the Athena tables' names — the live profiles, the merges to
// the survivors, the identifiers of live profiles only, nothing of the erased person.
func TestSnapshotOnTheLocalStack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := localawstest.Reachable(t)
	dir := t.TempDir()
	build(t, "./functions/snapshot", filepath.Join(dir, "functions", "snapshot", "bootstrap"), false, "lambda.norpc")
	dcrm := build(t, "./scripts/dcrm", filepath.Join(dir, "dcrm"), true)

	// The snapshot function alone, with the tables it reads (and the history, for the erasure),
	// the archive bucket, and a part size that makes three parts of the people's seven items.
	top := topology.Default()
	fn, _ := top.Function("snapshot")
	fn.Settings = map[string]string{settingPart: "3"}
	top.Functions, top.Routes, top.Mappings, top.Streams, top.DeliveryStreams, top.Notifications, top.Secrets =
		[]topology.Function{fn}, nil, nil, nil, nil, nil, nil
	top.Schedules = []topology.Schedule{{Name: topology.SnapshotSchedule, Function: "snapshot", Every: 24 * time.Hour}}
	var tables []topology.Table
	// (and the Health table, where it records its runs)
	for _, name := range []string{topology.ProfileTable, topology.IdentityTable, topology.TouchpointTable, topology.HealthTable} {
		tb, _ := top.Table(name)
		tables = append(tables, tb)
	}
	top.Tables, top.Queues, top.Buckets = tables, []topology.Queue{{Name: topology.FailedQueue}}, []topology.Bucket{{Name: topology.ArchiveBucket}}
	logs := t.TempDir()
	st, err := devstack.Start(ctx, devstack.Config{Topology: &top, Prefix: localawstest.UniqueName("snapshot"), FunctionsDir: filepath.Join(dir, "functions"),
		Endpoints: e, LogDir: logs})
	require.NoError(t, err)
	res := st.Resources()
	t.Cleanup(func() {
		st.Close()
		devstack.DeleteResources(e, top, res)
	})
	e.S3 = st.Env()["DCRM_S3_ENDPOINT"]

	store := profilestore.New(e.Dynamo(), profilestore.Tables{Profiles: res[topology.ProfileTable], Identities: res[topology.IdentityTable],
		Touchpoints: res[topology.TouchpointTable]})
	p := recordPeople(t, store)
	putIdentity(t, e.DynamoDBClient(), res[topology.IdentityTable], "dan-old", p.b)

	env := os.Environ()
	for k, v := range st.Env() {
		env = append(env, k+"="+v)
	}
	env = append(env, "DCRM_ARCHIVE_CACHE="+t.TempDir())
	dcrmRun := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(dcrm, args...)
		cmd.Env = env
		out, err := cmd.Output()
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		require.NoError(t, err, "dcrm %s: %s", strings.Join(args, " "), stderr)
		return string(out)
	}

	var sum summary
	require.NoError(t, json.Unmarshal([]byte(dcrmRun("schedule", "run", "snapshot")), &sum))
	require.Equal(t, "snapshot", sum.Mode)
	require.Equal(t, 3, sum.Parts)
	require.Zero(t, sum.Profiles, "the planner writes nothing itself")
	written := func() int {
		raw, err := os.ReadFile(filepath.Join(logs, "snapshot.log"))
		require.NoError(t, err)
		return strings.Count(string(raw), `"msg":"part written"`)
	}
	require.Eventually(t, func() bool { return written() == 3 }, 30*time.Second, 100*time.Millisecond, "three parts, each written once")

	wantP, wantI, wantM := p.want()
	profiles, ids, merges, _ := readSnapshot(t, e.S3Client(), res[topology.ArchiveBucket], sum.Date)
	require.Equal(t, wantP, profiles)
	require.Equal(t, wantM, merges)
	require.Len(t, ids, len(wantI)+1, "with dan's old user id")
	for _, id := range wantI {
		require.Contains(t, ids, id)
	}
	require.Contains(t, ids, archive.Identifier{ProfileID: p.dan, Kind: "userId", Value: "dan-old"})

	// What an analyst sees: the Athena tables over the bucket's files.
	latest := func(table string) string { return " FROM " + table + " WHERE dt = (SELECT max(dt) FROM " + table + ")" }
	require.Equal(t, "profileId\n"+strings.Join([]string{wantP[0].ProfileID, wantP[1].ProfileID, wantP[2].ProfileID}, "\n")+"\n",
		dcrmRun("sql", "SELECT profileId"+latest("profiles")+" ORDER BY 1"))
	require.Equal(t, "mergedId,profileId\n"+p.anon+","+p.ann+"\n", dcrmRun("sql", "SELECT mergedId, profileId"+latest("merges")+" AND profileId = '"+p.ann+"'"))
	require.Equal(t, "n,merged\n2,"+min(p.a, p.b)+" "+max(p.a, p.b)+"\n",
		dcrmRun("sql", "SELECT count(*) AS n, string_agg(mergedId, ' ' ORDER BY mergedId) AS merged"+latest("merges")+" AND profileId = '"+p.dan+"'"),
		"the chain of two merges, both to dan's profile")
	require.Equal(t, "kind,value\nanonymousId,a-ann\nanonymousId,a-anon\nemailSha256,"+p.annEmail.Value+"\nuserId,ann\nuserId,ann-2\n",
		dcrmRun("sql", "SELECT kind, value"+latest("identifiers")+" AND profileId = '"+p.ann+"' ORDER BY 1, 2"))
	require.Equal(t, "n\n0\n", dcrmRun("sql", "SELECT count(*) AS n"+latest("identifiers")+" AND (profileId = '"+p.bob+"' OR value IN ('bob', 'a-bob'))"),
		"nothing of the erased person")
}
