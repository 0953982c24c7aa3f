package identity

import (
	"reflect"
	"strings"
	"testing"
)

var (
	hexA = strings.Repeat("ab", 32)
	hexB = strings.Repeat("cd", 32)
)

func TestHashedIDs(t *testing.T) {
	ids, skipped := HashedIDs(map[string]string{
		"email_sha256":        strings.ToUpper(hexA),
		"phone_sha256":        hexB,
		"email_sha256_google": strings.Repeat("ef", 32),
	})
	want := []ID{{EmailSHA256, hexA}, {PhoneSHA256, hexB}}
	if !reflect.DeepEqual(ids, want) || len(skipped) != 0 {
		t.Errorf("HashedIDs = %v, %v; want %v", ids, skipped, want)
	}
	ids, skipped = HashedIDs(map[string]string{
		"email_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"phone_sha256": "someone@example.com",
	})
	if len(ids) != 0 || !reflect.DeepEqual(skipped, []string{"email_sha256: hash of an empty value", "phone_sha256: not a SHA-256 in hex"}) {
		t.Errorf("HashedIDs of junk = %v, %v", ids, skipped)
	}
	if id, err := Parse("emailSha256:" + hexA); err != nil || id != (ID{EmailSHA256, hexA}) {
		t.Errorf("Parse(emailSha256:…) = %v, %v", id, err)
	}
	if Limit(User) != 1 || Limit(Anonymous) != 50 || Limit(EmailSHA256) != 5 || Limit(PhoneSHA256) != 5 {
		t.Errorf("limits = %d %d %d %d", Limit(User), Limit(Anonymous), Limit(EmailSHA256), Limit(PhoneSHA256))
	}
}

func held(anon, email, phone int) map[Kind]int {
	return map[Kind]int{Anonymous: anon, EmailSHA256: email, PhoneSHA256: phone}
}

