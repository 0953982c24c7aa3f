package enrich

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/source"
)

var received = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func TestTruncateIP(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.77":                            "203.0.113.0",
		" 198.51.100.1 ":                          "198.51.100.0",
		"10.0.0.255":                              "10.0.0.0",
		"2001:db8:85a3:8d3:1319:8a2e:370:7348":    "2001:db8:85a3::",
		"2001:0db8:0001:ffff:ffff:ffff:ffff:ffff": "2001:db8:1::",
		"fe80::1%eth0":                            "fe80::",
		"::ffff:192.0.2.128":                      "192.0.2.0",
		"":                                        "",
		"not an ip":                               "",
		"256.1.1.1":                               "",
		"203.0.113.77:443":                        "",
		"1.2.3":                                   "",
	} {
		if got := TruncateIP(in); got != want {
			t.Errorf("TruncateIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCampaign(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		ctx       map[string]string
		want      *beacon.Campaign
	}{
		{"utm tags", "https://shop.example/?utm_source=Google&utm_medium=cpc&utm_campaign=spring+sale&utm_term=red%20shoes&utm_content=ad-1&utm_id=cmp-7",
			nil, &beacon.Campaign{Source: "Google", Medium: "cpc", Name: "spring sale", Term: "red shoes", Content: "ad-1", ID: "cmp-7"}},
		{"gclid fills source and medium", "https://shop.example/p?gclid=EAIaIQ#top",
			nil, &beacon.Campaign{Source: "google", Medium: "cpc", ClickID: "EAIaIQ", ClickIDType: "gclid"}},
		{"utm wins over the click id's defaults", "https://shop.example/?utm_source=newsletter&gclid=X",
			nil, &beacon.Campaign{Source: "newsletter", Medium: "cpc", ClickID: "X", ClickIDType: "gclid"}},
		{"first click id by precedence", "https://shop.example/?fbclid=F&msclkid=M",
			nil, &beacon.Campaign{Source: "bing", Medium: "cpc", ClickID: "M", ClickIDType: "msclkid"}},
		{"parameter names in any case", "https://shop.example/?UTM_SOURCE=x&Li_Fat_Id=L",
			nil, &beacon.Campaign{Source: "x", Medium: "cpc", ClickID: "L", ClickIDType: "li_fat_id"}},
		{"context.campaign completes the URL", "https://shop.example/?utm_source=a",
			map[string]string{"source": "b", "medium": "email", "name": "weekly", "twclid": "T"},
			&beacon.Campaign{Source: "a", Medium: "email", Name: "weekly", ClickID: "T", ClickIDType: "twclid"}},
		{"no tags", "https://shop.example/?q=shoes", nil, nil},
		{"no URL", "", nil, nil},
		{"bad escapes are skipped", "https://shop.example/?utm_source=%zz&utm_medium=cpc", nil, &beacon.Campaign{Medium: "cpc"}},
		{"long values are cut", "https://shop.example/?utm_campaign=" + strings.Repeat("é", 300), nil,
			&beacon.Campaign{Name: strings.Repeat("é", maxTagBytes/2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Campaign(tc.url, tc.ctx)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("Campaign(%q) = %+v, want %+v", tc.url, got, tc.want)
			}
		})
	}
}

func FuzzCampaign(f *testing.F) {
	for _, s := range []string{
		"https://shop.example/?utm_source=google&utm_medium=cpc&gclid=X&_dl=abc.1709294600",
		"?utm_campaign=%", "http://[::1", "?&&==&a=%zz&utm_term=\xff", "",
		"android-app://com.google.android.gm", "https://x/?_dl=a.99999999999999999999",
	} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, pageURL, referrer string) {
		c := Campaign(pageURL, map[string]string{"source": referrer})
		if c != nil {
			for _, v := range []string{c.Source, c.Medium, c.Name, c.Term, c.Content, c.ID, c.ClickID} {
				if len(v) > maxTagBytes || !utf8Valid(v) {
					t.Fatalf("campaign value %q is too long or not UTF-8", v)
				}
			}
		}
		if ch := Channel(c, referrer, pageURL); ch == "" {
			t.Fatal("no channel")
		}
		_ = ReferrerHost(referrer)
		if id := LinkerID(pageURL, received); len(id) > maxLinkerID {
			t.Fatalf("linker id %q too long", id)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\x00") == s }

func TestLinkerID(t *testing.T) {
	now := received.Unix()
	at := itoa
	for _, tc := range []struct{ name, url, want string }{
		{"valid", "https://b.example/?x=1&_dl=6f1c3a52-7d0e_4b8e." + at(now+120), "6f1c3a52-7d0e_4b8e"},
		{"expires this second", "https://b.example/?_dl=anon." + at(now), "anon"},
		{"expired", "https://b.example/?_dl=anon." + at(now-1), ""},
		{"claims too long a life", "https://b.example/?_dl=anon." + at(now+int64(MaxLinkerLifetime/time.Second)+1), ""},
		{"no expiry", "https://b.example/?_dl=anon", ""},
		{"bad expiry", "https://b.example/?_dl=anon.12x", ""},
		{"bad id", "https://b.example/?_dl=an%20on." + at(now+60), ""},
		{"empty id", "https://b.example/?_dl=." + at(now+60), ""},
		{"huge expiry", "https://b.example/?_dl=anon.99999999999999999999", ""},
		{"no linker", "https://b.example/", ""},
	} {
		if got := LinkerID(tc.url, received); got != tc.want {
			t.Errorf("%s: LinkerID(%q) = %q, want %q", tc.name, tc.url, got, tc.want)
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// fakeAgents parses a few user agents the way the real parser would.
type fakeAgents map[string]Agent

func (f fakeAgents) Parse(ua string) Agent {
	if a, ok := f[ua]; ok {
		return a
	}
	return Agent{Device: beacon.Device{Browser: ua, Class: beacon.DeviceOther}}
}

const (
	chrome    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/122.0.0.0 Safari/537.36"
	googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	headlessC = "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/122.0.0.0 Safari/537.36"
)

var agents = fakeAgents{
	chrome:    {Device: beacon.Device{Browser: "Chrome", BrowserVersion: "122.0.0.0", OS: "Windows", OSVersion: "10", Class: beacon.DeviceDesktop}},
	googlebot: {Device: beacon.Device{Browser: "Googlebot", BrowserVersion: "2.1", Class: beacon.DeviceBot}, Bot: true},
	headlessC: {Device: beacon.Device{Browser: "Headless Chrome", OS: "Linux", Class: beacon.DeviceDesktop}, Bot: true},
}

var (
	shop    = source.Source{ID: "src_shop"}
	backend = source.Source{ID: "src_backend", Trusted: true}
)

func event(typ, ctx, traits, props string) beacon.Event {
	e := beacon.Event{Type: typ, MessageID: "m", AnonymousID: "a", ReceivedAt: received}
	if ctx != "" {
		e.Context = json.RawMessage(ctx)
	}
	if traits != "" {
		e.Traits = json.RawMessage(traits)
	}
	if props != "" {
		e.Properties = json.RawMessage(props)
	}
	return e
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestEventsBrowserSource(t *testing.T) {
	dl := "anon-on-a." + itoa(received.Unix()+60)
	evs := []beacon.Event{
		event(beacon.Page, `{"ip":"203.0.113.200","userAgent":"spoofed","page":{"url":"https://shop.example/?utm_source=google&utm_medium=cpc&gclid=G1&_dl=`+dl+`","referrer":"https://www.google.com/"}}`, "", ""),
		event(beacon.Page, "", "", `{"url":"https://shop.example/","referrer":"https://news.example.org/a"}`),
	}
	New(agents).Events(evs, Request{Source: shop, SourceIP: "198.51.100.23", UserAgent: chrome})

	got := evs[0].Enrichment
	want := beacon.Enrichment{
		IP:       "198.51.100.0",
		Device:   &beacon.Device{Browser: "Chrome", BrowserVersion: "122.0.0.0", OS: "Windows", OSVersion: "10", Class: beacon.DeviceDesktop},
		Campaign: &beacon.Campaign{Source: "google", Medium: "cpc", ClickID: "G1", ClickIDType: "gclid"},
		Referrer: "www.google.com", Channel: beacon.ChannelPaidSearch, LinkerID: "anon-on-a",
	}
	assertEnrichment(t, want, got)
	// The sender's context.ip is not believed, but it is truncated all the same.
	if !strings.Contains(string(evs[0].Context), `"ip":"203.0.113.0"`) || strings.Contains(string(evs[0].Context), "203.0.113.200") {
		t.Errorf("context.ip not truncated: %s", evs[0].Context)
	}
	// A page call without context.page: properties.url and .referrer.
	assertEnrichment(t, beacon.Enrichment{IP: "198.51.100.0", Device: want.Device, Referrer: "news.example.org", Channel: beacon.ChannelReferral}, evs[1].Enrichment)
}

func TestEventsTrustedSource(t *testing.T) {
	evs := []beacon.Event{
		event(beacon.Track, `{"ip":"2001:db8:85a3:8d3:1319:8a2e:370:7348","userAgent":"`+chrome+`"}`, "", ""),
		event(beacon.Identify, "", `{"plan":"gold"}`, ""),
	}
	New(agents).Events(evs, Request{Source: backend, SourceIP: "192.0.2.9", UserAgent: "analytics-go (version: 3.3.0)"})
	assertEnrichment(t, beacon.Enrichment{IP: "2001:db8:85a3::", Device: ptr(agents[chrome].Device)}, evs[0].Enrichment)
	// Without context, a server's call says nothing about the visitor: no address, no device, no
	// channel, and no bot verdict for a missing user agent.
	assertEnrichment(t, beacon.Enrichment{}, evs[1].Enrichment)
}

func TestEventsBots(t *testing.T) {
	for _, tc := range []struct {
		name, header, ctx string
		want              beacon.Bot
		class             string
	}{
		{"browser", chrome, "", beacon.Bot{}, beacon.DeviceDesktop},
		{"known crawler", googlebot, "", beacon.Bot{IsBot: true, Reason: beacon.BotUserAgent}, beacon.DeviceBot},
		{"headless browser", headlessC, "", beacon.Bot{IsBot: true, Reason: beacon.BotHeadless}, beacon.DeviceBot},
		{"no user agent", "", "", beacon.Bot{IsBot: true, Reason: beacon.BotMissingUserAgent}, ""},
		{"no header, context claims one", "", `{"userAgent":"` + chrome + `"}`, beacon.Bot{IsBot: true, Reason: beacon.BotMissingUserAgent}, beacon.DeviceBot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := []beacon.Event{event(beacon.Track, tc.ctx, "", "")}
			New(agents).Events(evs, Request{Source: shop, SourceIP: "203.0.113.1", UserAgent: tc.header})
			got := evs[0].Enrichment
			if got.Bot != tc.want {
				t.Errorf("bot = %+v, want %+v", got.Bot, tc.want)
			}
			class := ""
			if got.Device != nil {
				class = got.Device.Class
			}
			if class != tc.class {
				t.Errorf("class = %q, want %q", class, tc.class)
			}
		})
	}
}

func TestEventsHashPII(t *testing.T) {
	identify := event(beacon.Identify, `{"traits":{"email":"other@example.com","phone":"+1 650 555 1234"},"locale":"en-GB"}`,
		`{"email":"  Ann.Lee+news@GMail.com ","phone":"07700 900123","plan":"gold"}`, "")
	uk := source.Source{ID: "src_uk", PhoneCountryCode: "44"}
	evs := []beacon.Event{identify}
	New(agents).Events(evs, Request{Source: uk, SourceIP: "203.0.113.1", UserAgent: chrome})

	want := map[string]string{
		// traits win over context.traits
		"email_sha256":        sha("ann.lee+news@gmail.com"),
		"email_sha256_google": sha("annlee@gmail.com"),
		"phone_sha256":        sha("+447700900123"),
		"phone_sha256_meta":   sha("447700900123"),
	}
	if len(evs[0].Hashed) != len(want) {
		t.Fatalf("hashed = %v, want %v", evs[0].Hashed, want)
	}
	for k, v := range want {
		if evs[0].Hashed[k] != v {
			t.Errorf("%s = %s, want %s", k, evs[0].Hashed[k], v)
		}
	}
	if got := string(evs[0].Traits); got != `{"plan":"gold"}` {
		t.Errorf("traits = %s, want the raw email and phone removed", got)
	}
	for _, raw := range []string{"example.com", "650", "GMail"} {
		if b, _ := json.Marshal(evs[0]); strings.Contains(string(b), raw) {
			t.Errorf("event still carries %q: %s", raw, b)
		}
	}
	if got := string(evs[0].Context); got != `{"locale":"en-GB","traits":{}}` {
		t.Errorf("context = %s", got)
	}

	// A source that keeps raw personal data still gets the hashes.
	keep := source.Source{ID: "src_keep", KeepRawPII: true}
	evs = []beacon.Event{event(beacon.Identify, "", `{"email":"Bob@Example.org","phone":447700900123}`, "")}
	New(agents).Events(evs, Request{Source: keep, SourceIP: "203.0.113.1", UserAgent: chrome})
	if got := string(evs[0].Traits); got != `{"email":"Bob@Example.org","phone":447700900123}` {
		t.Errorf("traits = %s, want them as sent", got)
	}
	if evs[0].Hashed["email_sha256"] != sha("bob@example.org") || evs[0].Hashed["phone_sha256"] != sha("447700900123") {
		t.Errorf("hashed = %v", evs[0].Hashed)
	}

	// What is not an email or phone is not hashed, but removed all the same.
	evs = []beacon.Event{event(beacon.Identify, "", `{"email":"n/a","phone":"call me"}`, "")}
	New(agents).Events(evs, Request{Source: shop, SourceIP: "203.0.113.1", UserAgent: chrome})
	if evs[0].Hashed != nil || string(evs[0].Traits) != `{}` {
		t.Errorf("hashed = %v, traits = %s", evs[0].Hashed, evs[0].Traits)
	}
}

func TestEventsParseEachUserAgentOnce(t *testing.T) {
	c := &countingAgents{}
	evs := make([]beacon.Event, 50)
	for i := range evs {
		evs[i] = event(beacon.Track, "", "", "")
	}
	New(c).Events(evs, Request{Source: shop, SourceIP: "203.0.113.1", UserAgent: chrome})
	if c.n != 1 {
		t.Errorf("parsed %d times, want once per call", c.n)
	}
}

type countingAgents struct{ n int }

func (c *countingAgents) Parse(ua string) Agent { c.n++; return agents.Parse(ua) }

func ptr(d beacon.Device) *beacon.Device { return &d }

func assertEnrichment(t *testing.T, want beacon.Enrichment, got *beacon.Enrichment) {
	t.Helper()
	if got == nil {
		t.Fatal("no enrichment")
	}
	w, _ := json.Marshal(want)
	g, _ := json.Marshal(got)
	if string(w) != string(g) {
		t.Errorf("enrichment\n got %s\nwant %s", g, w)
	}
}

// BenchmarkEvents measures enrichment of a realistic browser event (page context with UTM tags,
// campaign, traits with an email to hash and remove), user agents already parsed.
func BenchmarkEvents(b *testing.B) {
	ctx := `{"ip":"203.0.113.9","library":{"name":"analytics.js","version":"next-1.64.0"},"locale":"en-GB",` +
		`"page":{"path":"/products/trail-runner-3","referrer":"https://www.google.com/","title":"Trail Runner 3",` +
		`"url":"https://shop.example/products/trail-runner-3?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale"},` +
		`"userAgent":"` + chrome + `","campaign":{"name":"spring-sale","source":"newsletter","medium":"email"},` +
		`"traits":{"email":"Ana.Shopper@Example.com","plan":"member"}}`
	en := New(agents)
	r := Request{Source: shop, SourceIP: "198.51.100.23", UserAgent: chrome}
	evs := make([]beacon.Event, 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		evs[0] = event(beacon.Track, ctx, "", `{"product_id":"sku-1","price":59.9}`)
		en.Events(evs, r)
	}
	if evs[0].Enrichment.Channel != beacon.ChannelEmail || evs[0].Hashed["email_sha256"] == "" {
		b.Fatalf("not enriched: %+v", evs[0].Enrichment)
	}
}

// BenchmarkEventsNothingToScrub is the tracker's usual event: no address or personal data in the
// context, so the context is read but not rewritten.
func BenchmarkEventsNothingToScrub(b *testing.B) {
	ctx := `{"library":{"name":"dcrm.js","version":"1.0.0"},"locale":"en-GB",` +
		`"page":{"path":"/products/trail-runner-3","referrer":"https://www.google.com/","title":"Trail Runner 3",` +
		`"url":"https://shop.example/products/trail-runner-3?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale"},` +
		`"userAgent":"` + chrome + `","campaign":{"name":"spring-sale","source":"newsletter","medium":"email"}}`
	en := New(agents)
	r := Request{Source: shop, SourceIP: "198.51.100.23", UserAgent: chrome}
	evs := make([]beacon.Event, 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		evs[0] = event(beacon.Track, ctx, "", `{"product_id":"sku-1","price":59.9}`)
		en.Events(evs, r)
	}
	if evs[0].Enrichment.Channel != beacon.ChannelEmail || string(evs[0].Context) != ctx {
		b.Fatalf("context rewritten or not enriched: %+v", evs[0].Enrichment)
	}
}

// FuzzReadContext checks that the context is read as encoding/json decodes it into a struct (names
// without regard to case, the last wins, a page sent twice adds up) and that objects are written
// again as a map of their members would be.
func FuzzReadContext(f *testing.F) {
	for _, s := range []string{
		`{"page":{"url":"https://a/?utm_source=x","Referrer":"r"},"IP":"1.2.3.4","ip":null,"userAgent":7}`,
		`{"page":{"url":"u"},"PAGE":{"referrer":"r"},"page":"x","page":null,"ıp":"1.1.1.1","traits":{"email":"a@b.c","email":"d@e.f"}}`,
		`{"campaign":{"Source":"s","source":"","b<>":1,"\u00e9":2},"traits":[],"ſ":1}`, ` {"a":1} `, "\f{}", `{"a":}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want struct {
			IP        json.RawMessage `json:"ip"`
			UserAgent json.RawMessage `json:"userAgent"`
			Page      struct {
				URL      json.RawMessage `json:"url"`
				Referrer json.RawMessage `json:"referrer"`
			} `json:"page"`
			Campaign json.RawMessage `json:"campaign"`
			Traits   json.RawMessage `json:"traits"`
		}
		if c := strings.TrimSpace(string(b)); len(c) > 0 && c[0] == '{' {
			_ = json.Unmarshal([]byte(c), &want)
		}
		members, _ := beacon.Members(b)
		got := readContext(members)
		for _, f := range []struct {
			name      string
			got, want json.RawMessage
		}{
			{"ip", got.IP, want.IP}, {"userAgent", got.UserAgent, want.UserAgent}, {"page.url", got.Page.URL, want.Page.URL},
			{"page.referrer", got.Page.Referrer, want.Page.Referrer}, {"campaign", got.Campaign, want.Campaign}, {"traits", got.Traits, want.Traits},
		} {
			if string(f.got) != string(f.want) || (f.got == nil) != (f.want == nil) {
				t.Fatalf("%q: %s is %q, encoding/json %q", b, f.name, f.got, f.want)
			}
		}

		if !json.Valid(b) {
			return // what enrichment writes again, the endpoint validated first
		}
		var m map[string]json.RawMessage
		c := strings.TrimSpace(string(b))
		if len(c) == 0 || c[0] != '{' || json.Unmarshal([]byte(c), &m) != nil {
			if object(b) != nil {
				t.Fatalf("%q is not an object, yet has fields", b)
			}
			return
		}
		keys := make([]string, 0, len(m)) // the map written again: keys sorted, values as sent
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		wantJSON := []byte{'{'}
		for i, k := range keys {
			if i > 0 {
				wantJSON = append(wantJSON, ',')
			}
			wantJSON = append(append(append(wantJSON, encode(k)...), ':'), m[k]...)
		}
		wantJSON = append(wantJSON, '}')
		if got := object(b).encode(); !bytes.Equal(got, wantJSON) {
			t.Fatalf("%q written again as %s, want %s", b, got, wantJSON)
		}
		strs := map[string]string{}
		for k, v := range m {
			if s := text(v); s != "" {
				strs[strings.ToLower(k)] = s
			}
		}
		if gotStrs := stringFields(b); len(gotStrs) != len(strs) {
			t.Fatalf("%q: string fields %v, want %v", b, gotStrs, strs)
		}
	})
}

func TestEventsHashPIIOfExternalIDs(t *testing.T) {
	ctx := `{"externalIds":[{"id":"123","type":"crm_id","collection":"users"},
		{"id":" Ann@Example.com ","type":"EMAIL","collection":"users","encoding":"none"},
		{"id":"07700 900123","type":"phone"},
		{"id":"sales@acme.example","type":"email","collection":"accounts"},
		{"id":["broken@example.com"],"type":"email"}],"locale":"en-GB"}`
	uk := source.Source{ID: "src_uk", PhoneCountryCode: "44"}
	evs := []beacon.Event{event(beacon.Track, ctx, "", "")}
	New(agents).Events(evs, Request{Source: uk, SourceIP: "203.0.113.1", UserAgent: chrome})

	if got := string(evs[0].Context); got != `{"externalIds":[{"id":"123","type":"crm_id","collection":"users"}],"locale":"en-GB"}` {
		t.Errorf("context = %s, want the emails and phones removed", got)
	}
	// A person's email and phone are hashed; an account's email is not the person's.
	want := map[string]string{
		"email_sha256": sha("ann@example.com"), "phone_sha256": sha("+447700900123"), "phone_sha256_meta": sha("447700900123"),
	}
	if len(evs[0].Hashed) != len(want) {
		t.Fatalf("hashed = %v, want %v", evs[0].Hashed, want)
	}
	for k, v := range want {
		if evs[0].Hashed[k] != v {
			t.Errorf("%s = %s, want %s", k, evs[0].Hashed[k], v)
		}
	}

	// Traits win over external ids; a source that keeps raw data keeps the list as sent.
	keep := source.Source{ID: "src_keep", KeepRawPII: true}
	ctx = `{"externalIds":[{"id":"bob@example.org","type":"email"}]}`
	evs = []beacon.Event{event(beacon.Identify, ctx, `{"email":"ann@example.com"}`, "")}
	New(agents).Events(evs, Request{Source: keep, SourceIP: "203.0.113.1", UserAgent: chrome})
	if string(evs[0].Context) != ctx || evs[0].Hashed["email_sha256"] != sha("ann@example.com") {
		t.Errorf("context = %s, hashed = %v", evs[0].Context, evs[0].Hashed)
	}

	// A list without personal data is left as sent, byte for byte.
	ctx = `{"externalIds": [ {"id":"1","type":"crm_id"} ]}`
	evs = []beacon.Event{event(beacon.Track, ctx, "", "")}
	New(agents).Events(evs, Request{Source: shop, SourceIP: "203.0.113.1", UserAgent: chrome})
	if string(evs[0].Context) != ctx || evs[0].Hashed != nil {
		t.Errorf("context = %s, hashed = %v", evs[0].Context, evs[0].Hashed)
	}
}

// TestEventsPersonalDataEverywhere replays where personal data reached the stream: a capitalised
// traits.Email, a nested traits.contact.email, context.Traits, properties.email and .phone.
func TestEventsPersonalDataEverywhere(t *testing.T) {
	identify := event(beacon.Identify,
		`{"Traits":{"E-Mail":"ctx@example.com","firstName":"Ann"},"page":{"url":"https://shop.example/welcome?email=ann%40example.com"}}`,
		`{"Email":" Ann@Example.COM ","contact":{"email":"ann@work.example","phone":"+44 20 7946 0000"},"name":"Ann Lee","plan":"gold"}`,
		`{"email":"friend@example.org","phone":"07700 900123","product":"Red Shoes","emailOptIn":true}`)
	evs := []beacon.Event{identify}
	New(agents).Events(evs, Request{Source: shop, SourceIP: "203.0.113.1", UserAgent: chrome})
	e := evs[0]

	b, _ := json.Marshal(e)
	for _, raw := range []string{"Ann@", "ann@", "ann%40", "ctx@", "friend@", "7946", "07700", "Ann Lee", `"Ann"`} {
		if strings.Contains(string(b), raw) {
			t.Errorf("event still carries %q: %s", raw, b)
		}
	}
	// The person's own email (any case) joins profiles; the first found, traits before context.
	if e.Hashed["email_sha256"] != sha("ann@example.com") {
		t.Errorf("hashed = %v, want traits.Email's hash", e.Hashed)
	}
	want := `{"contact":{"email":"sha256:` + sha("ann@work.example") + `","phone":"[redacted]"},"name":"[redacted]","plan":"gold"}`
	if string(e.Traits) != want {
		t.Errorf("traits =\n%s\nwant\n%s", e.Traits, want)
	}
	want = `{"email":"sha256:` + sha("friend@example.org") + `","phone":"[redacted]","product":"Red Shoes","emailOptIn":true}`
	if string(e.Properties) != want {
		t.Errorf("properties =\n%s\nwant\n%s", e.Properties, want)
	}
	if !strings.Contains(string(e.Context), `"Traits":{"firstName":"[redacted]"}`) ||
		!strings.Contains(string(e.Context), `welcome?email=sha256:`+sha("ann@example.com")) {
		t.Errorf("context = %s", e.Context)
	}
	if e.RawPII {
		t.Error("RawPII set for a source that does not keep raw data")
	}

	// A source that keeps raw personal data keeps everything as sent, with the hashes, and says so.
	keep := event(beacon.Identify, "", `{"EMAIL":"Bob@Example.org","name":"Bob"}`, `{"phone":"07700 900123"}`)
	evs = []beacon.Event{keep}
	New(agents).Events(evs, Request{Source: source.Source{ID: "src_keep", KeepRawPII: true}, SourceIP: "203.0.113.1", UserAgent: chrome})
	if e := evs[0]; string(e.Traits) != `{"EMAIL":"Bob@Example.org","name":"Bob"}` || string(e.Properties) != `{"phone":"07700 900123"}` ||
		!e.RawPII || e.Hashed["email_sha256"] != sha("bob@example.org") {
		t.Errorf("kept: traits %s, properties %s, rawPII %v, hashed %v", e.Traits, e.Properties, e.RawPII, e.Hashed)
	}
}

// TestEventsIdentityEmailOrder checks which of several addresses is the person's: "email" exactly,
// then the other spellings in name order; a work address is hashed where it is, not claimed.
func TestEventsIdentityEmailOrder(t *testing.T) {
	evs := []beacon.Event{event(beacon.Identify, "", `{"Email_Address":"b@example.com","email":"a@example.com","workEmail":"w@example.com"}`, "")}
	New(agents).Events(evs, Request{Source: shop, SourceIP: "203.0.113.1", UserAgent: chrome})
	if got := evs[0].Hashed["email_sha256"]; got != sha("a@example.com") {
		t.Errorf("email_sha256 = %s, want a@example.com's", got)
	}
	if want := `{"workEmail":"sha256:` + sha("w@example.com") + `"}`; string(evs[0].Traits) != want {
		t.Errorf("traits = %s, want %s", evs[0].Traits, want)
	}
}

// A full-width "ＥＭＡＩＬ" is the person's email, as NFKC reads it.
func TestEventsFullWidthIdentity(t *testing.T) {
	evs := []beacon.Event{event(beacon.Identify, "", `{"ＥＭＡＩＬ":"ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ","plan":"gold"}`, "")}
	New(agents).Events(evs, Request{Source: shop, SourceIP: "203.0.113.1", UserAgent: chrome})
	if evs[0].Hashed["email_sha256"] != sha("ann@example.com") || string(evs[0].Traits) != `{"plan":"gold"}` {
		t.Errorf("hashed = %v, traits = %s", evs[0].Hashed, evs[0].Traits)
	}
}

// The hashes of a call's personal values are computed once per call: each event still gets its
// own values' hashes, in a map of its own, and the same text as an email and as a phone is
// hashed as each.
func TestEventsHashOncePerCall(t *testing.T) {
	evs := []beacon.Event{
		event(beacon.Identify, `{"traits":{"email":"ann@example.com"}}`, "", ""),
		event(beacon.Identify, `{"traits":{"email":"bob@example.com"}}`, "", ""),
		event(beacon.Identify, `{"traits":{"email":"ann@example.com"}}`, "", ""),
		event(beacon.Identify, "", `{"email":"447700900123","phone":"447700900123"}`, ""),
	}
	New(agents).Events(evs, Request{Source: shop, SourceIP: "203.0.113.1", UserAgent: chrome})
	for i, want := range []string{sha("ann@example.com"), sha("bob@example.com"), sha("ann@example.com")} {
		if got := evs[i].Hashed["email_sha256"]; got != want {
			t.Errorf("event %d: email_sha256 = %s, want %s", i, got, want)
		}
	}
	evs[0].Hashed["email_sha256"] = "changed"
	if evs[2].Hashed["email_sha256"] != sha("ann@example.com") {
		t.Error("events of a call share their hashed map")
	}
	if got := evs[3].Hashed; got["phone_sha256"] != pii.HashPhone("447700900123", shop.PhoneCountryCode)[pii.PhoneKey] || got["email_sha256"] != "" {
		t.Errorf("a phone-like email and a phone: hashed = %v", got)
	}
}

// A page's campaign, referrer, channel and linker are read once per call: events from the same
// page get the same answers (each its own campaign), events from another page or with another
// context.campaign their own, and a linker expires by each event's time of receipt.
func TestEventsPagesOfOneCall(t *testing.T) {
	dl := "anon-on-a." + itoa(received.Unix()+60)
	google := `{"page":{"url":"https://shop.example/?utm_source=google&utm_medium=cpc&_dl=` + dl + `","referrer":"https://www.google.com/"}}`
	evs := []beacon.Event{
		event(beacon.Track, google, "", ""),
		event(beacon.Track, `{"page":{"url":"https://shop.example/","referrer":"https://news.example.org/a"}}`, "", ""),
		event(beacon.Track, google, "", ""),
		event(beacon.Track, `{"page":{"url":"https://shop.example/?utm_source=google&utm_medium=cpc&_dl=`+dl+`","referrer":"https://www.google.com/"},"campaign":{"name":"spring"}}`, "", ""),
		event(beacon.Track, google, "", ""),
	}
	evs[4].ReceivedAt = received.Add(2 * time.Minute) // the linker has expired by then
	New(agents).Events(evs, Request{Source: shop, SourceIP: "198.51.100.23", UserAgent: chrome})
	device := &beacon.Device{Browser: "Chrome", BrowserVersion: "122.0.0.0", OS: "Windows", OSVersion: "10", Class: beacon.DeviceDesktop}
	paid := beacon.Enrichment{IP: "198.51.100.0", Device: device, Campaign: &beacon.Campaign{Source: "google", Medium: "cpc"},
		Referrer: "www.google.com", Channel: beacon.ChannelPaidSearch, LinkerID: "anon-on-a"}
	assertEnrichment(t, paid, evs[0].Enrichment)
	assertEnrichment(t, beacon.Enrichment{IP: "198.51.100.0", Device: device, Referrer: "news.example.org", Channel: beacon.ChannelReferral}, evs[1].Enrichment)
	assertEnrichment(t, paid, evs[2].Enrichment)
	if evs[0].Enrichment.Campaign == evs[2].Enrichment.Campaign {
		t.Error("two events share one campaign")
	}
	named := paid
	named.Campaign = &beacon.Campaign{Source: "google", Medium: "cpc", Name: "spring"}
	assertEnrichment(t, named, evs[3].Enrichment)
	expired := paid
	expired.LinkerID = ""
	assertEnrichment(t, expired, evs[4].Enrichment)
}
