package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/jsii-runtime-go"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/consoleauth"
)

// consoleAuth is the console's sign-in: a Cognito user pool with a group per role and the
// console's app client. It lives in the stateful stack: the users outlive a deployment.
type consoleAuth struct {
	Pool   awscognito.UserPool
	Client awscognito.UserPoolClient
	// Issuer is the pool's issuer URL, https://cognito-idp.<region>.amazonaws.com/<pool id>: the iss
	// of its tokens, and where its key set is (<issuer>/.well-known/jwks.json).
	Issuer *string
}

// consoleAdminUsername is the name of the first admin made from the consoleAdminEmail context value.
const consoleAdminUsername = "admin"

// minPasswordLength is the pool's password policy's, the same as the local issuer's.
const minPasswordLength = 12

// newConsoleAuth adds the user pool: no self sign-up (users are made by an admin: `dcrm user add`
// or the first admin from the context), usernames matched case-insensitively, a strong password
// policy, optional MFA by an authenticator app, the Lite feature plan (advanced security, or threat
// protection, needs the Plus plan, billed per user: off), retained and protected from deletion.
func newConsoleAuth(s *stateStack, set settings) *consoleAuth {
	pool := awscognito.NewUserPool(s.Stack, jsii.String("ConsoleUsers"), &awscognito.UserPoolProps{
		SelfSignUpEnabled:   jsii.Bool(false),
		SignInAliases:       &awscognito.SignInAliases{Username: jsii.Bool(true)},
		SignInCaseSensitive: jsii.Bool(false),
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(minPasswordLength), RequireLowercase: jsii.Bool(true), RequireUppercase: jsii.Bool(true),
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(7)),
		},
		Mfa:                awscognito.Mfa_OPTIONAL,
		MfaSecondFactor:    &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery:    awscognito.AccountRecovery_EMAIL_ONLY,
		FeaturePlan:        awscognito.FeaturePlan_LITE,
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
		UserInvitation: &awscognito.UserInvitationConfig{
			EmailSubject: jsii.String("Your dcrm console sign-in"),
			EmailBody:    jsii.String("Your dcrm console user is {username} and your temporary password {####}; you will choose your own at the first sign-in."),
		},
	})
	// A group per role (shared/consoleauth maps them to key scopes); precedence only orders them.
	for i, r := range []consoleauth.Role{consoleauth.Admin, consoleauth.Operator, consoleauth.Marketer, consoleauth.Viewer} {
		pool.AddGroup(jsii.String(constructID(string(r))+"Group"), &awscognito.UserPoolGroupOptions{
			GroupName:   jsii.String(string(r)),
			Description: jsii.String("dcrm console " + string(r) + ": profile-API scopes " + scopeList(r)),
			Precedence:  jsii.Number(float64(i)),
		})
	}
	// The console is a browser application: no secret. It signs in with USER_PASSWORD_AUTH (over
	// TLS to Cognito) or SRP, and refreshes (Cognito always allows REFRESH_TOKEN_AUTH).
	client := pool.AddClient(jsii.String("ConsoleClient"), &awscognito.UserPoolClientOptions{
		GenerateSecret:             jsii.Bool(false),
		AuthFlows:                  &awscognito.AuthFlow{UserPassword: jsii.Bool(true), UserSrp: jsii.Bool(true)},
		DisableOAuth:               jsii.Bool(true),
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		IdTokenValidity:            awscdk.Duration_Minutes(jsii.Number(consoleauth.IDTokenLifetime.Minutes())),
		AccessTokenValidity:        awscdk.Duration_Minutes(jsii.Number(consoleauth.AccessTokenLifetime.Minutes())),
		RefreshTokenValidity:       awscdk.Duration_Minutes(jsii.Number(consoleauth.RefreshTokenLifetime.Minutes())),
		AuthSessionValidity:        awscdk.Duration_Minutes(jsii.Number(consoleauth.SessionLifetime.Minutes())),
	})
	if set.ConsoleAdminEmail != "" {
		user := awscognito.NewCfnUserPoolUser(s.Stack, jsii.String("ConsoleAdmin"), &awscognito.CfnUserPoolUserProps{
			UserPoolId:             pool.UserPoolId(),
			Username:               jsii.String(consoleAdminUsername),
			DesiredDeliveryMediums: jsii.Strings("EMAIL"),
			UserAttributes: []interface{}{
				&awscognito.CfnUserPoolUser_AttributeTypeProperty{Name: jsii.String("email"), Value: jsii.String(set.ConsoleAdminEmail)},
				&awscognito.CfnUserPoolUser_AttributeTypeProperty{Name: jsii.String("email_verified"), Value: jsii.String("true")},
			},
		})
		attach := awscognito.NewCfnUserPoolUserToGroupAttachment(s.Stack, jsii.String("ConsoleAdminGroup"), &awscognito.CfnUserPoolUserToGroupAttachmentProps{
			UserPoolId: pool.UserPoolId(), Username: user.Ref(), GroupName: jsii.String(string(consoleauth.Admin)),
		})
		attach.Node().AddDependency(pool.Node().FindChild(jsii.String(constructID(string(consoleauth.Admin)) + "Group")))
	}
	a := &consoleAuth{Pool: pool, Client: client,
		Issuer: awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("https://"), pool.UserPoolProviderUrl()})}
	output(s.Stack, "ConsoleUserPoolId", "DCRM_AUTH_USER_POOL_ID", pool.UserPoolId())
	output(s.Stack, "ConsoleClientId", topology.SettingAuthClientID, client.UserPoolClientId())
	output(s.Stack, "ConsoleIssuer", topology.SettingAuthIssuer, a.Issuer)
	output(s.Stack, "ConsoleAuthUrl", "DCRM_AUTH_URL", awscdk.Fn_Join(jsii.String(""),
		&[]*string{jsii.String("https://cognito-idp."), s.Stack.Region(), jsii.String(".amazonaws.com/")}))
	return a
}

func scopeList(r consoleauth.Role) string {
	var out string
	for i, sc := range r.Scopes() {
		if i > 0 {
			out += ","
		}
		out += string(sc)
	}
	return out
}

// authSetting is the value of a console sign-in setting the topology leaves to the deployment
// (topology.SettingAuthIssuer, SettingAuthClientID); nil for any other.
func (a *consoleAuth) authSetting(name string) *string {
	switch name {
	case topology.SettingAuthIssuer:
		return a.Issuer
	case topology.SettingAuthClientID:
		return a.Client.UserPoolClientId()
	}
	return nil
}
