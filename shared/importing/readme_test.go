package importing

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// fieldsTable is the README's table of kind k's fields.
func fieldsTable(k Kind) string {
	var b strings.Builder
	b.WriteString("| field (default column) | type | required | bounds | what |\n|---|---|---|---|---|\n")
	for _, f := range k.Fields() {
		req := ""
		if f.Required {
			req = "yes"
		}
		var bounds string
		switch {
		case f.MaxLength > 0:
			bounds = fmt.Sprintf("≤ %d bytes", f.MaxLength)
		case f.Min != nil:
			bounds = fmt.Sprintf("%s … %s", fmtNum(*f.Min), fmtNum(*f.Max))
		case f.Type == Enum:
			bounds = strings.Join(f.Values, ", ")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Name, f.Type, req, bounds, f.Doc)
	}
	return b.String()
}

var tableMarks = regexp.MustCompile(`(?s)<!-- fields:(\w+) -->\n.*?<!-- end -->`)

// The README's tables of fields are the kinds' fields (go test -run README -update writes them).
func TestREADMEListsEveryKindsFields(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Kind]bool{}
	out := tableMarks.ReplaceAllStringFunc(string(raw), func(m string) string {
		k := Kind(tableMarks.FindStringSubmatch(m)[1])
		seen[k] = true
		return "<!-- fields:" + string(k) + " -->\n" + fieldsTable(k) + "<!-- end -->"
	})
	for _, k := range AllKinds {
		if k == Returns { // the README says they have the fields of orders
			if fieldsTable(Returns) != fieldsTable(Orders) {
				t.Error("returns no longer have the fields of orders")
			}
			continue
		}
		if !seen[k] {
			t.Errorf("README.md has no table of %s's fields", k)
		}
	}
	if *update {
		if err := os.WriteFile("README.md", []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if out != string(raw) {
		t.Error("README.md's tables of fields are not the kinds' fields: go test ./shared/importing -run README -update")
	}
}
