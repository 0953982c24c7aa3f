package importing

import (
	"bufio"
	"encoding/csv"
	"io"
	"slices"
	"strings"
	"testing"
)

func scanAll(t *testing.T, in string, maxBytes, maxFields int) []csvRecord {
	t.Helper()
	s := newCSVScanner(bufio.NewReaderSize(strings.NewReader(in), 16), ',', maxBytes, maxFields)
	var out []csvRecord
	for {
		r, err := s.next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

func TestCSVScannerRecordsLinesAndProblems(t *testing.T) {
	in := "a,b\r\n" + // 1: CRLF
		"\"multi\r\nline\",\"say \"\"hi\"\"\"\n" + // 2-3: a quoted line break (CRLF read as LF) and quotes
		"\n" + // 4: blank
		"bare\"quote,x\n" + // 5: a bare quote
		"\"closed\"text,x\n" + // 6: text after a closing quote
		"ok,,\n" + // 7
		"1,2,3,4,5\n" + // 8: too many fields
		strings.Repeat("z", 40) + ",long\n" + // 9: too long
		"\"\",\"\"\r\n" + // 10: quoted empties
		"\"a\nb\nc\",last" // 11-13: no final line break
	got := scanAll(t, in, 32, 4)
	want := []csvRecord{
		{line: 1, lastLine: 1, fields: []string{"a", "b"}},
		{line: 2, lastLine: 3, fields: []string{"multi\nline", `say "hi"`}},
		{line: 5, lastLine: 5, problem: "field 1 has a quote but does not start with one (quote the whole field and write a quote inside it as \"\")"},
		{line: 6, lastLine: 6, problem: "field 1 has text after its closing quote (a quote inside a quoted field is written \"\")"},
		{line: 7, lastLine: 7, fields: []string{"ok", "", ""}},
		{line: 8, lastLine: 8, problem: "the row has more than 4 fields"},
		{line: 9, lastLine: 9, problem: "the row is longer than 32 bytes"},
		{line: 10, lastLine: 10, fields: []string{"", ""}},
		{line: 11, lastLine: 13, fields: []string{"a\nb\nc", "last"}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].line != want[i].line || got[i].lastLine != want[i].lastLine || got[i].problem != want[i].problem || !slices.Equal(got[i].fields, want[i].fields) {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestCSVScannerUnclosedQuoteAtTheEnd(t *testing.T) {
	got := scanAll(t, "a,b\n\"open,x\ny,z\n", 1000, 10)
	if len(got) != 2 || got[1].problem != "a quoted field opened on line 2 is not closed" || got[1].line != 2 || got[1].lastLine != 3 {
		t.Errorf("records = %+v", got)
	}
}

// On well-formed CSV the scanner reads what encoding/csv reads.
func TestCSVScannerAgreesWithEncodingCSV(t *testing.T) {
	in := "h1,h2,h3\n\"a,b\",c,\"d\"\"e\"\r\n\"x\r\ny\",,z\n\n\n1,2,3\n\"\",\" \", \n"
	r := csv.NewReader(strings.NewReader(in))
	r.FieldsPerRecord = -1
	want, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, in, 1000, 100)
	if len(got) != len(want) {
		t.Fatalf("%d records, encoding/csv %d", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i].fields, want[i]) {
			t.Errorf("record %d = %q, encoding/csv %q", i, got[i].fields, want[i])
		}
	}
}
