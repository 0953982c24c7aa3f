package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/hashkey"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// errNoTombstone is the answer of a lift where there is nothing to lift.
var errNoTombstone = errors.New("no tombstone for that identifier: it was never erased, or its tombstone was lifted already")

// liftTombstone lets an erased person's identifier be recorded again, when they came back and
// consented: it deletes the identifier's tombstone, which it finds by the identifier's keyed hash
// under the deployment's key (DCRM_HASH_KEY locally, the secret DCRM_HASH_KEY_SECRET names in AWS).
func liftTombstone(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("tombstone lift", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	raw := fs.String("identifier", "", "the identifier: email:ADDRESS, phone:+NUMBER, user:ID, anonymous:ID or TYPE:VALUE")
	if err := fs.Parse(args); err != nil || *raw == "" || fs.NArg() != 0 {
		return errUsage
	}
	id, err := tombstoneIdentifier(*raw)
	if err != nil {
		return err
	}
	table := os.Getenv(topology.Default().EnvVar(topology.IdentityTable))
	if table == "" {
		return fmt.Errorf("%s is not set (source .dcrm/local.env, or set it to the deployed table)", topology.Default().EnvVar(topology.IdentityTable))
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load aws config: %w", err)
	}
	key, err := hashkey.Load(ctx, os.Getenv, cfg)
	if err != nil {
		return err
	}
	engine := recording.New(profilestore.New(dynamo.New(cfg), profilestore.Tables{Identities: table}), recording.WithTombstoneKey(key))
	lifted, err := engine.Lift(ctx, id)
	if err != nil {
		return err
	}
	if !lifted {
		return errNoTombstone
	}
	fmt.Fprintf(out, "tombstone of the %s lifted: events carrying it are recorded again\n", id.Kind)
	return nil
}

// tombstoneIdentifier reads an identifier as an operator writes it: an email address or a phone
// number as the person gives it (hashed as collect hashes them), a user or anonymous id, or any
// identifier as dcrm writes it ("emailSha256:<hex>", "externalId:crm_id:42" …).
func tombstoneIdentifier(s string) (identity.ID, error) {
	kind, value, ok := strings.Cut(s, ":")
	if !ok || value == "" {
		return identity.ID{}, fmt.Errorf("identifier %q is not TYPE:VALUE (email:ADDRESS, phone:+NUMBER, user:ID, anonymous:ID, or as dcrm writes it)", s)
	}
	switch kind {
	case "email":
		h := pii.HashEmail(value)[pii.EmailKey]
		if h == "" {
			return identity.ID{}, errors.New("the email: value is not an email address")
		}
		return identity.ID{Kind: identity.EmailSHA256, Value: h}, nil
	case "phone":
		h := pii.HashPhone(value, "")[pii.PhoneKey]
		if h == "" {
			return identity.ID{}, errors.New("the phone: value is not a phone number with its country code (+44…)")
		}
		return identity.ID{Kind: identity.PhoneSHA256, Value: h}, nil
	case "user":
		return identity.UserID(value), nil
	case "anonymous":
		return identity.AnonymousID(value), nil
	}
	id, err := identity.Parse(s)
	if err != nil {
		return identity.ID{}, fmt.Errorf("identifier type %q is not known: use email, phone, user, anonymous or one of dcrm's (userId, emailSha256, externalId …)", kind)
	}
	return id, nil
}
