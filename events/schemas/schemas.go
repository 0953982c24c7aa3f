// Package schemas holds the JSON Schemas of the messages dcrm sends to its queues (the .json files
// beside it, embedded) and checks a message body against the schema of its type and version. Each
// schema fixes its message's "type" and "version" (a const each); that pair is how a body, or the
// SQS message attributes of the same names, finds its schema.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.json
var files embed.FS

// ErrUnknown is returned by Validate for a type and version without a schema.
var ErrUnknown = errors.New("no schema")

type key struct {
	typ     string
	version int
}

// compiled are the schemas by type and version, compiled once, on first use.
var compiled = sync.OnceValues(func() (map[key]*jsonschema.Schema, error) {
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.AssertContent()
	out := map[key]*jsonschema.Schema{}
	for _, name := range names {
		raw, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var head struct {
			Properties struct {
				Type    struct{ Const string } `json:"type"`
				Version struct{ Const int }    `json:"version"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(raw, &head); err != nil || head.Properties.Type.Const == "" || head.Properties.Version.Const < 1 {
			return nil, fmt.Errorf("schema %s does not fix its message's type and version", name)
		}
		k := key{head.Properties.Type.Const, head.Properties.Version.Const}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("schema %s: a second schema of %s v%d", name, k.typ, k.version)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", name, err)
		}
		// A URL of its own per file: the schemas refer to nothing, so it only names them.
		url := "dcrm:///events/schemas/" + name
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("add schema %s: %w", name, err)
		}
		if out[k], err = c.Compile(url); err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", name, err)
		}
	}
	return out, nil
})

// Known tells whether there is a schema for messages of type typ, version version.
func Known(typ string, version int) bool {
	s, err := compiled()
	return err == nil && s[key{typ, version}] != nil
}

// Validate checks body against the schema of its type and version.
func Validate(typ string, version int, body []byte) error {
	all, err := compiled()
	if err != nil {
		return err
	}
	s, ok := all[key{typ, version}]
	if !ok {
		return fmt.Errorf("%w for type %q version %d", ErrUnknown, typ, version)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("body does not match %s v%d: %w", typ, version, err)
	}
	return nil
}
