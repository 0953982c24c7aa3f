package activation

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
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
