package keystore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A Scope is what a profile-API key may do. Every route of the profile API needs one
// (functions/profiles names which).
type Scope string

// The scopes, from the least to the most powerful.
const (
	// Read reads profiles, lookups, histories and merge logs.
	Read Scope = "read"
	// Export reads everything held about a person (a data-subject access request).
	Export Scope = "export"
	// Erase erases a person.
	Erase Scope = "erase"
	// Consent records consent.
	Consent Scope = "consent"
	// Split undoes a merge.
	Split Scope = "split"
	// Audiences defines, changes and removes audiences.
	Audiences Scope = "audiences"
	// Admin implies every other scope.
	Admin Scope = "admin"
)

// AllScopes lists every scope in a fixed order.
func AllScopes() []Scope { return []Scope{Read, Export, Erase, Consent, Split, Audiences, Admin} }

// maxScopesText bounds what ParseScopes reads.
const maxScopesText = 256

// ParseScopes reads a comma-separated list of scopes ("read,export"): at least one, each known,
// returned once each in AllScopes' order.
func ParseScopes(s string) ([]Scope, error) {
	if len(s) > maxScopesText {
		return nil, fmt.Errorf("scopes longer than %d bytes", maxScopesText)
	}
	var scopes []Scope
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(AllScopes(), Scope(name)) {
			return nil, fmt.Errorf("unknown scope %q; known scopes: %s", name, scopeList(AllScopes()))
		}
		scopes = append(scopes, Scope(name))
	}
	if len(scopes) == 0 {
		return nil, fmt.Errorf("name at least one scope of %s", scopeList(AllScopes()))
	}
	return canonical(scopes), nil
}

// canonical returns the scopes once each, in AllScopes' order.
func canonical(scopes []Scope) []Scope {
	var out []Scope
	for _, s := range AllScopes() {
		if slices.Contains(scopes, s) {
			out = append(out, s)
		}
	}
	return out
}

func scopeList(scopes []Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}

// Errors of a profile-API key that is stored but may not be used; Usable adds since when.
var (
	ErrExpiredKey = errors.New("expired")
	ErrRevokedKey = errors.New("revoked")
)

// APIKey is a stored profile-API key: what it may do and for how long. It never holds the key.
type APIKey struct {
	// ID names the key in logs and commands: "key_" and the first 12 hex digits of its hash.
	ID   string
	Name string // who uses it, e.g. "crm-sync"
	// Scopes are what the key may do. A key made before keys had scopes has none stored and is
	// read-only (Legacy).
	Scopes  []Scope
	Legacy  bool
	Created time.Time // zero for a legacy key
	Expires time.Time // zero: never
	Revoked time.Time // zero: not revoked
	Last4   string    // the key's last four characters, to tell keys apart; "" for a legacy key
}

// legacyScopes are the scopes of a key made before keys had scopes: it may read and nothing
// more, so that an old key that leaked cannot erase or export anyone.
var legacyScopes = []Scope{Read}

// Allows tells whether the key has the scope (or admin).
func (k APIKey) Allows(s Scope) bool {
	return slices.Contains(k.Scopes, s) || slices.Contains(k.Scopes, Admin)
}

// Usable returns nil for a key that may be used at now, or ErrRevokedKey or ErrExpiredKey saying
// since when ("revoked at 2026-03-01T12:00:00Z").
func (k APIKey) Usable(now time.Time) error {
	switch {
	case !k.Revoked.IsZero() && !now.Before(k.Revoked):
		return fmt.Errorf("%w at %s", ErrRevokedKey, k.Revoked.UTC().Format(time.RFC3339))
	case !k.Expires.IsZero() && !now.Before(k.Expires):
		return fmt.Errorf("%w at %s", ErrExpiredKey, k.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// ScopeList is the key's scopes as ParseScopes reads them ("read,export").
func (k APIKey) ScopeList() string { return scopeList(k.Scopes) }

// keyID is the id of the key whose hash is hash.
func keyID(hash string) string { return "key_" + hash[:min(12, len(hash))] }
