package cognito

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/consoleauth"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

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

type fixture struct {
	iss    *Issuer
	dir    Dir
	srv    *httptest.Server
	client *cip.Client
	clock  *clock
}

// start runs an issuer over a new folder, with the AWS SDK's Cognito client pointed at it: what
// it accepts is what Cognito's own client sends and reads.
func start(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: Dir(t.TempDir()), clock: &clock{now: time.Now().Truncate(time.Second)}}
	f.srv = httptest.NewUnstartedServer(nil)
	iss, err := New(Config{Dir: f.dir, URL: "http://" + f.srv.Listener.Addr().String(), Now: f.clock.Now})
	require.NoError(t, err)
	f.iss = iss
	f.srv.Config.Handler = iss.Handler()
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	f.client = cip.New(cip.Options{Region: localaws.Region, BaseEndpoint: aws.String(iss.Endpoint()),
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	return f
}

func (f *fixture) signIn(t *testing.T, user, password string) (*cip.InitiateAuthOutput, error) {
	return f.client.InitiateAuth(t.Context(), &cip.InitiateAuthInput{
		AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth, ClientId: aws.String(f.iss.ClientID()),
		AuthParameters: map[string]string{"USERNAME": user, "PASSWORD": password},
	})
}

func (f *fixture) verifier(t *testing.T) *consoleauth.Verifier {
	v, err := consoleauth.NewVerifier(consoleauth.Config{Issuer: f.iss.IssuerURL(), ClientID: f.iss.ClientID(), Now: f.clock.Now})
	require.NoError(t, err)
	return v
}

func apiErrorCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "want an API error, got %v", err)
	return ae.ErrorCode()
}

const pw = "Correct-Horse-9-battery"

func TestSignInRefreshAndVerify(t *testing.T) {
	f := start(t)
	_, err := f.dir.AddUser("Alice", "alice@example.com", []string{"marketer", "operator"}, pw, false, f.clock.Now())
	require.NoError(t, err)

	out, err := f.signIn(t, "alice", pw)
	require.NoError(t, err)
	res := out.AuthenticationResult
	require.NotNil(t, res)
	assert.Equal(t, "Bearer", aws.ToString(res.TokenType))
	assert.EqualValues(t, 3600, res.ExpiresIn)
	require.NotEmpty(t, aws.ToString(res.RefreshToken))

	// Both tokens verify against the key set the issuer serves, as Cognito's would.
	v := f.verifier(t)
	access, err := v.Verify(t.Context(), aws.ToString(res.AccessToken))
	require.NoError(t, err)
	assert.Equal(t, "alice", access.Username)
	assert.Equal(t, []consoleauth.Role{consoleauth.Marketer, consoleauth.Operator}, access.Roles)
	assert.True(t, access.Allows(keystore.Erase))
	assert.True(t, access.Allows(keystore.Export))
	assert.False(t, access.Allows(keystore.Admin))
	id, err := v.Verify(t.Context(), aws.ToString(res.IdToken))
	require.NoError(t, err)
	assert.Equal(t, "alice@example.com", id.Email)
	assert.Equal(t, access.Subject, id.Subject)

	// An hour later the tokens have expired; the refresh token gets new ones (and no new refresh token).
	f.clock.add(consoleauth.AccessTokenLifetime + time.Minute)
	_, err = v.Verify(t.Context(), aws.ToString(res.AccessToken))
	require.ErrorIs(t, err, consoleauth.ErrExpired)
	ref, err := f.client.InitiateAuth(t.Context(), &cip.InitiateAuthInput{
		AuthFlow: ciptypes.AuthFlowTypeRefreshTokenAuth, ClientId: aws.String(f.iss.ClientID()),
		AuthParameters: map[string]string{"REFRESH_TOKEN": aws.ToString(res.RefreshToken)},
	})
	require.NoError(t, err)
	assert.Empty(t, aws.ToString(ref.AuthenticationResult.RefreshToken))
	again, err := v.Verify(t.Context(), aws.ToString(ref.AuthenticationResult.AccessToken))
	require.NoError(t, err)
	assert.Equal(t, access.Subject, again.Subject)

	// A removed user's refresh token no longer works.
	require.NoError(t, f.dir.RemoveUser("alice"))
	_, err = f.client.InitiateAuth(t.Context(), &cip.InitiateAuthInput{
		AuthFlow: ciptypes.AuthFlowTypeRefreshTokenAuth, ClientId: aws.String(f.iss.ClientID()),
		AuthParameters: map[string]string{"REFRESH_TOKEN": aws.ToString(res.RefreshToken)},
	})
	assert.Equal(t, "NotAuthorizedException", apiErrorCode(t, err))

	// After the refresh token's lifetime it is refused.
	_, err = f.dir.AddUser("bob", "", []string{"viewer"}, pw, false, f.clock.Now())
	require.NoError(t, err)
	out, err = f.signIn(t, "bob", pw)
	require.NoError(t, err)
	f.clock.add(consoleauth.RefreshTokenLifetime)
	_, err = f.client.InitiateAuth(t.Context(), &cip.InitiateAuthInput{
		AuthFlow: ciptypes.AuthFlowTypeRefreshTokenAuth, ClientId: aws.String(f.iss.ClientID()),
		AuthParameters: map[string]string{"REFRESH_TOKEN": aws.ToString(out.AuthenticationResult.RefreshToken)},
	})
	assert.Equal(t, "NotAuthorizedException", apiErrorCode(t, err))
}

