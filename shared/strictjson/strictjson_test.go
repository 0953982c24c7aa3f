package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMembers(t *testing.T) {
	ms, err := Members(json.RawMessage(`{"b": 1, "a": {"x": [1]}}`), "an object")
	if err != nil || len(ms) != 2 || ms[0].Name != "b" || string(ms[1].Raw) != `{"x": [1]}` {
		t.Fatalf("members %+v, %v", ms, err)
	}
	for raw, want := range map[string]string{
		`{"a": 1, "a": 2}`: `member "a" given twice`,
		`[1]`:              "want an object",
		`{"a": }`:          "invalid character",
		``:                 "want an object",
	} {
		if _, err := Members(json.RawMessage(raw), "an object"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", raw, err, want)
		}
	}
}

func TestChecks(t *testing.T) {
	if err := CheckID("high-value", 64, "vip"); err != nil {
		t.Error(err)
	}
	for id, want := range map[string]string{"": "is empty", "-a": `want a lower-case slug such as "vip"`, "Vip": "lower-case",
		strings.Repeat("a", 65): "at most 64"} {
		if err := CheckID(id, 64, "vip"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", id, err)
		}
	}
	if CheckText(" ", 10, true) == nil || CheckText("", 10, false) != nil || CheckText("\xff", 10, false) == nil || CheckText("abcdef", 5, false) == nil {
		t.Error("texts")
	}
}

func TestDocument(t *testing.T) {
	if raw, err := Document([]byte(` {"a": 1} `)); err != nil || string(raw) != `{"a": 1}` {
		t.Errorf("%s, %v", raw, err)
	}
	for data, want := range map[string]string{`{"a": 1} {}`: "more than one JSON document", `{`: "not JSON", ``: "not JSON"} {
		if _, err := Document([]byte(data)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", data, err, want)
		}
	}
}

func TestNumberAndEqual(t *testing.T) {
	for _, x := range []any{42.0, float32(42), 42, int64(42), int32(42), uint(42), uint64(42), uint32(42), " 42 "} {
		if n, ok := Number(x); !ok || n != 42 {
			t.Errorf("Number(%#v) = %v, %v", x, n, ok)
		}
	}
	for _, x := range []any{"4x", "NaN", "+Inf", true, nil, []any{1.0}} {
		if _, ok := Number(x); ok {
			t.Errorf("Number(%#v) took it", x)
		}
	}
	if !Equal("gold", "gold") || Equal("Gold", "gold") || !Equal(true, true) || Equal("true", true) ||
		!Equal("19.99", 19.99) || Equal(nil, 1.0) || Equal(1.0, nil) {
		t.Error("Equal")
	}
}
