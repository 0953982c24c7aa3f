// Package keystore keeps dcrm's credentials in DynamoDB: write keys (each naming a source) and
// profile-API keys. Only a SHA-256 of each key is stored, so a leaked table does not leak keys.
package keystore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/source"
)

// ErrUnknownKey is returned for a key that is not stored, or is stored as the other kind.
var ErrUnknownKey = errors.New("unknown key")

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

// PutSource stores a write key for the source.
func (s *Store) PutSource(ctx context.Context, key string, src source.Source) error {
	if err := s.table.Put(item{KeyHash: Hash(key), Kind: kindWrite, Name: src.Name, Source: &src}).Run(ctx); err != nil {
		return fmt.Errorf("put write key: %w", err)
	}
	return nil
}

// Source returns the source a write key belongs to.
func (s *Store) Source(ctx context.Context, key string) (source.Source, error) {
	it, err := s.get(ctx, key)
	if err != nil {
		return source.Source{}, err
	}
	if it.Kind != kindWrite || it.Source == nil {
		return source.Source{}, ErrUnknownKey
	}
	return *it.Source, nil
}

// PutProfileAPIKey stores a key that may read and change profiles through the profile API.
func (s *Store) PutProfileAPIKey(ctx context.Context, key, name string) error {
	if err := s.table.Put(item{KeyHash: Hash(key), Kind: kindProfileAPI, Name: name}).Run(ctx); err != nil {
		return fmt.Errorf("put profile api key: %w", err)
	}
	return nil
}

// CheckProfileAPIKey returns nil for a stored profile-API key and ErrUnknownKey otherwise.
func (s *Store) CheckProfileAPIKey(ctx context.Context, key string) error {
	it, err := s.get(ctx, key)
	if err != nil {
		return err
	}
	if it.Kind != kindProfileAPI {
		return ErrUnknownKey
	}
	return nil
}

func (s *Store) get(ctx context.Context, key string) (item, error) {
	var it item
	if key == "" {
		return it, ErrUnknownKey
	}
	err := s.table.Get("keyHash", Hash(key)).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return it, ErrUnknownKey
	}
	if err != nil {
		return it, fmt.Errorf("get key: %w", err)
	}
	return it, nil
}