func TestWrongPasswordAndUnknownUser(t *testing.T) {
	f := start(t)
	_, err := f.dir.AddUser("alice", "", []string{"viewer"}, pw, false, f.clock.Now())
	require.NoError(t, err)

	_, err = f.signIn(t, "alice", pw+"x")
	assert.Equal(t, "NotAuthorizedException", apiErrorCode(t, err))
	_, err = f.signIn(t, "mallory", pw)
	assert.Equal(t, "NotAuthorizedException", apiErrorCode(t, err), "an unknown user is told the same as a wrong password")

	// The raw answer has Cognito's shape and status.
	resp := post(t, f, "AWSCognitoIdentityProviderService.InitiateAuth",
		`{"AuthFlow":"USER_PASSWORD_AUTH","ClientId":"`+f.iss.ClientID()+`","AuthParameters":{"USERNAME":"alice","PASSWORD":"nope"}}`)
	assert.Equal(t, http.StatusBadRequest, resp.status)
	assert.Equal(t, "application/x-amz-json-1.1", resp.header.Get("Content-Type"))
	assert.JSONEq(t, `{"__type":"NotAuthorizedException","message":"Incorrect username or password."}`, resp.body)

	resp = post(t, f, "AWSCognitoIdentityProviderService.InitiateAuth",
		`{"AuthFlow":"USER_PASSWORD_AUTH","ClientId":"someone-else","AuthParameters":{"USERNAME":"alice","PASSWORD":"`+pw+`"}}`)
	assert.Equal(t, http.StatusBadRequest, resp.status)
	assert.Contains(t, resp.body, "ResourceNotFoundException")
	resp = post(t, f, "AWSCognitoIdentityProviderService.InitiateAuth", `{"AuthFlow":"USER_PASSWORD_AUTH","ClientId":"`+f.iss.ClientID()+`","AuthParameters":{}}`)
	assert.Contains(t, resp.body, "InvalidParameterException")
	resp = post(t, f, "AWSCognitoIdentityProviderService.SignUp", `{}`)
	assert.Contains(t, resp.body, "UnknownOperationException")
	resp = post(t, f, "AWSCognitoIdentityProviderService.InitiateAuth", `{not json`)
	assert.Contains(t, resp.body, "SerializationException")
}

func TestFailedSignInsAreRateLimited(t *testing.T) {
	f := start(t)
	_, err := f.dir.AddUser("alice", "", []string{"viewer"}, pw, false, f.clock.Now())
	require.NoError(t, err)
	for range DefaultFailureLimit {
		_, err = f.signIn(t, "alice", "Wrong-password-1")
		require.Equal(t, "NotAuthorizedException", apiErrorCode(t, err))
	}
	// Even the right password is refused until the window ends.
	_, err = f.signIn(t, "alice", pw)
	var na *ciptypes.NotAuthorizedException
	require.ErrorAs(t, err, &na)
	assert.Equal(t, "Password attempts exceeded", aws.ToString(na.Message))
	// Another user is not affected.
	_, err = f.dir.AddUser("bob", "", []string{"viewer"}, pw, false, f.clock.Now())
	require.NoError(t, err)
	_, err = f.signIn(t, "bob", pw)
	require.NoError(t, err)

	f.clock.add(DefaultFailureWindow)
	_, err = f.signIn(t, "alice", pw)
	require.NoError(t, err)
}

