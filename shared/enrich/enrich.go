// Package enrich works out at the collection endpoint what a call says about its events beyond
// what the sender states, and records it on each event (beacon.Enrichment): the truncated IP
// address, the browser and device, whether a bot sent it, the campaign and referrer of the page,
// the marketing channel (GA4's default channel group, see Channel) and the identity hint of a
// cross-domain link (see LinkerID). It also takes personal data out of the event: emails and
// phones in traits are hashed (package pii) and the raw values removed unless the source keeps
// them, and a full IP address in the context is truncated.
//
// Enrichment never refuses an event: what cannot be read is left out.
package enrich

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/source"
)

// Agent is what a user agent string says: the browser and device, and whether it is a known
// crawler, monitor or tool (Device.Class is then beacon.DeviceBot).
type Agent struct {
	Device beacon.Device
	Bot    bool
}

// UserAgents reads user agent strings (useragent.Parser).
type UserAgents interface {
	Parse(ua string) Agent
}

// Request is what the endpoint knows about one call beside its events.
type Request struct {
	Source source.Source
	// SourceIP is the address the call came from (API Gateway's requestContext.http.sourceIp).
	SourceIP string
	// UserAgent is the call's User-Agent header.
	UserAgent string
}

// Enricher enriches events. It is safe for concurrent use when its UserAgents is.
type Enricher struct {
	agents UserAgents
}

// New returns an Enricher that reads user agents with agents.
func New(agents UserAgents) *Enricher { return &Enricher{agents: agents} }

// headlessMarkers are user agent fragments of headless and scripted browsers (lower case).
var headlessMarkers = []string{"headless", "phantomjs", "slimerjs", "selenium", "webdriver"}

// Events enriches the events of one call in place. Where the address and the user agent come
// from depends on the source:
//
//   - a browser source (not trusted): the call's own address and User-Agent header, which the
//     browser sets; context.ip and context.userAgent claimed by the sender are not believed (but
//     context.userAgent stands in for a missing header, which is flagged).
//   - a trusted (server-side) source: the call comes from the site's back end, so its address and
//     user agent say nothing about the visitor; context.ip and context.userAgent relayed by the
//     back end are used instead.
func (en *Enricher) Events(evs []beacon.Event, r Request) {
	seen := map[string]Agent{}
	parse := func(ua string) Agent {
		a, ok := seen[ua]
		if !ok {
			a = en.agents.Parse(ua)
			seen[ua] = a
		}
		return a
	}
	for i := range evs {
		en.event(&evs[i], r, parse)
	}
}

func (en *Enricher) event(e *beacon.Event, r Request, parse func(string) Agent) {
	var ctx contextView
	if c := bytes.TrimSpace(e.Context); len(c) > 0 && c[0] == '{' {
		_ = json.Unmarshal(c, &ctx) // fields of the wrong type stay empty
	}
	pageURL, referrer := text(ctx.Page.URL), text(ctx.Page.Referrer)
	if e.Type == beacon.Page && (pageURL == "" || referrer == "") {
		var props pageView
		if p := bytes.TrimSpace(e.Properties); len(p) > 0 && p[0] == '{' {
			_ = json.Unmarshal(p, &props)
		}
		if pageURL == "" {
			pageURL = text(props.URL)
		}
		if referrer == "" {
			referrer = text(props.Referrer)
		}
	}
	out := &beacon.Enrichment{}

	ua, missing := r.UserAgent, false
	if r.Source.Trusted {
		ua = text(ctx.UserAgent)
		out.IP = TruncateIP(text(ctx.IP))
	} else {
		out.IP = TruncateIP(r.SourceIP)
		if strings.TrimSpace(ua) == "" {
			ua, missing = text(ctx.UserAgent), true
		}
	}
	var agent Agent
	if strings.TrimSpace(ua) != "" {
		agent = parse(ua)
		d := agent.Device
		out.Device = &d
	}
	switch {
	case headless(strings.ToLower(ua)):
		out.Bot = beacon.Bot{IsBot: true, Reason: beacon.BotHeadless}
	case agent.Bot:
		out.Bot = beacon.Bot{IsBot: true, Reason: beacon.BotUserAgent}
	case missing:
		out.Bot = beacon.Bot{IsBot: true, Reason: beacon.BotMissingUserAgent}
	}
	if out.Bot.IsBot && out.Device != nil {
		out.Device.Class = beacon.DeviceBot
	}

	out.Campaign = Campaign(pageURL, stringFields(ctx.Campaign))
	out.Referrer = ReferrerHost(referrer)
	if pageURL != "" || referrer != "" || out.Campaign != nil {
		out.Channel = Channel(out.Campaign, referrer, pageURL)
	}
	out.LinkerID = LinkerID(pageURL, e.ReceivedAt)
	e.Enrichment = out

	scrub(e, ctx, r.Source)
}

