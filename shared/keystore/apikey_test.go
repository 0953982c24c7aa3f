package keystore

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseScopes(t *testing.T) {
	for in, want := range map[string][]Scope{
		"read":                  {Read},
		"export, read":          {Read, Export},
		"read,read,":            {Read},
		"split,admin,erase":     {Erase, Split, Admin},
		"consent":               {Consent},
		"audiences,read":        {Read, Audiences},
		" read , export,erase ": {Read, Export, Erase},
	} {
		got, err := ParseScopes(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseScopes(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, reason := range map[string]string{
		"":                       "name at least one scope of read,export,erase,consent,split,audiences,admin",
		" , ":                    "name at least one scope",
		"read,write":             `unknown scope "write"; known scopes: read,export,erase,consent,split,audiences,admin`,
		"READ":                   `unknown scope "READ"`,
		strings.Repeat("r", 300): "scopes longer than 256 bytes",
	} {
		if _, err := ParseScopes(in); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("ParseScopes(%q) err = %v, want %q", in, err, reason)
		}
	}
}

func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"read", "read,export", ",,admin", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scopes, err := ParseScopes(s)
		if err != nil {
			return
		}
		if len(scopes) == 0 || !slices.Equal(scopes, canonical(scopes)) {
			t.Fatalf("ParseScopes(%q) = %v", s, scopes)
		}
		again, err := ParseScopes(scopeList(scopes))
		if err != nil || !slices.Equal(again, scopes) {
			t.Fatalf("round trip of %v = %v, %v", scopes, again, err)
		}
	})
}

func TestAllows(t *testing.T) {
	reader := APIKey{Scopes: []Scope{Read, Export}}
	for _, s := range AllScopes() {
		if got, want := reader.Allows(s), s == Read || s == Export; got != want {
			t.Errorf("read,export key allows %s = %v", s, got)
		}
		if !(APIKey{Scopes: []Scope{Admin}}).Allows(s) {
			t.Errorf("admin does not allow %s", s)
		}
	}
	if (APIKey{}).Allows(Read) {
		t.Error("a key without scopes allows read")
	}
}

func TestUsable(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		key  APIKey
		at   time.Time
		want error
		says string
	}{
		{APIKey{}, t0, nil, ""},
		{APIKey{Expires: t0}, t0.Add(-time.Second), nil, ""},
		{APIKey{Expires: t0}, t0, ErrExpiredKey, "expired at 2026-03-01T12:00:00Z"},
		{APIKey{Revoked: t0}, t0.Add(-time.Second), nil, ""},
		{APIKey{Revoked: t0}, t0.Add(time.Hour), ErrRevokedKey, "revoked at 2026-03-01T12:00:00Z"},
		{APIKey{Revoked: t0, Expires: t0}, t0, ErrRevokedKey, "revoked"},
	}
	for _, tt := range tests {
		err := tt.key.Usable(tt.at)
		if !errors.Is(err, tt.want) || (err != nil && !strings.Contains(err.Error(), tt.says)) {
			t.Errorf("%+v at %s: Usable = %v, want %v (%q)", tt.key, tt.at, err, tt.want, tt.says)
		}
	}
}
