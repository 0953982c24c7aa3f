// Package consoleauth checks the console's sign-in tokens: the ID and access tokens that a Cognito
// user pool (or the local host's issuer, which signs the same tokens) hands a signed-in user. A
// Verifier accepts RS256 tokens only, signed by a key of the issuer's key set, from the expected
// issuer and app client, within their lifetime; it returns the Principal: who signed in (for the
// audit log) and the profile-API key scopes their groups give them (roles.go holds the table).
//
// The package makes no AWS call: it reads the key set through a KeySource (HTTPKeySource fetches
// <issuer>/.well-known/jwks.json, as Cognito serves it). See README.md.
package consoleauth

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dcrm-project/dcrm/shared/keystore"
)

// Errors of a token that is refused, each wrapped with what was wrong.
var (
	// ErrAlgorithm: the header names another algorithm than RS256 (none, HS256, ES256 …), or
	// critical extensions.
	ErrAlgorithm = errors.New("token algorithm not accepted")
	// ErrUnknownKey: no key of the issuer's key set has the token's kid, even after fetching it again.
	ErrUnknownKey = errors.New("token signed by an unknown key")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("token signature invalid")
	// ErrIssuer, ErrClient, ErrTokenUse: the token is not from the user pool, not for the app
	// client, or not an ID or access token (a refresh token, another use).
	ErrIssuer   = errors.New("token from another issuer")
	ErrClient   = errors.New("token for another client")
	ErrTokenUse = errors.New("token of another use")
	// ErrExpired, ErrNotYetValid: outside the token's lifetime (beyond the leeway).
	ErrExpired     = errors.New("token expired")
	ErrNotYetValid = errors.New("token not valid yet")
	// ErrClaims: a claim the verifier needs is missing (sub, exp, iat, the username).
	ErrClaims = errors.New("token claims incomplete")
	// ErrNoRole: the token is good but its user is in none of the role groups. Verify returns
	// the Principal with this error, so a refusal can name the user.
	ErrNoRole = errors.New("user has no dcrm role")
	// ErrKeySet: the key set could not be fetched or read.
	ErrKeySet = errors.New("issuer key set unavailable")
)

// Token uses, Cognito's token_use claim.
const (
	IDToken     = "id"
	AccessToken = "access"
)

// Defaults of Config.
const (
	DefaultLeeway     = 30 * time.Second
	DefaultMinRefetch = 30 * time.Second
)

// Config says which tokens a Verifier accepts.
type Config struct {
	// Issuer is the user pool's issuer URL, https://cognito-idp.<region>.amazonaws.com/<pool id>
	// (locally http://127.0.0.1:<port>/<pool id>); the iss claim must equal it.
	Issuer string
	// ClientID is the app client's id: an access token's client_id, an ID token's aud.
	ClientID string
	// Keys fetches the issuer's key set; nil: HTTPKeySource{URL: JWKSURL(Issuer)}.
	Keys KeySource
	// TokenUses are the token_use values accepted; nil: both ID and access tokens.
	TokenUses []string
	// Leeway is the clock skew allowed on exp, nbf and iat; 0: DefaultLeeway.
	Leeway time.Duration
	// MinRefetch is the least time between two fetches of the key set (a token with an unknown kid
	// fetches it again, at most this often); 0: DefaultMinRefetch.
	MinRefetch time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Verifier checks tokens; it is safe for concurrent use. Build it once (it caches the key set).
type Verifier struct {
	cfg Config

	mu        sync.RWMutex
	keys      map[string]*rsa.PublicKey
	fetchMu   sync.Mutex // one fetch at a time
	lastFetch time.Time  // of the last attempt, successful or not
}

// NewVerifier checks cfg and returns a Verifier. It fetches nothing until the first token.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("consoleauth: an issuer and a client id are needed")
	}
	if !strings.HasPrefix(cfg.Issuer, "https://") && !strings.HasPrefix(cfg.Issuer, "http://127.0.0.1:") && !strings.HasPrefix(cfg.Issuer, "http://localhost:") {
		return nil, fmt.Errorf("consoleauth: issuer %q: want https (or a loopback http address, locally)", cfg.Issuer)
	}
	if cfg.Keys == nil {
		cfg.Keys = HTTPKeySource{URL: JWKSURL(cfg.Issuer)}
	}
	if cfg.TokenUses == nil {
		cfg.TokenUses = []string{IDToken, AccessToken}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MinRefetch == 0 {
		cfg.MinRefetch = DefaultMinRefetch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// Principal is who a good token says signed in: what the audit log records (never the token) and
// what they may do.
type Principal struct {
	Subject  string // the user's sub: stable, never reused
	Username string
	Email    string // from an ID token; an access token carries none
	Roles    []Role
	Scopes   []keystore.Scope
	TokenUse string    // IDToken or AccessToken
	Expires  time.Time // when the token expires
}

// Allows tells whether the principal has the scope (or admin), as keystore.APIKey.Allows.
func (p Principal) Allows(s keystore.Scope) bool {
	return slices.Contains(p.Scopes, s) || slices.Contains(p.Scopes, keystore.Admin)
}

// LogValue is how a principal appears in a log line: who, and their roles; never the token.
func (p Principal) LogValue() slog.Value {
	roles := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = string(r)
	}
	return slog.GroupValue(slog.String("user", p.Username), slog.String("sub", p.Subject),
		slog.String("roles", strings.Join(roles, ",")))
}

// Verify checks a token (without its "Bearer " prefix) and returns its principal. A good token of
// a user in no role group gives the principal and ErrNoRole.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	p, err := parse(token)
	if err != nil {
		return Principal{}, err
	}
	if p.header.Alg != "RS256" {
		return Principal{}, fmt.Errorf("%w: %q (want RS256)", ErrAlgorithm, p.header.Alg)
	}
	if len(p.header.Crit) > 0 {
		return Principal{}, fmt.Errorf("%w: critical header extensions %q", ErrAlgorithm, p.header.Crit)
	}
	key, err := v.key(ctx, p.header.Kid)
	if err != nil {
		return Principal{}, err
	}
	digest := sha256.Sum256([]byte(p.signed))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], p.signature); err != nil {
		return Principal{}, ErrSignature
	}
	return v.check(p.claims)
}