func headless(lowerUA string) bool {
	for _, m := range headlessMarkers {
		if strings.Contains(lowerUA, m) {
			return true
		}
	}
	return false
}

// contextView is the part of an event's context that enrichment reads.
type contextView struct {
	IP        json.RawMessage `json:"ip"`
	UserAgent json.RawMessage `json:"userAgent"`
	Page      pageView        `json:"page"`
	Campaign  json.RawMessage `json:"campaign"`
	Traits    json.RawMessage `json:"traits"`
}

// pageView is the page a browser event was sent from (context.page, or a page call's properties).
type pageView struct {
	URL      json.RawMessage `json:"url"`
	Referrer json.RawMessage `json:"referrer"`
}

// scrub hashes the emails and phones of traits and context.traits into e.Hashed, removes the raw
// values unless the source keeps them, and truncates a full IP address in context.ip (or removes
// it when it is not an address). The context is decoded in full and written again only when
// something in it must change.
func scrub(e *beacon.Event, view contextView, src source.Source) {
	hashed := map[string]string{}
	if mayHoldPII(e.Traits) {
		if traits, changed := scrubTraits(object(e.Traits), hashed, src); changed {
			e.Traits = encodeObject(traits)
		}
	}
	if view.IP == nil && !mayHoldPII(view.Traits) {
		if len(hashed) > 0 {
			e.Hashed = hashed
		}
		return
	}
	ctx := object(e.Context)
	ctxChanged := false
	if ct, changed := scrubTraits(object(ctx["traits"]), hashed, src); changed {
		ctx["traits"], ctxChanged = encodeObject(ct), true
	}
	var ips []string // "ip" in any case: the view read it too
	for k := range ctx {
		if strings.EqualFold(k, "ip") {
			ips = append(ips, k)
		}
	}
	for _, k := range ips {
		raw := ctx[k]
		delete(ctx, k)
		if ip := TruncateIP(text(raw)); ip != "" {
			ctx["ip"] = encode(ip)
		}
		ctxChanged = ctxChanged || k != "ip" || !bytes.Equal(ctx["ip"], raw)
	}
	if ctxChanged {
		e.Context = encodeObject(ctx)
	}
	if len(hashed) > 0 {
		e.Hashed = hashed
	}
}

// mayHoldPII tells cheaply whether a traits object may have an email or phone field: it has one
// of the names, or an escape that could spell one.
func mayHoldPII(traits json.RawMessage) bool {
	return bytes.Contains(traits, []byte(`"email"`)) || bytes.Contains(traits, []byte(`"phone"`)) ||
		bytes.Contains(traits, []byte(`\u`))
}

// scrubTraits hashes traits' email and phone into hashed (keeping hashes already there) and,
// unless src keeps raw personal data, removes them. It tells whether traits changed.
func scrubTraits(traits map[string]json.RawMessage, hashed map[string]string, src source.Source) (map[string]json.RawMessage, bool) {
	changed := false
	for _, f := range []struct {
		name string
		hash func(string) map[string]string
	}{
		{"email", pii.HashEmail},
		{"phone", func(v string) map[string]string { return pii.HashPhone(v, src.PhoneCountryCode) }},
	} {
		raw, ok := traits[f.name]
		if !ok {
			continue
		}
		for k, v := range f.hash(scalar(raw)) {
			if _, done := hashed[k]; !done {
				hashed[k] = v
			}
		}
		if !src.KeepRawPII {
			delete(traits, f.name)
			changed = true
		}
	}
	return traits, changed
}

// object decodes a JSON object into its fields; nil when raw is not an object.
func object(raw json.RawMessage) map[string]json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) != nil {
		return nil
	}
	return o
}

// text decodes a JSON string; "" for anything else.
func text(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return ""
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]) // nothing escaped: the literal is the string
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// scalar decodes a JSON string, or gives a number's literal (a phone sent as a number).
func scalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return string(raw)
	}
	return text(raw)
}

// stringFields decodes the string fields of a JSON object (context.campaign).
func stringFields(raw json.RawMessage) map[string]string {
	o := object(raw)
	if len(o) == 0 {
		return nil
	}
	out := make(map[string]string, len(o))
	for k, v := range o {
		if s := text(v); s != "" {
			out[strings.ToLower(k)] = s
		}
	}
	return out
}

// encode marshals a string.
func encode(s string) json.RawMessage {
	b, _ := json.Marshal(s) // strings always encode
	return b
}

// encodeObject writes the fields of an object decoded by object, keys in order. The values are
// written as they are: they were valid JSON when decoded, which is cheaper than json.Marshal
// checking and compacting each of them again.
func encodeObject(o map[string]json.RawMessage) json.RawMessage {
	keys := make([]string, 0, len(o))
	size := 2
	for k, v := range o {
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, encode(k)...)
		b = append(b, ':')
		b = append(b, o[k]...)
	}
	return append(b, '}')
}
