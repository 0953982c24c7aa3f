// Package identity is dcrm's identity graph: the identifiers a customer is known by (cookies, logins,
// hashed emails and phones, mobile device ids, ids in the site's other systems) and the rules that
// decide which profile an event belongs to and when two profiles become one.
//
// Each identifier belongs to at most one profile. An event's anonymousId and userId are resolved
// first (Resolve, ResolveAlias); the other identifiers it claims (Claims: hashed email and phone,
// external ids, the cross-domain linker, device and advertising ids) then refine the plan
// (Refine), and the per-kind limits bound what a profile takes. Values that are junk ("null", "0",
// an all-zero id, the hash of an empty string …, see Junk) are never identifiers.
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
//	phoneSha256,   | (untrusted)     |                      |            | event stays on P (Kept)
//	externalId     | server (trusted)| attached to P        | -          | O and P become one when at most one of
//	               |                 |                      |            | them has a userId (or both the same): the
//	               |                 |                      |            | anonymous one joins the known one (both
//	               |                 |                      |            | anonymous: O joins P; P new: the event goes
//	               |                 |                      |            | to O); two different userIds: O keeps it
//	deviceId,      | any             | attached to P        | -          | P new: the event goes to O, unless O has
//	linked         |                 |                      |            | another userId than the event's (Kept, a
//	anonymousId    |                 |                      |            | profile of its own). P exists: O keeps it;
//	               |                 |                      |            | nothing is joined, from any source (Kept)
//	advertisingId  | any             | attached to P        | -          | O keeps it; the event stays on P, nothing
//	               |                 |                      |            | is joined, from any source (Kept)
//
// Limits per profile (Limit): one userId, 50 anonymousIds, 5 emailSha256, 5 phoneSha256, 10
// deviceIds, 10 advertisingIds and 5 externalIds, at most one of each external type (one crm_id).
// A new identifier that would take its profile past the limit of its kind is not attached
// (Plan.Dropped): the event is still recorded on the profile, the identifiers it holds already
// stay, and the new one stays unowned, so a later event carrying only it starts a profile of its
// own. The first identifiers of a kind are kept and later ones stop being attached, never the other
// way round, so that an identifier once resolved keeps resolving to its profile. A merge that would
// take the joined profile past a limit is refused: both profiles stay as they are and the event
// goes to the one it names (the other's identifiers are Kept). The one userId per profile is
// guarded by "two different userIds never merge"; the only way a second userId leads to a profile
// is an alias call naming an earlier userId of the customer, which links the new one without
// changing the profile's userId.
//
// An operator may split a wrong merge apart (Owner.Apart): the two profiles never merge again,
// whatever the source; an event naming both is refused like a merge past a limit.
//
// Why the rules differ by kind:
//
//   - Hashed emails and phones from a browser cannot prove who the visitor is: anyone who knows an
//     address can hash it, and a browser's write key is public. So they never move an event or join
//     profiles: a browser key must not be able to join two customers by sending someone else's hashed
//     email. Only server-side (trusted) sources join through them, and even then two profiles of two
//     different userIds never merge.
//   - External ids (context.externalIds: the person's id in the CRM, the loyalty scheme, the email
//     tool) are the site's own assertions, vouched for only when a server sends them: the same rules
//     as hashed ids. One value per external type and profile, because two CRM records on one
//     profile mean two people were joined, and a second value is Dropped rather than joined. Only
//     ids of people are taken (collection "users"); an account's id is shared by everyone at a
//     company.
//   - Device ids (context.device.id of the mobile SDKs) and the anonymousId another domain handed
//     over in a cross-domain link (enrichment linkerId) identify a device or a browser, as a cookie
//     does, not a person. They are random values that only the app's vendor or the site sees, so
//     presenting one proves no more than presenting the cookie would. They let a device that lost
//     its cookie (an app reinstalled, a visitor following a link from the site's other domain) find
//     its profile again: an event whose own ids are new goes to the profile that holds the device's
//     id, and its new ids attach there. They never join two existing profiles, even from a trusted
//     source: devices are shared (a family tablet), and links are copied and sent on within the
//     minutes they stay valid. A device id does not carry an event to the profile of another user
//     than the one the event names.
//   - Advertising ids (context.device.advertisingId: IDFA, Google's advertising id) are a kind apart
//     from device ids and are only recorded, never used to resolve: every app and ad network on the
//     device sees the same value (it travels in ad requests), so knowing one proves nothing; the
//     person may reset it at any time; and it may only be used while they allow ad tracking (Claims
//     skips it when context.device.adTrackingEnabled is false). The profile that first claims one
//     keeps it, for look-ups and ad audiences. Segment's external types ios.id and android.id are
//     taken as device ids, ios.idfa and android.idfa as advertising ids.
//   - The linked anonymousId is an anonymousId claim (it is the visitor's cookie on the other
//     domain), so it lands in the profile's anonymousIds and counts toward their limit.
package identity

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalid is returned for an identifier that cannot be parsed or has an unknown kind.
var ErrInvalid = errors.New("invalid identifier")

