package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/dcrm-project/dcrm/infra/topology"
)

// The console's sign-in: a retained user pool without self sign-up, a strong password policy and
// optional MFA; a group per role; an app client without a secret that signs in with passwords or
// SRP and states its token lifetimes; the issuer and client id in the environment of the
// functions whose settings list them (profiles); the first admin only from the context.
func TestConsoleUserPool(t *testing.T) {
	check(t, "user pool", func() {
		synth.state.HasResource(jsii.String("AWS::Cognito::UserPool"), obj(map[string]interface{}{
			"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
			"Properties": obj(map[string]interface{}{
				"AdminCreateUserConfig": obj(map[string]interface{}{"AllowAdminCreateUserOnly": true}),
				"Policies": obj(map[string]interface{}{"PasswordPolicy": map[string]interface{}{
					"MinimumLength": minPasswordLength, "RequireLowercase": true, "RequireUppercase": true,
					"RequireNumbers": true, "RequireSymbols": true, "TemporaryPasswordValidityDays": 7,
				}}),
				"MfaConfiguration":       "OPTIONAL",
				"EnabledMfas":            []interface{}{"SOFTWARE_TOKEN_MFA"},
				"UsernameConfiguration":  map[string]interface{}{"CaseSensitive": false},
				"UserPoolTier":           "LITE",
				"DeletionProtection":     "ACTIVE",
				"UserPoolAddOns":         assertions.Match_Absent(),
				"AccountRecoverySetting": assertions.Match_AnyValue(),
			}),
		}))
	})
	for _, g := range []string{"viewer", "marketer", "operator", "admin"} {
		check(t, "group "+g, func() {
			synth.state.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolGroup"), obj(map[string]interface{}{"GroupName": g}))
		})
	}
	check(t, "four groups", func() { synth.state.ResourceCountIs(jsii.String("AWS::Cognito::UserPoolGroup"), jsii.Number(4)) })
	check(t, "app client", func() {
		synth.state.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolClient"), map[string]interface{}{
			"UserPoolId":                      assertions.Match_AnyValue(),
			"GenerateSecret":                  false,
			"ExplicitAuthFlows":               []interface{}{"ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"},
			"AllowedOAuthFlowsUserPoolClient": false,
			"PreventUserExistenceErrors":      "ENABLED",
			"EnableTokenRevocation":           true,
			"IdTokenValidity":                 60,
			"AccessTokenValidity":             60,
			"RefreshTokenValidity":            720,
			"AuthSessionValidity":             3,
			"TokenValidityUnits":              map[string]interface{}{"IdToken": "minutes", "AccessToken": "minutes", "RefreshToken": "minutes"},
			"SupportedIdentityProviders":      assertions.Match_AnyValue(),
		})
	})
	check(t, "no first admin without the context value", func() {
		synth.state.ResourceCountIs(jsii.String("AWS::Cognito::UserPoolUser"), jsii.Number(0))
	})
	check(t, "first admin from consoleAdminEmail", func() {
		synth.optState.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolUser"), obj(map[string]interface{}{
			"Username": consoleAdminUsername, "DesiredDeliveryMediums": []interface{}{"EMAIL"},
			"UserAttributes": assertions.Match_ArrayWith(arr(map[string]interface{}{"Name": "email", "Value": "lead@example.com"})),
		}))
		synth.optState.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolUserToGroupAttachment"), obj(map[string]interface{}{
			"GroupName": "admin",
		}))
	})

	// The profiles function gets the pool's issuer and the client's id, across the stacks.
	pools := synth.stateJ.ofType("AWS::Cognito::UserPool")
	clients := synth.stateJ.ofType("AWS::Cognito::UserPoolClient")
	if len(pools) != 1 || len(clients) != 1 {
		t.Fatalf("%d pools, %d clients; want one of each", len(pools), len(clients))
	}
	var poolID, clientID string
	for id := range pools {
		poolID = id
	}
	for id := range clients {
		clientID = id
	}
	for id, fn := range synth.serviceJ.ofType("AWS::Lambda::Function") {
		vars, _ := dig(fn.props(), "Environment", "Variables").(map[string]interface{})
		issuer, hasIssuer := vars[topology.SettingAuthIssuer]
		client, hasClient := vars[topology.SettingAuthClientID]
		if id != synth.functionID["profiles"] {
			if hasIssuer || hasClient {
				t.Errorf("function %s has the console's sign-in settings; only profiles needs them", id)
			}
			continue
		}
		if got := synth.serviceJ.target(client); got != clientID {
			t.Errorf("profiles' %s refers to %q, want the app client %s", topology.SettingAuthClientID, got, clientID)
		}
		// The issuer is https:// and the pool's ProviderURL (cognito-idp.<region>.amazonaws.com/<id>).
		join, _ := dig(map[string]interface{}{"v": issuer}, "v", "Fn::Join").([]interface{})
		parts, _ := func() ([]interface{}, bool) {
			if len(join) != 2 {
				return nil, false
			}
			p, ok := join[1].([]interface{})
			return p, ok
		}()
		if len(parts) != 2 || parts[0] != "https://" || synth.serviceJ.target(parts[1]) != poolID {
			t.Errorf("profiles' %s = %v; want https:// and the pool's ProviderURL", topology.SettingAuthIssuer, issuer)
		}
	}
}
