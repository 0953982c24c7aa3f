package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/cognito"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/consoleauth"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// dcrm user works on the local host's pool: a user it adds signs in at the local issuer with the
// printed temporary password, chooses their own, and gets tokens with their role's scopes; one it
// removes can no longer sign in.
func TestUserCommandsOnTheLocalPool(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(stack.EnvAuthDir, dir)
	t.Setenv(envUserPoolID, "")
	ctx := t.Context()
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"user", "add", "Maria", "--role", "operator", "--email", "maria@example.com"}, &out))
	assert.Contains(t, out.String(), "added maria to the local user pool")
	assert.Contains(t, out.String(), "as operator (scopes: read,erase,consent,split)")
	temp := regexp.MustCompile(`(?m)^(\S{20})$`).FindStringSubmatch(out.String())
	require.NotNil(t, temp, out.String())

	out.Reset()
	err := run(ctx, []string{"user", "add", "maria", "--role", "viewer"}, &out)
	require.ErrorIs(t, err, cognito.ErrUserExists)
	require.ErrorContains(t, run(ctx, []string{"user", "add", "x", "--role", "root"}, &out), `--role "root": want viewer, marketer, operator or admin`)
	require.ErrorIs(t, run(ctx, []string{"user", "add", "x"}, &out), errUserUsage)
	require.ErrorIs(t, run(ctx, []string{"user", "frobnicate"}, &out), errUserUsage)

	require.NoError(t, run(ctx, []string{"user", "add", "--role", "marketer", "sam"}, &out))
	out.Reset()
	require.NoError(t, run(ctx, []string{"user", "list"}, &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	assert.Regexp(t, `^USER\s+ROLES\s+STATUS\s+EMAIL\s+CREATED$`, lines[0])
	assert.Regexp(t, `^maria\s+operator\s+FORCE_CHANGE_PASSWORD\s+maria@example.com\s+\d{4}-`, lines[1])
	assert.Regexp(t, `^sam\s+marketer\s+FORCE_CHANGE_PASSWORD\s+-\s+`, lines[2])
	assert.NotContains(t, out.String(), temp[1], "the password is shown once, at add")

	// Maria signs in at the local issuer over the same folder.
	srv := httptest.NewUnstartedServer(nil)
	iss, err := cognito.New(cognito.Config{Dir: cognito.Dir(dir), URL: "http://" + srv.Listener.Addr().String()})
	require.NoError(t, err)
	srv.Config.Handler = iss.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	client := cip.New(cip.Options{Region: localaws.Region, BaseEndpoint: aws.String(iss.Endpoint()), Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	signIn := func(password string) (*cip.InitiateAuthOutput, error) {
		return client.InitiateAuth(ctx, &cip.InitiateAuthInput{AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth, ClientId: aws.String(iss.ClientID()),
			AuthParameters: map[string]string{"USERNAME": "maria", "PASSWORD": password}})
	}
	first, err := signIn(temp[1])
	require.NoError(t, err)
	require.Equal(t, ciptypes.ChallengeNameTypeNewPasswordRequired, first.ChallengeName)
	res, err := client.RespondToAuthChallenge(ctx, &cip.RespondToAuthChallengeInput{ChallengeName: first.ChallengeName, ClientId: aws.String(iss.ClientID()),
		Session: first.Session, ChallengeResponses: map[string]string{"USERNAME": "maria", "NEW_PASSWORD": "Maria's-own-pass-1"}})
	require.NoError(t, err)
	v, err := consoleauth.NewVerifier(consoleauth.Config{Issuer: iss.IssuerURL(), ClientID: iss.ClientID()})
	require.NoError(t, err)
	p, err := v.Verify(ctx, aws.ToString(res.AuthenticationResult.IdToken))
	require.NoError(t, err)
	assert.Equal(t, "maria", p.Username)
	assert.Equal(t, "maria@example.com", p.Email)
	assert.True(t, p.Allows(keystore.Split))
	assert.False(t, p.Allows(keystore.Export))

	out.Reset()
	require.NoError(t, run(ctx, []string{"user", "rm", "maria"}, &out))
	assert.Contains(t, out.String(), "removed maria")
	_, err = signIn("Maria's-own-pass-1")
	var na *ciptypes.NotAuthorizedException
	require.ErrorAs(t, err, &na)
	require.ErrorIs(t, run(ctx, []string{"user", "rm", "maria"}, &out), cognito.ErrNoSuchUser)
}

func TestUserCommandNeedsAPool(t *testing.T) {
	t.Setenv(stack.EnvAuthDir, "")
	t.Setenv(envUserPoolID, "")
	err := run(context.Background(), []string{"user", "list"}, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), envUserPoolID)
}
