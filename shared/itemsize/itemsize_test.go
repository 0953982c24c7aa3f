package itemsize

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestEstimateFollowsDynamoDBsRules(t *testing.T) {
	// a: 1 + 3; n: 1 + 5 digits / 2 + 1; l: 1 + 3 + 2 elements + 1 + 2; m: 1 + 3 + 1 member + 1 + 1;
	// f: 1 + 1 digit / 2 + 1 (0.5); e and z: empty, not stored.
	got, err := dynamoBytes([]byte(`{"a":"xyz","n":12345,"l":[1,"ab"],"m":{"k":true},"f":0.5,"e":"","z":[]}`))
	if err != nil || got != 4+4+9+7+2 {
		t.Errorf("dynamoBytes = %d, %v; want 26", got, err)
	}

	// Below the limit an upper bound will do; past it the estimate is close.
	type record struct {
		ID     string
		Traits map[string]any
	}
	small := record{ID: "prf_1", Traits: map[string]any{"n": 1.0}}
	if got, err := Estimate(small, MaxItemBytes); err != nil || got > 4<<10 {
		t.Errorf("a small record: %d bytes, %v", got, err)
	}
	big := record{ID: "prf_1", Traits: map[string]any{"notes": strings.Repeat("x", 401<<10)}}
	if got, _ := Estimate(big, MaxItemBytes); got <= MaxItemBytes || got > MaxItemBytes+(2<<10) {
		t.Errorf("a 401 KB trait: %d bytes", got)
	}
}

// The one-pass reader agrees with the rules applied to the decoded JSON.
func TestDynamoBytesAgreesWithTheDecodedJSON(t *testing.T) {
	type hit struct {
		At       time.Time
		Page     string
		Campaign map[string]string
		Empty    []int
		Nothing  *int
	}
	values := []any{
		map[string]any{"a": "é\u2028<>&\"\\ \U0001F600", "b": []any{"", nil, map[string]any{}, []any{}, 1.5e300, -0.0012, 100}},
		map[string]any{"hits": []hit{{At: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Page: "/x", Campaign: map[string]string{"source": "g", "none": ""}}, {}}},
		map[string]any{"zero": time.Time{}, "n": 0, "f": false, "deep": map[string]any{"x": map[string]any{"y": []any{[]any{"z"}}}}},
	}
	for _, v := range values {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dynamoBytes(raw)
		want, werr := decodedBytes(raw)
		if err != nil || werr != nil || got != want {
			t.Errorf("%s: %d, %v; want %d, %v", raw, got, err, want, werr)
		}
	}
}

func FuzzDynamoBytes(f *testing.F) {
	f.Add([]byte(`{"a":"xyz","n":12345,"l":[1,"ab"],"m":{"k":true},"f":0.5,"e":"","z":[]}`))
	f.Add([]byte(`{"s":"\u00e9\ud83d\ude00\n","t":"0001-01-01T00:00:00Z","x":[null,{}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := dynamoBytes(raw) // never panics, whatever it is given
		// Only JSON as encoding/json writes it (valid UTF-8, names sorted and unique), which is all
		// dynamoBytes is meant to read.
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v map[string]any
		if dec.Decode(&v) != nil || !utf8.Valid(raw) {
			return
		}
		if again, err := json.Marshal(v); err != nil || !bytes.Equal(again, raw) {
			return
		}
		want, werr := decodedBytes(raw)
		if werr == nil && (err != nil || got != want) {
			t.Errorf("%s: %d, %v; want %d", raw, got, err, want)
		}
	})
}

// decodedBytes is dynamoBytes the slow way, by decoding the JSON: the rules as written.
func decodedBytes(raw []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return 0, err
	}
	return attributesBytes(v), nil
}

// attributesBytes is the size of a map's members, names and values, without the map's own overhead.
func attributesBytes(m map[string]any) int {
	n := 0
	for k, v := range m {
		if empty(v) {
			continue
		}
		n += len(k) + valueBytes(v)
	}
	return n
}

func valueBytes(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case json.Number:
		return numberBytes(string(v))
	case []any:
		n := 3 + len(v)
		for _, e := range v {
			n += valueBytes(e)
		}
		return n
	case map[string]any:
		return 3 + len(v) + attributesBytes(v)
	}
	return 1 // a boolean, a null
}

// empty tells whether a value is one the DynamoDB adapter does not store: nothing, an empty
// string, list or map, a zero time.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == "" || v == "0001-01-01T00:00:00Z"
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}
