package identity

import (
	"errors"
	"reflect"
	"testing"
)

func TestIdentifierText(t *testing.T) {
	for _, id := range []ID{AnonymousID("abc"), UserID("u-1"), UserID("mail:someone@example.com")} {
		got, err := Parse(id.String())
		if err != nil || got != id {
			t.Errorf("Parse(%q) = %v, %v; want %v", id.String(), got, err, id)
		}
	}
	if s := UserID("u-1").String(); s != "userId:u-1" {
		t.Errorf("String() = %q, want userId:u-1", s)
	}
	for _, bad := range []string{"", "u-1", "userId:", "email:a@b", ":x"} {
		if _, err := Parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) err = %v, want ErrInvalid", bad, err)
		}
	}
	if k, err := ParseKind("anonymousId"); err != nil || k != Anonymous {
		t.Errorf("ParseKind(anonymousId) = %v, %v", k, err)
	}
}

func TestResolve(t *testing.T) {
	a, u := AnonymousID("A"), UserID("U")
	anonProfile := Owner{ProfileID: "pA"}
	userProfile := Owner{ProfileID: "pU", UserID: "U"}
	otherUsers := Owner{ProfileID: "pA", UserID: "U1"}
	tests := []struct {
		name         string
		anon, user   string
		byAnon, byUs Owner
		want         Plan
	}{
		{"nothing to go on", "", "", Owner{}, Owner{}, Plan{}},
		{"new visitor", "A", "", Owner{}, Owner{}, Plan{Attach: []ID{a}}},
		{"returning visitor", "A", "", anonProfile, Owner{}, Plan{Profile: "pA", Attach: []ID{a}}},
		{"new user, server side", "", "U", Owner{}, Owner{}, Plan{Attach: []ID{u}}},
		{"known user, server side", "", "U", Owner{}, userProfile, Plan{Profile: "pU", Attach: []ID{u}}},
		{"first sight of both", "A", "U", Owner{}, Owner{}, Plan{Attach: []ID{a, u}}},
		{"visitor logs in for the first time: the anonymous profile becomes the user's",
			"A", "U", anonProfile, Owner{}, Plan{Profile: "pA", Attach: []ID{a, u}}},
		{"known user on a new device", "A", "U", Owner{}, userProfile, Plan{Profile: "pU", Attach: []ID{a, u}}},
		{"known user, known device", "A", "U", Owner{ProfileID: "pU", UserID: "U"}, userProfile,
			Plan{Profile: "pU", Attach: []ID{a, u}}},
		{"second device logs in: anonymous profile merges into the user's",
			"A", "U", anonProfile, userProfile, Plan{Profile: "pU", Attach: []ID{a, u}, MergeFrom: "pA"}},
		{"same user id on both profiles still merges",
			"A", "U", Owner{ProfileID: "pA", UserID: "U"}, userProfile, Plan{Profile: "pU", Attach: []ID{a, u}, MergeFrom: "pA"}},
		{"browser of another user, user known: nothing attached, event on the user's profile",
			"A", "U", otherUsers, userProfile, Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{a}}},
		{"browser of another user, user new: a profile of its own",
			"A", "U", otherUsers, Owner{}, Plan{Attach: []ID{u}, Kept: []ID{a}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Resolve(tt.anon, tt.user, tt.byAnon, tt.byUs)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Profiles an operator split apart stay apart: the merge is refused, the event goes to the
// profile it names, and the other keeps its identifier.
func TestProfilesSplitApartNeverMergeAgain(t *testing.T) {
	a, u := AnonymousID("A"), UserID("U")
	owners := map[ID]Owner{a: {ProfileID: "pA", Apart: []string{"pU"}}, u: {ProfileID: "pU", UserID: "U"}}
	got := Refine(Resolve("A", "U", owners[a], owners[u]), nil, owners, true)
	want := Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{a}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Refine = %+v, want %+v", got, want)
	}
	owners[a], owners[u] = Owner{ProfileID: "pA"}, Owner{ProfileID: "pU", UserID: "U", Apart: []string{"pA"}}
	if got := Refine(Resolve("A", "U", owners[a], owners[u]), nil, owners, true); !reflect.DeepEqual(got, want) {
		t.Errorf("split recorded on the user's profile: Refine = %+v, want %+v", got, want)
	}
}

func TestTwoUsersNeverMerge(t *testing.T) {
	if err := CanMerge("U1", "U2"); !errors.Is(err, ErrDifferentUsers) {
		t.Errorf("CanMerge(U1, U2) = %v, want ErrDifferentUsers", err)
	}
	for _, pair := range [][2]string{{"U", "U"}, {"U", ""}, {"", "U"}, {"", ""}} {
		if err := CanMerge(pair[0], pair[1]); err != nil {
			t.Errorf("CanMerge(%q, %q) = %v, want nil", pair[0], pair[1], err)
		}
	}
	// Whatever the graph looks like, Resolve never plans a merge of two users' profiles.
	owners := []Owner{{}, {ProfileID: "p1"}, {ProfileID: "p1", UserID: "U1"}, {ProfileID: "p2", UserID: "U2"}, {ProfileID: "p2"}}
	for _, byAnon := range owners {
		for _, byUser := range owners {
			p := Resolve("A", "U2", byAnon, byUser)
			if p.MergeFrom != "" && byAnon.UserID != "" && byAnon.UserID != "U2" {
				t.Errorf("Resolve(A, U2, %+v, %+v) merges a profile of %s", byAnon, byUser, byAnon.UserID)
			}
		}
	}
}

func TestResolveAlias(t *testing.T) {
	a, u, old := AnonymousID("A"), UserID("U"), UserID("OLD")
	anonProfile := Owner{ProfileID: "pA"}
	oldProfile := Owner{ProfileID: "pOld", UserID: "OLD"}
	userProfile := Owner{ProfileID: "pU", UserID: "U"}
	tests := []struct {
		name           string
		previous       ID
		user           string
		byPrev, byUser Owner
		want           Plan
	}{
		{"anonymous previous id, both new", a, "U", Owner{}, Owner{}, Plan{Attach: []ID{a, u}}},
		{"anonymous profile becomes the user's", a, "U", anonProfile, Owner{}, Plan{Profile: "pA", Attach: []ID{a, u}}},
		{"anonymous profile merges into the known user's", a, "U", anonProfile, userProfile,
			Plan{Profile: "pU", Attach: []ID{a, u}, MergeFrom: "pA"}},
		{"anonymous id of another user stays there", a, "U", Owner{ProfileID: "pA", UserID: "X"}, userProfile,
			Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{a}}},
		{"earlier user id, new user id: linked to the earlier profile", old, "U", oldProfile, Owner{},
			Plan{Profile: "pOld", Attach: []ID{old, u}}},
		{"earlier user id not known: both on the user's profile", old, "U", Owner{}, userProfile,
			Plan{Profile: "pU", Attach: []ID{u, old}}},
		{"two known user ids never merge", old, "U", oldProfile, userProfile,
			Plan{Profile: "pU", Attach: []ID{u}, Kept: []ID{old}}},
		{"already linked", old, "U", oldProfile, Owner{ProfileID: "pOld", UserID: "OLD"},
			Plan{Profile: "pOld", Attach: []ID{old, u}}},
		{"alias to itself", u, "U", userProfile, userProfile, Plan{Profile: "pU", Attach: []ID{u}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResolveAlias(tt.previous, tt.user, tt.byPrev, tt.byUser); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ResolveAlias = %+v, want %+v", got, tt.want)
			}
		})
	}
}
