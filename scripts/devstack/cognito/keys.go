package cognito

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// SigningKeyFileName holds the issuer's RSA key (PKCS #8, PEM), made on first start and kept, so
// that tokens outlive a restart of the local host as they outlive nothing in Cognito.
const SigningKeyFileName = "signing-key.pem"

// signingKey reads the folder's key, or makes a 2048-bit one and keeps it there.
func (d Dir) signingKey() (*rsa.PrivateKey, string, error) {
	path := filepath.Join(string(d), SigningKeyFileName)
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, "", fmt.Errorf("make signing key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, "", fmt.Errorf("encode signing key: %w", err)
		}
		if err := os.MkdirAll(string(d), 0o700); err != nil {
			return nil, "", fmt.Errorf("create %s: %w", d, err)
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, "", fmt.Errorf("keep signing key: %w", err)
		}
		return key, kid(&key.PublicKey), nil
	case err != nil:
		return nil, "", fmt.Errorf("read signing key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, "", fmt.Errorf("read signing key %s: not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("read signing key %s: %w", path, err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, "", fmt.Errorf("read signing key %s: not RSA", path)
	}
	return key, kid(&key.PublicKey), nil
}

// kid names a key by its public part, as a thumbprint does.
func kid(pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:16])
}
