package devtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// RepoRoot is the module's root folder, found from this file's place in it.
func RepoRoot() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "..")
}

// BuildFunctions builds every function of the topology as Lambda runs it (CGO off, lambda.norpc)
// for this machine, laid out like bin/functions (<dir>/<function>/bootstrap) in a temporary folder
// of the test, and returns that folder. A function that does not build fails the test.
func BuildFunctions(t testing.TB) string {
	t.Helper()
	skipShort(t)
	dir := t.TempDir()
	for _, f := range topology.Default().Functions {
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", filepath.Join(dir, f.Name, "bootstrap"), "./functions/"+f.Name)
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", f.Name, err, out)
		}
	}
	return dir
}

// Stack starts a local stack that runs the real bootstrap binaries of every function, with a
// random prefix and free ports, on the local servers; it is closed when the test ends. It returns
// the stack and its key store, in which the test seeds the sources and keys it needs.
func Stack(t testing.TB, prefix string) (*stack.Stack, *keystore.Store) {
	t.Helper()
	return StackWith(t, prefix, BuildFunctions(t), nil)
}

// StackWith is Stack on the functions in functionsDir (BuildFunctions, or Functions to build them
// once per test binary), with the configuration changed by configure before the stack starts:
// another topology (with the default's resource names), endpoints behind a proxy, shorter delays.
// The key store and the clean-up talk to the local servers themselves.
func StackWith(t testing.TB, prefix, functionsDir string, configure func(*stack.Config)) (*stack.Stack, *keystore.Store) {
	t.Helper()
	endpoints := localawstest.Reachable(t)
	cfg := stack.Config{
		Prefix: localawstest.UniqueName(prefix), FunctionsDir: functionsDir, Endpoints: endpoints,
		LogDir: t.TempDir(), PollInterval: 50 * time.Millisecond,
	}
	if configure != nil {
		configure(&cfg)
	}
	top := topology.Default()
	if cfg.Topology != nil {
		top = *cfg.Topology
	}
	st, err := stack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		stack.DeleteResources(endpoints, top, st.Resources())
	})
	return st, keystore.New(endpoints.Dynamo(), st.Resources()[topology.KeyTable])
}

var (
	functionsOnce sync.Once
	functionsDir  string
	functionsErr  error
)

// Functions builds every function of the topology once per test binary, as BuildFunctions does,
// into a temporary folder that Main removes, and returns that folder.
func Functions(t testing.TB) string {
	t.Helper()
	skipShort(t)
	functionsOnce.Do(func() {
		functionsDir, functionsErr = os.MkdirTemp("", "dcrm-functions")
		if functionsErr != nil {
			return
		}
		for _, f := range topology.Default().Functions {
			cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", filepath.Join(functionsDir, f.Name, "bootstrap"), "./functions/"+f.Name)
			cmd.Dir = RepoRoot()
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				functionsErr = fmt.Errorf("build %s: %v\n%s", f.Name, err, out)
				return
			}
		}
	})
	if functionsErr != nil {
		t.Fatal(functionsErr)
	}
	return functionsDir
}

// skipShort skips, under -short, a test that builds the functions: it is for a local stack, which
// needs the local servers, and building them all takes seconds before the stack would skip it.
func skipShort(t testing.TB) {
	if testing.Short() {
		t.Skip(localawstest.SkipMessage)
	}
}
