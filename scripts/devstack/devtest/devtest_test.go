package devtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoCommandOrFunctionLinksTestCode checks that what ships (the functions, the commands of
// scripts/, the CDK app) links neither "testing" nor a test helper package such as this one:
// those are for _test.go files only.
func TestNoCommandOrFunctionLinksTestCode(t *testing.T) {
	const module = "github.com/dcrm-project/dcrm/"
	list := func(args ...string) []string {
		t.Helper()
		cmd := exec.Command("go", append([]string{"list"}, args...)...)
		cmd.Dir = RepoRoot()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	var mains []string
	for _, p := range list("-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`, "./...") {
		if p != "" {
			mains = append(mains, p)
		}
	}
	if len(mains) == 0 {
		t.Fatal("found no main package")
	}
	testCode := func(p string) bool {
		return p == "testing" || strings.HasPrefix(p, "testing/") ||
			strings.HasPrefix(p, module) && (strings.HasSuffix(p, "test") || strings.Contains(p, "/testdata/"))
	}
	// Each package linked, with what it imports, to name who brings test code in.
	for _, line := range list(append([]string{"-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`}, mains...)...) {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], module) {
			continue
		}
		for _, imp := range fields[1:] {
			if testCode(imp) {
				t.Errorf("%s imports %s: a command or function links test code (only _test.go files may import it)", fields[0], imp)
			}
		}
	}
	if !slices.ContainsFunc(list("-deps", "./scripts/devstack/devtest"), testCode) {
		t.Error("the check sees no test code even in devtest itself")
	}
}
