package identity

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// MaxValueBytes bounds the value of a device id and the id part of an external id (as
// beacon.MaxIDBytes bounds anonymousId and userId).
const MaxValueBytes = beacon.MaxIDBytes

// MaxTypeBytes bounds the type of an external id.
const MaxTypeBytes = 64

// ExternalID builds the external id of type typ (e.g. "crm_id") and value id, as NewID does.
func ExternalID(typ, id string) (ID, error) { return NewID(External, typ+":"+id) }

// ExternalType returns the type of an external id ("crm_id" of "crm_id:123"), and false for an
// identifier of another kind.
func (i ID) ExternalType() (string, bool) {
	if i.Kind != External {
		return "", false
	}
	typ, _, ok := strings.Cut(i.Value, ":")
	return typ, ok
}

// NewID makes the identifier of kind k from a value as sent or typed (a profile-API query, an
// event's field), in the form the graph stores it, or says why the value is not one of kind k:
//
//   - emailSha256, phoneSha256: a SHA-256 in hex, lower-cased;
//   - advertisingId: a UUID (8-4-4-4-12 hex digits), lower-cased;
//   - externalId: "<type>:<id>"; the type lower-cased, of letters, digits, ".", "_" and "-", at most
//     MaxTypeBytes; the id as sent, at most MaxValueBytes;
//   - deviceId: at most MaxValueBytes; lower-cased when it is a UUID (identifierForVendor), else as
//     sent;
//   - anonymousId, userId: as sent.
//
// Space around a value (and around an external id's type and id) is removed, except for
// anonymousId and userId, which are taken exactly as the event's own fields are. NewID does not
// judge junk (see Junk).
func NewID(k Kind, value string) (ID, error) {
	bad := func(format string, args ...any) (ID, error) {
		return ID{}, fmt.Errorf("%w: %s %s", ErrInvalid, k, fmt.Sprintf(format, args...))
	}
	if _, err := ParseKind(string(k)); err != nil {
		return ID{}, err
	}
	if k != Anonymous && k != User {
		value = strings.TrimSpace(value)
	}
	if value == "" {
		return bad("is empty")
	}
	switch k {
	case EmailSHA256, PhoneSHA256:
		value = strings.ToLower(value)
		if !isSHA256(value) {
			return bad("is not a SHA-256 in hex")
		}
	case Advertising:
		value = strings.ToLower(value)
		if !isUUID(value) {
			return bad("is not a UUID")
		}
	case Device:
		if reason, ok := freeForm(value); !ok {
			return bad("%s", reason)
		}
		if lower := strings.ToLower(value); isUUID(lower) {
			value = lower // UUIDs are case-insensitive; iOS writes them upper-case, others lower
		}
	case External:
		typ, id, ok := strings.Cut(value, ":")
		typ, id = strings.ToLower(strings.TrimSpace(typ)), strings.TrimSpace(id)
		switch {
		case !ok || typ == "" || id == "":
			return bad("is not type:id")
		case len(typ) > MaxTypeBytes:
			return bad("type is %d bytes; the limit is %d", len(typ), MaxTypeBytes)
		case strings.IndexFunc(typ, notTypeRune) >= 0:
			return bad("type %q is not letters, digits, '.', '_' and '-'", typ)
		}
		if reason, ok := freeForm(id); !ok {
			return bad("id %s", reason)
		}
		value = typ + ":" + id
	}
	return ID{Kind: k, Value: value}, nil
}

// freeForm checks an id whose form is the sender's own.
func freeForm(v string) (string, bool) {
	if len(v) > MaxValueBytes {
		return fmt.Sprintf("is %d bytes; the limit is %d", len(v), MaxValueBytes), false
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return "has control characters", false
	}
	return "", true
}

func notTypeRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
}

