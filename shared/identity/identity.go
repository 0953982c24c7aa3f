// Package identity is dcrm's identity graph: the identifiers a customer is known by (cookies, logins,
// hashed emails and phones) and the rules that decide which profile an event belongs to and when two
// profiles become one.
//
// Each identifier belongs to at most one profile. An event's anonymousId and userId are resolved
// first (Resolve, ResolveAlias); its hashed email and phone then refine the plan (Refine), and the
// per-kind limits bound what a profile takes. Values that are junk ("null", "0", an all-zero id,
// the hash of an empty string …, see Junk) are never identifiers.
//
// The rules, by kind of identifier, where the event's profile is P (the profile its anonymousId and
// userId resolve to, or a new one) and the identifier already belongs to profile O:
//
//	identifier     | source          | not owned yet        | owned by P | owned by another profile O
//	---------------+-----------------+----------------------+------------+-------------------------------------------
//	anonymousId    | any             | attached to P        | -          | anonymous O joins the user's profile on an
//	(cookie)       |                 |                      |            | event or alias that names both; O of
//	               |                 |                      |            | another user keeps it (Resolve)
//	userId         | any             | attached to P        | -          | the event goes to O; never merges with
//	               |                 |                      |            | another userId (alias of an earlier userId
//	               |                 |                      |            | links the new one to the same profile)
//	emailSha256,   | browser         | attached to P        | -          | O keeps it; nothing is joined and the
//	phoneSha256    | (untrusted)     |                      |            | event stays on P (Kept)
//	               | server (trusted)| attached to P        | -          | O and P become one when at most one of
//	               |                 |                      |            | them has a userId (or both the same): the
//	               |                 |                      |            | anonymous one joins the known one (both
//	               |                 |                      |            | anonymous: O joins P; P new: the event goes
//	               |                 |                      |            | to O); two different userIds: O keeps it
//
// Limits per profile (Limit): one userId, 50 anonymousIds, 5 emailSha256 and 5 phoneSha256. A new
// identifier that would take its profile past the limit of its kind is not attached (Plan.Dropped):
// the event is still recorded on the profile, the identifiers it holds already stay, and the new one
// stays unowned, so a later event carrying only it starts a profile of its own. The first identifiers
// of a kind are kept and later ones stop being attached, never the other way round, so that an
// identifier once resolved keeps resolving to its profile. A merge that would take the joined profile
// past a limit is refused: both profiles stay as they are and the event goes to the one it names
// (the other's identifiers are Kept). The one userId per profile is guarded by "two different userIds
// never merge"; the only way a second userId leads to a profile is an alias call naming an earlier
// userId of the customer, which links the new one without changing the profile's userId.
//
// Hashed identifiers from a browser cannot prove who the visitor is (anyone may send the hash of
// someone else's email), so they never move an identifier or join profiles: a browser key must not
// be able to join two customers by sending someone else's hashed email. Only server-side (trusted)
// sources join through them, and even then two profiles of two different userIds never merge.
package identity

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is returned for an identifier that cannot be parsed or has an unknown kind.
var ErrInvalid = errors.New("invalid identifier")

// Kind is the type of an identifier. Its text is also the name of the event field and of the
// profile-API query parameter that carries it.
type Kind string

// Kinds of identifier known to dcrm.
const (
	Anonymous   Kind = "anonymousId" // a cookie or device id set by the tracker
	User        Kind = "userId"      // the site's own id for a logged-in customer
	EmailSHA256 Kind = "emailSha256" // the SHA-256 (hex) of a normalised email address
	PhoneSHA256 Kind = "phoneSha256" // the SHA-256 (hex) of a normalised phone number
)

// Kinds lists the kinds an event names in its own fields, in the order lookups try them.
func Kinds() []Kind { return []Kind{User, Anonymous} }

// HashedKinds lists the kinds an event carries among its hashes (see HashedIDs).
func HashedKinds() []Kind { return []Kind{EmailSHA256, PhoneSHA256} }

