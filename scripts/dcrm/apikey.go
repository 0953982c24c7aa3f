package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dcrm-project/dcrm/shared/keystore"
)

// apiKey runs `dcrm apikey add|list|revoke`.
func apiKey(ctx context.Context, cmd string, args []string, out io.Writer) error {
	switch cmd {
	case "apikey add":
		return addAPIKey(ctx, args, out, os.Stderr, time.Now())
	case "apikey list":
		return listAPIKeys(ctx, args, out, time.Now())
	case "apikey revoke":
		return revokeAPIKey(ctx, args, out, time.Now())
	}
	return errUsage
}

// addAPIKey makes a profile-API key; the key alone goes to out (the one time it is shown), what
// it may do to info.
func addAPIKey(ctx context.Context, args []string, out, info io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("apikey add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "who uses the key, e.g. crm-sync")
	scopeList := fs.String("scopes", "", "what the key may do: read, export, erase, consent, split, audiences, admin (comma-separated)")
	expiresIn := fs.String("expires", "", "when the key stops working: a date (2027-01-01, UTC), an RFC 3339 time, or a span from now (90d, 12h); default never")
	if err := fs.Parse(args); err != nil || *name == "" || *scopeList == "" || fs.NArg() > 0 {
		return errUsage
	}
	scopes, err := keystore.ParseScopes(*scopeList)
	if err != nil {
		return fmt.Errorf("--scopes: %w", err)
	}
	expires, err := parseExpiry(*expiresIn, now)
	if err != nil {
		return fmt.Errorf("--expires: %w", err)
	}
	keys, err := openKeys(ctx)
	if err != nil {
		return err
	}
	key, k, err := keys.AddProfileAPIKey(ctx, keystore.APIKey{Name: *name, Scopes: scopes, Created: now, Expires: expires})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, key)
	fmt.Fprintf(info, "%s (%s): scopes %s, expires %s. Keep the key now: only its hash is stored.\n",
		k.ID, k.Name, k.ScopeList(), orDash(k.Expires))
	return nil
}

// listAPIKeys prints the profile-API keys as a table, never a key or its hash.
func listAPIKeys(ctx context.Context, args []string, out io.Writer, now time.Time) error {
	if len(args) > 0 {
		return errUsage
	}
	keys, err := openKeys(ctx)
	if err != nil {
		return err
	}
	list, err := keys.APIKeys(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tSCOPES\tCREATED\tEXPIRES\tREVOKED\tKEY\tSTATUS")
	for _, k := range list {
		scopes, last4 := k.ScopeList(), "…"+k.Last4
		if k.Legacy {
			scopes, last4 = scopes+" (made before scopes)", "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, scopes, orDash(k.Created), orDash(k.Expires),
			orDash(k.Revoked), last4, status(k, now))
	}
	return w.Flush()
}

// revokeAPIKey revokes the key with the id given.
func revokeAPIKey(ctx context.Context, args []string, out io.Writer, now time.Time) error {
	if len(args) != 1 || !strings.HasPrefix(args[0], "key_") {
		return errUsage
	}
	keys, err := openKeys(ctx)
	if err != nil {
		return err
	}
	k, err := keys.RevokeAPIKey(ctx, args[0], now)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s (%s) revoked at %s; the profile API refuses it within %s\n", k.ID, k.Name, orDash(k.Revoked), keystore.CacheTTL)
	return nil
}

func status(k keystore.APIKey, now time.Time) string {
	if err := k.Usable(now); err != nil {
		if !k.Revoked.IsZero() && !now.Before(k.Revoked) {
			return "revoked"
		}
		return "expired"
	}
	if k.Legacy {
		return "active, read only"
	}
	return "active"
}

func orDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// maxExpiryDays bounds a span given in days or hours (about 100 years).
const maxExpiryDays = 36500

// parseExpiry reads when a key stops working: "" (never), a date (its start, UTC), an RFC 3339
// time, or a span from now in days ("90d") or hours ("12h"). It must be after now.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	const usage = "give a date (2027-01-01), an RFC 3339 time, or a span from now such as 90d or 12h"
	if s == "" {
		return time.Time{}, nil
	}
	var t time.Time
	if n, unit := s[:len(s)-1], s[len(s)-1]; unit == 'd' || unit == 'h' {
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 || v > maxExpiryDays || (unit == 'h' && v > maxExpiryDays*24) {
			return time.Time{}, fmt.Errorf("%q: %s (at most %d days)", s, usage, maxExpiryDays)
		}
		span := time.Duration(v) * time.Hour
		if unit == 'd' {
			span *= 24
		}
		t = now.Add(span)
	} else if d, err := time.Parse(time.DateOnly, s); err == nil {
		t = d
	} else if d, err := time.Parse(time.RFC3339, s); err == nil {
		t = d
	} else {
		return time.Time{}, fmt.Errorf("%q: %s", s, usage)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("%s is not in the future", t.UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}
