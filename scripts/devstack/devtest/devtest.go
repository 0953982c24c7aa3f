// Package devtest helps tests that run the local host: it builds the real functions (BuildFunctions),
// and, for the host's own tests, the test function in testdata/testfn the
// way the real functions are built (CGO off, lambda.norpc), once per test binary.
package devtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once sync.Once
	path string
	err  error
)

// TestFunction returns the path of a built testdata/testfn bootstrap. The binary lives in a
// temporary folder for the life of the test binary; Cleanup removes it.
func TestFunction(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		_, here, _, _ := runtime.Caller(0)
		src := filepath.Join(filepath.Dir(here), "..", "testdata", "testfn")
		dir, mkErr := os.MkdirTemp("", "devstack-testfn")
		if mkErr != nil {
			err = mkErr
			return
		}
		path = filepath.Join(dir, "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", path, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, buildErr := cmd.CombinedOutput(); buildErr != nil {
			err = fmt.Errorf("build %s: %v\n%s", src, buildErr, out)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Cleanup removes the built binary; call it from TestMain after m.Run.
func Cleanup() {
	if path != "" {
		os.RemoveAll(filepath.Dir(path))
	}
}

// Install puts the test function under dir/<name>/bootstrap for each name, as a functions folder
// laid out like bin/functions.
func Install(t testing.TB, dir string, names ...string) {
	t.Helper()
	bin := TestFunction(t)
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(bin, filepath.Join(dir, n, "bootstrap")); err != nil {
			t.Fatal(err)
		}
	}
}
