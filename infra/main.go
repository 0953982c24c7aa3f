// Command infra is dcrm's CDK app. It reads the one description of the deployment
// (infra/topology) and turns it into two stacks: a stateful one (stream, tables, queues) and a
// service one (functions, HTTP API, stream mapping, schedules, alarms).
//
// It synthesizes without the cdk CLI as well as under it:
//
//	go run ./infra                      # writes cdk.out/ (or $CDK_OUTDIR)
//	cdk synth -c functionsDir=bin/lambda
//
// The function binaries are read from <functionsDir>/<name>/bootstrap. functionsDir comes from the
// context value "functionsDir", else from $DCRM_FUNCTIONS_DIR, else bin/lambda; a relative path is
// taken from the project root (the folder holding cdk.json).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/dcrm-project/dcrm/infra/topology"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	defer jsii.Close()

	root, err := projectRoot()
	if err != nil {
		return err
	}
	contextValues, err := loadContext(filepath.Join(root, "cdk.json"))
	if err != nil {
		return err
	}
	outdir := os.Getenv("CDK_OUTDIR")
	if outdir == "" {
		outdir = filepath.Join(root, "cdk.out")
	}
	app := newApp(appOptions{Outdir: outdir, Context: contextValues})

	cfg := config{
		Topology:     topology.Default(),
		FunctionsDir: resolveFunctionsDir(contextString(app, contextFunctionsDir), os.Getenv(envFunctionsDir), root),
	}
	s, err := buildStacks(app, cfg)
	if err != nil {
		return err
	}
	app.Synth(nil)
	fmt.Fprintf(os.Stderr, "synthesized %s and %s into %s (functions from %s)\n",
		*s.State.StackName(), *s.Service.StackName(), outdir, cfg.FunctionsDir)
	return nil
}

// projectRoot is the nearest folder, from the working directory up, that holds cdk.json; the
// working directory itself when there is none.
func projectRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find working directory: %w", err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "cdk.json")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return wd, nil
		}
		dir = parent
	}
}

// contextString reads a string context value ("" when unset).
func contextString(app awscdk.App, key string) string {
	v := app.Node().TryGetContext(jsii.String(key))
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s)
	}
	return ""
}

// resolveFunctionsDir picks the folder of function binaries: the context value, else the
// environment value, else bin/lambda; relative paths are taken from root.
func resolveFunctionsDir(fromContext, fromEnv, root string) string {
	dir := defaultFunctionsDir
	switch {
	case fromContext != "":
		dir = fromContext
	case strings.TrimSpace(fromEnv) != "":
		dir = strings.TrimSpace(fromEnv)
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	return filepath.Clean(dir)
}

const (
	contextFunctionsDir = "functionsDir"
	envFunctionsDir     = "DCRM_FUNCTIONS_DIR"
	defaultFunctionsDir = "bin/lambda"
)