// ParseKind returns the kind whose name is s.
func ParseKind(s string) (Kind, error) {
	for _, k := range append(Kinds(), HashedKinds()...) {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w: unknown kind %q", ErrInvalid, s)
}

// ID is one identifier, e.g. userId "u-1".
type ID struct {
	Kind  Kind
	Value string
}

// AnonymousID and UserID build identifiers of the two kinds.
func AnonymousID(v string) ID { return ID{Kind: Anonymous, Value: v} }
func UserID(v string) ID      { return ID{Kind: User, Value: v} }

// String is the identifier's key in the identity graph: "anonymousId:abc", "userId:u-1".
func (i ID) String() string { return string(i.Kind) + ":" + i.Value }

// IsZero tells whether the identifier is unset.
func (i ID) IsZero() bool { return i.Value == "" }

// Parse reads an identifier written by String.
func Parse(s string) (ID, error) {
	kind, value, ok := strings.Cut(s, ":")
	if !ok || value == "" {
		return ID{}, fmt.Errorf("%w: %q is not kind:value", ErrInvalid, s)
	}
	k, err := ParseKind(kind)
	if err != nil {
		return ID{}, err
	}
	return ID{Kind: k, Value: value}, nil
}

// Owner is what the graph knows of the profile an identifier currently belongs to. The zero Owner
// means the identifier is new.
type Owner struct {
	ProfileID string
	UserID    string // the profile's user id, "" for an anonymous profile
	// Held counts the identifiers of each kind the profile holds, for the limits (Refine).
	Held map[Kind]int
}

// Known tells whether the identifier already belongs to a profile.
func (o Owner) Known() bool { return o.ProfileID != "" }

// Plan is what an event does to the graph.
type Plan struct {
	// Profile is the profile the event is recorded on; "" means a new profile.
	Profile string
	// Attach are the event's identifiers that belong to Profile from now on (those already on it
	// included).
	Attach []ID
	// MergeFrom is an anonymous profile that joins Profile: its identifiers are repointed to Profile
	// and its history folded into it. "" when nothing merges.
	MergeFrom string
	// Kept are identifiers of the event left on the profile they belong to, because joining them
	// would join two different users, or is not allowed from the event's source, or would take a
	// profile past a limit.
	Kept []ID
	// Dropped are new identifiers of the event left unattached because Profile holds as many of
	// their kind as Limit allows.
	Dropped []ID
}

// Resolve decides where an event carrying anonymousId anon and userId user (either may be empty)
// goes, given the current owners of the two identifiers.
//
// The rules:
//   - an event with one identifier goes to that identifier's profile, or to a new one;
//   - an event with both joins them: the anonymous profile becomes (or merges into) the profile of
//     the user, so a customer's devices end on one profile after each has logged in;
//   - two different user ids never merge: if the anonymous id already belongs to a profile of another
//     user, it stays there and the event goes to the user's own profile (shared computers, a
//     colleague logging in on someone else's browser).
func Resolve(anon, user string, byAnon, byUser Owner) Plan {
	a, u := AnonymousID(anon), UserID(user)
	switch {
	case anon == "" && user == "":
		return Plan{}
	case user == "":
		return Plan{Profile: byAnon.ProfileID, Attach: []ID{a}}
	case anon == "":
		return Plan{Profile: byUser.ProfileID, Attach: []ID{u}}
	}
	both := []ID{a, u}
	if !byAnon.Known() {
		// A new device of a new or known user.
		return Plan{Profile: byUser.ProfileID, Attach: both}
	}
	if !SameUser(byAnon.UserID, user) {
		return Plan{Profile: byUser.ProfileID, Attach: []ID{u}, Kept: []ID{a}}
	}
	switch {
	case !byUser.Known(), byUser.ProfileID == byAnon.ProfileID:
		// The anonymous profile becomes the user's (or already is).
		return Plan{Profile: byAnon.ProfileID, Attach: both}
	default:
		// The user is known elsewhere: the anonymous profile joins it.
		return Plan{Profile: byUser.ProfileID, Attach: both, MergeFrom: byAnon.ProfileID}
	}
}

// SameUser tells whether a profile whose user id is owner may take events of user: an anonymous
// profile ("") may take any user, a known one only its own.
func SameUser(owner, user string) bool { return owner == "" || user == "" || owner == user }

// ErrDifferentUsers is returned when two profiles of two different users would be joined.
var ErrDifferentUsers = errors.New("profiles belong to different users")

// CanMerge returns nil when a profile of user from may merge into a profile of user into, and
// ErrDifferentUsers otherwise.
func CanMerge(into, from string) error {
	if !SameUser(into, from) {
		return fmt.Errorf("%w: %q and %q", ErrDifferentUsers, into, from)
	}
	return nil
}

// ResolveAlias decides where an alias call goes: it says that previous (an anonymous id, or an
// earlier user id of the customer) and user are one customer. byPrev and byUser are the current
// owners of the two identifiers.
//
// An anonymous previous id joins the user exactly as an event carrying both ids does (Resolve).
// An earlier user id links the new user id to the earlier one's profile when the new one is not
// known yet, so both find the same profile; when both are known on different profiles they stay
// apart, because two different known user ids never merge, and the call is recorded on the new
// user's profile.
func ResolveAlias(previous ID, user string, byPrev, byUser Owner) Plan {
	if previous.Kind != User {
		return Resolve(previous.Value, user, byPrev, byUser)
	}
	p, u := previous, UserID(user)
	switch {
	case user == "" || p.Value == user:
		return Resolve("", user, Owner{}, byUser)
	case !byPrev.Known():
		return Plan{Profile: byUser.ProfileID, Attach: []ID{u, p}}
	case !byUser.Known(), byUser.ProfileID == byPrev.ProfileID:
		return Plan{Profile: byPrev.ProfileID, Attach: []ID{p, u}}
	default:
		return Plan{Profile: byUser.ProfileID, Attach: []ID{u}, Kept: []ID{p}}
	}
}
