package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

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

// fakeCognito records the calls of the Cognito path and answers as a pool would.
type fakeCognito struct {
	calls    []string
	groupErr error
	users    []ciptypes.UserType
	groups   map[string][]string // group -> usernames
}

func (f *fakeCognito) AdminCreateUser(_ context.Context, in *cip.AdminCreateUserInput, _ ...func(*cip.Options)) (*cip.AdminCreateUserOutput, error) {
	f.calls = append(f.calls, "create "+aws.ToString(in.Username)+" "+string(in.MessageAction)+" temp="+aws.ToString(in.TemporaryPassword))
	return &cip.AdminCreateUserOutput{}, nil
}

func (f *fakeCognito) AdminAddUserToGroup(_ context.Context, in *cip.AdminAddUserToGroupInput, _ ...func(*cip.Options)) (*cip.AdminAddUserToGroupOutput, error) {
	f.calls = append(f.calls, "group "+aws.ToString(in.Username)+" "+aws.ToString(in.GroupName))
	return &cip.AdminAddUserToGroupOutput{}, f.groupErr
}

func (f *fakeCognito) AdminDeleteUser(_ context.Context, in *cip.AdminDeleteUserInput, _ ...func(*cip.Options)) (*cip.AdminDeleteUserOutput, error) {
	f.calls = append(f.calls, "delete "+aws.ToString(in.Username))
	return &cip.AdminDeleteUserOutput{}, nil
}

func (f *fakeCognito) AdminUserGlobalSignOut(_ context.Context, in *cip.AdminUserGlobalSignOutInput, _ ...func(*cip.Options)) (*cip.AdminUserGlobalSignOutOutput, error) {
	f.calls = append(f.calls, "signout "+aws.ToString(in.Username))
	return &cip.AdminUserGlobalSignOutOutput{}, nil
}

func (f *fakeCognito) ListUsers(context.Context, *cip.ListUsersInput, ...func(*cip.Options)) (*cip.ListUsersOutput, error) {
	return &cip.ListUsersOutput{Users: f.users}, nil
}

func (f *fakeCognito) ListUsersInGroup(_ context.Context, in *cip.ListUsersInGroupInput, _ ...func(*cip.Options)) (*cip.ListUsersInGroupOutput, error) {
	var out []ciptypes.UserType
	for _, name := range f.groups[aws.ToString(in.GroupName)] {
		out = append(out, ciptypes.UserType{Username: aws.String(name)})
	}
	return &cip.ListUsersInGroupOutput{Users: out}, nil
}

// The Cognito path, against a fake of the client: what it asks of the pool.
func TestUserCommandsOnCognito(t *testing.T) {
	ctx := t.Context()
	f := &fakeCognito{}
	pool := cognitoPool{client: f, id: "eu-west-1_AbCdEfGhI"}
	var out bytes.Buffer
	require.NoError(t, runUser(ctx, pool, "add", []string{"lena", "--role", "marketer"}, &out, time.Now()))
	temp := regexp.MustCompile(`(?m)^(\S{20})$`).FindStringSubmatch(out.String())
	require.NotNil(t, temp, out.String())
	assert.Equal(t, []string{"create lena SUPPRESS temp=" + temp[1], "group lena marketer"}, f.calls)
	assert.Contains(t, out.String(), "Cognito user pool eu-west-1_AbCdEfGhI")

	f.calls, f.groupErr = nil, errors.New("ResourceNotFoundException: group not found")
	require.ErrorContains(t, runUser(ctx, pool, "add", []string{"omar", "--role", "viewer"}, &out, time.Now()), "removed again")
	assert.Equal(t, "delete omar", f.calls[len(f.calls)-1], "no user is left without a role")

	f.users = []ciptypes.UserType{
		{Username: aws.String("lena"), UserStatus: ciptypes.UserStatusTypeForceChangePassword, UserCreateDate: aws.Time(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)),
			Attributes: []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String("lena@example.com")}}},
		{Username: aws.String("ops"), UserStatus: ciptypes.UserStatusTypeConfirmed, UserCreateDate: aws.Time(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))},
	}
	f.groups = map[string][]string{"marketer": {"lena"}, "operator": {"ops"}, "admin": {"ops"}}
	out.Reset()
	require.NoError(t, runUser(ctx, pool, "list", nil, &out, time.Now()))
	assert.Regexp(t, `(?m)^lena\s+marketer\s+FORCE_CHANGE_PASSWORD\s+lena@example.com\s+2026-03-01T00:00:00Z$`, out.String())
	assert.Regexp(t, `(?m)^ops\s+operator,admin\s+CONFIRMED\s+-\s+`, out.String())

	f.calls = nil
	require.NoError(t, runUser(ctx, pool, "rm", []string{"lena"}, &out, time.Now()))
	assert.Equal(t, []string{"signout lena", "delete lena"}, f.calls)
}
