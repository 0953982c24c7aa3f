package rfm

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Others names a customer whom no row of a segment table matches.
const Others = "Others"

// Range is an inclusive range of scores, 1-5.
type Range struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

func (r Range) has(score int) bool { return r.Min <= score && score <= r.Max }

// Segment is one row of a segment table: a name and the R, F and M score ranges it covers.
type Segment struct {
	Name    string `json:"name"`
	R, F, M Range
}

// Segments is a segment table. The first row whose three ranges all hold a customer's scores
// names the customer; if none does, the customer is one of the Others.
type Segments []Segment

// DefaultSegments is the example table of the R package rfm 0.3.0 (rfm_segment reference
// example and the "RFM - Introduction" vignette), in its order.
var DefaultSegments = Segments{
	{"Champions", Range{5, 5}, Range{5, 5}, Range{5, 5}},          // bought recently, buy often, spend the most
	{"Potential Loyalist", Range{3, 5}, Range{3, 5}, Range{2, 5}}, // recent, spent a good amount, bought more than once
	{"Loyal Customers", Range{2, 4}, Range{2, 4}, Range{2, 4}},    // spend good money, responsive to promotions
	{"Promising", Range{3, 4}, Range{1, 3}, Range{3, 5}},          // recent shoppers who have not spent much
	{"New Customers", Range{4, 5}, Range{1, 3}, Range{1, 5}},      // bought recently, not often
	{"Can't Lose Them", Range{1, 2}, Range{3, 4}, Range{4, 5}},    // big and frequent purchases, long ago
	{"At Risk", Range{1, 2}, Range{2, 5}, Range{4, 5}},            // spent big, purchased often, long ago
	{"Need Attention", Range{1, 3}, Range{3, 5}, Range{3, 5}},     // above-average frequency and value, lapsing
	{"About To Sleep", Range{2, 3}, Range{1, 3}, Range{1, 4}},     // below-average recency, frequency and value
	{"Lost", Range{1, 1}, Range{1, 5}, Range{1, 5}},               // bought long ago
}

// Name is the segment of a score: the first matching row, else Others.
func (t Segments) Name(s Score) string {
	for _, seg := range t {
		if seg.R.has(s.R) && seg.F.has(s.F) && seg.M.has(s.M) {
			return seg.Name
		}
	}
	return Others
}

// Validate checks that every row has a name and ranges within 1-5 with min <= max.
func (t Segments) Validate() error {
	if len(t) == 0 {
		return fmt.Errorf("segment table: no rows: %w", ErrInvalid)
	}
	for i, seg := range t {
		if strings.TrimSpace(seg.Name) == "" {
			return fmt.Errorf("segment row %d: no name: %w", i+1, ErrInvalid)
		}
		for _, r := range []Range{seg.R, seg.F, seg.M} {
			if r.Min < 1 || r.Max > Bins || r.Min > r.Max {
				return fmt.Errorf("segment %q: range %d-%d: want 1 <= min <= max <= %d: %w", seg.Name, r.Min, r.Max, Bins, ErrInvalid)
			}
		}
	}
	return nil
}

// segmentColumns are the header of a segment table file, in the order of the fields they fill.
var segmentColumns = []string{"segment", "r_min", "r_max", "f_min", "f_max", "m_min", "m_max"}

// ReadSegments reads a segment table from CSV with the header
// segment,r_min,r_max,f_min,f_max,m_min,m_max (any order, any case), one row per segment,
// in matching order.
func ReadSegments(r io.Reader) (Segments, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("segment table: empty file: %w", ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("segment table: %w: %w", err, ErrInvalid)
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	at := make([]int, len(segmentColumns))
	for i, name := range segmentColumns {
		j, ok := col[name]
		if !ok {
			return nil, fmt.Errorf("segment table: no column %q in header (want %s): %w", name, strings.Join(segmentColumns, ","), ErrInvalid)
		}
		at[i] = j
	}
	var table Segments
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("segment table: %w: %w", err, ErrInvalid)
		}
		line, _ := cr.FieldPos(0)
		var n [6]int
		for i := range n {
			v := strings.TrimSpace(rec[at[i+1]])
			if n[i], err = strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("segment table line %d: %s %q: not a whole number: %w", line, segmentColumns[i+1], v, ErrInvalid)
			}
		}
		seg := Segment{Name: strings.TrimSpace(rec[at[0]]), R: Range{n[0], n[1]}, F: Range{n[2], n[3]}, M: Range{n[4], n[5]}}
		if err := (Segments{seg}).Validate(); err != nil {
			return nil, fmt.Errorf("segment table line %d: %w", line, err)
		}
		table = append(table, seg)
	}
	if err := table.Validate(); err != nil {
		return nil, err
	}
	return table, nil
}
