package awsid

import (
	"regexp"
	"testing"
	"time"
)

func TestShapes(t *testing.T) {
	at := time.Unix(0x5e2a3b4c, 0)
	for _, c := range []struct {
		name, got string
		want      *regexp.Regexp
	}{
		{"UUID", UUID(), regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)},
		{"Hex(16)", Hex(16), regexp.MustCompile(`^[0-9a-f]{16}$`)},
		{"Hex(5)", Hex(5), regexp.MustCompile(`^[0-9a-f]{5}$`)},
		{"APIRequestID", APIRequestID(), regexp.MustCompile(`^[A-Za-z0-9+/]{14}==$`)},
		{"TraceRoot", TraceRoot(at), regexp.MustCompile(`^1-5e2a3b4c-[0-9a-f]{24}$`)},
	} {
		if !c.want.MatchString(c.got) {
			t.Errorf("%s = %q, want %v", c.name, c.got, c.want)
		}
	}
	if UUID() == UUID() || Hex(24) == Hex(24) || APIRequestID() == APIRequestID() {
		t.Error("two ids in a row are the same")
	}
}
