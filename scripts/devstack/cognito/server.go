// Package cognito is the local host's stand-in for a Cognito user pool: an issuer of the same ID,
// access and refresh tokens, answering Cognito's own API for signing in (InitiateAuth with
// USER_PASSWORD_AUTH or REFRESH_TOKEN_AUTH, and RespondToAuthChallenge for NEW_PASSWORD_REQUIRED:
// the same JSON 1.1 requests, answers and error shapes), and serving the pool's key set at
// <issuer>/.well-known/jwks.json, where the issuer is http://127.0.0.1:<port>/<pool id> as
// Cognito's is https://cognito-idp.<region>.amazonaws.com/<pool id>. shared/consoleauth verifies
// its tokens as it verifies Cognito's.
//
// Users and their groups are kept in <Dir>/users.json, passwords as bcrypt hashes; the signing key
// in <Dir>/signing-key.pem. `dcrm user` and the host change the file under a lock file, and the
// issuer reads it at each sign-in, so a user added or removed takes effect at once.
//
// Not emulated: SRP (USER_SRP_AUTH: the console uses USER_PASSWORD_AUTH), MFA, the hosted UI and
// OAuth endpoints, sign-up, forgotten passwords, GlobalSignOut and token revocation, and Cognito's
// growing lockout (a fixed window here, Config.FailureLimit failures per user per FailureWindow).
package cognito

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dcrm-project/dcrm/shared/consoleauth"
)

// Target prefix of Cognito's JSON 1.1 API.
const targetPrefix = "AWSCognitoIdentityProviderService."

// Defaults of Config.
const (
	DefaultFailureLimit  = 5
	DefaultFailureWindow = time.Minute
)

// Config sets up an Issuer.
type Config struct {
	Dir Dir    // the pool's folder
	URL string // where the server listens, http://127.0.0.1:PORT; the issuer is URL/<pool id>
	// FailureLimit failed sign-ins of one user within FailureWindow refuse further tries until the
	// window ends; 0: the defaults.
	FailureLimit  int
	FailureWindow time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
}

// Issuer signs users in and serves the key set.
type Issuer struct {
	cfg      Config
	key      *rsa.PrivateKey
	kid      string
	mac      []byte // keys the refresh tokens and sessions
	poolID   string
	clientID string
	issuer   string

	mu       sync.Mutex
	failures map[string]*window
}

type window struct {
	start time.Time
	count int
}

// New reads (or makes) the pool and its signing key.
func New(cfg Config) (*Issuer, error) {
	if cfg.FailureLimit == 0 {
		cfg.FailureLimit = DefaultFailureLimit
	}
	if cfg.FailureWindow == 0 {
		cfg.FailureWindow = DefaultFailureWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pool, err := cfg.Dir.Load()
	if err != nil {
		return nil, err
	}
	key, kid, err := cfg.Dir.signingKey()
	if err != nil {
		return nil, err
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	mac := sha256.Sum256(append([]byte("dcrm local issuer: refresh tokens and sessions\x00"), der...))
	return &Issuer{cfg: cfg, key: key, kid: kid, mac: mac[:], poolID: pool.ID, clientID: pool.ClientID,
		issuer: pool.Issuer(cfg.URL), failures: map[string]*window{}}, nil
}

// PoolID, ClientID and IssuerURL name the pool, its app client and its issuer.
func (i *Issuer) PoolID() string    { return i.poolID }
func (i *Issuer) ClientID() string  { return i.clientID }
func (i *Issuer) IssuerURL() string { return i.issuer }

// Endpoint is where InitiateAuth is called (Cognito's https://cognito-idp.<region>.amazonaws.com/).
func (i *Issuer) Endpoint() string { return strings.TrimSuffix(i.cfg.URL, "/") + "/" }

// Handler serves Cognito's sign-in API at / and the key set at /<pool id>/.well-known/jwks.json.
func (i *Issuer) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The console calls the pool from the browser, as it calls Cognito, which allows any origin.
		w.Header().Set("Access-Control-Allow-Origin", "*")
		switch {
		case r.Method == http.MethodOptions:
			w.Header().Set("Access-Control-Allow-Methods", "POST, GET")
			w.Header().Set("Access-Control-Allow-Headers", "content-type, x-amz-target, x-amz-user-agent, authorization")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodPost && r.URL.Path == "/":
			i.serveAPI(w, r)
		case r.Method == http.MethodGet && r.URL.Path == "/"+i.poolID+"/.well-known/jwks.json":
			writeJSON(w, http.StatusOK, "application/json", consoleauth.JWKSet{Keys: []consoleauth.JWK{consoleauth.PublicJWK(i.kid, &i.key.PublicKey)}})
		case r.Method == http.MethodGet && r.URL.Path == "/"+i.poolID+"/.well-known/openid-configuration":
			writeJSON(w, http.StatusOK, "application/json", map[string]any{
				"issuer": i.issuer, "jwks_uri": consoleauth.JWKSURL(i.issuer),
				"id_token_signing_alg_values_supported": []string{"RS256"}, "subject_types_supported": []string{"public"},
			})
		default:
			http.NotFound(w, r)
		}
	})
}

