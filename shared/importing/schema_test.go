package importing

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/events/schemas"
)

var update = flag.Bool("update", false, "write the import rows' JSON Schemas from the kinds' fields")

// schemaFile is where kind k's row schema is.
func schemaFile(k Kind) string {
	return filepath.Join("..", "..", "events", "schemas", "import", string(k)+".v1.json")
}

// rowSchema is the JSON Schema of a row of kind k, made from its fields: a JSON Lines object
// named by the default columns, each value as the reader takes it (text, or a number or a
// boolean written as JSON).
func rowSchema(k Kind) map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, f := range k.Fields() {
		props[f.Name] = fieldSchema(f)
		if f.Required {
			required = append(required, f.Name)
		}
	}
	var all []any
	for _, name := range required {
		all = append(all, map[string]any{"properties": map[string]any{name: present}})
	}
	oneOf := func(names ...string) map[string]any {
		var alts []any
		for _, n := range names {
			alts = append(alts, map[string]any{"required": []string{n}, "properties": map[string]any{n: present}})
		}
		return map[string]any{"anyOf": alts}
	}
	what := "a row"
	if k.isPerson() {
		all = append(all, oneOf("userId", "anonymousId", "email", "phone"))
		what = "a row about a person (it needs a userId, anonymousId, email or phone)"
	}
	if k == Orders || k == Returns {
		all = append(all, oneOf("price", "revenue"))
	}
	s := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "urn:dcrm:schemas:import-" + string(k) + ".v1",
		"title":                "Import row: " + string(k) + ", version 1",
		"description":          fmt.Sprintf("One row of a %s import file: %s, written as a JSON Lines object whose members are named by the default columns (the fields' names; a mapping may name other columns). A value is text, or a number or a boolean; null, an empty text or one of blanks only is no value. Members named otherwise are ignored (and reported in the import's status). Made from the fields of shared/importing (see its README.md); the reader checks a little more than this schema can say: email and phone as the endpoint normalises them, identifiers that stand for no value (\"null\", \"0\"), the bounds of numbers written as text, a negative revenue on an order line bought, lengths in bytes rather than characters, days that exist, times in the import's layout, times not after the import nor more than 20 years before it.", string(k), what),
		"type":                 "object",
		"properties":           props,
		"required":             required,
		"additionalProperties": map[string]any{"type": []string{"string", "number", "boolean", "null"}},
	}
	if len(all) > 0 {
		s["allOf"] = all
	}
	if p := k.CustomPrefix(); p != "" {
		s["patternProperties"] = map[string]any{
			"^" + strings.TrimSuffix(p, ".") + `\.[A-Za-z0-9_]{1,64}$`: map[string]any{"type": []string{"string", "number", "boolean", "null"}, "maxLength": maxStringBytes,
				"description": "a custom " + strings.TrimSuffix(p, "s.") + " (mapped by name, e.g. " + p + "loyalty_card=Card)"},
		}
	}
	return s
}

// present is a value that is there: not null, not blank.
var present = map[string]any{"not": map[string]any{"anyOf": []any{
	map[string]any{"type": "null"},
	map[string]any{"type": "string", "pattern": `^\s*$`},
}}}

const blankOK = `^\s*$|`

func fieldSchema(f Field) map[string]any {
	s := map[string]any{"description": f.Doc}
	text := []string{"string", "null"}
	switch f.Type {
	case String, ID, Label:
		s["type"] = []string{"string", "number", "boolean", "null"}
		s["maxLength"] = f.MaxLength
	case Email:
		s["type"] = text
		s["maxLength"] = 320
		s["pattern"] = blankOK + `^\s*[^@\s]+@[^@\s]+\s*$`
	case Phone:
		s["type"] = []string{"string", "integer", "null"}
		s["pattern"] = blankOK + `^\s*\+?[0-9 ()./\-]+\s*$`
	case Integer:
		s["type"] = []string{"integer", "string", "null"}
		s["pattern"] = blankOK + `^\s*[+-]?[0-9]+(\.0*)?\s*$`
	case Number:
		s["type"] = []string{"number", "string", "null"}
		s["pattern"] = blankOK + `^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$`
	case Time, Date:
		s["type"] = text
		s["description"] = f.Doc + ": ISO 8601 (2024-05-01T13:45:00Z, 2024-05-01T13:45:00+02:00, 2024-05-01) or the import's time layout"
	case Enum:
		s["type"] = text
		alts := make([]string, len(f.Values))
		for i, v := range f.Values {
			alts[i] = strings.ReplaceAll(v, "_", "[ _-]")
		}
		s["pattern"] = blankOK + `(?i)^\s*(` + strings.Join(alts, "|") + `)\s*$`
		s["description"] = f.Doc + "; one of " + strings.Join(f.Values, ", ") + " in any case, with a space or - for _"
	case Bool:
		delete(s, "type")
		s["anyOf"] = []any{
			map[string]any{"type": []string{"boolean", "null"}},
			map[string]any{"enum": []int{0, 1}},
			map[string]any{"type": "string", "pattern": blankOK + `(?i)^\s*(` + strings.Join(append(slices.Clone(trueWords), falseWords...), "|") + `)\s*$`},
		}
	case Currency:
		s["type"] = text
		s["pattern"] = blankOK + `^\s*[A-Za-z]{3}\s*$`
	}
	if f.Min != nil {
		s["minimum"] = *f.Min
	}
	if f.Max != nil {
		s["maximum"] = *f.Max
	}
	return s
}

