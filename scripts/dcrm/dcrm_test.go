package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"source", "add"}, {"apikey", "add"}, {"schedule", "run"}, {"profile", "get"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("dcrm %v: err = %v, want usage", args, err)
		}
	}
}

// TestSeedLocalAndSources seeds credentials into a fresh Keys table on DynamoDB Local, as `make up`
// does, and checks that each key does what its name says.
func TestSeedLocalAndSources(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	table := localawstest.NewTopologyTable(t, topology.KeyTable)
	keysVar := topology.Default().EnvVar(topology.KeyTable)
	t.Setenv(keysVar, "") // restored after the test; seed-local sets it from the file

	lines := []string{keysVar + "=" + table, "# a comment", ""}
	for k, v := range e.Environment() {
		t.Setenv(k, v)
		lines = append(lines, "export "+k+"="+v)
	}
	dir := t.TempDir()
	resources, out := filepath.Join(dir, "resources.env"), filepath.Join(dir, "local.env")
	if err := os.WriteFile(resources, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	var printed bytes.Buffer
	if err := run(ctx, []string{"seed-local", "--resources", resources, "--out", out}, &printed); err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(written), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	if env[keysVar] != table {
		t.Errorf("local.env lost the resource variables: %q", written)
	}

	keys := keystore.New(e.Dynamo(), table)
	browser, err := keys.Source(ctx, env["DCRM_WRITE_KEY"])
	if err != nil || browser.Trusted || !browser.AllowsOrigin("http://localhost:8080") || browser.AllowsOrigin("https://evil.example") {
		t.Errorf("browser source = %+v, %v", browser, err)
	}
	server, err := keys.Source(ctx, env["DCRM_SERVER_WRITE_KEY"])
	if err != nil || !server.Trusted {
		t.Errorf("server source = %+v, %v", server, err)
	}
	if err := keys.CheckProfileAPIKey(ctx, env["DCRM_PROFILE_API_KEY"]); err != nil {
		t.Errorf("profile key refused: %v", err)
	}
	if !strings.Contains(printed.String(), env["DCRM_PROFILE_API_KEY"]) {
		t.Errorf("seed-local did not print the keys: %s", printed.String())
	}

	var key bytes.Buffer
	if err := run(ctx, []string{"source", "add", "--name", "blog", "--origin", "https://blog.example", "--trusted", "--keep-raw-pii", "--phone-country-code", "+44", "--rate", "50"}, &key); err != nil {
		t.Fatal(err)
	}
	blog, err := keys.Source(ctx, strings.TrimSpace(key.String()))
	if err != nil || blog.Name != "blog" || !blog.Trusted || !blog.AllowsOrigin("https://blog.example") || !blog.KeepRawPII || blog.PhoneCountryCode != "44" || blog.Rate() != 50 {
		t.Errorf("added source = %+v, %v", blog, err)
	}
	if err := run(ctx, []string{"source", "add", "--name", "x", "--rate", "-1"}, &key); !errors.Is(err, errUsage) {
		t.Errorf("a negative rate: err = %v, want usage", err)
	}
}
