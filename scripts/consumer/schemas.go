package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemas are the messages' JSON Schemas by type and version, as their "type" and "version"
// properties fix them (a const each).
type schemas map[string]*jsonschema.Schema

func key(typ string, version int) string { return fmt.Sprintf("%s@%d", typ, version) }

// loadSchemas compiles every schema in dir.
func loadSchemas(dir string) (schemas, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no JSON Schemas in %s", dir)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	out := schemas{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var head struct {
			Properties struct {
				Type    struct{ Const string } `json:"type"`
				Version struct{ Const int }    `json:"version"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(raw, &head); err != nil || head.Properties.Type.Const == "" {
			return nil, fmt.Errorf("schema %s does not fix its message's type and version", f)
		}
		s, err := c.Compile(f)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", f, err)
		}
		out[key(head.Properties.Type.Const, head.Properties.Version.Const)] = s
	}
	return out, nil
}

// check validates a body against the schema of its type and version.
func (s schemas) check(typ string, version int, body []byte) error {
	sch, ok := s[key(typ, version)]
	if !ok {
		return fmt.Errorf("no schema for type %q version %d", typ, version)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("body does not match %s v%d: %w", typ, version, err)
	}
	return nil
}
