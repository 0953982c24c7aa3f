package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMember(t *testing.T) {
	for _, c := range []struct {
		doc, name, value string
		found, ok        bool
	}{
		{`{"Item":{"ConsumedCapacity":{"S":"x"}},"ConsumedCapacity":{"TableName":"t","CapacityUnits":1.0}}`, "ConsumedCapacity",
			`{"TableName":"t","CapacityUnits":1.0}`, true, true},
		{` { "a" : [1,{"b":"}]\"{"}], "b" : "x\\" , "c":null } `, "c", `null`, true, true},
		{`{"a":1,"a":2}`, "a", `2`, true, true},
		{`{"\u0061":true}`, "a", `true`, true, true},
		{`{"Items":[]}`, "ConsumedCapacity", ``, false, true},
		{`{}`, "a", ``, false, true},
		{`[{"a":1}]`, "a", ``, false, false},
		{`{"a":1`, "a", ``, false, false},
		{``, "a", ``, false, false},
	} {
		v, found, ok := Member([]byte(c.doc), c.name)
		require.Equal(t, c.ok, ok, c.doc)
		require.Equal(t, c.found, found, c.doc)
		require.Equal(t, c.value, string(v), c.doc)
	}
}

// FuzzMember: on every valid JSON object, Member finds what decoding the object gives, and never
// reads past the document.
func FuzzMember(f *testing.F) {
	f.Add(`{"ConsumedCapacity":{"TableName":"t","CapacityUnits":0.5},"Item":{"k":{"S":"\"}"}}}`, "ConsumedCapacity")
	f.Add(`{"statusCode":200,"body":"{\"statusCode\":1}","headers":{"a":"b"}}`, "statusCode")
	f.Add(`{"a" : [ 1 , -2.5e3, true, false, null, "x" ] , "b":{}}`, "b")
	f.Add(`{"\u0073tatusCode":1}`, "statusCode")
	f.Fuzz(func(t *testing.T, doc, name string) {
		v, found, ok := Member([]byte(doc), name)
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(doc), &obj) != nil || obj == nil {
			return // not a valid JSON object: nothing is promised but not crashing
		}
		require.True(t, ok, "a valid object is walked: %q", doc)
		want, has := obj[name]
		require.Equal(t, has, found, "%q in %q", name, doc)
		if has {
			require.JSONEq(t, string(bytes.TrimSpace(want)), string(v), "%q in %q", name, doc)
		}
	})
}
