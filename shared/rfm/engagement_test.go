package rfm

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// visitors makes n visitors with long-tailed, continuous engagement.
func visitors(n int, seed uint64) []Visitor {
	rng := rand.New(rand.NewPCG(seed, 11))
	out := make([]Visitor, n)
	for i := range out {
		visits := 1 + int(rng.ExpFloat64()*1.5)
		out[i] = Visitor{
			ID:             "v",
			LastSeen:       analysisDate.AddDate(0, 0, -rng.IntN(120)),
			Visits:         visits,
			PageViews:      visits * (1 + int(rng.ExpFloat64()*3)),
			EngagedSeconds: rng.ExpFloat64() * 90 * float64(visits),
		}
	}
	return out
}

func TestEngagementIndex(t *testing.T) {
	pop := visitors(5000, 1)
	e, err := FitEngagement(pop, analysisDate, ConventionR)
	if err != nil {
		t.Fatal(err)
	}
	var mean float64
	for _, v := range pop {
		mean += e.Index.Value(v) / float64(len(pop))
	}
	if math.Abs(mean) > 1e-9 {
		t.Errorf("mean index over the fitting population = %v, want 0", mean)
	}

	// More of any one measure, the rest unchanged, raises the index.
	base := Visitor{ID: "v", LastSeen: analysisDate, Visits: 2, PageViews: 4, EngagedSeconds: 60}
	more := []Visitor{base, base, base}
	more[0].PageViews = 8        // more page views (and so more depth)
	more[1].EngagedSeconds = 600 // longer
	more[2].Visits = 1           // the same pages in fewer visits: deeper
	for _, v := range more {
		if e.Index.Value(v) <= e.Index.Value(base) {
			t.Errorf("index of %+v = %v, not above %+v's %v", v, e.Index.Value(v), base, e.Index.Value(base))
		}
	}
}

func TestEngagementScores(t *testing.T) {
	pop := visitors(10000, 2)
	for _, conv := range []Convention{ConventionR, ConventionNTile} {
		e, err := FitEngagement(pop, analysisDate, conv)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var loaded EngagementCutPoints
		if err := json.Unmarshal(stored, &loaded); err != nil {
			t.Fatal(err)
		}
		if err := loaded.Validate(); err != nil {
			t.Fatal(err)
		}
		var sizes [Bins + 1]int
		for _, v := range pop {
			s, err := loaded.Score(v, analysisDate)
			if err != nil {
				t.Fatal(err)
			}
			direct, _ := e.Score(v, analysisDate)
			if s != direct {
				t.Fatalf("%s: scored with stored cut points %+v, with fitted ones %+v", conv, s, direct)
			}
			if min(s.R, s.F, s.M) < 1 || max(s.R, s.F, s.M) > Bins || s.Frequency != v.Visits {
				t.Fatalf("%s: %+v", conv, s)
			}
			sizes[s.M]++
		}
		// The index is continuous, so each engagement score holds about a fifth.
		for m := 1; m <= Bins; m++ {
			if sizes[m] < 1900 || sizes[m] > 2100 {
				t.Errorf("%s: engagement score %d holds %d of 10000 visitors", conv, m, sizes[m])
			}
		}
	}
}

func TestEngagementEdgeCases(t *testing.T) {
	// Everyone alike: zero spread, no NaN, everyone in one bin.
	same := []Visitor{{ID: "a", LastSeen: analysisDate, Visits: 1, PageViews: 3, EngagedSeconds: 10}}
	same = append(same, same[0], same[0])
	e, err := FitEngagement(same, analysisDate, ConventionNTile)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if s, err := e.Score(same[0], analysisDate); err != nil || s.Monetary != 0 {
		t.Errorf("score of an average visitor with no spread = %+v, %v; want index 0", s, err)
	}

	if _, err := FitEngagement(nil, analysisDate, ConventionR); !errors.Is(err, ErrEmpty) {
		t.Errorf("FitEngagement(nil) err = %v, want ErrEmpty", err)
	}
	for _, bad := range []Visitor{
		{ID: "never seen", Visits: 1},
		{ID: "no visits", LastSeen: analysisDate},
		{ID: "negative views", LastSeen: analysisDate, Visits: 1, PageViews: -1},
		{ID: "nan seconds", LastSeen: analysisDate, Visits: 1, EngagedSeconds: math.NaN()},
	} {
		if _, err := FitEngagement([]Visitor{same[0], bad}, analysisDate, ConventionR); !errors.Is(err, ErrInvalid) {
			t.Errorf("FitEngagement with %+v: err = %v, want ErrInvalid", bad, err)
		}
		if _, err := e.Score(bad, analysisDate); !errors.Is(err, ErrInvalid) {
			t.Errorf("Score(%+v): err = %v, want ErrInvalid", bad, err)
		}
	}
	e.Index.SD[1] = -1
	if err := e.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate with a negative SD = %v, want ErrInvalid", err)
	}
}
