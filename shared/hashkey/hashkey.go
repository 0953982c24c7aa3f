// Package hashkey holds the deployment's secret key for keyed hashes. What dcrm keeps about an
// identifier it must not be able to read back (an erased person's tombstones, a sender's
// deduplication scope) is stored as an HMAC under this key: without the key, hashing guesses of
// e-mail addresses or user ids finds nothing.
//
// In AWS the service stack creates the key in Secrets Manager and gives each function that needs it
// the secret's ARN in DCRM_HASH_KEY_SECRET; the local stack gives the key itself in DCRM_HASH_KEY.
package hashkey

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

const (
	// EnvKey carries the key itself (the local stack, tests).
	EnvKey = "DCRM_HASH_KEY"
	// EnvSecret carries the ARN (or name) of the Secrets Manager secret whose string is the key.
	EnvSecret = "DCRM_HASH_KEY_SECRET"
	// MinLength is the shortest key accepted, in bytes: 32, SHA-256's block half, so the key is at
	// least as strong as the hash.
	MinLength = 32
)

// Key is a secret HMAC-SHA256 key. The zero Key is not usable.
type Key struct{ secret []byte }

// ErrTooShort is returned for a key under MinLength bytes.
var ErrTooShort = fmt.Errorf("hash key: shorter than %d bytes", MinLength)

// New makes a Key from secret bytes (a generated string is fine: its bytes are the key).
func New(secret []byte) (Key, error) {
	if len(secret) < MinLength {
		return Key{}, ErrTooShort
	}
	return Key{secret: append([]byte(nil), secret...)}, nil
}

// Load reads the key once at a function's start: from EnvKey when set, else from the Secrets
// Manager secret named by EnvSecret. Neither set is an error that names both.
func Load(ctx context.Context, getenv func(string) string, cfg aws.Config) (Key, error) {
	if v := getenv(EnvKey); v != "" {
		return New([]byte(v))
	}
	id := getenv(EnvSecret)
	if id == "" {
		return Key{}, fmt.Errorf("read environment: neither %s nor %s is set", EnvKey, EnvSecret)
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return Key{}, fmt.Errorf("hash key: read secret: %w", err)
	}
	if out.SecretString == nil {
		return Key{}, errors.New("hash key: the secret has no string value")
	}
	return New([]byte(*out.SecretString))
}

// Sum is the keyed hash of parts under a purpose (e.g. "tombstone", "dedup"), so the same
// identifier hashes differently for each use: HMAC-SHA256 over the purpose and each part, each
// length-prefixed so that ("ab","c") and ("a","bc") differ, in unpadded base64url (43 characters).
func (k Key) Sum(purpose string, parts ...string) string {
	if len(k.secret) == 0 {
		panic("hashkey: Sum on the zero Key")
	}
	mac := hmac.New(sha256.New, k.secret)
	var n [binary.MaxVarintLen64]byte
	for _, p := range append([]string{purpose}, parts...) {
		mac.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		mac.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
