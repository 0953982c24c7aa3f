package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/cognito"
	"github.com/dcrm-project/dcrm/shared/consoleauth"
)

// The variables of the local user pool in Env (and so in .dcrm/local.env).
const (
	// EnvAuthURL is where the console calls InitiateAuth (Cognito's regional endpoint on AWS).
	EnvAuthURL = "DCRM_AUTH_URL"
	// EnvAuthDir is the pool's folder, where `dcrm user` adds and removes local users.
	EnvAuthDir = "DCRM_AUTH_DIR"
	// EnvAuthPoolID is the local pool's id. (`dcrm user` goes to Cognito when
	// DCRM_AUTH_USER_POOL_ID names a pool; locally it is not set.)
	EnvAuthPoolID      = "DCRM_AUTH_LOCAL_POOL_ID"
	EnvConsoleUser     = "DCRM_CONSOLE_USER"
	EnvConsolePassword = "DCRM_CONSOLE_PASSWORD"
	// EnvConsoleURL is the console's page: the profile function serves it under /console/.
	EnvConsoleURL = "DCRM_CONSOLE_URL"
)

// DefaultAuthPort is the local user pool's port, next to S3's (4572) and Data Firehose's (4573).
const DefaultAuthPort = 4574

// startAuth serves the local user pool, and gives ConsoleUser a new password.
func (s *Stack) startAuth() error {
	s.authDir = s.cfg.AuthDir
	if s.authDir != "" {
		abs, err := filepath.Abs(s.authDir) // `dcrm user` reads it from Env, from any folder
		if err != nil {
			return fmt.Errorf("auth folder: %w", err)
		}
		s.authDir = abs
	} else {
		dir, err := os.MkdirTemp("", "dcrm-auth-")
		if err != nil {
			return fmt.Errorf("auth folder: %w", err)
		}
		s.authTemp, s.authDir = dir, dir
	}
	ln, err := listen(s.cfg.AuthPort, "DCRM_AUTH_PORT")
	if err != nil {
		return err
	}
	iss, err := cognito.New(cognito.Config{Dir: cognito.Dir(s.authDir), URL: "http://" + ln.Addr().String(),
		Logger: s.log.With("component", "auth")})
	if err != nil {
		ln.Close()
		return fmt.Errorf("local user pool: %w", err)
	}
	s.auth = iss
	s.serve(ln, iss.Handler())
	if s.cfg.ConsoleUser == "" {
		return nil
	}
	s.consolePassword = cognito.NewPassword()
	dir, now := cognito.Dir(s.authDir), time.Now()
	if _, err := dir.AddUser(s.cfg.ConsoleUser, "", []string{string(consoleauth.Admin)}, s.consolePassword, false, now); err != nil {
		if err := dir.SetPassword(s.cfg.ConsoleUser, s.consolePassword, false, now); err != nil {
			return fmt.Errorf("console user %s: %w", s.cfg.ConsoleUser, err)
		}
	}
	s.log.Info("local user pool ready", "issuer", iss.IssuerURL(), "consoleUser", s.cfg.ConsoleUser)
	return nil
}

// AuthIssuer and AuthClientID are the local user pool's issuer and the console's client id.
func (s *Stack) AuthIssuer() string   { return s.auth.IssuerURL() }
func (s *Stack) AuthClientID() string { return s.auth.ClientID() }

// AuthURL is where InitiateAuth is called.
func (s *Stack) AuthURL() string { return s.auth.Endpoint() }

// ConsoleSignIn is the console user and the password it was given at this start ("" without one).
func (s *Stack) ConsoleSignIn() (user, password string) { return s.cfg.ConsoleUser, s.consolePassword }

// fillAuthSettings gives a function whose settings list the console's sign-in the local pool's.
func (s *Stack) fillAuthSettings(env, settings map[string]string) {
	if s.auth == nil {
		return
	}
	if _, ok := settings[topology.SettingAuthIssuer]; ok {
		env[topology.SettingAuthIssuer] = s.auth.IssuerURL()
	}
	if _, ok := settings[topology.SettingAuthClientID]; ok {
		env[topology.SettingAuthClientID] = s.auth.ClientID()
	}
}

// authEnv is the local pool's part of Env.
func (s *Stack) authEnv() map[string]string {
	if s.auth == nil {
		return nil
	}
	env := map[string]string{
		EnvAuthURL: s.auth.Endpoint(), topology.SettingAuthIssuer: s.auth.IssuerURL(),
		topology.SettingAuthClientID: s.auth.ClientID(), EnvAuthDir: s.authDir, EnvAuthPoolID: s.auth.PoolID(),
	}
	if s.apiURL != "" {
		env[EnvConsoleURL] = s.apiURL + "/console/index.html"
	}
	if s.consolePassword != "" {
		env[EnvConsoleUser], env[EnvConsolePassword] = s.cfg.ConsoleUser, s.consolePassword
	}
	return env
}