// apiError is one of Cognito's errors: its __type, message and HTTP status.
type apiError struct {
	Type    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func notAuthorized(msg string) *apiError {
	return &apiError{"NotAuthorizedException", msg, http.StatusBadRequest}
}
func invalidParameter(msg string) *apiError {
	return &apiError{"InvalidParameterException", msg, http.StatusBadRequest}
}

const incorrect = "Incorrect username or password."

// maxRequest bounds a request body.
const maxRequest = 64 << 10

func (i *Issuer) serveAPI(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	var out any
	switch {
	case err != nil || len(body) > maxRequest:
		err = &apiError{"SerializationException", "request body unreadable or longer than 64 KB", http.StatusBadRequest}
	case !ok || (op != "InitiateAuth" && op != "RespondToAuthChallenge"):
		err = &apiError{"UnknownOperationException", fmt.Sprintf("the local issuer does not implement %q (it answers InitiateAuth and RespondToAuthChallenge)", target), http.StatusBadRequest}
	case op == "InitiateAuth":
		var in initiateAuthInput
		if err = decode(body, &in); err == nil {
			out, err = i.initiateAuth(in)
		}
	default:
		var in respondInput
		if err = decode(body, &in); err == nil {
			out, err = i.respondToChallenge(in)
		}
	}
	w.Header().Set("X-Amzn-Requestid", newUUID())
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			i.cfg.Logger.Error("sign-in failed", "operation", op, "error", err)
			ae = &apiError{"InternalErrorException", "the local issuer failed: " + err.Error(), http.StatusInternalServerError}
		}
		w.Header().Set("X-Amzn-Errortype", ae.Type+":")
		writeJSON(w, ae.Status, "application/x-amz-json-1.1", map[string]string{"__type": ae.Type, "message": ae.Message})
		return
	}
	writeJSON(w, http.StatusOK, "application/x-amz-json-1.1", out)
}

