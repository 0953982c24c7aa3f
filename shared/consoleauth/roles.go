package consoleauth

import (
	"slices"

	"github.com/dcrm-project/dcrm/shared/keystore"
)

// A Role is what a console user may do, named by the Cognito group the user is in.
type Role string

// The roles, from the least to the most powerful.
const (
	Viewer   Role = "viewer"
	Marketer Role = "marketer"
	Operator Role = "operator"
	Admin    Role = "admin"
)

// roleScopes is the one table from roles to profile-API key scopes (README.md says why each role
// has what it has). A user in several groups has the union of their scopes.
//
//   - viewer reads: profiles, histories, reports, audiences and their sizes.
//   - marketer reads, defines audiences and computed traits, and exports (audience members and a
//     person's data): the work of building and activating segments.
//   - operator reads and does what changes a person's record on a request or a mistake: consent,
//     split of a wrong merge, erasure. It does not export: handling a request is not taking data out.
//   - admin has every scope (keystore.Admin implies them all): keys, sources, users.
var roleScopes = map[Role][]keystore.Scope{
	Viewer:   {keystore.Read},
	Marketer: {keystore.Read, keystore.Audiences, keystore.Export},
	Operator: {keystore.Read, keystore.Consent, keystore.Split, keystore.Erase},
	Admin:    keystore.AllScopes(),
}

// Roles lists every role, from the least to the most powerful.
func Roles() []Role { return []Role{Viewer, Marketer, Operator, Admin} }

// ParseRole reads a role's name; ok is false for anything else.
func ParseRole(s string) (Role, bool) {
	r := Role(s)
	_, ok := roleScopes[r]
	return r, ok
}

// Scopes are the key scopes of the role, in keystore.AllScopes' order; none for an unknown role.
func (r Role) Scopes() []keystore.Scope { return ScopesOf([]Role{r}) }

// RolesOf picks the roles among a user's groups (cognito:groups), once each, in Roles' order;
// groups that are not roles (another application's) are ignored.
func RolesOf(groups []string) []Role {
	var out []Role
	for _, r := range Roles() {
		if slices.Contains(groups, string(r)) {
			out = append(out, r)
		}
	}
	return out
}

// ScopesOf is the union of the roles' scopes, in keystore.AllScopes' order.
func ScopesOf(roles []Role) []keystore.Scope {
	var out []keystore.Scope
	for _, s := range keystore.AllScopes() {
		for _, r := range roles {
			if slices.Contains(roleScopes[r], s) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}
