package activation

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// A cell a spreadsheet would read as a formula is written with a leading "'" (OWASP, CSV
// injection); others, the header and the JSON Lines file are written as they are.
func TestMembersCSVGuardsFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"http://x\")": "'=HYPERLINK(\"http://x\")",
		"+1+2":                     "'+1+2",
		"-2+3":                     "'-2+3",
		"@SUM(A1)":                 "'@SUM(A1)",
		"\tcmd":                    "'\tcmd",
		"\rcmd":                    "'\rcmd",
		"u-1":                      "u-1",
		"a=b":                      "a=b",
		"":                         "",
		"'quoted":                  "'quoted",
	} {
		if got := SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q, want %q", in, got, want)
		}
	}

	since := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f := NewFiles(Seed)
	members := []Member{
		{Audience: "vip", ProfileID: "prf_1", UserID: "=cmd|' /C calc'!A0", Since: since, Marketing: Granted},
		{Audience: "vip", ProfileID: "prf_2", UserID: "@SUM(1+1)", Since: since, Marketing: Unknown},
		{Audience: "vip", ProfileID: "prf_3", UserID: "u-3", Since: since, Marketing: Denied},
	}
	for _, m := range members {
		if err := f.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	out, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(bytes.NewReader(out[0].Body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Name != MembersCSV || len(records) != 4 {
		t.Fatalf("%s: %d records, want the header and 3", out[0].Name, len(records))
	}
	for i, want := range []string{"userId", "'=cmd|' /C calc'!A0", "'@SUM(1+1)", "u-3"} {
		if got := records[i][1]; got != want {
			t.Errorf("members.csv row %d userId %q, want %q", i, got, want)
		}
	}
	lines := bytes.Split(bytes.TrimSpace(out[1].Body), []byte("\n"))
	var row Row
	if err := json.Unmarshal(lines[0], &row); err != nil {
		t.Fatal(err)
	}
	if row.UserID != members[0].UserID {
		t.Errorf("members.jsonl keeps the user id as it is: got %q", row.UserID)
	}
}

// An export written by several streams — each taking some bytes as parts and leaving the rest to
// the next (Resume) — is byte for byte the export written whole, every member once.
func TestStreamsResumedMakeTheWholeFiles(t *testing.T) {
	since := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var members []Member
	for i := range 50 {
		m := Member{Audience: "vip", ProfileID: fmt.Sprintf("prf_%02d", i), UserID: fmt.Sprintf("u-%d", i), Since: since,
			Emails: []string{fmt.Sprintf("%064x", i)}, Marketing: []string{Granted, Denied, Unknown}[i%3]}
		if i%4 == 0 {
			m.Phones = []string{fmt.Sprintf("%064x", 1000+i)}
		}
		members = append(members, m)
	}
	whole := NewFiles(All)
	for _, m := range members {
		if err := whole.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := whole.Finish()

	got := map[string][]byte{}
	pending := map[string][]byte{}
	rows := map[string]int{}
	for i, chunk := range [][]Member{members[:7], members[7:8], members[8:30], members[30:]} {
		s := NewStream(All, i == 0)
		for n, b := range pending {
			if err := s.Resume(n, b); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range chunk {
			if err := s.Add(m); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range s.Names() {
			rows[n] += s.Rows(n)
			if s.Pending(n) > 100 { // a "part"
				got[n] = append(got[n], s.Take(n)...)
			}
			pending[n] = s.Take(n)
		}
	}
	for _, f := range want {
		body := append(got[f.Name], pending[f.Name]...)
		if !bytes.Equal(body, f.Body) || rows[f.Name] != f.Rows {
			t.Errorf("%s: %d bytes and %d rows resumed, %d and %d whole", f.Name, len(body), rows[f.Name], len(f.Body), f.Rows)
		}
	}
	if err := NewStream(Seed, true).Resume("suppression-meta-email.csv", nil); err == nil {
		t.Error("a file the purpose does not write")
	}
}
