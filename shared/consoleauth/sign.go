package consoleauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
)

// Sign makes a compact RS256 JWS of claims under kid, as Cognito signs its tokens (header
// {"kid":…,"alg":"RS256"}). The local host's issuer signs with it; so do the tests.
func Sign(key *rsa.PrivateKey, kid string, claims any) (string, error) {
	h, err := json.Marshal(struct {
		Kid string `json:"kid"`
		Alg string `json:"alg"`
	}{kid, "RS256"})
	if err != nil {
		return "", fmt.Errorf("encode header: %w", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	signed := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signed + "." + b64.EncodeToString(sig), nil
}
