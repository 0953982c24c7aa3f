// Package keystore keeps dcrm's credentials in DynamoDB: write keys (each naming a source) and
// profile-API keys (each with scopes, an optional expiry), each revocable (keys.go). Only a SHA-256 of
// each key is stored, so a leaked table does not leak keys; keys are 144 random bits (NewKey), so
// an unsalted hash cannot be reversed by guessing. Cache puts a short-lived memory of look-ups,
// found or not, in front of the table.
package keystore

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/source"
)

// ErrUnknownKey is returned for a key that is not stored, or is stored as the other kind, or
// cannot be a key (empty, longer than MaxKeyLength, or not printable ASCII).
var ErrUnknownKey = errors.New("unknown key")

// ErrNoSuchID is returned when no key (of the kind asked for) has the id.
var ErrNoSuchID = errors.New("no key has this id")

// MaxKeyLength bounds a key: a longer one is refused without a look-up. Keys made by NewKey have
// 39 characters.
const MaxKeyLength = 128

// Kinds of key.
const (
	kindWrite      = "write"
	kindProfileAPI = "profile-api"
)

type item struct {
	KeyHash string         `dynamo:"keyHash,hash"`
	Kind    string         `dynamo:"kind"`
	Name    string         `dynamo:"name,omitempty"`
	Source  *source.Source `dynamo:"source,omitempty"`
	// Of profile-API keys; none of these is stored on a key made before keys had scopes.
	Scopes  []Scope   `dynamo:"scopes,omitempty"`
	Created time.Time `dynamo:"created,omitempty"`
	Expires time.Time `dynamo:"expires,omitempty"`
	Revoked time.Time `dynamo:"revoked,omitempty"`
	Last4   string    `dynamo:"last4,omitempty"`
}

func (it item) apiKey() APIKey {
	k := APIKey{ID: keyID(it.KeyHash), Name: it.Name, Scopes: it.Scopes, Created: it.Created,
		Expires: it.Expires, Revoked: it.Revoked, Last4: it.Last4}
	if len(k.Scopes) == 0 {
		k.Scopes, k.Legacy = legacyScopes, true
	}
	return k
}

// Store reads and writes keys in the Keys table.
type Store struct{ table dynamo.Table }

// New returns a store over the named table.
func New(db *dynamo.DB, table string) *Store { return &Store{table: db.Table(table)} }

// Hash is how a key is stored.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewKey makes a random key with a readable prefix (e.g. "wk_" for write keys).
func NewKey(prefix string) string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// wellFormed tells whether key could be a key: bounded, printable ASCII without spaces.
func wellFormed(key string) bool {
	if key == "" || len(key) > MaxKeyLength {
		return false
	}
	for i := range len(key) {
		if key[i] <= ' ' || key[i] > '~' {
			return false
		}
	}
	return true
}

// PutSource stores a write key for the source.
func (s *Store) PutSource(ctx context.Context, key string, src source.Source) error {
	if err := s.table.Put(item{KeyHash: Hash(key), Kind: kindWrite, Name: src.Name, Source: &src}).Run(ctx); err != nil {
		return fmt.Errorf("put write key: %w", err)
	}
	return nil
}

// Source returns the source a write key belongs to.
func (s *Store) Source(ctx context.Context, key string) (source.Source, error) {
	return sourceOf(s.lookup(ctx, key))
}

// PutProfileAPIKey stores an admin profile-API key (every scope, no expiry), as the local stack
// and tests want; AddProfileAPIKey makes keys with chosen scopes.
func (s *Store) PutProfileAPIKey(ctx context.Context, key, name string) error {
	_, err := s.PutAPIKey(ctx, key, APIKey{Name: name, Scopes: []Scope{Admin}, Created: time.Now()})
	return err
}

// AddProfileAPIKey makes a new profile-API key with the name, scopes and expiry (zero: never) of
// k, stores its hash and returns the key, the one time it is ever shown, and what was stored.
func (s *Store) AddProfileAPIKey(ctx context.Context, k APIKey) (string, APIKey, error) {
	key := NewKey("pk_")
	stored, err := s.PutAPIKey(ctx, key, k)
	return key, stored, err
}

