package source

import (
	"strings"
	"testing"
)

func TestAllowsOrigin(t *testing.T) {
	shop := Source{AllowedOrigins: []string{"https://shop.example", "https://blog.example/"}}
	for origin, want := range map[string]bool{
		"":                       true,
		"https://shop.example":   true,
		"https://SHOP.example":   true,
		"https://blog.example":   true,
		"https://evil.example":   false,
		"http://shop.example":    false,
		"https://shop.example.x": false,
	} {
		if got := shop.AllowsOrigin(origin); got != want {
			t.Errorf("AllowsOrigin(%q) = %v, want %v", origin, got, want)
		}
	}
	if !(Source{AllowedOrigins: []string{"*"}}).AllowsOrigin("https://any.example") {
		t.Error(`"*" does not allow every origin`)
	}
}

func TestRate(t *testing.T) {
	if got := (Source{}).Rate(); got != DefaultRateLimit {
		t.Errorf("default rate = %d, want %d", got, DefaultRateLimit)
	}
	if got := (Source{RateLimit: 20}).Rate(); got != 20 {
		t.Errorf("rate = %d, want 20", got)
	}
}

func TestCheckOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"*":                             "*",
		"https://shop.example":          "https://shop.example",
		"https://Shop.Example/":         "https://shop.example",
		"http://localhost:8080":         "http://localhost:8080",
		"https://shop.example:443":      "https://shop.example",
		"http://127.0.0.1:80":           "http://127.0.0.1",
		"https://[::1]:8443":            "https://[::1]:8443",
		"https://xn--bcher-kva.example": "https://xn--bcher-kva.example",
	} {
		if got, err := CheckOrigin(in); err != nil || got != want {
			t.Errorf("CheckOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "shop.example", "ftp://shop.example", "https://", "https://shop.example/path",
		"https://shop.example?x=1", "https://shop.example#x", "https://user@shop.example", "https://shop.example:99999",
		"https://shop.example:x", "https://sh op.example", "javascript:alert(1)", "https://shop.example\n",
		"https://" + strings.Repeat("a", 260), "https://bad_host.example", "**"} {
		if got, err := CheckOrigin(in); err == nil {
			t.Errorf("CheckOrigin(%q) = %q, want an error", in, got)
		}
	}
}

func FuzzCheckOrigin(f *testing.F) {
	for _, s := range []string{"https://shop.example", "*", "http://a:1", "https://x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := CheckOrigin(s)
		if err != nil {
			return
		}
		// What it accepts it accepts again unchanged, and a browser sending it is allowed.
		if again, err := CheckOrigin(o); err != nil || again != o {
			t.Fatalf("CheckOrigin(%q) = %q, again %q, %v", s, o, again, err)
		}
		if o != "*" && !(Source{AllowedOrigins: []string{o}}).AllowsOrigin(o) {
			t.Fatalf("%q does not allow itself", o)
		}
	})
}
