package useragent

import (
	"strings"
	"sync"
	"testing"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/enrich"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, ua string
		want     beacon.Device
		bot      bool
	}{
		{"desktop Chrome",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
			beacon.Device{Browser: "Chrome", BrowserVersion: "122.0.0.0", OS: "Windows", OSVersion: "10", Class: beacon.DeviceDesktop}, false},
		{"desktop Safari",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
			beacon.Device{Browser: "Safari", BrowserVersion: "17.3", OS: "macOS", OSVersion: "10.15.7", Class: beacon.DeviceDesktop}, false},
		{"iPhone Safari",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
			beacon.Device{Browser: "Safari", BrowserVersion: "17.3", OS: "iOS", OSVersion: "17.3", Class: beacon.DeviceMobile}, false},
		{"iPad Safari",
			"Mozilla/5.0 (iPad; CPU OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
			beacon.Device{Browser: "Safari", BrowserVersion: "17.3", OS: "iPadOS", OSVersion: "17.3", Class: beacon.DeviceTablet}, false},
		{"Android tablet",
			"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
			beacon.Device{Browser: "Chrome", BrowserVersion: "121.0.0.0", OS: "Android", OSVersion: "13", Class: beacon.DeviceTablet}, false},
		{"Android phone",
			"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Mobile Safari/537.36",
			beacon.Device{Browser: "Chrome", BrowserVersion: "121.0.0.0", OS: "Android", OSVersion: "14", Class: beacon.DeviceMobile}, false},
		{"Linux Firefox",
			"Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
			beacon.Device{Browser: "Firefox", BrowserVersion: "123.0", OS: "Linux", Class: beacon.DeviceDesktop}, false},
		{"Googlebot",
			"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			beacon.Device{Browser: "Googlebot", BrowserVersion: "2.1", Class: beacon.DeviceBot}, true},
		{"Googlebot smartphone renderer",
			"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/122.0.6261.94 Safari/537.36",
			beacon.Device{Browser: "Googlebot", BrowserVersion: "2.1", Class: beacon.DeviceBot}, true},
		{"curl", "curl/8.5.0",
			beacon.Device{Browser: "curl", BrowserVersion: "8.5.0", Class: beacon.DeviceBot}, true},
		{"Go HTTP client", "Go-http-client/1.1",
			beacon.Device{Browser: "Go-http-client", BrowserVersion: "1.1", Class: beacon.DeviceBot}, true},
		{"unknown app", "analytics-go (version: 3.3.0)",
			beacon.Device{Browser: "analytics-go", Class: beacon.DeviceOther}, false},
		{"empty", "", beacon.Device{Class: beacon.DeviceOther}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Parse(tc.ua)
			if got.Device != tc.want || got.Bot != tc.bot {
				t.Errorf("Parse(%q) = %+v bot=%v, want %+v bot=%v", tc.ua, got.Device, got.Bot, tc.want, tc.bot)
			}
		})
	}
}

func TestParserCachesAndStaysBounded(t *testing.T) {
	p := New(2)
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := p.Parse(chrome); got != Parse(chrome) {
				t.Errorf("cached answer %+v differs from %+v", got, Parse(chrome))
			}
		}()
	}
	wg.Wait()
	for _, ua := range []string{"a/1", "b/1", "c/1", "d/1"} {
		p.Parse(ua)
	}
	if n := len(p.cache); n > 2 {
		t.Errorf("cache holds %d entries, limit 2", n)
	}
	long := strings.Repeat("x", 10_000)
	if got := p.Parse(long); got.Device.Class != beacon.DeviceOther {
		t.Errorf("very long user agent: class %q", got.Device.Class)
	}
}

// Parser satisfies what the enricher needs.
var _ enrich.UserAgents = (*Parser)(nil)