func TestRefine(t *testing.T) {
	a, u, e, ph := AnonymousID("A"), UserID("U"), ID{EmailSHA256, hexA}, ID{PhoneSHA256, hexB}
	anonP := Owner{ProfileID: "pA", Held: held(1, 0, 0)}
	userP := Owner{ProfileID: "pU", UserID: "U", Held: held(1, 1, 0)}
	otherAnon := Owner{ProfileID: "pX", Held: held(2, 1, 0)}
	otherUser := Owner{ProfileID: "pV", UserID: "V", Held: held(1, 1, 0)}
	full := Owner{ProfileID: "pU", UserID: "U", Held: held(50, 5, 5)}

	tests := []struct {
		name    string
		event   Plan // what Resolve decided
		hashed  []ID
		owners  map[ID]Owner
		trusted bool
		want    Plan
	}{
		{"new hash attaches, browser", Plan{Profile: "pA", Attach: []ID{a}}, []ID{e, ph},
			map[ID]Owner{a: anonP}, false, Plan{Profile: "pA", Attach: []ID{a, e, ph}}},
		{"new hash on a new profile", Plan{Attach: []ID{a}}, []ID{e}, nil, false, Plan{Attach: []ID{a, e}}},
		{"hash already on the profile", Plan{Profile: "pU", Attach: []ID{u}}, []ID{e},
			map[ID]Owner{u: userP, e: userP}, false, Plan{Profile: "pU", Attach: []ID{u, e}}},

		// A browser key cannot join anything through a hash.
		{"browser: someone else's hash joins no customers", Plan{Profile: "pU", Attach: []ID{u}}, []ID{e},
			map[ID]Owner{u: userP, e: otherUser}, false, Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{e}}},
		{"browser: hash of an anonymous profile joins nothing either", Plan{Profile: "pA", Attach: []ID{a}}, []ID{e},
			map[ID]Owner{a: anonP, e: otherAnon}, false, Plan{Profile: "pA", Attach: []ID{a}, Kept: []ID{e}}},
		{"browser: new visitor with a customer's hash gets a profile of its own", Plan{Attach: []ID{a}}, []ID{e},
			map[ID]Owner{e: userP}, false, Plan{Attach: []ID{a}, Kept: []ID{e}}},

		// A trusted source joins anonymous profiles to known ones, never two users.
		{"server: anonymous profile with the hash joins the customer", Plan{Profile: "pU", Attach: []ID{u}}, []ID{e},
			map[ID]Owner{u: userP, e: otherAnon}, true, Plan{Profile: "pU", Attach: []ID{u, e}, MergeFrom: "pX"}},
		{"server: the event's anonymous profile joins the customer holding the hash", Plan{Profile: "pA", Attach: []ID{a}}, []ID{e},
			map[ID]Owner{a: anonP, e: userP}, true, Plan{Profile: "pU", Attach: []ID{a, e}, MergeFrom: "pA"}},
		{"server: two anonymous profiles, the hash's joins the event's", Plan{Profile: "pA", Attach: []ID{a}}, []ID{e},
			map[ID]Owner{a: anonP, e: otherAnon}, true, Plan{Profile: "pA", Attach: []ID{a, e}, MergeFrom: "pX"}},
		{"server: new user id, hash of an anonymous profile: it becomes the user's", Plan{Attach: []ID{u}}, []ID{e},
			map[ID]Owner{e: otherAnon}, true, Plan{Profile: "pX", Attach: []ID{u, e}}},
		{"server: two different users never merge", Plan{Profile: "pU", Attach: []ID{u}}, []ID{e},
			map[ID]Owner{u: userP, e: otherUser}, true, Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{e}}},
		{"server: new user id, hash of another user: a profile of its own", Plan{Attach: []ID{u}}, []ID{e},
			map[ID]Owner{e: otherUser}, true, Plan{Attach: []ID{u}, Kept: []ID{e}}},
		{"server: a pending merge goes first", Plan{Profile: "pU", Attach: []ID{a, u}, MergeFrom: "pA"}, []ID{e},
			map[ID]Owner{a: anonP, u: userP, e: otherAnon}, true, Plan{Profile: "pU", Attach: []ID{a, u}, MergeFrom: "pA"}},

		// Limits.
		{"full profile takes no new identifier of a full kind", Plan{Profile: "pU", Attach: []ID{a, u}}, []ID{e, ph},
			map[ID]Owner{u: full}, false, Plan{Profile: "pU", Attach: []ID{u}, Dropped: []ID{a, e, ph}}},
		{"identifiers already held stay", Plan{Profile: "pU", Attach: []ID{a, u}}, []ID{e},
			map[ID]Owner{a: full, u: full, e: full}, false, Plan{Profile: "pU", Attach: []ID{a, u, e}}},
		{"one slot left: the first new one takes it", Plan{Profile: "pU", Attach: []ID{u}}, []ID{e, {EmailSHA256, hexB}},
			map[ID]Owner{u: {ProfileID: "pU", UserID: "U", Held: held(1, 4, 0)}}, false,
			Plan{Profile: "pU", Attach: []ID{u, e}, Dropped: []ID{{EmailSHA256, hexB}}}},
		{"a merge past a limit is refused", Plan{Profile: "pU", Attach: []ID{a, u}, MergeFrom: "pA"}, nil,
			map[ID]Owner{a: {ProfileID: "pA", Held: held(10, 0, 0)}, u: {ProfileID: "pU", UserID: "U", Held: held(45, 0, 0)}}, false,
			Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{a}}},
		{"a merge up to the limit goes ahead", Plan{Profile: "pU", Attach: []ID{a, u}, MergeFrom: "pA"}, nil,
			map[ID]Owner{a: {ProfileID: "pA", Held: held(5, 0, 0)}, u: {ProfileID: "pU", UserID: "U", Held: held(45, 0, 0)}}, false,
			Plan{Profile: "pU", Attach: []ID{a, u}, MergeFrom: "pA"}},
		{"server: a hash merge past a limit is refused", Plan{Profile: "pU", Attach: []ID{u}}, []ID{e},
			map[ID]Owner{u: {ProfileID: "pU", UserID: "U", Held: held(1, 3, 0)}, e: {ProfileID: "pX", Held: held(1, 3, 0)}}, true,
			Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{e}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Refine(tt.event, tt.hashed, tt.owners, tt.trusted); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Refine = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

// Whatever the graph looks like, a browser never joins profiles through a hash, and no source joins
// two different users.
func TestRefineGuards(t *testing.T) {
	e := ID{EmailSHA256, hexA}
	owners := []Owner{{}, {ProfileID: "p1"}, {ProfileID: "p1", UserID: "U1"}, {ProfileID: "p2", UserID: "U2"}, {ProfileID: "p2"}, {ProfileID: "p3", UserID: "U3"}}
	for _, event := range owners {
		for _, byHash := range owners {
			for _, trusted := range []bool{false, true} {
				plan := Plan{Profile: event.ProfileID, Attach: []ID{AnonymousID("A")}}
				got := Refine(plan, []ID{e}, map[ID]Owner{AnonymousID("A"): event, e: byHash}, trusted)
				moved := got.MergeFrom != "" || got.Profile != plan.Profile
				if moved && !trusted {
					t.Errorf("browser event on %+v with the hash of %+v: %+v", event, byHash, got)
				}
				if moved && event.UserID != "" && byHash.UserID != "" && event.UserID != byHash.UserID {
					t.Errorf("event on %+v with the hash of %+v joins two users: %+v", event, byHash, got)
				}
			}
		}
	}
}

func TestLimitsOfClaimKinds(t *testing.T) {
	for k, want := range map[Kind]int{Device: 10, Advertising: 10, External: 5, TypeKey("crm_id"): 1, Kind("nonsense"): 0} {
		if got := Limit(k); got != want {
			t.Errorf("Limit(%s) = %d, want %d", k, got, want)
		}
	}
	crm1, _ := ExternalID("crm_id", "1")
	loyalty, _ := ExternalID("loyalty", "L-9")
	got := Tally([]ID{AnonymousID("A"), AnonymousID("B"), crm1, loyalty, {Device, "d-1"}})
	want := map[Kind]int{Anonymous: 2, External: 2, TypeKey("crm_id"): 1, TypeKey("loyalty"): 1, Device: 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tally = %v, want %v", got, want)
	}
}

// ext is an external id of a test (the type and id are valid).
func ext(typ, id string) ID {
	x, err := ExternalID(typ, id)
	if err != nil {
		panic(err)
	}
	return x
}

// holding is what a profile holds, for Owner.Held.
func holding(ids ...ID) map[Kind]int { return Tally(ids) }

// TestRefineClaimKinds walks the rows of the package comment's table for the kinds beyond hashed
// emails and phones: device ids and linked anonymous ids (follow a new event, never join),
// advertising ids (recorded only), external ids (like hashed ids, plus one per type).
func TestRefineClaimKinds(t *testing.T) {
	a, u := AnonymousID("A"), UserID("U")
	dev, ad := ID{Device, "d-1"}, ID{Advertising, "7a3cbea0-bdf5-11e4-8dfc-aa07a5b093db"}
	linked := AnonymousID("cookie-on-other-domain")
	crm, crm2, loyalty := ext("crm_id", "123"), ext("crm_id", "456"), ext("loyalty", "L-9")

	anonP := Owner{ProfileID: "pA", Held: holding(a)}
	userP := Owner{ProfileID: "pU", UserID: "U", Held: holding(u, AnonymousID("A0"))}
	otherAnon := Owner{ProfileID: "pX", Held: holding(AnonymousID("X"), dev, linked, crm, ad)}
	otherUser := Owner{ProfileID: "pV", UserID: "V", Held: holding(UserID("V"), dev, linked, crm, ad)}

	tests := []struct {
		name    string
		event   Plan
		claims  []ID
		owners  map[ID]Owner
		trusted bool
		want    Plan
	}{
		// Not owned yet: attached to P, from any source.
		{"new claims of every kind attach, browser", Plan{Profile: "pA", Attach: []ID{a}}, []ID{crm, linked, dev, ad},
			map[ID]Owner{a: anonP}, false, Plan{Profile: "pA", Attach: []ID{a, crm, linked, dev, ad}}},
		{"new claims on a new profile", Plan{Attach: []ID{a}}, []ID{dev, ad}, nil, false, Plan{Attach: []ID{a, dev, ad}}},
		{"claims already on the profile", Plan{Profile: "pX", Attach: []ID{AnonymousID("X")}}, []ID{crm, dev, ad, linked},
			map[ID]Owner{AnonymousID("X"): otherAnon, crm: otherAnon, dev: otherAnon, ad: otherAnon, linked: otherAnon}, false,
			Plan{Profile: "pX", Attach: []ID{AnonymousID("X"), crm, dev, ad, linked}}},

		// Device ids and linked anonymous ids: a new event follows them, from any source.
		{"reinstalled app: new cookie, known device: the event goes to the device's profile",
			Plan{Attach: []ID{a}}, []ID{dev}, map[ID]Owner{dev: otherAnon}, false, Plan{Profile: "pX", Attach: []ID{a, dev}}},
		{"device of a known user: the new cookie joins the user", Plan{Attach: []ID{a}}, []ID{dev},
			map[ID]Owner{dev: otherUser}, false, Plan{Profile: "pV", Attach: []ID{a, dev}}},
		{"cross-domain link: the new cookie of site B goes to the visitor's profile on site A",
			Plan{Attach: []ID{a}}, []ID{linked}, map[ID]Owner{linked: otherUser}, false, Plan{Profile: "pV", Attach: []ID{a, linked}}},
		{"new user id on a known anonymous device: the device's profile becomes the user's",
			Plan{Attach: []ID{a, u}}, []ID{dev}, map[ID]Owner{dev: otherAnon}, false, Plan{Profile: "pX", Attach: []ID{a, u, dev}}},
		{"device of another user: a profile of its own", Plan{Attach: []ID{a, u}}, []ID{dev},
			map[ID]Owner{dev: otherUser}, true, Plan{Attach: []ID{a, u}, Kept: []ID{dev}}},
		{"link from another user's browser: a profile of its own", Plan{Attach: []ID{u}}, []ID{linked},
			map[ID]Owner{linked: otherUser}, false, Plan{Attach: []ID{u}, Kept: []ID{linked}}},
		{"browser: two existing profiles sharing a device stay apart", Plan{Profile: "pA", Attach: []ID{a}}, []ID{dev},
			map[ID]Owner{a: anonP, dev: otherAnon}, false, Plan{Profile: "pA", Attach: []ID{a}, Kept: []ID{dev}}},
		{"server: two existing profiles sharing a device stay apart too", Plan{Profile: "pU", Attach: []ID{u}}, []ID{dev},
			map[ID]Owner{u: userP, dev: otherAnon}, true, Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{dev}}},
		{"link to a known visitor from a browser that has a profile: nothing is joined", Plan{Profile: "pA", Attach: []ID{a}}, []ID{linked},
			map[ID]Owner{a: anonP, linked: otherUser}, false, Plan{Profile: "pA", Attach: []ID{a}, Kept: []ID{linked}}},
		{"server: a link joins no existing profiles either", Plan{Profile: "pA", Attach: []ID{a}}, []ID{linked},
			map[ID]Owner{a: anonP, linked: otherAnon}, true, Plan{Profile: "pA", Attach: []ID{a}, Kept: []ID{linked}}},
		{"the first claim to move the event wins; a second profile is not joined", Plan{Attach: []ID{a}}, []ID{linked, dev},
			map[ID]Owner{linked: otherAnon, dev: otherUser}, false, Plan{Profile: "pX", Attach: []ID{a, linked}, Kept: []ID{dev}}},
		{"the device's profile is full: the event starts a profile of its own", Plan{Attach: []ID{a}}, []ID{dev},
			map[ID]Owner{dev: {ProfileID: "pF", Held: map[Kind]int{Anonymous: 50, Device: 1}}}, false, Plan{Attach: []ID{a}, Kept: []ID{dev}}},

		// Advertising ids: recorded, never used to resolve.
		{"browser: a known advertising id does not move a new event", Plan{Attach: []ID{a}}, []ID{ad},
			map[ID]Owner{ad: otherAnon}, false, Plan{Attach: []ID{a}, Kept: []ID{ad}}},
		{"server: nor from a trusted source", Plan{Attach: []ID{a}}, []ID{ad},
			map[ID]Owner{ad: otherAnon}, true, Plan{Attach: []ID{a}, Kept: []ID{ad}}},
		{"server: nor does it join two profiles", Plan{Profile: "pU", Attach: []ID{u}}, []ID{ad},
			map[ID]Owner{u: userP, ad: otherAnon}, true, Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{ad}}},

		// External ids: joins only from trusted sources, never two users.
		{"browser: someone else's CRM id joins nothing", Plan{Profile: "pU", Attach: []ID{u}}, []ID{crm},
			map[ID]Owner{u: userP, crm: otherAnon}, false, Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{crm}}},
		{"browser: a new visitor with a customer's CRM id gets a profile of its own", Plan{Attach: []ID{a}}, []ID{crm},
			map[ID]Owner{crm: otherUser}, false, Plan{Attach: []ID{a}, Kept: []ID{crm}}},
		{"server: the anonymous profile with the CRM id joins the customer", Plan{Profile: "pU", Attach: []ID{u}}, []ID{crm},
			map[ID]Owner{u: userP, crm: otherAnon}, true, Plan{Profile: "pU", Attach: []ID{u, crm}, MergeFrom: "pX"}},
		{"server: the event's anonymous profile joins the customer with the CRM id", Plan{Profile: "pA", Attach: []ID{a}}, []ID{crm},
			map[ID]Owner{a: anonP, crm: otherUser}, true, Plan{Profile: "pV", Attach: []ID{a, crm}, MergeFrom: "pA"}},
		{"server: new cookie with a known CRM id: the event goes to its profile", Plan{Attach: []ID{a}}, []ID{crm},
			map[ID]Owner{crm: otherUser}, true, Plan{Profile: "pV", Attach: []ID{a, crm}}},
		{"server: two different users never merge through a CRM id", Plan{Profile: "pU", Attach: []ID{u}}, []ID{crm},
			map[ID]Owner{u: userP, crm: otherUser}, true, Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{crm}}},

		// Limits.
		{"one value per external type: a second CRM id is dropped, another type attaches", Plan{Profile: "pX", Attach: []ID{AnonymousID("X")}},
			[]ID{crm2, loyalty}, map[ID]Owner{AnonymousID("X"): otherAnon}, false,
			Plan{Profile: "pX", Attach: []ID{AnonymousID("X"), loyalty}, Dropped: []ID{crm2}}},
		{"one value per external type within one event", Plan{Profile: "pA", Attach: []ID{a}}, []ID{crm, crm2},
			map[ID]Owner{a: anonP}, true, Plan{Profile: "pA", Attach: []ID{a, crm}, Dropped: []ID{crm2}}},
		{"five external ids at most", Plan{Profile: "pA", Attach: []ID{a}}, []ID{loyalty},
			map[ID]Owner{a: {ProfileID: "pA", Held: map[Kind]int{Anonymous: 1, External: 5}}}, false,
			Plan{Profile: "pA", Attach: []ID{a}, Dropped: []ID{loyalty}}},
		{"ten device and ten advertising ids at most", Plan{Profile: "pA", Attach: []ID{a}}, []ID{dev, ad},
			map[ID]Owner{a: {ProfileID: "pA", Held: map[Kind]int{Anonymous: 1, Device: 10, Advertising: 10}}}, false,
			Plan{Profile: "pA", Attach: []ID{a}, Dropped: []ID{dev, ad}}},
		{"a linked anonymous id counts as an anonymous id", Plan{Profile: "pA", Attach: []ID{a}}, []ID{linked},
			map[ID]Owner{a: {ProfileID: "pA", Held: map[Kind]int{Anonymous: 50}}}, false,
			Plan{Profile: "pA", Attach: []ID{a}, Dropped: []ID{linked}}},
		{"server: a merge that would give one profile two CRM ids is refused", Plan{Profile: "pU", Attach: []ID{u}}, []ID{crm},
			map[ID]Owner{u: {ProfileID: "pU", UserID: "U", Held: holding(u, crm2)}, crm: otherAnon}, true,
			Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{crm}}},

		// What is not a claim.
		{"a user id among the claims is ignored", Plan{Profile: "pA", Attach: []ID{a}}, []ID{UserID("V")},
			map[ID]Owner{a: anonP, UserID("V"): otherUser}, true, Plan{Profile: "pA", Attach: []ID{a}}},
		{"a claim the plan names already counts once", Plan{Profile: "pA", Attach: []ID{a}}, []ID{a, dev, dev},
			map[ID]Owner{a: anonP}, false, Plan{Profile: "pA", Attach: []ID{a, dev}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Refine(tt.event, tt.claims, tt.owners, tt.trusted); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Refine = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

// Whatever the graph looks like, for every kind of claim: device, linked and advertising ids never
// join profiles; a browser never joins through any claim and moves an event only through a device
// id or a link; an event whose own identifiers are known moves only by a (trusted) merge;
// advertising ids never move one; no source joins two different users or moves an event to
// another user's profile.
func TestRefineGuardsEveryKind(t *testing.T) {
	owners := []Owner{{}, {ProfileID: "p1"}, {ProfileID: "p1", UserID: "U1"}, {ProfileID: "p2", UserID: "U2"}, {ProfileID: "p2"}, {ProfileID: "p3", UserID: "U3"}}
	claims := []ID{{EmailSHA256, hexA}, ext("crm_id", "1"), AnonymousID("linked"), {Device, "d"}, {Advertising, "7a3cbea0-bdf5-11e4-8dfc-aa07a5b093db"}}
	for _, c := range claims {
		for _, event := range owners {
			for _, byClaim := range owners {
				for _, trusted := range []bool{false, true} {
					plan := Plan{Profile: event.ProfileID, Attach: []ID{AnonymousID("A")}}
					got := Refine(plan, []ID{c}, map[ID]Owner{AnonymousID("A"): event, c: byClaim}, trusted)
					moved := got.Profile != plan.Profile
					switch {
					case got.MergeFrom != "" && (!trusted || ruleOf(c.Kind) != vouched):
						t.Errorf("%s, trusted %v, event on %+v, claim of %+v: joins %+v", c.Kind, trusted, event, byClaim, got)
					case moved && got.MergeFrom == "" && (event.Known() || c.Kind == Advertising || !trusted && ruleOf(c.Kind) == vouched):
						t.Errorf("%s, trusted %v, event on %+v, claim of %+v: moves the event %+v", c.Kind, trusted, event, byClaim, got)
					case (moved || got.MergeFrom != "") && event.UserID != "" && byClaim.UserID != "" && event.UserID != byClaim.UserID:
						t.Errorf("%s: event on %+v with the claim of %+v joins two users: %+v", c.Kind, event, byClaim, got)
					}
				}
			}
		}
	}
}
