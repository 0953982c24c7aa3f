package identity

import (
	"strings"
	"testing"
)

func TestJunk(t *testing.T) {
	tests := []struct {
		value  string
		junk   bool
		reason string
	}{
		{"", true, "empty"},
		{"   \t", true, "empty"},
		{"null", true, `placeholder value "null"`},
		{"NULL", true, `placeholder value "NULL"`},
		{" undefined ", true, `placeholder value "undefined"`},
		{"None", true, "placeholder"},
		{"nil", true, "placeholder"},
		{"0", true, "placeholder"},
		{"-1", true, "placeholder"},
		{"Anonymous", true, "placeholder"},
		{"unknown", true, "placeholder"},
		{"GUEST", true, "placeholder"},
		{"test", true, "placeholder"},
		{"[object Object]", true, `placeholder value "[object Object]"`},
		{"NaN", true, "placeholder"},
		{"true", true, "placeholder"},
		{"False", true, "placeholder"},
		{"00000000-0000-0000-0000-000000000000", true, "all-zero id"},
		{"0000000000", true, "all-zero id"},
		{"00", true, "all-zero id"},
		{"aaaaaaaa", true, `one repeated character "a"`},
		{"1111-1111", true, `one repeated character "1"`},
		{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", true, "hash of an empty value"},
		{"74234E98AFE7498FB5DAF1F36AC2D78ACC339464F950703B8C019892F982B90B", true, `hash of placeholder value "null"`},

		{"a", false, ""}, // one character is a (short) id, not a repetition
		{"-", false, ""},
		{"--", false, ""},
		{"u-1042", false, ""},
		{"0b6f1c3e-8a2d-4c5e-9f10-desktop000001", false, ""},
		{"00000000-0000-0000-0000-000000000001", false, ""},
		{"testuser", false, ""},
		{"nullable", false, ""},
		{"10", false, ""},
		{"973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b", false, ""}, // sha256("test@example.com")
	}
	for _, tt := range tests {
		reason, junk := Junk(tt.value)
		if junk != tt.junk || !strings.Contains(reason, tt.reason) {
			t.Errorf("Junk(%q) = %q, %v; want junk=%v with a reason containing %q", tt.value, reason, junk, tt.junk, tt.reason)
		}
	}
}

func TestJunkDeviceIDs(t *testing.T) {
	for value, reason := range map[string]string{
		"9774D56D682E549C":                     "device id shared by many devices",
		"02:00:00:00:00:00":                    "device id shared by many devices",
		"00:00:00:00:00:00":                    "all-zero id",
		"00000000-0000-0000-0000-000000000000": "all-zero id", // an advertising id withheld (IDFA, Google's)
		"ff:ff:ff:ff:ff:ff":                    `one repeated character "f"`,
	} {
		if got, junk := Junk(value); !junk || !strings.HasPrefix(got, reason) {
			t.Errorf("Junk(%q) = %q, %v; want a reason starting %q", value, got, junk, reason)
		}
	}
	for _, value := range []string{"9774d56d682e549d", "02:00:00:00:00:01", "::"} {
		if reason, junk := Junk(value); junk {
			t.Errorf("Junk(%q) = %q, want a usable id", value, reason)
		}
	}
}
