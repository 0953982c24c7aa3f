package beacon

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Walking a checked document finds what checking it finds, at every level.
func TestWalkFindsWhatMembersAndElementsFind(t *testing.T) {
	doc := []byte(` {"a":[1, {"b" : "x\"y"}, [2,3]], "c\u00e9":{"d":{}}, "e":[] } `)
	want, ok := Members(doc)
	if !ok {
		t.Fatal("not valid")
	}
	got, ok := WalkMembers(doc)
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("WalkMembers = %q, Members %q", got, want)
	}
	for _, m := range want {
		switch m.Value[0] {
		case '[':
			w, _ := Elements(m.Value)
			g, ok := WalkElements(m.Value)
			if !ok || !reflect.DeepEqual(g, w) {
				t.Errorf("WalkElements(%s) = %q, Elements %q", m.Value, g, w)
			}
		case '{':
			w, _ := Members(m.Value)
			g, ok := WalkMembers(m.Value)
			if !ok || !reflect.DeepEqual(g, w) {
				t.Errorf("WalkMembers(%s) = %q, Members %q", m.Value, g, w)
			}
		}
	}
	for _, s := range []string{`1`, `"x"`, `[`, `{`, `null`, ``} {
		if _, ok := WalkMembers([]byte(s)); ok {
			t.Errorf("WalkMembers(%q) took it for an object", s)
		}
		if _, ok := WalkElements(json.RawMessage(s)); ok {
			t.Errorf("WalkElements(%q) took it for an array", s)
		}
	}
}
