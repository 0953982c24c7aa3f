package rfm

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestSegmentsFirstMatchWins(t *testing.T) {
	for _, c := range []struct {
		r, f, m int
		want    string
	}{
		{5, 5, 5, "Champions"},          // also inside Potential Loyalist's ranges
		{3, 4, 3, "Potential Loyalist"}, // also inside Loyal Customers' ranges
		{2, 2, 2, "Loyal Customers"},
		{1, 3, 4, "Can't Lose Them"}, // also inside At Risk's and Need Attention's
		{1, 5, 5, "At Risk"},
		{1, 1, 1, "Lost"},
		{5, 4, 1, Others}, // no row of the R package's table holds it
	} {
		if got := DefaultSegments.Name(Score{R: c.r, F: c.f, M: c.m}); got != c.want {
			t.Errorf("segment of %d%d%d = %q, want %q", c.r, c.f, c.m, got, c.want)
		}
	}
}

func TestDefaultTablesValid(t *testing.T) {
	for name, table := range map[string]Segments{"customers": DefaultSegments, "visitors": DefaultVisitorSegments} {
		if err := table.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The visitor table names every combination of scores.
	for r := 1; r <= Bins; r++ {
		for f := 1; f <= Bins; f++ {
			for m := 1; m <= Bins; m++ {
				if DefaultVisitorSegments.Name(Score{R: r, F: f, M: m}) == Others {
					t.Errorf("visitor scores %d%d%d fall through to Others", r, f, m)
				}
			}
		}
	}
}

func segmentsCSV(t Segments) string {
	var b strings.Builder
	b.WriteString("segment,r_min,r_max,f_min,f_max,m_min,m_max\n")
	for _, s := range t {
		fmt.Fprintf(&b, "%q,%d,%d,%d,%d,%d,%d\n", s.Name, s.R.Min, s.R.Max, s.F.Min, s.F.Max, s.M.Min, s.M.Max)
	}
	return b.String()
}

func TestReadSegments(t *testing.T) {
	got, err := ReadSegments(strings.NewReader(segmentsCSV(DefaultSegments)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, DefaultSegments) {
		t.Errorf("read back %+v\nwant %+v", got, DefaultSegments)
	}
	// Columns in another order and case, a byte-order mark, spaces.
	got, err = ReadSegments(strings.NewReader("\ufeffSegment, M_MIN,M_MAX,F_Min,F_Max,R_Min,R_Max\nWhales, 5,5, 1,5, 1,5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Segments{{"Whales", Range{1, 5}, Range{1, 5}, Range{5, 5}}}); !reflect.DeepEqual(got, want) {
		t.Errorf("read %+v, want %+v", got, want)
	}

	for _, c := range []struct{ in, wantInErr string }{
		{"", "empty file"},
		{"segment,r_min,r_max,f_min,f_max,m_min\n", `no column "m_max"`},
		{"segment,r_min,r_max,f_min,f_max,m_min,m_max\n", "no rows"},
		{"segment,r_min,r_max,f_min,f_max,m_min,m_max\nA,1,5,1,5,1,5\nB,1,x,1,5,1,5\n", `line 3: r_max "x"`},
		{"segment,r_min,r_max,f_min,f_max,m_min,m_max\nA,1,6,1,5,1,5\n", "line 2: segment \"A\": range 1-6"},
		{"segment,r_min,r_max,f_min,f_max,m_min,m_max\nA,4,3,1,5,1,5\n", "range 4-3"},
		{"segment,r_min,r_max,f_min,f_max,m_min,m_max\n ,1,5,1,5,1,5\n", "line 2: segment row 1: no name"},
		{"segment,r_min,r_max,f_min,f_max,m_min,m_max\nA,1,5\n", "wrong number of fields"},
	} {
		_, err := ReadSegments(strings.NewReader(c.in))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.wantInErr) {
			t.Errorf("ReadSegments(%q) err = %v, want ErrInvalid mentioning %q", c.in, err, c.wantInErr)
		}
	}
}

func FuzzReadSegments(f *testing.F) {
	f.Add(segmentsCSV(DefaultSegments))
	f.Add("segment,r_min,r_max,f_min,f_max,m_min,m_max\nA,1,5,1,5,1,5\n")
	f.Add("Segment,M_MIN,M_MAX,F_Min,F_Max,R_Min,R_Max\n\"a,b\",5,5,1,5,1,5\n")
	f.Add("segment\n\"unterminated\n")
	f.Fuzz(func(t *testing.T, in string) {
		table, err := ReadSegments(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if err := table.Validate(); err != nil {
			t.Fatalf("accepted an invalid table: %v", err)
		}
	})
}