// check reads the claims of a token whose signature verified.
func (v *Verifier) check(c claims) (Principal, error) {
	if c.Issuer != v.cfg.Issuer {
		return Principal{}, fmt.Errorf("%w: %q", ErrIssuer, c.Issuer)
	}
	if !slices.Contains(v.cfg.TokenUses, c.TokenUse) {
		return Principal{}, fmt.Errorf("%w: %q (accepted: %s)", ErrTokenUse, c.TokenUse, strings.Join(v.cfg.TokenUses, ", "))
	}
	pr := Principal{Subject: c.Subject, TokenUse: c.TokenUse}
	switch c.TokenUse {
	case AccessToken:
		if c.ClientID != v.cfg.ClientID {
			return Principal{}, fmt.Errorf("%w: client_id %q", ErrClient, c.ClientID)
		}
		pr.Username = c.Username
	case IDToken:
		if !slices.Contains(c.Audience, v.cfg.ClientID) {
			return Principal{}, fmt.Errorf("%w: aud %q", ErrClient, []string(c.Audience))
		}
		pr.Username, pr.Email = c.CognitoUsername, c.Email
	}
	if c.Expires == nil || c.IssuedAt == nil || c.Subject == "" || pr.Username == "" {
		return Principal{}, fmt.Errorf("%w: want sub, exp, iat and the username", ErrClaims)
	}
	now, leeway := v.cfg.Now(), v.cfg.Leeway
	exp := time.Unix(int64(*c.Expires), 0)
	switch {
	case !now.Before(exp.Add(leeway)):
		return Principal{}, fmt.Errorf("%w at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	case c.NotBefore != nil && now.Add(leeway).Before(time.Unix(int64(*c.NotBefore), 0)):
		return Principal{}, fmt.Errorf("%w: nbf %s", ErrNotYetValid, time.Unix(int64(*c.NotBefore), 0).UTC().Format(time.RFC3339))
	case now.Add(leeway).Before(time.Unix(int64(*c.IssuedAt), 0)):
		return Principal{}, fmt.Errorf("%w: issued in the future (%s)", ErrNotYetValid, time.Unix(int64(*c.IssuedAt), 0).UTC().Format(time.RFC3339))
	}
	pr.Expires = exp
	pr.Roles = RolesOf(c.Groups)
	pr.Scopes = ScopesOf(pr.Roles)
	if len(pr.Roles) == 0 {
		return pr, fmt.Errorf("%w: %s is in none of the groups viewer, marketer, operator, admin", ErrNoRole, pr.Username)
	}
	return pr, nil
}

// key returns the issuer's key of id, fetching the key set when it is not cached yet or has no such
// key (keys rotate), at most once per MinRefetch.
func (v *Verifier) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if kid == "" {
		return nil, fmt.Errorf("%w: the header has no kid", ErrUnknownKey)
	}
	v.mu.RLock()
	k, ok := v.keys[kid]
	v.mu.RUnlock()
	if ok {
		return k, nil
	}
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	v.mu.RLock()
	k, ok = v.keys[kid] // another request may have fetched it meanwhile
	cached := v.keys != nil
	v.mu.RUnlock()
	if ok {
		return k, nil
	}
	if now := v.cfg.Now(); !v.lastFetch.IsZero() && now.Sub(v.lastFetch) < v.cfg.MinRefetch {
		if !cached {
			return nil, fmt.Errorf("%w: the last fetch failed; next try after %s", ErrKeySet, v.lastFetch.Add(v.cfg.MinRefetch).UTC().Format(time.RFC3339))
		}
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	}
	v.lastFetch = v.cfg.Now()
	raw, err := v.cfg.Keys.FetchJWKS(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySet, err)
	}
	keys, err := parseJWKS(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySet, err)
	}
	v.mu.Lock()
	v.keys = keys
	v.mu.Unlock()
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
}
