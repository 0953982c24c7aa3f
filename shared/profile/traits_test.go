package profile

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

func identify(id string, m int, traits map[string]any) Activity {
	return Activity{MessageID: id, Type: beacon.Identify, UserID: "U", At: at(m), Traits: traits}
}

// A flood of identify calls with ever new, large traits leaves the profile's traits within their
// bounds, keeps what it held, and says what it refused.
func TestTraitFloodIsBounded(t *testing.T) {
	p, notes := ApplyNoted(Profile{ID: "p"}, identify("m0", 0, map[string]any{"email": "u@example.com", "plan": "free"}), nil)
	if len(notes) != 0 {
		t.Fatalf("small traits: notes %q", notes)
	}
	refused := 0
	for i := range 500 {
		traits := map[string]any{}
		for j := range 30 {
			traits[fmt.Sprintf("k%03d_%02d", i, j)] = strings.Repeat("x", 1000)
		}
		var n []string
		p, n = ApplyNoted(p, identify(fmt.Sprintf("m%d", i+1), i+1, traits), nil)
		for _, s := range n {
			if strings.Contains(s, "refused") {
				refused++
			}
		}
	}
	if got := TraitsBytes(p.Traits); got > MaxTraitsBytes {
		t.Errorf("traits take %d bytes, more than %d", got, MaxTraitsBytes)
	}
	if len(p.Traits) > MaxTraits || len(p.TraitTimes) != len(p.Traits) {
		t.Errorf("%d traits (%d times), at most %d", len(p.Traits), len(p.TraitTimes), MaxTraits)
	}
	if p.Traits["email"] != "u@example.com" || p.Traits["plan"] != "free" {
		t.Errorf("the traits held before the flood are lost: %v %v", p.Traits["email"], p.Traits["plan"])
	}
	if refused == 0 {
		t.Error("nothing said refused")
	}
	if p.Counts.Identifies != 501 {
		t.Errorf("identifies = %d, want every event counted", p.Counts.Identifies)
	}

	// A held trait can still change, and one that shrinks always can.
	p, notes = ApplyNoted(p, identify("m-plan", 600, map[string]any{"plan": "gold"}), nil)
	if p.Traits["plan"] != "gold" || len(notes) != 0 {
		t.Errorf("plan = %v, notes %q; want gold, none", p.Traits["plan"], notes)
	}
	// A new one cannot.
	p, notes = ApplyNoted(p, identify("m-new", 601, map[string]any{"zz": strings.Repeat("x", 2000)}), nil)
	if _, ok := p.Traits["zz"]; ok || len(notes) != 1 || !strings.Contains(notes[0], `trait "zz" refused`) {
		t.Errorf("new trait on a full profile: kept %v, notes %q", ok, notes)
	}
}

func TestTraitsPastACountAreRefused(t *testing.T) {
	traits := map[string]any{}
	for i := range MaxTraits + 50 {
		traits[fmt.Sprintf("t%03d", i)] = true
	}
	p, notes := ApplyNoted(Profile{ID: "p"}, identify("m1", 0, traits), nil)
	if len(p.Traits) != MaxTraits {
		t.Errorf("%d traits kept, want %d", len(p.Traits), MaxTraits)
	}
	if _, ok := p.Traits["t199"]; !ok {
		t.Error("the first names, in order, are kept")
	}
	want := []string{`trait "t200" refused: the profile holds 200 traits already`}
	if len(notes) != maxNotes+1 || notes[0] != want[0] || notes[maxNotes] != "and 40 more traits trimmed or refused" {
		t.Errorf("notes = %q", notes)
	}
}

func TestTraitValuesAreBounded(t *testing.T) {
	long := strings.Repeat("é", MaxTraitString) // 2 bytes each
	deep := any("leaf")
	for range MaxTraitDepth + 1 {
		deep = []any{deep}
	}
	ok := any("leaf")
	for range MaxTraitDepth {
		ok = map[string]any{"a": ok}
	}
	many := make([]any, 150)
	for i := range many {
		many[i] = float64(i)
	}
	members := map[string]any{"a" + strings.Repeat("n", MaxTraitName): 1.0}
	for i := range 120 {
		members[fmt.Sprintf("m%03d", i)] = 1.0
	}
	in := map[string]any{
		"bio":                               long,
		"deep":                              deep,
		"nested":                            ok,
		"list":                              many,
		"members":                           members,
		strings.Repeat("k", MaxTraitName+1): "x",
		"big":                               []any{strings.Repeat("x", 2000), strings.Repeat("y", 2000), strings.Repeat("z", 2000), strings.Repeat("w", 2000), strings.Repeat("v", 2000)},
		"plan":                              "gold",
	}
	keep := fmt.Sprint(in)
	p, notes := ApplyNoted(Profile{ID: "p"}, identify("m1", 0, in), nil)
	if fmt.Sprint(in) != keep {
		t.Error("the activity's traits were changed")
	}
	if got := p.Traits["bio"].(string); len(got) != MaxTraitString || !strings.HasPrefix(long, got) {
		t.Errorf("bio: %d bytes", len(got))
	}
	if _, found := p.Traits["deep"]; found {
		t.Error("a trait nested too deep is kept")
	}
	if !reflect.DeepEqual(p.Traits["nested"], ok) {
		t.Error("a trait nested as deep as allowed is not kept whole")
	}
	if got := p.Traits["list"].([]any); len(got) != MaxTraitItems || got[99] != 99.0 {
		t.Errorf("list: %d elements", len(got))
	}
	if got := p.Traits["members"].(map[string]any); len(got) != MaxTraitItems || got["m099"] != 1.0 {
		t.Errorf("members: %d", len(got))
	}
	if _, found := p.Traits["big"]; found {
		t.Error("a trait larger than MaxTraitBytes is kept")
	}
	if p.Traits["plan"] != "gold" || len(p.Traits) != 5 {
		t.Errorf("traits kept: %v", p.Traits)
	}
	want := []string{
		`trait "big" refused: 10016 bytes encoded, more than 8192`,
		`trait "bio" trimmed: a string cut to 2048 bytes`,
		`trait "deep" refused: nested deeper than 5 levels`,
		`trait "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk" refused: its name is longer than 128 bytes`,
		`trait "list" trimmed: an array cut to 100 elements`,
		`trait "members" trimmed: a member whose name is longer than 128 bytes left out, an object cut to 100 members`,
	}
	if !reflect.DeepEqual(notes, want) {
		t.Errorf("notes:\n%q\nwant\n%q", notes, want)
	}
}

// A fold keeps the live profile's traits and adds the other's within the bounds, latest first.
func TestFoldBoundsTraits(t *testing.T) {
	fill := func(id, prefix string, m, n int) Profile {
		traits := map[string]any{}
		for i := range n {
			traits[fmt.Sprintf("%s%03d", prefix, i)] = float64(i)
		}
		return Apply(Profile{ID: id}, identify("m"+id, m, traits), nil)
	}
	into, from := fill("a", "a", 0, MaxTraits), fill("b", "b", 5, MaxTraits-1)
	from = Apply(from, identify("late", 10, map[string]any{"a000": "from b"}), nil)
	out, err := Fold(into, from)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Traits) != MaxTraits || out.Traits["a199"] != 199.0 || out.Traits["a000"] != "from b" {
		t.Errorf("folded: %d traits, a199 = %v, a000 = %v", len(out.Traits), out.Traits["a199"], out.Traits["a000"])
	}
}
