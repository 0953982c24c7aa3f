package identity

import (
	"slices"
	"strings"
)

// Limits per kind of identifier: how many one profile holds at most (see the package comment).
const (
	MaxUserIDs        = 1
	MaxAnonymousIDs   = 50
	MaxEmailHashes    = 5
	MaxPhoneHashes    = 5
	MaxDeviceIDs      = 10
	MaxAdvertisingIDs = 10
	MaxExternalIDs    = 5
	// MaxExternalIDsPerType bounds the external ids of one type (one crm_id per profile).
	MaxExternalIDsPerType = 1
)

// Limit returns how many identifiers of kind k one profile holds at most; for a key made by
// TypeKey, how many external ids of that type.
func Limit(k Kind) int {
	switch k {
	case User:
		return MaxUserIDs
	case Anonymous:
		return MaxAnonymousIDs
	case EmailSHA256:
		return MaxEmailHashes
	case PhoneSHA256:
		return MaxPhoneHashes
	case Device:
		return MaxDeviceIDs
	case Advertising:
		return MaxAdvertisingIDs
	case External:
		return MaxExternalIDs
	}
	if isTypeKey(k) {
		return MaxExternalIDsPerType
	}
	return 0
}

// TypeKey is the key under which Owner.Held counts a profile's external ids of type typ (beside
// their total under External), for the one-per-type limit.
func TypeKey(typ string) Kind { return Kind(string(External) + ":" + typ) }

func isTypeKey(k Kind) bool { return strings.HasPrefix(string(k), string(External)+":") }

// Tally counts identifiers the way Owner.Held does: by kind, and external ids also by type
// (TypeKey). Give it every identifier a profile holds.
func Tally(ids []ID) map[Kind]int {
	n := map[Kind]int{}
	for _, id := range ids {
		n[id.Kind]++
		if typ, ok := id.ExternalType(); ok {
			n[TypeKey(typ)]++
		}
	}
	return n
}

// hashKeys are the keys of an event's hashes (beacon.Event.Hashed) that are identifiers.
var hashKeys = map[string]Kind{"email_sha256": EmailSHA256, "phone_sha256": PhoneSHA256}

// HashedIDs returns the identifiers among an event's hashes: "email_sha256" and "phone_sha256",
// each a SHA-256 in hex (case is ignored), in the order of HashedKinds. Other hashes (per-destination
// variants) are not identifiers; values that are not a SHA-256 or are junk (the hash of an empty
// value, say) are left out and reported in skipped as "key: reason".
func HashedIDs(hashed map[string]string) (ids []ID, skipped []string) {
	for _, key := range []string{"email_sha256", "phone_sha256"} {
		v, ok := hashed[key]
		if !ok {
			continue
		}
		id, err := NewID(hashKeys[key], v)
		if err != nil {
			skipped = append(skipped, key+": not a SHA-256 in hex")
			continue
		}
		if reason, junk := Junk(id.Value); junk {
			skipped = append(skipped, key+": "+reason)
			continue
		}
		ids = append(ids, id)
	}
	return ids, skipped
}

