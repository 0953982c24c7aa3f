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
