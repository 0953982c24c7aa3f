package consoleauth

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/keystore"
)

const (
	issuer   = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI"
	clientID = "4s1l2k3j4h5g6f7d8s9a0q1w2e"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	keyOnce   sync.Once
	testKeys  [3]*rsa.PrivateKey
	errKeyGen error
)

// keys are three RSA keys, made once for the package's tests.
func keys(t testing.TB) [3]*rsa.PrivateKey {
	keyOnce.Do(func() {
		for i := range testKeys {
			testKeys[i], errKeyGen = rsa.GenerateKey(rand.Reader, 2048)
			if errKeyGen != nil {
				return
			}
		}
	})
	require.NoError(t, errKeyGen)
	return testKeys
}

// fakeKeys serves a key set it can change, counting fetches.
type fakeKeys struct {
	mu      sync.Mutex
	set     JWKSet
	fetches int
	err     error
}

func (f *fakeKeys) FetchJWKS(context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches++
	if f.err != nil {
		return nil, f.err
	}
	return json.Marshal(f.set)
}

func (f *fakeKeys) serve(kids map[string]*rsa.PrivateKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set = JWKSet{}
	for kid, k := range kids {
		f.set.Keys = append(f.set.Keys, PublicJWK(kid, &k.PublicKey))
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestVerifier(t *testing.T) (*Verifier, *fakeKeys, *clock) {
	k := keys(t)
	src := &fakeKeys{}
	src.serve(map[string]*rsa.PrivateKey{"kid-1": k[0]})
	c := &clock{now: t0}
	v, err := NewVerifier(Config{Issuer: issuer, ClientID: clientID, Keys: src, Now: c.Now})
	require.NoError(t, err)
	return v, src, c
}

// accessClaims are an access token's claims as Cognito writes them.
func accessClaims(groups ...string) map[string]any {
	return map[string]any{
		"sub": "a1b2c3d4-0000-4000-8000-000000000001", "cognito:groups": groups, "iss": issuer,
		"client_id": clientID, "origin_jti": "o1", "event_id": "e1", "token_use": "access",
		"scope": "aws.cognito.signin.user.admin", "auth_time": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
		"iat": t0.Unix(), "jti": "j1", "username": "alice",
	}
}

// idClaims are an ID token's.
func idClaims(groups ...string) map[string]any {
	return map[string]any{
		"sub": "a1b2c3d4-0000-4000-8000-000000000001", "cognito:groups": groups, "email_verified": true,
		"iss": issuer, "cognito:username": "alice", "origin_jti": "o1", "aud": clientID, "event_id": "e1",
		"token_use": "id", "auth_time": t0.Unix(), "exp": t0.Add(time.Hour).Unix(), "iat": t0.Unix(),
		"jti": "j2", "email": "alice@example.com",
	}
}

func sign(t testing.TB, key *rsa.PrivateKey, kid string, claims any) string {
	tok, err := Sign(key, kid, claims)
	require.NoError(t, err)
	return tok
}

func with(c map[string]any, k string, v any) map[string]any {
	c[k] = v
	return c
}

func TestVerifyAccessAndIDTokens(t *testing.T) {
	v, _, _ := newTestVerifier(t)
	k := keys(t)[0]

	p, err := v.Verify(t.Context(), sign(t, k, "kid-1", accessClaims("marketer")))
	require.NoError(t, err)
	assert.Equal(t, "a1b2c3d4-0000-4000-8000-000000000001", p.Subject)
	assert.Equal(t, []Role{Marketer}, p.Roles)
	assert.Equal(t, "alice", p.Username)
	assert.Equal(t, AccessToken, p.TokenUse)
	assert.Equal(t, []keystore.Scope{keystore.Read, keystore.Export, keystore.Audiences}, p.Scopes)
	assert.True(t, p.Expires.Equal(t0.Add(time.Hour)))
	assert.True(t, p.Allows(keystore.Export))
	assert.False(t, p.Allows(keystore.Erase))

	p, err = v.Verify(t.Context(), sign(t, k, "kid-1", idClaims("operator")))
	require.NoError(t, err)
	assert.Equal(t, "alice@example.com", p.Email)
	assert.Equal(t, IDToken, p.TokenUse)
	assert.Equal(t, []Role{Operator}, p.Roles)
}

func TestVerifyRefuses(t *testing.T) {
	k := keys(t)
	cases := map[string]struct {
		token func(t *testing.T) string
		want  error
	}{
		"expired": {func(t *testing.T) string {
			return sign(t, k[0], "kid-1", with(accessClaims("viewer"), "exp", t0.Add(-time.Minute).Unix()))
		}, ErrExpired},
		"not before": {func(t *testing.T) string {
			return sign(t, k[0], "kid-1", with(accessClaims("viewer"), "nbf", t0.Add(5*time.Minute).Unix()))
		}, ErrNotYetValid},
		"issued in the future": {func(t *testing.T) string {
			return sign(t, k[0], "kid-1", with(accessClaims("viewer"), "iat", t0.Add(5*time.Minute).Unix()))
		}, ErrNotYetValid},
		"wrong issuer": {func(t *testing.T) string {
			return sign(t, k[0], "kid-1", with(accessClaims("viewer"), "iss", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"))
		}, ErrIssuer},
		"wrong client (access)": {func(t *testing.T) string {
			return sign(t, k[0], "kid-1", with(accessClaims("viewer"), "client_id", "another"))
		}, ErrClient},
		"wrong client (id)": {func(t *testing.T) string {
			return sign(t, k[0], "kid-1", with(idClaims("viewer"), "aud", []string{"another"}))
		}, ErrClient},
		"access token with only aud": {func(t *testing.T) string {
			c := accessClaims("viewer")
			delete(c, "client_id")
			c["aud"] = clientID
			return sign(t, k[0], "kid-1", c)
		}, ErrClient},
		"refresh use": {func(t *testing.T) string {
			return sign(t, k[0], "kid-1", with(accessClaims("viewer"), "token_use", "refresh"))
		}, ErrTokenUse},
		"no exp": {func(t *testing.T) string {
			c := accessClaims("viewer")
			delete(c, "exp")
			return sign(t, k[0], "kid-1", c)
		}, ErrClaims},
		"no username": {func(t *testing.T) string {
			return sign(t, k[0], "kid-1", with(accessClaims("viewer"), "username", ""))
		}, ErrClaims},
		"alg none": {func(t *testing.T) string {
			return unsigned(`{"alg":"none","kid":"kid-1"}`, accessClaims("admin")) + "."
		}, ErrMalformed},
		"alg none with a signature": {func(t *testing.T) string {
			return unsigned(`{"alg":"none","kid":"kid-1"}`, accessClaims("admin")) + ".AAAA"
		}, ErrAlgorithm},
		"alg HS256 keyed with the public key": {func(t *testing.T) string {
			// the key-confusion attack: an HMAC keyed with what the verifier would use as RSA key
			s := unsigned(`{"alg":"HS256","kid":"kid-1"}`, accessClaims("admin"))
			pub, _ := json.Marshal(PublicJWK("kid-1", &k[0].PublicKey))
			m := hmac.New(sha256.New, pub)
			m.Write([]byte(s))
			return s + "." + b64.EncodeToString(m.Sum(nil))
		}, ErrAlgorithm},
		"alg rs256 lower case": {func(t *testing.T) string {
			return resign(t, k[0], `{"alg":"rs256","kid":"kid-1"}`, accessClaims("admin"))
		}, ErrAlgorithm},
		"alg PS256": {func(t *testing.T) string {
			return resign(t, k[0], `{"alg":"PS256","kid":"kid-1"}`, accessClaims("admin"))
		}, ErrAlgorithm},
		"critical extension": {func(t *testing.T) string {
			return resign(t, k[0], `{"alg":"RS256","kid":"kid-1","crit":["exp"]}`, accessClaims("admin"))
		}, ErrAlgorithm},
		"tampered claims": {func(t *testing.T) string {
			good := sign(t, k[0], "kid-1", accessClaims("viewer"))
			parts := strings.Split(good, ".")
			c, _ := json.Marshal(accessClaims("admin"))
			return parts[0] + "." + b64.EncodeToString(c) + "." + parts[2]
		}, ErrSignature},
		"tampered signature": {func(t *testing.T) string {
			good := sign(t, k[0], "kid-1", accessClaims("viewer"))
			sig, _ := b64.DecodeString(good[strings.LastIndex(good, ".")+1:])
			sig[10] ^= 1
			return good[:strings.LastIndex(good, ".")+1] + b64.EncodeToString(sig)
		}, ErrSignature},
		"signed by another key under a known kid": {func(t *testing.T) string {
			return sign(t, k[1], "kid-1", accessClaims("admin"))
		}, ErrSignature},
		"no kid": {func(t *testing.T) string {
			return resign(t, k[0], `{"alg":"RS256"}`, accessClaims("viewer"))
		}, ErrUnknownKey},
		"two parts": {func(t *testing.T) string { return "eyJhbGciOiJSUzI1NiJ9.e30" }, ErrMalformed},
		"padded base64": {func(t *testing.T) string {
			good := sign(t, k[0], "kid-1", accessClaims("viewer"))
			return good + "=="
		}, ErrMalformed},
		"too long": {func(t *testing.T) string { return strings.Repeat("a", MaxTokenLength+1) }, ErrMalformed},
		"header not an object": {func(t *testing.T) string {
			return b64.EncodeToString([]byte(`"RS256"`)) + ".e30.AAAA"
		}, ErrMalformed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v, _, _ := newTestVerifier(t)
			p, err := v.Verify(t.Context(), tc.token(t))
			require.ErrorIs(t, err, tc.want)
			assert.Empty(t, p.Scopes)
		})
	}
}

// unsigned is header.claims, base64url-encoded, without a signature.
func unsigned(header string, claims any) string {
	c, _ := json.Marshal(claims)
	return b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(c)
}

// resign signs header.claims with an RS256 signature whatever the header says, to check the
// verifier reads the header rather than assuming it.
func resign(t *testing.T, key *rsa.PrivateKey, header string, claims any) string {
	s := unsigned(header, claims)
	digest := sha256.Sum256([]byte(s))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	require.NoError(t, err)
	return s + "." + b64.EncodeToString(sig)
}

func TestLeeway(t *testing.T) {
	v, _, c := newTestVerifier(t)
	tok := sign(t, keys(t)[0], "kid-1", accessClaims("viewer"))
	c.add(time.Hour + DefaultLeeway - time.Second)
	_, err := v.Verify(t.Context(), tok)
	require.NoError(t, err, "within the leeway after exp")
	c.add(time.Second)
	_, err = v.Verify(t.Context(), tok)
	require.ErrorIs(t, err, ErrExpired)
}

func TestKeyRotation(t *testing.T) {
	v, src, c := newTestVerifier(t)
	k := keys(t)
	_, err := v.Verify(t.Context(), sign(t, k[0], "kid-1", accessClaims("viewer")))
	require.NoError(t, err)
	require.Equal(t, 1, src.fetches)

	// A token under a kid the pool does not publish: refused without a fetch within MinRefetch of
	// the last one; after it, one fetch, then refused without fetching again.
	_, err = v.Verify(t.Context(), sign(t, k[1], "kid-2", accessClaims("viewer")))
	require.ErrorIs(t, err, ErrUnknownKey)
	require.Equal(t, 1, src.fetches)
	c.add(DefaultMinRefetch)
	_, err = v.Verify(t.Context(), sign(t, k[1], "kid-2", accessClaims("viewer")))
	require.ErrorIs(t, err, ErrUnknownKey)
	require.Equal(t, 2, src.fetches)
	for range 5 {
		_, err = v.Verify(t.Context(), sign(t, k[1], "kid-2", accessClaims("viewer")))
		require.ErrorIs(t, err, ErrUnknownKey)
	}
	require.Equal(t, 2, src.fetches, "unknown kids fetch at most once per MinRefetch")

	// The pool rotates: kid-2 is published, kid-1 retired. Once MinRefetch has passed, kid-2's
	// tokens verify and kid-1's are refused.
	src.serve(map[string]*rsa.PrivateKey{"kid-2": k[1], "kid-3": k[2]})
	c.add(DefaultMinRefetch)
	p, err := v.Verify(t.Context(), sign(t, k[1], "kid-2", accessClaims("admin")))
	require.NoError(t, err)
	assert.Equal(t, []Role{Admin}, p.Roles)
	require.Equal(t, 3, src.fetches)
	_, err = v.Verify(t.Context(), sign(t, k[2], "kid-3", accessClaims("viewer")))
	require.NoError(t, err, "another key of the set is cached")
	require.Equal(t, 3, src.fetches)
	_, err = v.Verify(t.Context(), sign(t, k[0], "kid-1", accessClaims("viewer")))
	require.ErrorIs(t, err, ErrUnknownKey)
}

func TestKeySetUnavailable(t *testing.T) {
	v, src, c := newTestVerifier(t)
	src.err = errors.New("connection refused")
	tok := sign(t, keys(t)[0], "kid-1", accessClaims("viewer"))
	_, err := v.Verify(t.Context(), tok)
	require.ErrorIs(t, err, ErrKeySet)
	_, err = v.Verify(t.Context(), tok)
	require.ErrorIs(t, err, ErrKeySet)
	require.Equal(t, 1, src.fetches, "a failed fetch is not retried at once")
	src.err = nil
	c.add(DefaultMinRefetch)
	_, err = v.Verify(t.Context(), tok)
	require.NoError(t, err)
}

func TestKeySetRefusesWeakOrForeignKeys(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	strong := keys(t)[0]
	raw, _ := json.Marshal(JWKSet{Keys: []JWK{
		PublicJWK("weak", &weak.PublicKey),
		{Kty: "EC", Kid: "ec", N: "x", E: "AQAB"},
		with2(PublicJWK("hs", &strong.PublicKey), "HS256"),
		PublicJWK("good", &strong.PublicKey),
	}})
	got, err := parseJWKS(raw)
	require.NoError(t, err)
	assert.Len(t, got, 1)
	assert.Contains(t, got, "good")
	_, err = parseJWKS([]byte(`{"keys":[]}`))
	require.Error(t, err)
}

func with2(k JWK, alg string) JWK { k.Alg = alg; return k }

func TestNoRole(t *testing.T) {
	v, _, _ := newTestVerifier(t)
	p, err := v.Verify(t.Context(), sign(t, keys(t)[0], "kid-1", accessClaims("another-app")))
	require.ErrorIs(t, err, ErrNoRole)
	assert.Equal(t, "alice", p.Username, "the principal names who was refused")
	assert.Empty(t, p.Scopes)
	assert.False(t, p.Allows(keystore.Read))
}

func TestGroupsToScopes(t *testing.T) {
	s := func(ss ...keystore.Scope) []keystore.Scope { return ss }
	cases := []struct {
		groups []string
		roles  []Role
		scopes []keystore.Scope
	}{
		{[]string{"viewer"}, []Role{Viewer}, s(keystore.Read)},
		{[]string{"marketer"}, []Role{Marketer}, s(keystore.Read, keystore.Export, keystore.Audiences)},
		{[]string{"operator"}, []Role{Operator}, s(keystore.Read, keystore.Erase, keystore.Consent, keystore.Split)},
		{[]string{"admin"}, []Role{Admin}, keystore.AllScopes()},
		{[]string{"operator", "marketer", "other"}, []Role{Marketer, Operator},
			s(keystore.Read, keystore.Export, keystore.Erase, keystore.Consent, keystore.Split, keystore.Audiences)},
		{[]string{"Admin", "admins"}, nil, nil},
		{nil, nil, nil},
	}
	for _, tc := range cases {
		roles := RolesOf(tc.groups)
		assert.Equal(t, tc.roles, roles, "%v", tc.groups)
		assert.Equal(t, tc.scopes, ScopesOf(roles), "%v", tc.groups)
	}
	// Only an operator or an admin may erase or split; only a marketer or an admin may export or
	// change audiences; every role reads.
	for _, r := range Roles() {
		p := Principal{Scopes: r.Scopes()}
		assert.True(t, p.Allows(keystore.Read), r)
		assert.Equal(t, r == Operator || r == Admin, p.Allows(keystore.Erase) && p.Allows(keystore.Split), r)
		assert.Equal(t, r == Marketer || r == Admin, p.Allows(keystore.Export) && p.Allows(keystore.Audiences), r)
	}
}

func TestNewVerifierNeedsIssuerAndClient(t *testing.T) {
	_, err := NewVerifier(Config{Issuer: issuer})
	require.Error(t, err)
	_, err = NewVerifier(Config{Issuer: "http://cognito.example/pool", ClientID: clientID})
	require.Error(t, err, "plain http only on loopback")
	_, err = NewVerifier(Config{Issuer: "http://127.0.0.1:9229/us-east-1_local", ClientID: clientID})
	require.NoError(t, err)
}

func FuzzParse(f *testing.F) {
	k := keys(f)[0]
	f.Add(sign(f, k, "kid-1", accessClaims("viewer")))
	f.Add(sign(f, k, "kid-1", idClaims("admin", "operator")))
	f.Add("e30.e30.AAAA")
	f.Add(`eyJhbGciOiJub25lIn0.eyJleHAiOjF9.`)
	f.Add(b64.EncodeToString([]byte(`{"alg":"RS256","kid":"a"}`)) + "." + b64.EncodeToString([]byte(`{"aud":["a","b"],"exp":1e300}`)) + ".AA")
	v, err := NewVerifier(Config{Issuer: issuer, ClientID: clientID, Keys: &fakeKeys{set: JWKSet{Keys: []JWK{PublicJWK("kid-1", &k.PublicKey)}}},
		Now: func() time.Time { return t0 }})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, token string) {
		p, err := parse(token)
		if err == nil {
			require.LessOrEqual(t, len(token), MaxTokenLength)
			require.Equal(t, token[:len(p.signed)], p.signed)
			require.NotEmpty(t, p.signature)
		}
		// Verify never panics, and grants nothing without a good signature of the known key.
		pr, err := v.Verify(context.Background(), token)
		if err == nil {
			require.NotEmpty(t, pr.Username)
			digestOK := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, sha(p.signed), p.signature) == nil
			require.True(t, digestOK)
		}
	})
}

func sha(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

// A principal logs as who signed in and their roles, never the token.
func TestPrincipalLogsWhoNotTheToken(t *testing.T) {
	v, _, _ := newTestVerifier(t)
	tok := sign(t, keys(t)[0], "kid-1", accessClaims("operator", "viewer"))
	p, err := v.Verify(t.Context(), tok)
	require.NoError(t, err)
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("profile request", slog.Any("principal", p))
	assert.Contains(t, b.String(), `"principal":{"user":"alice","sub":"a1b2c3d4-0000-4000-8000-000000000001","roles":"viewer,operator"}`)
	assert.NotContains(t, b.String(), tok[:20])
}
