package pii

import (
	"strings"
	"testing"
)

func redactedSha(s string) string { return "sha256:" + sha(s) }

func TestRedact(t *testing.T) {
	in := `{"type":"identify","userId":"u1","traits":{"Email":" Ada@Example.COM ","phone":"+44 20 7946 0000","name":"Ada"},` +
		`"context":{"traits":{"email":"ada@example.com"}},"properties":{"emails":["x"],"count":12345678901234567890}}`
	out := string(Redact([]byte(in)))
	for _, gone := range []string{"Ada@Example.COM", "ada@example.com", "7946"} {
		if strings.Contains(out, gone) {
			t.Errorf("redacted document still holds %q: %s", gone, out)
		}
	}
	for _, want := range []string{redactedSha("ada@example.com"), redactedSha("+442079460000"), `"name":"Ada"`, `"userId":"u1"`, `12345678901234567890`} {
		if !strings.Contains(out, want) {
			t.Errorf("redacted document lacks %q: %s", want, out)
		}
	}
}

func TestRedactNotJSON(t *testing.T) {
	out := string(Redact([]byte(`{"traits": {"email": "bob@example.org", `)))
	if strings.Contains(out, "bob@example.org") || !strings.Contains(out, redactedSha("bob@example.org")) {
		t.Errorf("email left in malformed input: %s", out)
	}
}
