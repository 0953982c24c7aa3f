package audience

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
	const url = "urn:dcrm:schemas:audience-definition.v1"
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

// Every example of README.md and testdata validates against the schema.
func TestExamplesValidateAgainstSchema(t *testing.T) {
	for _, doc := range readmeExamples(t) {
		require.NoError(t, validateSchema(t, []byte(doc)), doc)
	}
	for _, raw := range benchmarkSet(t) {
		require.NoError(t, validateSchema(t, raw), string(raw))
	}
}

// The schema refuses what the parser refuses, where it can tell.
func TestSchemaRefuses(t *testing.T) {
	rule := func(r string) string { return `{"id": "x", "name": "X", "rule": ` + r + `}` }
	for _, doc := range []string{
		`{"id": "x", "name": "X"}`,
		`{"id": "X", "name": "X", "rule": {"field": "orders", "op": "exists"}}`,
		`{"id": "x", "name": "X", "rules": {"field": "orders", "op": "exists"}, "rule": {"field": "orders", "op": "exists"}}`,
		rule(`{}`),
		rule(`{"all": []}`),
		rule(`{"all": [{"field": "orders", "op": "exists"}], "any": [{"field": "orders", "op": "exists"}]}`),
		rule(`{"field": "trait.plan", "op": "==", "value": "gold"}`),
		rule(`{"field": "traits.plan", "op": "~", "value": "gold"}`),
		rule(`{"field": "orders", "op": "startsWith", "value": "1"}`),
		rule(`{"field": "orders", "op": ">", "value": "1"}`),
		rule(`{"field": "orders", "op": "exists", "value": 1}`),
		rule(`{"field": "orders", "op": "=="}`),
		rule(`{"field": "orders", "op": "between", "value": [1]}`),
		rule(`{"field": "visits", "op": ">", "value": 1, "within": "7d"}`),
		rule(`{"field": "event.Signed Up.count", "op": ">", "value": 1}`),
		rule(`{"field": "consent.marketing", "op": "==", "value": "yes"}`),
		rule(`{"field": "consent.ads", "op": "==", "value": "granted"}`),
		rule(`{"field": "lastSeen", "op": "within", "value": "thirty days"}`),
		rule(`{"field": "lastSeen", "op": "before", "value": "yesterday"}`),
		rule(`{"field": "lastSeen", "op": "before", "value": "2025-13-45"}`),
		rule(`{"field": "groups", "op": "size", "value": 1.5}`),
		rule(`{"field": "identifiers.email", "op": "==", "value": "a@b.example"}`),
		rule(`{"field": "lastChannel", "op": "in", "value": []}`),
		rule(`{"field": "lookalikeRank.VIP", "op": "<=", "value": 100}`),
		rule(`{"field": "lookalikeRank.vip", "op": "<=", "value": "100"}`),
		rule(`{"field": "lookalikeRank.vip", "op": "startsWith", "value": "1"}`),
	} {
		require.Error(t, validateSchema(t, []byte(doc)), doc)
		_, err := Parse([]byte(doc))
		require.ErrorIs(t, err, ErrInvalid, doc)
	}
}