// PutAPIKey stores key as a profile-API key with k's name, scopes, creation and expiry, and
// returns what was stored (with its ID and Last4).
func (s *Store) PutAPIKey(ctx context.Context, key string, k APIKey) (APIKey, error) {
	switch {
	case !wellFormed(key):
		return APIKey{}, fmt.Errorf("a key is 1 to %d printable characters", MaxKeyLength)
	case len(k.Scopes) == 0:
		return APIKey{}, errors.New("a profile-API key needs at least one scope")
	case k.Created.IsZero():
		return APIKey{}, errors.New("a profile-API key needs its creation time")
	}
	it := item{KeyHash: Hash(key), Kind: kindProfileAPI, Name: k.Name, Scopes: canonical(k.Scopes),
		Created: k.Created.UTC(), Expires: k.Expires.UTC(), Last4: key[max(0, len(key)-4):]}
	if len(it.Scopes) != len(k.Scopes) {
		return APIKey{}, fmt.Errorf("unknown or repeated scope in %v", k.Scopes)
	}
	if err := s.table.Put(it).Run(ctx); err != nil {
		return APIKey{}, fmt.Errorf("put profile api key: %w", err)
	}
	return it.apiKey(), nil
}

// ProfileAPIKey returns the profile-API key stored for key, usable or not (APIKey.Usable tells),
// or ErrUnknownKey.
func (s *Store) ProfileAPIKey(ctx context.Context, key string) (APIKey, error) {
	return apiKeyOf(s.lookup(ctx, key))
}

// CheckProfileAPIKey returns nil for a stored profile-API key usable now, and ErrUnknownKey,
// ErrExpiredKey or ErrRevokedKey otherwise.
func (s *Store) CheckProfileAPIKey(ctx context.Context, key string) error {
	k, err := s.ProfileAPIKey(ctx, key)
	if err != nil {
		return err
	}
	return k.Usable(time.Now())
}

// APIKeys lists the profile-API keys, oldest first (legacy keys, of unknown age, first).
func (s *Store) APIKeys(ctx context.Context) ([]APIKey, error) {
	// The Keys table holds a few keys per source and tool: a scan is the simple way, and only the
	// operator's command does it (no function is granted Scan).
	var items []item
	if err := s.table.Scan().Filter("'kind' = ?", kindProfileAPI).All(ctx, &items); err != nil {
		return nil, fmt.Errorf("list profile api keys: %w", err)
	}
	keys := make([]APIKey, len(items))
	for i, it := range items {
		keys[i] = it.apiKey()
	}
	slices.SortFunc(keys, func(a, b APIKey) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return keys, nil
}

// RevokeAPIKey revokes the profile-API key with the id at now, and returns it. Revoking a revoked
// key again keeps its first revocation time. Functions that cached the key stop accepting it
// within their cache's TTL.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now time.Time) (APIKey, error) {
	it, err := s.revoke(ctx, id, kindProfileAPI, now)
	if err != nil {
		return APIKey{}, err
	}
	return it.apiKey(), nil
}

// lookup reads the item stored for key.
func (s *Store) lookup(ctx context.Context, key string) (item, error) {
	if !wellFormed(key) {
		return item{}, ErrUnknownKey
	}
	return s.get(ctx, Hash(key))
}

// get reads the item stored under a key's hash.
func (s *Store) get(ctx context.Context, hash string) (item, error) {
	var it item
	err := s.table.Get("keyHash", hash).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return it, ErrUnknownKey
	}
	if err != nil {
		return it, fmt.Errorf("get key: %w", err)
	}
	// The table found it by this hash; compare anyway, in constant time, so that no path
	// accepts a key whose hash was not the one stored.
	if subtle.ConstantTimeCompare([]byte(it.KeyHash), []byte(hash)) != 1 {
		return item{}, ErrUnknownKey
	}
	return it, nil
}

func sourceOf(it item, err error) (source.Source, error) {
	if err != nil {
		return source.Source{}, err
	}
	if it.Kind != kindWrite || it.Source == nil {
		return source.Source{}, ErrUnknownKey
	}
	if !it.Revoked.IsZero() {
		// Unknown to whoever only asks whether a key may send (collect answers 401), and revoked
		// to whoever asks why.
		return source.Source{}, fmt.Errorf("%w: %w at %s", ErrUnknownKey, ErrRevokedKey, it.Revoked.UTC().Format(time.RFC3339))
	}
	return *it.Source, nil
}

func apiKeyOf(it item, err error) (APIKey, error) {
	if err != nil {
		return APIKey{}, err
	}
	if it.Kind != kindProfileAPI {
		return APIKey{}, ErrUnknownKey
	}
	return it.apiKey(), nil
}