// Kind is the type of an identifier. Its text is also the name of the event field and of the
// profile-API query parameter that carries it.
type Kind string

// Kinds of identifier known to dcrm.
const (
	Anonymous   Kind = "anonymousId"   // a cookie or device id set by the tracker
	User        Kind = "userId"        // the site's own id for a logged-in customer
	EmailSHA256 Kind = "emailSha256"   // the SHA-256 (hex) of a normalised email address
	PhoneSHA256 Kind = "phoneSha256"   // the SHA-256 (hex) of a normalised phone number
	External    Kind = "externalId"    // the person's id in another system: "<type>:<id>", e.g. "crm_id:123"
	Device      Kind = "deviceId"      // a mobile app's id for the device (identifierForVendor, ANDROID_ID)
	Advertising Kind = "advertisingId" // a mobile device's advertising id (IDFA, Google's), a lower-case UUID
)

// Kinds lists the kinds an event names in its own fields, in the order lookups try them.
func Kinds() []Kind { return []Kind{User, Anonymous} }

// HashedKinds lists the kinds an event carries among its hashes (see HashedIDs).
func HashedKinds() []Kind { return []Kind{EmailSHA256, PhoneSHA256} }

// ClaimKinds lists the kinds an event claims beside its anonymousId and userId (see Claims), in
// the order Claims returns them; linked anonymousIds, of kind Anonymous, come between the external
// and the device ids.
func ClaimKinds() []Kind {
	return []Kind{EmailSHA256, PhoneSHA256, External, Device, Advertising}
}

// AllKinds lists every kind: an event's own, then the claimed ones. A profile-API lookup takes
// any of them.
func AllKinds() []Kind { return append(Kinds(), ClaimKinds()...) }

// ParseKind returns the kind whose name is s.
func ParseKind(s string) (Kind, error) {
	for _, k := range AllKinds() {
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

// String is the identifier's key in the identity graph: "anonymousId:abc", "userId:u-1",
// "externalId:crm_id:123".
func (i ID) String() string { return string(i.Kind) + ":" + i.Value }

// IsZero tells whether the identifier is unset.
func (i ID) IsZero() bool { return i.Value == "" }

// Parse reads an identifier written by String. The kind ends at the first ":"; the value is the
// rest, colons included. An external id's value must be "<type>:<id>", both non-empty.
func Parse(s string) (ID, error) {
	kind, value, ok := strings.Cut(s, ":")
	if !ok || value == "" {
		return ID{}, fmt.Errorf("%w: %q is not kind:value", ErrInvalid, s)
	}
	k, err := ParseKind(kind)
	if err != nil {
		return ID{}, err
	}
	if k == External {
		if typ, id, ok := strings.Cut(value, ":"); !ok || typ == "" || id == "" {
			return ID{}, fmt.Errorf("%w: external id %q is not type:id", ErrInvalid, value)
		}
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
	// Apart are profiles an operator split this one from: it never merges with them again.
	Apart []string
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

// Merge explains one merge: profile From joined profile Into at At, asked for by the event
// MessageID (from a trusted, server-side source or not), through identifier Via, which both held.
type Merge struct {
	From, Into string
	At         time.Time
	MessageID  string
	Via        ID
	Trusted    bool
}