// The schema files are the ones the kinds' fields make (go test -run Schemas -update writes them).
func TestImportRowSchemasAreMadeFromTheFields(t *testing.T) {
	for _, k := range AllKinds {
		want, err := json.MarshalIndent(rowSchema(k), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		if *update {
			if err := os.WriteFile(schemaFile(k), want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(schemaFile(k))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not what the fields make (%v): go test ./shared/importing -run Schemas -update", schemaFile(k), err)
		}
	}
	if got := len(schemas.ImportKinds()); got != len(AllKinds) {
		t.Errorf("events/schemas has %d import kinds, want %d", got, len(AllKinds))
	}
}

// The schema and the reader agree on rows: a row the schema takes is imported, and one it refuses
// is rejected, for values of every type in and out of bounds.
func TestImportRowSchemasAgreeWithTheReader(t *testing.T) {
	samples := map[Type][]any{
		String:   {"abc", 12, true, nil, "", "  "},
		ID:       {"id-1", 42, nil},
		Label:    {"Store", "web"},
		Email:    {"ann@example.com", " Ann@Example.COM ", "not an address", "a@@b", nil},
		Phone:    {"+44 7700 900123", "07700-900123", 447700900123, "call me", nil},
		Integer:  {"3", 3, -2, " 7 ", "2.0", "2.", 2.0, "1.5", 1.5, "1.50", ".0", "x", "2000000", 2000000, nil},
		Number:   {"3.5", 3.5, "-1", -1, "1e3", ".5", "1,5", "NaN", "0x10", "abc", 1e13, "1e13", nil},
		Time:     {"2024-05-01", "2024-05-01T10:00:00Z", "2024-05-01 10:00:00+02:00", nil},
		Date:     {"2024-05-01", nil},
		Bool:     {true, false, "yes", "Withdrawn", 1, 0, "maybe", 2, nil},
		Currency: {"EUR", "eur", "EURO", "€", nil},
	}
	for _, k := range AllKinds {
		for _, f := range k.Fields() {
			values := samples[f.Type]
			if f.Type == Enum {
				values = []any{f.Values[0], strings.ToUpper(strings.ReplaceAll(f.Values[0], "_", " ")), "nope", nil}
			}
			if f.MaxLength > 0 {
				values = append(values, strings.Repeat("xy", f.MaxLength)[:f.MaxLength], strings.Repeat("xy", f.MaxLength)[:f.MaxLength+1])
			}
			for _, v := range values {
				row := validRow(k)
				row[f.Name] = v
				line, _ := json.Marshal(row)
				schemaErr := schemas.ValidateImportRow(string(k), line)
				out, _ := readAll(t, string(line)+"\n", specFor(k))
				imported := len(out) > 0 && out[0].Rejected == nil
				reason := ""
				if len(out) > 0 && out[0].Rejected != nil {
					reason = out[0].Rejected.Reason
				}
				_, text := v.(string)
				beyond := text && (strings.Contains(reason, " is less than ") || strings.Contains(reason, " is more than "))
				if schemaErr == nil && (beyond || strings.HasPrefix(reason, "revenue is negative on a line bought")) {
					continue // what the schema cannot say (and says it does not)
				}
				if imported != (schemaErr == nil) {
					t.Errorf("%s.%s = %#v: schema says %v, the reader %q", k, f.Name, v, schemaErr, reason)
				}
			}
		}
	}
}

func specFor(k Kind) Spec {
	s := spec(k)
	s.Currency = "EUR"
	return s
}

// validRow is a row of kind k with every required field, which the reader imports.
func validRow(k Kind) map[string]any {
	row := map[string]any{"userId": "u1"}
	switch k {
	case Orders, Returns:
		row["order_id"], row["timestamp"], row["price"] = "o1", "2024-01-01", 5
	case Contacts:
		row["type"], row["timestamp"] = "call", "2024-01-01"
	case Cases:
		row["case_id"], row["opened_at"] = "k1", "2024-01-01"
	case Consents:
		row["purpose"], row["granted"], row["timestamp"] = "marketing", true, "2024-01-01"
	case Spend:
		row = map[string]any{"date": "2024-01-01", "channel": "email", "cost": 5}
	}
	return row
}
