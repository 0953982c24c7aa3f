package consoleauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// MaxTokenLength bounds a token: a longer one is refused before it is decoded. Cognito's tokens
// are one to two KB; each group adds its name.
const MaxTokenLength = 16 << 10

// ErrMalformed is returned (wrapped) for a token that is not a compact JWS of JSON header and
// claims.
var ErrMalformed = errors.New("malformed token")

// header is a JWS protected header: only what the verifier reads.
type header struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	Crit []string `json:"crit"`
}

// claims are the registered and Cognito claims the verifier reads.
type claims struct {
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  audience     `json:"aud"`
	ClientID  string       `json:"client_id"`
	TokenUse  string       `json:"token_use"`
	Expires   *numericDate `json:"exp"`
	NotBefore *numericDate `json:"nbf"`
	IssuedAt  *numericDate `json:"iat"`
	// Username is the access token's; CognitoUsername the ID token's.
	Username        string   `json:"username"`
	CognitoUsername string   `json:"cognito:username"`
	Email           string   `json:"email"`
	Groups          []string `json:"cognito:groups"`
}

// audience is "aud": one string or an array of them (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		var many []string
		if err := json.Unmarshal(b, &many); err != nil {
			return err
		}
		*a = many
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*a = audience{one}
	return nil
}

// numericDate is seconds since the epoch (RFC 7519 §2), whole or not; kept as whole seconds.
type numericDate int64

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if math.IsNaN(f) || f < 0 || f > 1<<40 {
		return fmt.Errorf("time %v out of range", f)
	}
	*d = numericDate(f)
	return nil
}

// parsed is a token split and decoded, its signature not yet checked.
type parsed struct {
	header    header
	claims    claims
	signed    string // header.payload, what the signature covers
	signature []byte
}

var b64 = base64.RawURLEncoding.Strict()

// parse splits a compact JWS (header.payload.signature, base64url without padding) and decodes
// its header and claims. It checks shape only: no algorithm, key or claim.
func parse(token string) (parsed, error) {
	var p parsed
	if len(token) > MaxTokenLength {
		return p, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenLength)
	}
	h, rest, ok1 := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") {
		return p, fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	}
	if err := decodePart(h, "header", &p.header); err != nil {
		return p, err
	}
	if err := decodePart(payload, "claims", &p.claims); err != nil {
		return p, err
	}
	s, err := b64.DecodeString(sig)
	if err != nil || len(s) == 0 {
		return p, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	p.signed, p.signature = token[:len(h)+1+len(payload)], s
	return p, nil
}

func decodePart(part, name string, into any) error {
	raw, err := b64.DecodeString(part)
	if err != nil {
		return fmt.Errorf("%w: %s is not base64url", ErrMalformed, name)
	}
	if !json.Valid(raw) || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		return fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, name)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	return nil
}
