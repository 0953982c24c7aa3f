package consoleauth

import "time"

// The console app client's token lifetimes: the CDK app sets them on the Cognito app client and
// the local host's issuer applies them, so a session lasts as long locally as on AWS. An hour
// bounds what a copied token can do; a refresh token of 12 hours signs a person in once a
// working day. A removed user keeps their ID and access tokens until they expire (Cognito cannot
// revoke those), so the hour is also how long a removal takes to be complete.
const (
	IDTokenLifetime      = time.Hour
	AccessTokenLifetime  = time.Hour
	RefreshTokenLifetime = 12 * time.Hour
	// SessionLifetime is how long a sign-in challenge's Session may be answered (Cognito's
	// default, three minutes).
	SessionLifetime = 3 * time.Minute
)
