package schemas

import (
	"bytes"
	"embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The files dcrm writes for people and tools (not queue messages) have schemas of their own under
// files/, named <file>.v<version>.json.
//
//go:embed files/*.json
var fileSchemas embed.FS

// The file schemas: an import's report (files/import-report.v1.json); a period's attribution and
// journey report, its manifest and documents (files/report-*.v1.json).
const (
	ImportReport      = "import-report.v1"
	ReportManifest    = "report-manifest.v1"
	ReportAttribution = "report-attribution.v1"
	ReportJourneys    = "report-journeys.v1"
)

var compiledFiles = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for _, name := range []string{ImportReport, ReportManifest, ReportAttribution, ReportJourneys} {
		raw, err := fileSchemas.ReadFile("files/" + name + ".json")
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", name, err)
		}
		url := "dcrm:///events/schemas/files/" + name + ".json"
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("add schema %s: %w", name, err)
		}
		if out[name], err = c.Compile(url); err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", name, err)
		}
	}
	return out, nil
})

// ValidateFile checks a file's content against the named file schema (ImportReport, ReportManifest …).
func ValidateFile(schema string, body []byte) error {
	all, err := compiledFiles()
	if err != nil {
		return err
	}
	s, ok := all[schema]
	if !ok {
		return fmt.Errorf("%w named %q", ErrUnknown, schema)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("does not match the %s schema: %w", schema, err)
	}
	return nil
}