func decode(body []byte, into any) error {
	if err := json.Unmarshal(body, into); err != nil {
		return &apiError{"SerializationException", "request body is not the operation's JSON: " + err.Error(), http.StatusBadRequest}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

type initiateAuthInput struct {
	AuthFlow       string
	ClientId       string //nolint:revive // Cognito's field name
	AuthParameters map[string]string
}

type respondInput struct {
	ChallengeName      string
	ClientId           string //nolint:revive // Cognito's field name
	ChallengeResponses map[string]string
	Session            string
}

// AuthenticationResult is Cognito's.
type AuthenticationResult struct {
	AccessToken  string
	IdToken      string //nolint:revive // Cognito's field name
	RefreshToken string `json:",omitempty"`
	ExpiresIn    int
	TokenType    string
}

type authOutput struct {
	AuthenticationResult *AuthenticationResult `json:",omitempty"`
	ChallengeName        string                `json:",omitempty"`
	ChallengeParameters  map[string]string
	Session              string `json:",omitempty"`
}

func (i *Issuer) checkClient(id string) error {
	if id == "" {
		return invalidParameter("Missing required parameter ClientId")
	}
	if id != i.clientID {
		return &apiError{"ResourceNotFoundException", fmt.Sprintf("User pool client %s does not exist.", id), http.StatusBadRequest}
	}
	return nil
}

func (i *Issuer) initiateAuth(in initiateAuthInput) (any, error) {
	if err := i.checkClient(in.ClientId); err != nil {
		return nil, err
	}
	switch in.AuthFlow {
	case "USER_PASSWORD_AUTH":
		return i.passwordAuth(in.AuthParameters["USERNAME"], in.AuthParameters["PASSWORD"])
	case "REFRESH_TOKEN_AUTH", "REFRESH_TOKEN":
		return i.refreshAuth(in.AuthParameters["REFRESH_TOKEN"])
	case "":
		return nil, invalidParameter("Missing required parameter AuthFlow")
	case "USER_SRP_AUTH":
		return nil, invalidParameter("USER_SRP_AUTH is not supported by the local issuer: use USER_PASSWORD_AUTH")
	default:
		return nil, invalidParameter(fmt.Sprintf("Auth flow %s is not enabled for the client.", in.AuthFlow))
	}
}

func (i *Issuer) passwordAuth(username, password string) (any, error) {
	switch {
	case username == "":
		return nil, invalidParameter("Missing required parameter USERNAME")
	case password == "":
		return nil, invalidParameter("Missing required parameter PASSWORD")
	}
	name := strings.ToLower(username)
	now := i.cfg.Now()
	if i.lockedOut(name, now) {
		return nil, notAuthorized("Password attempts exceeded")
	}
	pool, err := i.cfg.Dir.Load()
	if err != nil {
		return nil, err
	}
	u, ok := pool.Find(name)
	if !ok {
		_ = bcryptCompareDummy(password)
		i.failed(name, now)
		return nil, notAuthorized(incorrect) // as a pool that prevents user existence errors
	}
	if !u.checkPassword(password) {
		i.failed(name, now)
		i.cfg.Logger.Info("sign-in refused", "user", name, "reason", "wrong password")
		return nil, notAuthorized(incorrect)
	}
	i.succeeded(name)
	if u.Status == StatusForceChangePassword {
		attrs, _ := json.Marshal(map[string]string{"email": u.Email})
		session, err := i.seal(sealed{Kind: "session", Sub: u.Sub, Username: u.Username, Expires: now.Add(consoleauth.SessionLifetime).Unix()})
		if err != nil {
			return nil, err
		}
		return authOutput{ChallengeName: "NEW_PASSWORD_REQUIRED", Session: session, ChallengeParameters: map[string]string{
			"USER_ID_FOR_SRP": u.Username, "requiredAttributes": "[]", "userAttributes": string(attrs),
		}}, nil
	}
	i.cfg.Logger.Info("signed in", "user", u.Username, "sub", u.Sub)
	return i.tokens(*u, now, now, true)
}

func (i *Issuer) respondToChallenge(in respondInput) (any, error) {
	if err := i.checkClient(in.ClientId); err != nil {
		return nil, err
	}
	if in.ChallengeName != "NEW_PASSWORD_REQUIRED" {
		return nil, invalidParameter(fmt.Sprintf("the local issuer answers the NEW_PASSWORD_REQUIRED challenge only, not %q", in.ChallengeName))
	}
	now := i.cfg.Now()
	s, err := i.open(in.Session, "session", now)
	if err != nil {
		return nil, notAuthorized("Invalid session for the user, session is expired.")
	}
	if !strings.EqualFold(in.ChallengeResponses["USERNAME"], s.Username) {
		return nil, notAuthorized("Invalid session for the user.")
	}
	pw := in.ChallengeResponses["NEW_PASSWORD"]
	if pw == "" {
		return nil, invalidParameter("Missing required parameter NEW_PASSWORD")
	}
	if err := CheckPassword(pw); err != nil {
		return nil, &apiError{"InvalidPasswordException", "Password does not conform to policy: " + strings.TrimPrefix(err.Error(), ErrWeakPassword.Error()+": "), http.StatusBadRequest}
	}
	if err := i.cfg.Dir.SetPassword(s.Username, pw, false, now); err != nil {
		if errors.Is(err, ErrNoSuchUser) {
			return nil, notAuthorized(incorrect)
		}
		return nil, err
	}
	pool, err := i.cfg.Dir.Load()
	if err != nil {
		return nil, err
	}
	u, ok := pool.Find(s.Username)
	if !ok || u.Sub != s.Sub {
		return nil, notAuthorized(incorrect)
	}
	return i.tokens(*u, now, now, true)
}

func (i *Issuer) refreshAuth(token string) (any, error) {
	if token == "" {
		return nil, invalidParameter("Missing required parameter REFRESH_TOKEN")
	}
	now := i.cfg.Now()
	r, err := i.open(token, "refresh", now)
	if err != nil {
		return nil, notAuthorized("Invalid Refresh Token")
	}
	pool, err := i.cfg.Dir.Load()
	if err != nil {
		return nil, err
	}
	u, ok := pool.Find(r.Username)
	if !ok || u.Sub != r.Sub {
		return nil, notAuthorized("Refresh Token has been revoked")
	}
	return i.tokens(*u, time.Unix(r.AuthTime, 0), now, false)
}

// tokens signs the user's ID and access tokens (and a refresh token at a sign-in, not at a
// refresh: Cognito does not rotate them unless told to).
func (i *Issuer) tokens(u User, authTime, now time.Time, withRefresh bool) (authOutput, error) {
	origin, event := newUUID(), newUUID()
	groups := u.Groups
	if groups == nil {
		groups = []string{}
	}
	common := map[string]any{
		"sub": u.Sub, "iss": i.issuer, "origin_jti": origin, "event_id": event,
		"auth_time": authTime.Unix(), "iat": now.Unix(),
	}
	if len(u.Groups) > 0 {
		common["cognito:groups"] = groups // Cognito leaves the claim out for a user in no group
	}
	access := map[string]any{"client_id": i.clientID, "token_use": consoleauth.AccessToken,
		"scope": "aws.cognito.signin.user.admin", "exp": now.Add(consoleauth.AccessTokenLifetime).Unix(),
		"jti": newUUID(), "username": u.Username}
	id := map[string]any{"aud": i.clientID, "token_use": consoleauth.IDToken, "cognito:username": u.Username,
		"exp": now.Add(consoleauth.IDTokenLifetime).Unix(), "jti": newUUID()}
	if u.Email != "" {
		id["email"], id["email_verified"] = u.Email, true
	}
	for k, v := range common {
		access[k], id[k] = v, v
	}
	res := &AuthenticationResult{ExpiresIn: int(consoleauth.AccessTokenLifetime.Seconds()), TokenType: "Bearer"}
	var err error
	if res.AccessToken, err = consoleauth.Sign(i.key, i.kid, access); err != nil {
		return authOutput{}, err
	}
	if res.IdToken, err = consoleauth.Sign(i.key, i.kid, id); err != nil {
		return authOutput{}, err
	}
	if withRefresh {
		if res.RefreshToken, err = i.seal(sealed{Kind: "refresh", Sub: u.Sub, Username: u.Username, AuthTime: authTime.Unix(),
			Expires: now.Add(consoleauth.RefreshTokenLifetime).Unix()}); err != nil {
			return authOutput{}, err
		}
	}
	return authOutput{AuthenticationResult: res, ChallengeParameters: map[string]string{}}, nil
}

// sealed is what a refresh token or a session carries: opaque to the client (as Cognito's, which
// are encrypted), authenticated by the issuer's MAC.
type sealed struct {
	Kind     string `json:"k"`
	Sub      string `json:"s"`
	Username string `json:"u"`
	AuthTime int64  `json:"a,omitempty"`
	Expires  int64  `json:"e"`
	Nonce    string `json:"n"`
}

func (i *Issuer) seal(s sealed) (string, error) {
	var n [12]byte
	_, _ = rand.Read(n[:])
	s.Nonce = hex.EncodeToString(n[:])
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, i.mac)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

func (i *Issuer) open(token, kind string, now time.Time) (sealed, error) {
	var s sealed
	payload, mac, ok := strings.Cut(token, ".")
	if !ok || len(token) > 4096 {
		return s, errors.New("malformed")
	}
	b, err1 := base64.RawURLEncoding.DecodeString(payload)
	got, err2 := base64.RawURLEncoding.DecodeString(mac)
	if err1 != nil || err2 != nil {
		return s, errors.New("malformed")
	}
	m := hmac.New(sha256.New, i.mac)
	m.Write(b)
	if !hmac.Equal(m.Sum(nil), got) {
		return s, errors.New("bad mac")
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Kind != kind {
		return s, errors.New("wrong kind")
	}
	if now.Unix() >= s.Expires {
		return s, errors.New("expired")
	}
	return s, nil
}

// lockedOut tells whether the user has failed FailureLimit times in the current window.
func (i *Issuer) lockedOut(name string, now time.Time) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	w, ok := i.failures[name]
	return ok && w.count >= i.cfg.FailureLimit && now.Before(w.start.Add(i.cfg.FailureWindow))
}

// failed counts a failed sign-in of the user (known or not, so that both behave alike).
func (i *Issuer) failed(name string, now time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.failures) > 10000 { // forget finished windows rather than grow without bound
		for k, w := range i.failures {
			if !now.Before(w.start.Add(i.cfg.FailureWindow)) {
				delete(i.failures, k)
			}
		}
	}
	w, ok := i.failures[name]
	if !ok || !now.Before(w.start.Add(i.cfg.FailureWindow)) {
		w = &window{start: now}
		i.failures[name] = w
	}
	w.count++
}

func (i *Issuer) succeeded(name string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.failures, name)
}

// bcryptCompareDummy spends the time a password check would.
func bcryptCompareDummy(pw string) bool {
	u := User{PasswordHash: string(dummyHash)}
	return u.checkPassword(pw)
}
