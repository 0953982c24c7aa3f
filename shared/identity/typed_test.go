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
