package source

import "testing"

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
