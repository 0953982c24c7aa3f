package pii

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// sha is computed here independently of Hash, from the normalised literal the test expects, so
// that the tests check the normalisation and not only the hashing.
func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestHashKnownValue(t *testing.T) {
	// SHA-256 of "test@example.com", as published by many hashing guides.
	const want = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
	if got := Hash("test@example.com"); got != want {
		t.Fatalf("Hash = %s, want %s", got, want)
	}
}

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		v       Variant
		want    string
		wantOK  bool
		comment string
	}{
		{"  Ann.Lee+news@GMail.com ", Standard, "ann.lee+news@gmail.com", true, "trim + lower-case"},
		{"  Ann.Lee+news@GMail.com ", Meta, "ann.lee+news@gmail.com", true, "meta: trim + lower-case only"},
		{"  Ann.Lee+news@GMail.com ", Google, "annlee@gmail.com", true, "google: no dots, no +suffix on gmail"},
		{"A.B+x@googlemail.com", Google, "ab@googlemail.com", true, "googlemail too"},
		{"A.B+x@Example.COM", Google, "a.b+x@example.com", true, "other domains keep dots and suffix"},
		{"\tBob@Example.org\n", Standard, "bob@example.org", true, "tabs and newlines"},
		{"no-at-sign", Standard, "", false, "not an address"},
		{"a@b@c", Standard, "", false, "two @"},
		{"@example.com", Standard, "", false, "empty local part"},
		{"a@", Standard, "", false, "empty domain"},
		{"a b@example.com", Standard, "", false, "space inside"},
		{"+x@gmail.com", Google, "", false, "nothing left of a gmail local part"},
		{"", Standard, "", false, "empty"},
	} {
		got, ok := NormalizeEmail(tc.raw, tc.v)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: NormalizeEmail(%q, %q) = %q, %v; want %q, %v", tc.comment, tc.raw, tc.v, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct {
		raw, cc string
		v       Variant
		want    string
		wantOK  bool
		comment string
	}{
		{"+44 7700 900123", "", Standard, "+447700900123", true, "spaces"},
		{"+44 7700 900123", "", Google, "+447700900123", true, "google: E.164 with +"},
		{"+44 7700 900123", "", Meta, "447700900123", true, "meta: digits without +"},
		{"0044-7700-900123", "", Standard, "+447700900123", true, "00 is the international prefix"},
		{"+1 (650) 555-1234", "", Standard, "+16505551234", true, "parentheses and dashes"},
		{"+44 (0)20 7946 0000", "", Standard, "+442079460000", true, "(0) dropped"},
		{"07700 900123", "44", Standard, "+447700900123", true, "default calling code, trunk 0 dropped"},
		{"07700 900123", "+44", Meta, "447700900123", true, "default calling code given with +"},
		{"06 1234 5678", "39", Standard, "+390612345678", true, "Italy keeps the leading 0"},
		{"650.555.1234", "1", Standard, "+16505551234", true, "dots"},
		{"07700 900123", "", Standard, "07700900123", true, "no country code, no default: digits kept"},
		{"07700 900123", "", Meta, "07700900123", true, "meta without a country code: the same digits"},
		{"+44 7700 900123 ext 5", "", Standard, "", false, "extension"},
		{"call me", "", Standard, "", false, "letters"},
		{"12345", "", Standard, "", false, "too short"},
		{"+1234567890123456", "", Standard, "", false, "more than 15 digits"},
		{"44+7700900123", "", Standard, "", false, "+ in the middle"},
		{"", "44", Standard, "", false, "empty"},
	} {
		got, ok := NormalizePhone(tc.raw, tc.cc, tc.v)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: NormalizePhone(%q, %q, %q) = %q, %v; want %q, %v", tc.comment, tc.raw, tc.cc, tc.v, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestHashEmail(t *testing.T) {
	got := HashEmail("  Ann.Lee+news@GMail.com ")
	want := map[string]string{
		"email_sha256":        sha("ann.lee+news@gmail.com"),
		"email_sha256_google": sha("annlee@gmail.com"),
	}
	assertMap(t, got, want)

	// Where every destination agrees there is only the standard hash.
	assertMap(t, HashEmail("Bob@Example.org"), map[string]string{"email_sha256": sha("bob@example.org")})
	if got := HashEmail("not an email"); got != nil {
		t.Errorf("HashEmail(not an email) = %v, want nil", got)
	}
}

func TestHashPhone(t *testing.T) {
	assertMap(t, HashPhone("07700 900123", "44"), map[string]string{
		"phone_sha256":      sha("+447700900123"),
		"phone_sha256_meta": sha("447700900123"),
	})
	assertMap(t, HashPhone("07700 900123", ""), map[string]string{"phone_sha256": sha("07700900123")})
	if got := HashPhone("n/a", "44"); got != nil {
		t.Errorf("HashPhone(n/a) = %v, want nil", got)
	}
}

func assertMap(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
}
