package importing

import (
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrSpec is what every error in an import's description matches (errors.Is): an unknown kind, a
// mapping that names an unknown field or a column the file does not have, a header that cannot
// be read. Nothing of such a file is imported.
var ErrSpec = errors.New("invalid import")

// Mapping says which column of a file holds which field: field name → column name. A field that
// is not in the mapping is read from its default column, the column named as the field (its
// Name), when the file has one; a field mapped to "" is not read at all. Column names are
// compared without case and surrounding space.
type Mapping map[string]string

// Custom names (after "traits." or "properties.") are letters, digits and "_", at most this long.
const maxCustomName = 64

// MaxMappedColumns bounds the fields a mapping may name.
const MaxMappedColumns = 200

// ParseMapping reads a mapping as `dcrm import --map` takes it: field=Column pairs separated by
// commas, e.g. "order_id=InvoiceNo,userId=CustomerID,properties.country=Country". A pair whose
// column has a comma or a quote is written in double quotes as a CSV field
// ("properties.region=Region, State"" becomes `"properties.region=Region, State"`). It checks
// the field names against kind k.
func ParseMapping(k Kind, s string) (Mapping, error) {
	m := Mapping{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	r := csv.NewReader(strings.NewReader(s))
	r.TrimLeadingSpace = true
	pairs, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: mapping %q: %v", ErrSpec, short(s), err)
	}
	if rest, _ := r.Read(); rest != nil {
		return nil, fmt.Errorf("%w: mapping: one line of field=Column pairs, separated by commas", ErrSpec)
	}
	for _, p := range pairs {
		field, column, ok := strings.Cut(p, "=")
		field, column = strings.TrimSpace(field), strings.TrimSpace(column)
		if !ok || field == "" {
			return nil, fmt.Errorf("%w: mapping: %q is not field=Column", ErrSpec, short(p))
		}
		if _, dup := m[field]; dup {
			return nil, fmt.Errorf("%w: mapping: field %s is mapped twice", ErrSpec, short(field))
		}
		m[field] = column
	}
	return m, m.Check(k)
}

// Check tells whether every field the mapping names is one of kind k's (or a custom one, see
// Kind.CustomPrefix), and says which is not.
func (m Mapping) Check(k Kind) error {
	if _, err := ParseKind(string(k)); err != nil {
		return err
	}
	if len(m) > MaxMappedColumns {
		return fmt.Errorf("%w: mapping: %d fields; at most %d", ErrSpec, len(m), MaxMappedColumns)
	}
	for _, field := range slices.Sorted(mapKeys(m)) {
		if _, ok := k.fieldOf(field); ok {
			continue
		}
		prefix := k.CustomPrefix()
		name, custom := strings.CutPrefix(field, prefix)
		if !custom || prefix == "" {
			return fmt.Errorf("%w: mapping: %s has no field %q (its fields: %s%s)", ErrSpec, k, short(field), fieldList(k), customHint(k))
		}
		if err := checkCustomName(k, name); err != nil {
			return fmt.Errorf("%w: mapping: %s: %v", ErrSpec, short(field), err)
		}
		if m[field] == "" {
			return fmt.Errorf("%w: mapping: %s names no column", ErrSpec, short(field))
		}
	}
	return nil
}

func checkCustomName(k Kind, name string) error {
	if name == "" || len(name) > maxCustomName || strings.IndexFunc(name, func(r rune) bool {
		return !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) >= 0 {
		return fmt.Errorf("a custom name is 1 to %d letters, digits or _", maxCustomName)
	}
	if reserved(k, name) {
		return fmt.Errorf("%q is a name the event sets itself", name)
	}
	return nil
}

// reserved tells whether a custom name would collide with one the events of kind k set.
func reserved(k Kind, name string) bool {
	switch strings.ToLower(name) {
	case "products", "products_truncated", "address", "channel", "status", "direction":
		return true
	}
	for _, f := range k.Fields() {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

func fieldList(k Kind) string {
	var names []string
	for _, f := range k.Fields() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

func customHint(k Kind) string {
	if p := k.CustomPrefix(); p != "" {
		return ", and " + p + "<name> for your own"
	}
	return ""
}

func mapKeys(m Mapping) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// target is where a column's value goes: a field of the kind, or a custom trait or property.
type target struct {
	field  fieldID
	custom int // index in columns.custom, or -1
}

// columns is a mapping applied: for each column name (folded), the targets it feeds.
type columns struct {
	kind         Kind
	byName       map[string][]target
	custom       []string // custom trait or property names, in the order of their index
	customColumn []string // the column of each custom name
	explicit     map[fieldID]string
	// fieldColumn is the column each field is read from, for reasons ("" when none).
	fieldColumn [numFields]string
}

func fold(column string) string { return strings.ToLower(strings.TrimSpace(column)) }

// newColumns applies m to kind k: each field's column is the one the mapping names, or the
// field's own name.
func newColumns(k Kind, m Mapping) (*columns, error) {
	if err := m.Check(k); err != nil {
		return nil, err
	}
	c := &columns{kind: k, byName: map[string][]target{}, explicit: map[fieldID]string{}}
	for _, u := range kindFields[k] {
		name := fields[u.id].Name
		col, mapped := m[name]
		if mapped {
			c.explicit[u.id] = col
		} else {
			col = name
		}
		if col == "" {
			continue
		}
		c.fieldColumn[u.id] = col
		c.byName[fold(col)] = append(c.byName[fold(col)], target{field: u.id, custom: -1})
	}
	for _, field := range slices.Sorted(mapKeys(m)) {
		if _, ok := k.fieldOf(field); ok {
			continue
		}
		col := m[field]
		c.byName[fold(col)] = append(c.byName[fold(col)], target{custom: len(c.custom)})
		c.custom = append(c.custom, strings.TrimPrefix(field, k.CustomPrefix()))
		c.customColumn = append(c.customColumn, col)
	}
	return c, nil
}

// header checks a CSV header against the mapping: every column the mapping names is in it, once,
// and no column it reads appears twice. It returns the targets of each column, and the columns
// nothing reads.
func (c *columns) header(names []string) ([][]target, []string, error) {
	seen := map[string]int{}
	for _, n := range names {
		seen[fold(n)]++
	}
	for _, u := range kindFields[c.kind] {
		if col, ok := c.explicit[u.id]; ok && col != "" && seen[fold(col)] == 0 {
			return nil, nil, fmt.Errorf("%w: column %q (mapped to %s) is not in the header (%s)", ErrSpec, short(col), fields[u.id].Name, headerList(names))
		}
	}
	for i, name := range c.custom {
		if col := c.customColumn[i]; seen[fold(col)] == 0 {
			return nil, nil, fmt.Errorf("%w: column %q (mapped to %s%s) is not in the header (%s)", ErrSpec, short(col), c.kind.CustomPrefix(), name, headerList(names))
		}
	}
	out := make([][]target, len(names))
	var unknown []string
	for i, n := range names {
		ts, ok := c.byName[fold(n)]
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		if seen[fold(n)] > 1 {
			return nil, nil, fmt.Errorf("%w: column %q is in the header %d times", ErrSpec, short(n), seen[fold(n)])
		}
		out[i] = ts
	}
	return out, unknown, nil
}

func headerList(names []string) string {
	const max = 20
	list := make([]string, 0, min(len(names), max))
	for _, n := range names[:min(len(names), max)] {
		list = append(list, short(n))
	}
	s := "the header has " + strings.Join(list, ", ")
	if len(names) > max {
		s += fmt.Sprintf(" and %d more", len(names)-max)
	}
	return s
}
