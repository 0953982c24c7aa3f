package consoleauth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// A KeySource fetches the issuer's JSON Web Key Set (RFC 7517), the document at
// <issuer>/.well-known/jwks.json. The Verifier caches what it returns.
type KeySource interface {
	FetchJWKS(ctx context.Context) ([]byte, error)
}

// maxJWKS bounds the key set read; Cognito's holds two keys in under 1 KB.
const maxJWKS = 64 << 10

// minKeyBits is the smallest RSA modulus accepted; Cognito's keys are 2048 bits.
const minKeyBits = 2048

// HTTPKeySource fetches the key set over HTTP(S) from URL.
type HTTPKeySource struct {
	URL    string
	Client *http.Client // nil: a client with a 5 s timeout
}

// JWKSURL is where an issuer serves its key set.
func JWKSURL(issuer string) string { return strings.TrimSuffix(issuer, "/") + "/.well-known/jwks.json" }

var defaultClient = &http.Client{Timeout: 5 * time.Second}

// FetchJWKS gets the key set.
func (s HTTPKeySource) FetchJWKS(ctx context.Context) ([]byte, error) {
	c := s.Client
	if c == nil {
		c = defaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch key set %s: HTTP %d", s.URL, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return nil, fmt.Errorf("read key set: %w", err)
	}
	return body, nil
}

// JWK is one key of a key set, as Cognito publishes them (RSA, RS256, use sig).
type JWK struct {
	Kty string `json:"kty"`
	Alg string `json:"alg,omitempty"`
	Kid string `json:"kid"`
	Use string `json:"use,omitempty"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKSet is a key set document.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK describes an RSA public key for signing with RS256 under kid.
func PublicJWK(kid string, pub *rsa.PublicKey) JWK {
	return JWK{Kty: "RSA", Alg: "RS256", Kid: kid, Use: "sig",
		N: b64.EncodeToString(pub.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
}

// parseJWKS reads the RSA signing keys of a key set by kid. Keys of other types, of another
// algorithm or use, or too weak are left out; a set with none left is an error.
func parseJWKS(raw []byte) (map[string]*rsa.PublicKey, error) {
	if len(raw) > maxJWKS {
		return nil, fmt.Errorf("key set longer than %d bytes", maxJWKS)
	}
	var set JWKSet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("parse key set: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Kid == "" || (k.Alg != "" && k.Alg != "RS256") || (k.Use != "" && k.Use != "sig") {
			continue
		}
		n, err1 := b64.DecodeString(k.N)
		e, err2 := b64.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			continue
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < minKeyBits || pub.E < 3 || pub.E%2 == 0 {
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("key set has no RSA signing key")
	}
	return keys, nil
}
