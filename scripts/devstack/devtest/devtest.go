// Package devtest helps tests that run the local host: it builds the real functions (BuildFunctions)
// and starts a whole local host on them (Stack), and, for the host's own tests, builds the test
// function in testdata/testfn the way the real functions are built (CGO off, lambda.norpc), once per
// test binary. Only tests import it: it imports "testing", which shipped binaries must not link.
package devtest

import (
	"bytes"
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

// Main runs the tests of a package that uses TestFunction or Functions, then removes the built binaries:
// func TestMain(m *testing.M) { devtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if path != "" {
		os.RemoveAll(filepath.Dir(path))
	}
	if functionsDir != "" {
		os.RemoveAll(functionsDir)
	}
	os.Exit(code)
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

// Buffer is a bytes.Buffer that the goroutines of a test and of the code under test may write to
// and read at once, such as a process's output.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
