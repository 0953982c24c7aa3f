package cluster

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

// fuzzValue turns a byte into a value, now and then one that is not allowed.
func fuzzValue(b byte) float64 {
	switch b {
	case 255:
		return math.NaN()
	case 254:
		return math.Inf(1)
	case 253:
		return -3
	case 251:
		return 2e100
	case 252:
		return 1e99
	}
	return float64(b%100) / 10
}

// FuzzFit: Fit never panics on small arbitrary tables and options; it fails only with ErrInvalid,
// and when it succeeds Assign gives every row its label and refuses bad rows with ErrInvalid.
func FuzzFit(f *testing.F) {
	f.Add([]byte{2, 10, 0, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22})
	f.Add([]byte{1, 6, 7, 3, 2, 1, 2, 5, 5, 5, 5, 5, 5})
	f.Add([]byte{3, 8, 5, 0, 0, 2, 1, 255, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25})
	f.Add([]byte{2, 5, 2, 9, 3, 0, 0, 3, 30, 60, 90, 30, 60, 90, 30, 60, 90, 30})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 7 {
			return
		}
		d, n := 1+int(data[0]%3), int(data[1]%16)
		tb := Table{}
		for j := range d {
			tr := []Transform{Linear, Log1p, Share, "other"}[(data[2]>>(2*j))&3]
			tb.Features = append(tb.Features, Feature{Name: string(rune('a' + j)), Transform: tr})
		}
		o := Options{K: int(data[3] % 6), Restarts: 1 + int(data[4]%2), SilhouetteSample: 2 + int(data[5]%10), Seed: uint64(data[6])}
		if data[3]%6 == 5 {
			o.K, o.MinK, o.MaxK = 0, int(data[4]%5), int(data[5]%9)
		}
		vals := data[7:]
		for i := range n {
			row := make([]float64, d)
			for j := range row {
				if k := i*d + j; k < len(vals) {
					row[j] = fuzzValue(vals[k])
					if tb.Features[j].Transform == Share && vals[k] < 200 {
						row[j] = float64(vals[k]%11) / 10
					}
				}
			}
			tb.Rows = append(tb.Rows, row)
		}
		m, labels, err := Fit(tb, o)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		if len(labels) != n || m.K != len(m.Centres) || m.K != len(m.Clusters) {
			t.Fatalf("%d labels for %d rows, k %d, %d centres, %d clusters", len(labels), n, m.K, len(m.Centres), len(m.Clusters))
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back Model
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		for i, row := range tb.Rows {
			c, dist, err := back.Assign(row)
			if err != nil || c != labels[i] || math.IsNaN(dist) {
				t.Fatalf("row %d: assigned %d (%v, %v), fitted %d", i, c, dist, err, labels[i])
			}
		}
		for _, c := range m.Clusters {
			if c.Name == "" || c.Description == "" || len(c.Description) > 1000 {
				t.Fatalf("cluster words %q / %q", c.Name, c.Description)
			}
		}
		if _, _, err := back.Assign(append(tb.Rows[0], 1)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a row too long: %v", err)
		}
	})
}

// FuzzAssign: Assign never panics on a model decoded from arbitrary JSON.
func FuzzAssign(f *testing.F) {
	f.Add(`{"version":1,"features":[{"name":"a","transform":"linear"}],"scales":[{"mean":1,"sd":2}],"centres":[[0],[1]]}`, 1.5)
	f.Add(`{"features":[{"name":"a","transform":"log1p"},{"name":"b","transform":"share"}],"scales":[{"mean":1,"sd":0},{"mean":0,"sd":1}],"centres":[[0,1],[1]]}`, 0.5)
	f.Add(`{"features":[{"name":"a","transform":"linear"}],"scales":[],"centres":[[0]]}`, 0.0)
	f.Add(`{"features":[{"name":"a","transform":"linear"}],"scales":[{"mean":0,"sd":-1}],"centres":[[1e308]]}`, -1e308)
	f.Fuzz(func(t *testing.T, doc string, v float64) {
		var m Model
		if json.Unmarshal([]byte(doc), &m) != nil {
			return
		}
		row := make([]float64, len(m.Features)%40)
		for i := range row {
			row[i] = v
		}
		c, dist, err := m.Assign(row)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		if c < 0 || c >= len(m.Centres) || math.IsNaN(dist) || dist < 0 {
			t.Fatalf("cluster %d of %d, distance %v", c, len(m.Centres), dist)
		}
	})
}
