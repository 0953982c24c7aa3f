package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/source"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func openKeys(ctx context.Context) (*keystore.Store, error) {
	table := os.Getenv(topology.Default().EnvVar(topology.KeyTable))
	if table == "" {
		return nil, fmt.Errorf("%s is not set (source .dcrm/local.env, or set it to the deployed table)", topology.Default().EnvVar(topology.KeyTable))
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	return keystore.New(dynamo.New(cfg), table), nil
}

func addSource(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("source add", flag.ContinueOnError)
	name := fs.String("name", "", "source name, e.g. the site's host name")
	trusted := fs.Bool("trusted", false, "a server-side source whose identify calls may join known customers")
	keepRaw := fs.Bool("keep-raw-pii", false, "keep personal data as sent on the stream and in profiles (default: hashed or redacted at the edge)")
	country := fs.String("phone-country-code", "", "calling code for phone numbers sent without one, e.g. 44")
	rate := fs.Int("rate", 0, fmt.Sprintf("events per second the source may send to one instance of collect (default %d)", source.DefaultRateLimit))
	var origins multiFlag
	fs.Var(&origins, "origin", "allowed browser origin (repeatable), e.g. https://shop.example")
	if err := fs.Parse(args); err != nil || *name == "" || *rate < 0 {
		return errUsage
	}
	keys, err := openKeys(ctx)
	if err != nil {
		return err
	}
	key, err := putSource(ctx, keys, source.Source{Name: *name, AllowedOrigins: origins, Trusted: *trusted,
		KeepRawPII: *keepRaw, PhoneCountryCode: strings.TrimPrefix(*country, "+"), RateLimit: *rate})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, key)
	return nil
}

// putSource stores a new write key for src (keystore.AddSource, as the console's POST /v1/keys).
func putSource(ctx context.Context, keys *keystore.Store, src source.Source) (string, error) {
	key, _, err := keys.AddSource(ctx, src, time.Now())
	return key, err
}