func TestTemporaryPasswordMustBeChanged(t *testing.T) {
	f := start(t)
	temp := NewPassword()
	_, err := f.dir.AddUser("carol", "", []string{"admin"}, temp, true, f.clock.Now())
	require.NoError(t, err)

	out, err := f.signIn(t, "carol", temp)
	require.NoError(t, err)
	require.Nil(t, out.AuthenticationResult)
	assert.Equal(t, ciptypes.ChallengeNameTypeNewPasswordRequired, out.ChallengeName)
	respond := func(newPassword string) (*cip.RespondToAuthChallengeOutput, error) {
		return f.client.RespondToAuthChallenge(t.Context(), &cip.RespondToAuthChallengeInput{
			ChallengeName: ciptypes.ChallengeNameTypeNewPasswordRequired, ClientId: aws.String(f.iss.ClientID()),
			Session: out.Session, ChallengeResponses: map[string]string{"USERNAME": "carol", "NEW_PASSWORD": newPassword},
		})
	}
	_, err = respond("short")
	assert.Equal(t, "InvalidPasswordException", apiErrorCode(t, err))
	res, err := respond(pw)
	require.NoError(t, err)
	p, err := f.verifier(t).Verify(t.Context(), aws.ToString(res.AuthenticationResult.AccessToken))
	require.NoError(t, err)
	assert.Equal(t, keystore.AllScopes(), p.Scopes)

	// The temporary password is gone; the new one signs in directly.
	_, err = f.signIn(t, "carol", temp)
	assert.Equal(t, "NotAuthorizedException", apiErrorCode(t, err))
	out, err = f.signIn(t, "carol", pw)
	require.NoError(t, err)
	require.NotNil(t, out.AuthenticationResult)
}

func TestKeySetAndRestart(t *testing.T) {
	f := start(t)
	_, err := f.dir.AddUser("alice", "", []string{"viewer"}, pw, false, f.clock.Now())
	require.NoError(t, err)
	out, err := f.signIn(t, "alice", pw)
	require.NoError(t, err)

	resp, err := http.Get(consoleauth.JWKSURL(f.iss.IssuerURL()))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var set consoleauth.JWKSet
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	require.Len(t, set.Keys, 1)
	assert.Equal(t, "RS256", set.Keys[0].Alg)

	// A restarted issuer over the same folder keeps its pool, client and key: tokens stay good.
	again, err := New(Config{Dir: f.dir, URL: f.iss.cfg.URL, Now: f.clock.Now})
	require.NoError(t, err)
	assert.Equal(t, f.iss.PoolID(), again.PoolID())
	assert.Equal(t, f.iss.ClientID(), again.ClientID())
	assert.Equal(t, f.iss.kid, again.kid)
	_, err = f.verifier(t).Verify(t.Context(), aws.ToString(out.AuthenticationResult.IdToken))
	require.NoError(t, err)
}

func TestUserFile(t *testing.T) {
	d := Dir(t.TempDir())
	now := time.Now()
	_, err := d.AddUser("x", "", []string{"root"}, pw, false, now)
	require.Error(t, err, "unknown group")
	_, err = d.AddUser("bad name", "", []string{"viewer"}, pw, false, now)
	require.ErrorIs(t, err, ErrBadUsername)
	_, err = d.AddUser("dave", "", []string{"viewer"}, "password", false, now)
	require.ErrorIs(t, err, ErrWeakPassword)
	_, err = d.AddUser("dave", "", []string{"viewer"}, pw, false, now)
	require.NoError(t, err)
	_, err = d.AddUser("Dave", "", []string{"admin"}, pw, false, now)
	require.ErrorIs(t, err, ErrUserExists)
	require.ErrorIs(t, d.RemoveUser("erin"), ErrNoSuchUser)
	p, err := d.Load()
	require.NoError(t, err)
	require.Len(t, p.Users, 1)
	assert.NotContains(t, p.Users[0].PasswordHash, pw)
	assert.Regexp(t, `^\$2a\$10\$`, p.Users[0].PasswordHash)
	assert.Regexp(t, `^us-east-1_[A-Za-z0-9]{9}$`, p.ID)
	assert.Regexp(t, `^[a-z0-9]{26}$`, p.ClientID)
	for range 20 {
		require.NoError(t, CheckPassword(NewPassword()))
	}
}

type rawResponse struct {
	status int
	header http.Header
	body   string
}

func post(t *testing.T, f *fixture, target, body string) rawResponse {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.iss.Endpoint(), bytes.NewBufferString(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{resp.StatusCode, resp.Header, string(b)}
}
