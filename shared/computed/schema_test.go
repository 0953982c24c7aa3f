package computed

import (
	"bytes"
	"os"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

var schema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	raw, err := os.ReadFile("definition.schema.json")
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "urn:dcrm:schemas:computed-trait-definition.v1"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
})

func validateSchema(t testing.TB, doc []byte) error {
	t.Helper()
	s, err := schema()
	require.NoError(t, err)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	require.NoError(t, err)
	return s.Validate(v)
}

// Every example of README.md validates against the schema.
func TestExamplesValidateAgainstSchema(t *testing.T) {
	for _, doc := range readmeExamples(t) {
		require.NoError(t, validateSchema(t, []byte(doc)), doc)
	}
}

// The schema refuses what the parser refuses, where it can tell.
func TestSchemaRefuses(t *testing.T) {
	def := func(members string) string {
		return `{"id": "x", "name": "X", "event": "Product Viewed", ` + members + `}`
	}
	for _, doc := range []string{
		`{"id": "x", "name": "X", "event": "e"}`,
		`{"id": "X", "name": "X", "event": "e", "aggregate": "count"}`,
		def(`"aggregate": "median", "property": "p"`),
		def(`"aggregate": "count", "property": "p"`),
		def(`"aggregate": "sum"`),
		def(`"aggregate": "count", "window": "7d"`),
		def(`"aggregate": "count", "within": "7 days"`),
		def(`"aggregate": "count", "within": "0d"`),
		def(`"aggregate": "sum", "property": "a..b"`),
		def(`"aggregate": "sum", "property": "a.b.c.d.e.f.g.h.i"`),
		def(`"aggregate": "count", "where": [{"property": "a", "op": "~", "value": 1}]`),
		def(`"aggregate": "count", "where": [{"property": "a", "op": "exists", "value": 1}]`),
		def(`"aggregate": "count", "where": [{"property": "a", "op": "=="}]`),
		def(`"aggregate": "count", "where": [{"property": "a", "op": ">", "value": "1"}]`),
		def(`"aggregate": "count", "where": [{"property": "a", "op": "==", "value": [1]}]`),
		def(`"aggregate": "count", "where": [{"property": "a", "op": "in", "value": []}]`),
		def(`"aggregate": "count", "where": [{"property": "a", "op": "in", "value": [{"b": 1}]}]`),
		def(`"aggregate": "count", "where": [{"property": "a", "op": "exists", "vaule": 1}]`),
	} {
		require.Error(t, validateSchema(t, []byte(doc)), doc)
		_, err := Parse([]byte(doc))
		require.ErrorIs(t, err, ErrInvalid, doc)
	}
}