func isSHA256(v string) bool {
	if len(v) != 64 {
		return false
	}
	for _, c := range v {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// rule is how an identifier an event claims may move the event or join profiles when it belongs
// to another profile than the event's (see the package comment).
type rule int

const (
	// vouched identifiers join profiles only from trusted sources: hashed emails and phones,
	// external ids.
	vouched rule = iota
	// follow identifiers take an event whose own identifiers are new to their profile, from any
	// source, and never join profiles: device ids and linked anonymous ids.
	follow
	// recorded identifiers never move an event nor join: advertising ids.
	recorded
)

func ruleOf(k Kind) rule {
	switch k {
	case Device, Anonymous:
		return follow
	case Advertising:
		return recorded
	}
	return vouched
}

// Refine completes a plan of Resolve or ResolveAlias with the rules for the other identifiers an
// event claims (Claims) and the per-kind limits (see the package comment). owners are the current
// owners of the event's identifiers (the plan's and the claimed ones), the zero Owner for a new
// one, each with the counts of what its profile holds (Tally); trusted tells whether the event
// comes from a server-side source. Claims of kind Anonymous are anonymous ids handed over by a
// cross-domain link (the event's own anonymousId is the plan's); claims of kind User are ignored,
// as are claims the plan names already.
//
// A plan that merges is returned as is, unless the merge would take the joined profile past a
// limit; the claims are considered again once the merge is done. At most one merge is planned at
// a time.
func Refine(p Plan, claims []ID, owners map[ID]Owner, trusted bool) Plan {
	p = clonePlan(p)
	if p.MergeFrom != "" {
		if p.mergeFits(owners) {
			return p
		}
		// Refused: the merging profile keeps its identifiers, the event goes to the target.
		var attach []ID
		for _, id := range p.Attach {
			if owners[id].ProfileID == p.MergeFrom {
				p.Kept = append(p.Kept, id)
			} else {
				attach = append(attach, id)
			}
		}
		p.Attach, p.MergeFrom = attach, ""
	}
	for _, c := range claims {
		if c.Kind == User || c.IsZero() || p.names(c) {
			continue
		}
		o := owners[c]
		if !o.Known() || o.ProfileID == p.Profile {
			p.Attach = append(p.Attach, c)
			continue
		}
		switch r := ruleOf(c.Kind); {
		case r == recorded, r == vouched && !trusted:
			p.Kept = append(p.Kept, c)
			continue
		case r == follow && p.Profile != "":
			// Device and linked ids never join two existing profiles.
			p.Kept = append(p.Kept, c)
			continue
		}
		user := p.user(owners)
		if !SameUser(o.UserID, user) {
			p.Kept = append(p.Kept, c)
			continue
		}
		if p.Profile == "" {
			// A new profile would start: the event goes to the claim's profile instead.
			q := Plan{Profile: o.ProfileID, Attach: append(slices.Clone(p.Attach), c), Kept: p.Kept, Dropped: p.Dropped}
			if q.fits(owners) {
				p = q
			} else {
				p.Kept = append(p.Kept, c)
			}
			continue
		}
		// Two profiles become one: the anonymous one joins the known one.
		into, from := p.Profile, o.ProfileID
		if user == "" && o.UserID != "" {
			into, from = from, into
		}
		q := Plan{Profile: into, Attach: append(slices.Clone(p.Attach), c), MergeFrom: from, Kept: p.Kept, Dropped: p.Dropped}
		if q.mergeFits(owners) {
			return q
		}
		p.Kept = append(p.Kept, c)
	}
	return p.bound(owners)
}

// names tells whether the plan already attaches, keeps or drops id.
func (p Plan) names(id ID) bool {
	return slices.Contains(p.Attach, id) || slices.Contains(p.Kept, id) || slices.Contains(p.Dropped, id)
}

// user is the user id of the plan's profile once the plan is carried out.
func (p Plan) user(owners map[ID]Owner) string {
	if o := p.owner(owners); o.UserID != "" {
		return o.UserID
	}
	for _, id := range p.Attach {
		if id.Kind == User {
			return id.Value
		}
	}
	return ""
}

// owner is what owners tell of the plan's profile (zero for a new one).
func (p Plan) owner(owners map[ID]Owner) Owner {
	if p.Profile == "" {
		return Owner{}
	}
	for _, o := range owners {
		if o.ProfileID == p.Profile {
			return o
		}
	}
	return Owner{ProfileID: p.Profile}
}

// held counts what the plan's profile holds, plus (when it merges) what the merging profile holds.
func (p Plan) held(owners map[ID]Owner) map[Kind]int {
	n := map[Kind]int{}
	for k, c := range p.owner(owners).Held {
		n[k] += c
	}
	if p.MergeFrom != "" {
		for k, c := range (Plan{Profile: p.MergeFrom}).owner(owners).Held {
			n[k] += c
		}
	}
	return n
}

// mergeFits tells whether the two profiles may merge: an operator did not split them apart (Owner.Apart),
// and the profile a merge makes stays within the limits of every kind but userId (one userId is
// guarded by CanMerge), external types included.
func (p Plan) mergeFits(owners map[ID]Owner) bool {
	from, into := (Plan{Profile: p.MergeFrom}).owner(owners), p.owner(owners)
	if slices.Contains(from.Apart, into.ProfileID) || slices.Contains(into.Apart, from.ProfileID) {
		return false // split apart by an operator
	}
	for k, c := range p.held(owners) {
		if l := Limit(k); k != User && l > 0 && c > l {
			return false
		}
	}
	return p.fits(owners)
}

// fits tells whether the new identifiers the plan attaches keep its profile within the limits.
func (p Plan) fits(owners map[ID]Owner) bool { return len(p.bound(owners).Dropped) == len(p.Dropped) }

// bound moves the new identifiers that would take the plan's profile past the limit of their kind
// (or, for an external id, of its type) from Attach to Dropped. Identifiers the profile (or, when
// it merges, the merging profile) holds already stay; user ids are bounded by the rules of
// Resolve, not here.
func (p Plan) bound(owners map[ID]Owner) Plan {
	n := p.held(owners)
	var attach []ID
	for _, id := range p.Attach {
		o := owners[id]
		if id.Kind == User || o.Known() && (o.ProfileID == p.Profile || o.ProfileID == p.MergeFrom) {
			attach = append(attach, id)
			continue
		}
		typ, external := id.ExternalType()
		if n[id.Kind] >= Limit(id.Kind) || external && n[TypeKey(typ)] >= MaxExternalIDsPerType {
			p.Dropped = append(p.Dropped, id)
			continue
		}
		n[id.Kind]++
		if external {
			n[TypeKey(typ)]++
		}
		attach = append(attach, id)
	}
	p.Attach = attach
	return p
}

func clonePlan(p Plan) Plan {
	p.Attach, p.Kept, p.Dropped = slices.Clone(p.Attach), slices.Clone(p.Kept), slices.Clone(p.Dropped)
	return p
}
