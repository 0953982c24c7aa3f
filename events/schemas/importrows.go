package schemas

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The rows of bulk import files have a schema per kind, import/<kind>.v1.json: a row as a JSON
// Lines object whose members are named by the kind's default columns (its fields' names).
// Unlike the messages' schemas they fix no type or version: a file's kind is given with it.
//
//go:embed import/*.json
var importFiles embed.FS

// importSchemas are the row schemas by kind, compiled once, on first use.
var importSchemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	names, err := fs.Glob(importFiles, "import/*.v1.json")
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for _, name := range names {
		raw, err := importFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", name, err)
		}
		url := "dcrm:///events/schemas/" + name
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("add schema %s: %w", name, err)
		}
		kind := strings.TrimSuffix(strings.TrimPrefix(name, "import/"), ".v1.json")
		if out[kind], err = c.Compile(url); err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", name, err)
		}
	}
	return out, nil
})

// ImportKinds are the kinds of import that have a row schema.
func ImportKinds() []string {
	all, err := importSchemas()
	if err != nil {
		return nil
	}
	kinds := make([]string, 0, len(all))
	for k := range all {
		kinds = append(kinds, k)
	}
	return kinds
}

// ValidateImportRow checks one row of an import file of a kind (a JSON object) against the kind's
// row schema.
func ValidateImportRow(kind string, row []byte) error {
	all, err := importSchemas()
	if err != nil {
		return err
	}
	s, ok := all[kind]
	if !ok {
		return fmt.Errorf("%w for import kind %q", ErrUnknown, kind)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(row))
	if err != nil {
		return fmt.Errorf("row is not JSON: %w", err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("row does not match the %s schema: %w", kind, err)
	}
	return nil
}
