package devtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/dcrm-project/dcrm/infra/topology"
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