// isUUID tells whether v is a UUID in lower-case text form.
func isUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i, c := range v {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// junkPart is the part of an identifier Junk judges: an external id's id, others' whole value.
func junkPart(id ID) string {
	if typ, ok := id.ExternalType(); ok {
		return strings.TrimPrefix(id.Value, typ+":")
	}
	return id.Value
}

// Segment's external id types (context.externalIds[].type) that dcrm reads as another kind.
var externalKinds = map[string]Kind{
	"ios.id": Device, "android.id": Device,
	"ios.idfa": Advertising, "android.idfa": Advertising,
}

// externalSkipped are external id types that are not claims of their own, and why.
var externalSkipped = map[string]string{
	"user_id":      "the event's userId is the user id",
	"anonymous_id": "the event's anonymousId is the anonymous id",
	"email":        "an email is personal data: the endpoint hashes it into emailSha256",
	"phone":        "a phone number is personal data: the endpoint hashes it into phoneSha256",
	"group_id":     "a group's id is not a person's",
}

// Claims returns the identifiers a stream event claims beside its anonymousId and userId, for
// Refine, in this order:
//
//   - the hashed email and phone (HashedIDs of Event.Hashed);
//   - external ids (context.externalIds of collection "users", or without one), of at most one
//     value per type; types ios.id and android.id are device ids, ios.idfa and android.idfa
//     advertising ids; user_id, anonymous_id, email, phone and group_id are not external ids;
//   - the anonymous id handed over by a cross-domain link (Enrichment.LinkerID), unless it is the
//     event's own;
//   - the device id (context.device.id);
//   - the advertising id (context.device.advertisingId), unless adTrackingEnabled is false.
//
// Values are normalised as NewID does. Values that are malformed, junk (Junk), the second of an
// external type, or past the per-profile limit of their kind (Limit: no profile could take
// more), are left out and reported in skipped as "where: reason". Duplicates are left out
// silently.
func Claims(e beacon.Event) (ids []ID, skipped []string) {
	ids, skipped = HashedIDs(e.Hashed)
	c := e.ContextIDs()
	skipped = append(skipped, c.Malformed...)

	var device, ads []ID
	n := map[Kind]int{}
	add := func(where string, k Kind, value string) {
		id, err := NewID(k, value)
		if err != nil {
			skipped = append(skipped, where+": "+strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
			return
		}
		if reason, junk := Junk(junkPart(id)); junk {
			skipped = append(skipped, where+": "+reason)
			return
		}
		typ, external := id.ExternalType()
		for _, list := range [][]ID{ids, device, ads} {
			for _, have := range list {
				if have == id {
					return
				}
				if t, ok := have.ExternalType(); external && ok && t == typ {
					skipped = append(skipped, fmt.Sprintf("%s: a second id of type %s (one per type)", where, typ))
					return
				}
			}
		}
		if n[k] >= Limit(k) {
			skipped = append(skipped, fmt.Sprintf("%s: more than %d %s", where, Limit(k), k))
			return
		}
		n[k]++
		switch k {
		case Device:
			device = append(device, id)
		case Advertising:
			ads = append(ads, id)
		default:
			ids = append(ids, id)
		}
	}

	for i, x := range c.ExternalIDs {
		where := fmt.Sprintf("context.externalIds[%d]", i)
		typ := strings.ToLower(strings.TrimSpace(x.Type))
		if coll := strings.TrimSpace(x.Collection); coll != "" && !strings.EqualFold(coll, "users") {
			skipped = append(skipped, fmt.Sprintf("%s: collection %q: not a person's id", where, coll))
			continue
		}
		if why, ok := externalSkipped[typ]; ok {
			skipped = append(skipped, fmt.Sprintf("%s: type %s: %s", where, typ, why))
			continue
		}
		switch k := externalKinds[typ]; {
		case k == Advertising && c.AdTrackingDisabled:
			skipped = append(skipped, where+": ad tracking is disabled (context.device.adTrackingEnabled)")
		case k != "":
			add(where, k, x.ID)
		case strings.Contains(typ, ":"):
			skipped = append(skipped, fmt.Sprintf("%s: type %q has a ':'", where, typ))
		default:
			add(where, External, typ+":"+x.ID)
		}
	}
	if e.Enrichment != nil && e.Enrichment.LinkerID != "" && e.Enrichment.LinkerID != e.AnonymousID {
		add("enrichment.linkerId", Anonymous, e.Enrichment.LinkerID)
	}
	if c.DeviceID != "" {
		add("context.device.id", Device, c.DeviceID)
	}
	if c.AdvertisingID != "" {
		if c.AdTrackingDisabled {
			skipped = append(skipped, "context.device.advertisingId: ad tracking is disabled (context.device.adTrackingEnabled)")
		} else {
			add("context.device.advertisingId", Advertising, c.AdvertisingID)
		}
	}
	ids = append(append(ids, device...), ads...)
	return ids, skipped
}
