package stack_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/cognito"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/consoleauth"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// The local host serves a user pool: the console user it makes signs in with Cognito's client, the
// tokens verify against the issuer the functions are told of, and a restart keeps the pool but
// gives the console user a new password.
func TestLocalUserPool(t *testing.T) {
	endpoints := localawstest.Reachable(t)
	dir := t.TempDir()
	functions := filepath.Join(dir, "functions")
	devtest.Install(t, functions, "collect", "stitch", "score")
	top := testTopology(dir)
	top.Functions[0].Settings[topology.SettingAuthIssuer] = ""
	top.Functions[0].Settings[topology.SettingAuthClientID] = ""
	authDir := filepath.Join(dir, "auth")
	start := func() *stack.Stack {
		s, err := stack.Start(t.Context(), stack.Config{Topology: top, Prefix: localawstest.UniqueName("auth"), FunctionsDir: functions,
			Endpoints: endpoints, AuthDir: authDir, ConsoleUser: "admin"})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		deleteResources(t, s.Resources())
		return s
	}
	s := start()

	env := s.Env()
	user, password := s.ConsoleSignIn()
	assert.Equal(t, "admin", env[stack.EnvConsoleUser])
	assert.Equal(t, password, env[stack.EnvConsolePassword])
	require.NoError(t, cognito.CheckPassword(password))
	assert.Equal(t, s.AuthURL(), env[stack.EnvAuthURL])
	assert.Equal(t, authDir, env[stack.EnvAuthDir])
	issuer, clientID := env[topology.SettingAuthIssuer], env[topology.SettingAuthClientID]
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/us-east-1_[A-Za-z0-9]{9}$`, issuer)
	assert.Equal(t, issuer, s.FunctionEnv("collect")[topology.SettingAuthIssuer], "a function whose settings list it gets the issuer")
	assert.Equal(t, clientID, s.FunctionEnv("collect")[topology.SettingAuthClientID])
	assert.NotContains(t, s.FunctionEnv("stitch"), topology.SettingAuthIssuer, "only the functions whose settings list it")

	client := cip.New(cip.Options{Region: localaws.Region, BaseEndpoint: aws.String(env[stack.EnvAuthURL]), Credentials: aws.AnonymousCredentials{}})
	signIn := func(password string) (*cip.InitiateAuthOutput, error) {
		return client.InitiateAuth(t.Context(), &cip.InitiateAuthInput{AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth, ClientId: aws.String(clientID),
			AuthParameters: map[string]string{"USERNAME": user, "PASSWORD": password}})
	}
	out, err := signIn(password)
	require.NoError(t, err)
	v, err := consoleauth.NewVerifier(consoleauth.Config{Issuer: issuer, ClientID: clientID})
	require.NoError(t, err)
	p, err := v.Verify(t.Context(), aws.ToString(out.AuthenticationResult.AccessToken))
	require.NoError(t, err)
	assert.Equal(t, []consoleauth.Role{consoleauth.Admin}, p.Roles)

	// The pool lives in the folder; the env file holding the password is the owner's only.
	envFile := filepath.Join(dir, "resources.env")
	require.NoError(t, s.WriteEnvFile(envFile))
	info, err := os.Stat(envFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	raw, err := os.ReadFile(envFile)
	require.NoError(t, err)
	assert.Contains(t, string(raw), "\n"+stack.EnvConsolePassword+"="+password+"\n", "written unquoted: plain KEY=value readers get it as it is")
	require.FileExists(t, filepath.Join(authDir, cognito.UsersFileName))
	require.NoError(t, s.Close())

	again := start()
	assert.Equal(t, issuer[len(issuer)-19:], again.AuthIssuer()[len(again.AuthIssuer())-19:], "the same pool id")
	assert.Equal(t, clientID, again.AuthClientID())
	_, newPassword := again.ConsoleSignIn()
	assert.NotEqual(t, password, newPassword)
	pool, err := cognito.Dir(authDir).Load()
	require.NoError(t, err)
	assert.Len(t, pool.Users, 1, "the console user is kept, not added again")
}
