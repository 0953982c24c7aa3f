package usage

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAskCapacity(t *testing.T) {
	for in, want := range map[string]string{
		`{"TableName":"t"}`: `{"ReturnConsumedCapacity":"TOTAL","TableName":"t"}`,
		` { }`:              ` {"ReturnConsumedCapacity":"TOTAL" }`,
		`{"ReturnConsumedCapacity":"NONE","TableName":"t"}`: `{"ReturnConsumedCapacity":"TOTAL","TableName":"t"}`,
		`{"ReturnConsumedCapacity":"INDEXES"}`:              `{"ReturnConsumedCapacity":"INDEXES"}`,
		`not json`:                                          `not json`,
	} {
		require.Equal(t, want, string(askCapacity([]byte(in))), in)
	}
}

// FuzzAskCapacity: whatever JSON object a caller sends, the request stays valid JSON and asks for
// capacity; anything else passes unchanged.
func FuzzAskCapacity(f *testing.F) {
	f.Add(`{"TableName":"t","Key":{"k":{"S":"v"}}}`)
	f.Add(`{}`)
	f.Add(` {"ReturnConsumedCapacity":"NONE"}`)
	f.Add(`[1]`)
	f.Fuzz(func(t *testing.T, body string) {
		out := askCapacity([]byte(body))
		var obj map[string]any
		if json.Unmarshal([]byte(body), &obj) != nil {
			return
		}
		var got map[string]any
		require.NoError(t, json.Unmarshal(out, &got), "%q → %q", body, out)
		if _, asked := obj["ReturnConsumedCapacity"]; !asked {
			require.Equal(t, "TOTAL", got["ReturnConsumedCapacity"])
		}
	})
}

func TestRecordSizeCountsDecodedDataAndKey(t *testing.T) {
	require.Equal(t, int64(3+2), record{Data: "YWJj", PartitionKey: "pk"}.size()) // "abc"
	require.Equal(t, int64(1+0), record{Data: "YQ=="}.size())                     // "a"
	require.Equal(t, int64(2+1), record{Data: "YWI=", PartitionKey: "k"}.size())  // "ab"
}

// FuzzRecordSizes: where the scan gives sizes, they are what decoding the document gives.
func FuzzRecordSizes(f *testing.F) {
	f.Add(`{"StreamName":"s","Records":[{"Data":"YWJj","PartitionKey":"pk"},{"PartitionKey":"k\"q","Data":"YQ=="}]}`)
	f.Add(`{"Records":[{"Data":"YWI=","PartitionKey":"\u00e9"}],"NextShardIterator":"x"}`)
	f.Add(`{"Records":[{"Data":"YWI=","PartitionKey":"a"},{"Data":"x"}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		sizes, ok := recordSizes([]byte(doc))
		if !ok {
			return
		}
		var d struct{ Records []record }
		if json.Unmarshal([]byte(doc), &d) != nil || len(d.Records) != len(sizes) {
			return // not a document of records: the meter only scans what the SDK and servers write
		}
		for i, r := range d.Records {
			require.Equal(t, r.size(), sizes[i], "record %d of %q", i, doc)
		}
	})
}
