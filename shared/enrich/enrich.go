// Package enrich works out at the collection endpoint what a call says about its events beyond
// what the sender states, and records it on each event (beacon.Enrichment): the truncated IP
// address, the browser and device, whether a bot sent it, the campaign and referrer of the page,
// the marketing channel (GA4's default channel group, see Channel) and the identity hint of a
// cross-domain link (see LinkerID). It also takes personal data out of the event: emails and
// phones of the person in traits, context.traits and context.externalIds are hashed (package pii)
// and the raw values removed, every other piece of personal data in traits, context and
// properties is hashed or redacted where it is, unless the source keeps them (see scrub), and a
// full IP address in the context is truncated.
//
// Enrichment never refuses an event: what cannot be read is left out.
package enrich

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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
//
// The events' traits, context, properties and integrations must be valid JSON (or empty), as
// beacon's Payload.Split gives them: they are not checked again.
func (en *Enricher) Events(evs []beacon.Event, r Request) {
	c := &call{en: en, src: r.Source}
	for i := range evs {
		c.event(&evs[i], r)
	}
}

// call is what the events of one call share: they mostly come from one browser and a few pages,
// so the same user agent, the same page and, in every event's context.traits, the same email are
// read once per call. Each memo is keyed by everything its answer depends on.
type call struct {
	en     *Enricher
	src    source.Source
	agents map[string]agentVerdict
	pages  map[string]pageEnrichment
	key    []byte // pages' key, built in place
	hashes map[hashInput]map[string]string
	ip     *string // the call's own address, truncated
}

// agentVerdict is what a user agent says (known: it is not blank, so there is a device).
type agentVerdict struct {
	Agent
	known, headless bool
}

// pageEnrichment is what the page an event was sent from says about the visit.
type pageEnrichment struct {
	campaign                    *beacon.Campaign
	referrer, channel, linkerID string
}

// hashInput is a personal value to hash (pii.HashEmail, pii.HashPhone).
type hashInput struct {
	kind  pii.Kind
	value string
}

func (c *call) parse(ua string) agentVerdict {
	a, ok := c.agents[ua]
	if !ok {
		if c.agents == nil {
			c.agents = map[string]agentVerdict{}
		}
		if strings.TrimSpace(ua) != "" {
			a = agentVerdict{Agent: c.en.agents.Parse(ua), known: true}
		}
		a.headless = headless(strings.ToLower(ua))
		c.agents[ua] = a
	}
	return a
}

// sourceIP is TruncateIP of the call's address.
func (c *call) sourceIP(ip string) string {
	if c.ip == nil {
		t := TruncateIP(ip)
		c.ip = &t
	}
	return *c.ip
}

// page reads the campaign, referrer, channel and linker of a page (its URL, its referrer and the
// context's campaign object as sent) for an event received at t.
func (c *call) page(pageURL, referrer string, ctxCampaign []byte, t time.Time) pageEnrichment {
	c.key = binary.AppendUvarint(c.key[:0], uint64(len(pageURL)))
	c.key = append(c.key, pageURL...)
	c.key = binary.AppendUvarint(c.key, uint64(len(referrer)))
	c.key = append(c.key, referrer...)
	c.key = binary.AppendVarint(c.key, t.Unix()) // the linker expires
	c.key = binary.AppendUvarint(c.key, uint64(t.Nanosecond()))
	c.key = append(c.key, ctxCampaign...) // last: its length is what is left
	if p, ok := c.pages[string(c.key)]; ok {
		return p
	}
	q := query(pageURL)
	p := pageEnrichment{campaign: campaign(q, stringFields(ctxCampaign)), referrer: ReferrerHost(referrer)}
	if pageURL != "" || referrer != "" || p.campaign != nil {
		p.channel = Channel(p.campaign, referrer, pageURL)
	}
	p.linkerID = linkerID(q, t)
	if c.pages == nil {
		c.pages = map[string]pageEnrichment{}
	}
	c.pages[string(c.key)] = p
	return p
}

// hash is pii.HashEmail or pii.HashPhone (with the source's country code) of v, computed once per
// call. The map returned is shared: it is read, never changed.
func (c *call) hash(k pii.Kind, v string) map[string]string {
	in := hashInput{k, v}
	if h, ok := c.hashes[in]; ok {
		return h
	}
	var h map[string]string
	switch k {
	case pii.Email:
		h = pii.HashEmail(v)
	case pii.Phone:
		h = pii.HashPhone(v, c.src.PhoneCountryCode)
	}
	if c.hashes == nil {
		c.hashes = map[hashInput]map[string]string{}
	}
	c.hashes[in] = h
	return h
}

func (c *call) event(e *beacon.Event, r Request) {
	// The context is read once: its members (none when it is not a valid object) give the view,
	// and scrub rewrites it from them when something in it must change.
	members, _ := beacon.MembersOfValid(e.Context)
	ctx := readContext(members)
	pageURL, referrer := text(ctx.Page.URL), text(ctx.Page.Referrer)
	if e.Type == beacon.Page && (pageURL == "" || referrer == "") {
		var props pageView
		if m, ok := beacon.MembersOfValid(e.Properties); ok {
			props.read(m)
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
		out.IP = c.sourceIP(r.SourceIP)
		if strings.TrimSpace(ua) == "" {
			ua, missing = text(ctx.UserAgent), true
		}
	}
	agent := c.parse(ua)
	if agent.known {
		d := agent.Device
		out.Device = &d
	}
	switch {
	case agent.headless:
		out.Bot = beacon.Bot{IsBot: true, Reason: beacon.BotHeadless}
	case agent.Bot:
		out.Bot = beacon.Bot{IsBot: true, Reason: beacon.BotUserAgent}
	case missing:
		out.Bot = beacon.Bot{IsBot: true, Reason: beacon.BotMissingUserAgent}
	}
	if out.Bot.IsBot && out.Device != nil {
		out.Device.Class = beacon.DeviceBot
	}

	page := c.page(pageURL, referrer, ctx.Campaign, e.ReceivedAt)
	if page.campaign != nil {
		cmp := *page.campaign // each event its own
		out.Campaign = &cmp
	}
	out.Referrer, out.Channel, out.LinkerID = page.referrer, page.channel, page.linkerID
	e.Enrichment = out

	c.scrub(e, ctx, members)
}

func headless(lowerUA string) bool {
	for _, m := range headlessMarkers {
		if strings.Contains(lowerUA, m) {
			return true
		}
	}
	return false
}

// contextView is the part of an event's context that enrichment reads, as encoding/json would
// decode the context into a struct with these fields: names match without regard to case, the
// last of a name wins, and a page sent twice adds up.
type contextView struct {
	IP        json.RawMessage // "ip"
	UserAgent json.RawMessage // "userAgent"
	Page      pageView        // "page"
	Campaign  json.RawMessage // "campaign"
	Traits    json.RawMessage // "traits"
	// ExternalPII tells whether any "externalIds" (the person's ids in other systems) may hold
	// an email or a phone number.
	ExternalPII bool
}

// readContext reads the view from the members of a context.
func readContext(members []beacon.Member) contextView {
	var v contextView
	for _, m := range members {
		switch {
		case strings.EqualFold(m.Name, "ip"):
			v.IP = m.Value
		case strings.EqualFold(m.Name, "userAgent"):
			v.UserAgent = m.Value
		case strings.EqualFold(m.Name, "page"):
			if page, ok := beacon.MembersOfValid(m.Value); ok {
				v.Page.read(page)
			}
		case strings.EqualFold(m.Name, "campaign"):
			v.Campaign = m.Value
		case strings.EqualFold(m.Name, "traits"):
			v.Traits = m.Value
		case strings.EqualFold(m.Name, "externalIds"):
			v.ExternalPII = v.ExternalPII || mayHoldPIIType(m.Value)
		}
	}
	return v
}

// pageView is the page a browser event was sent from (context.page, or a page call's properties).
type pageView struct {
	URL      json.RawMessage // "url"
	Referrer json.RawMessage // "referrer"
}

// read sets the view's fields from the members of an object (names match without regard to case,
// the last wins).
func (p *pageView) read(members []beacon.Member) {
	for _, m := range members {
		switch {
		case strings.EqualFold(m.Name, "url"):
			p.URL = m.Value
		case strings.EqualFold(m.Name, "referrer"):
			p.Referrer = m.Value
		}
	}
}

// scrub takes the personal data out of an event (see package pii for the rules):
//
//   - the person's own email and phone (pii.Identity: "email", "Email", "email_address", "phone",
//     "phoneNumber" … at the top of traits or context.traits) and the ids of type "email" and
//     "phone" of context.externalIds are hashed into e.Hashed, by which stitch joins profiles, and
//     removed; of two hashes under one key, the first found wins: traits, then context.traits,
//     then external ids, and within traits the name "email" (or "phone") exactly before others;
//   - then every other email address in traits, context, properties and integrations, at any
//     depth and under any name, is replaced where it is by its hash, and phones, names, postal
//     addresses and the like by "[redacted]" (beacon.Event.Redact);
//   - a full IP address in context.ip is truncated (or removed when it is not an address).
//
// A source that keeps raw personal data (source.KeepRawPII) gets the hashes and the truncated IP
// address, and everything else as sent; the event says so (RawPII), so that stitch does not
// redact it again. The context (members, as read for view) is written again only when something
// in it must change.
func (c *call) scrub(e *beacon.Event, view contextView, members []beacon.Member) {
	src := c.src
	hashed := map[string]string{}
	defer func() {
		if len(hashed) > 0 {
			e.Hashed = hashed
		}
		e.RawPII = src.KeepRawPII
		e.RedactValid()
	}()
	if mayHoldPII(e.Traits) {
		if traits, changed := c.scrubTraits(object(e.Traits), hashed); changed {
			e.Traits = traits.encode()
		}
	}
	if view.IP == nil && !mayHoldPII(view.Traits) && !view.ExternalPII {
		return
	}
	ctx := newFields(members)
	ctxChanged := false
	var traits, ips, exts []string // "traits", "ip" and "externalIds" in any case: the view read them too
	for _, m := range ctx {
		switch {
		case strings.EqualFold(m.Name, "traits"):
			traits = append(traits, m.Name)
		case strings.EqualFold(m.Name, "ip"):
			ips = append(ips, m.Name)
		case strings.EqualFold(m.Name, "externalIds"):
			exts = append(exts, m.Name)
		}
	}
	for _, k := range traits {
		raw, _ := ctx.get(k)
		if ct, changed := c.scrubTraits(object(raw), hashed); changed {
			ctx.set(k, ct.encode())
			ctxChanged = true
		}
	}
	for _, k := range exts {
		raw, _ := ctx.get(k)
		if !mayHoldPIIType(raw) {
			continue
		}
		if ids, changed := c.scrubExternalIDs(raw, hashed); changed {
			ctx.set(k, ids)
			ctxChanged = true
		}
	}
	for _, k := range ips {
		raw, _ := ctx.get(k)
		ctx.del(k)
		if ip := TruncateIP(text(raw)); ip != "" {
			ctx.set("ip", encode(ip))
		}
		now, _ := ctx.get("ip")
		ctxChanged = ctxChanged || k != "ip" || !bytes.Equal(now, raw)
	}
	if ctxChanged {
		e.Context = ctx.encode()
	}
}

// mayHoldPII tells cheaply whether a traits object may have the person's email or phone: it
// spells "mail" or "phone" in any case, or has an escape or a non-ASCII letter that could.
func mayHoldPII(traits json.RawMessage) bool {
	if bytes.Contains(traits, []byte(`\u`)) || slices.ContainsFunc(traits, func(c byte) bool { return c >= utf8.RuneSelf }) {
		return true
	}
	lower := bytes.ToLower(traits)
	return bytes.Contains(lower, []byte("mail")) || bytes.Contains(lower, []byte("phone"))
}

// mayHoldPIIType tells cheaply whether a list of external ids may have one of type email or
// phone (types match in any case, with space around them): it spells one of the words in any
// case, or has an escape that could.
func mayHoldPIIType(ids json.RawMessage) bool {
	if bytes.Contains(ids, []byte(`\u`)) {
		return true
	}
	lower := bytes.ToLower(ids)
	return bytes.Contains(lower, []byte("email")) || bytes.Contains(lower, []byte("phone"))
}

// scrubTraits hashes the person's email and phone among traits' members (pii.Identity) into
// hashed (keeping hashes already there; "email" and "phone" exactly first, then the other names
// in order) and, unless src keeps raw personal data, removes them. It tells whether traits changed.
func (c *call) scrubTraits(traits fields, hashed map[string]string) (fields, bool) {
	var names []string
	for _, m := range traits {
		if k := pii.Identity(m.Name); k != pii.NotPersonal {
			names = append(names, m.Name)
		}
	}
	slices.SortStableFunc(names, func(a, b string) int { // the exact names first, then in order
		return cmpBool(a != "email" && a != "phone", b != "email" && b != "phone")
	})
	for _, name := range names {
		raw, _ := traits.get(name)
		for k, v := range c.hash(pii.Identity(name), scalar(raw)) {
			if _, done := hashed[k]; !done {
				hashed[k] = v
			}
		}
	}
	if c.src.KeepRawPII || len(names) == 0 {
		return traits, false
	}
	for _, name := range names {
		traits.del(name)
	}
	return traits, true
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// scrubExternalIDs hashes the ids of type "email" and "phone" of a person (collection "users",
// or none) in context.externalIds into hashed (keeping hashes already there) and, unless src
// keeps raw personal data, removes every element of those types, and any element that cannot be
// read but may hold one. It tells whether the list changed.
func (c *call) scrubExternalIDs(raw json.RawMessage, hashed map[string]string) (json.RawMessage, bool) {
	list, ok := beacon.Elements(raw)
	if !ok {
		return raw, false
	}
	kept := make([]json.RawMessage, 0, len(list))
	for _, el := range list {
		x, err := beacon.ReadExternalID(el)
		typ := strings.ToLower(strings.TrimSpace(x.Type))
		switch {
		case err != nil && mayHoldPIIType(el):
		case err != nil, typ != "email" && typ != "phone":
			kept = append(kept, el)
			continue
		default:
			var hashes map[string]string
			if coll := strings.TrimSpace(x.Collection); coll == "" || strings.EqualFold(coll, "users") {
				if typ == "email" {
					hashes = c.hash(pii.Email, x.ID)
				} else {
					hashes = c.hash(pii.Phone, x.ID)
				}
			}
			for k, v := range hashes {
				if _, done := hashed[k]; !done {
					hashed[k] = v
				}
			}
		}
		if c.src.KeepRawPII {
			kept = append(kept, el)
		}
	}
	if len(kept) == len(list) {
		return raw, false
	}
	b := []byte{'['}
	for i, el := range kept {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, el...)
	}
	return append(b, ']'), true
}

// fields are the members of a JSON object as encoding/json decodes it into a map: one per name,
// the last one sent. They are kept sorted by name, the order in which they are written again.
type fields []beacon.Member

// newFields makes the fields of an object from its members as sent (members is reordered).
func newFields(members []beacon.Member) fields {
	slices.SortStableFunc(members, func(a, b beacon.Member) int { return strings.Compare(a.Name, b.Name) })
	out := members[:0]
	for i, m := range members {
		if i+1 < len(members) && members[i+1].Name == m.Name {
			continue // a later one of the same name wins
		}
		out = append(out, m)
	}
	return fields(out)
}

func (f fields) find(name string) (int, bool) {
	return slices.BinarySearchFunc(f, name, func(m beacon.Member, name string) int { return strings.Compare(m.Name, name) })
}

func (f fields) get(name string) (json.RawMessage, bool) {
	if i, ok := f.find(name); ok {
		return f[i].Value, true
	}
	return nil, false
}

func (f *fields) set(name string, value json.RawMessage) {
	i, ok := f.find(name)
	if ok {
		(*f)[i].Value = value
		return
	}
	*f = slices.Insert(*f, i, beacon.Member{Name: name, Value: value})
}

func (f *fields) del(name string) {
	if i, ok := f.find(name); ok {
		*f = slices.Delete(*f, i, i+1)
	}
}

// object decodes a JSON object into its fields; nil when raw is not an object.
func object(raw json.RawMessage) fields {
	members, ok := beacon.MembersOfValid(raw)
	if !ok {
		return nil
	}
	return newFields(members)
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
	for _, m := range o {
		if s := text(m.Value); s != "" {
			out[strings.ToLower(m.Name)] = s
		}
	}
	return out
}

// encode marshals a string.
func encode(s string) json.RawMessage {
	b, _ := json.Marshal(s) // strings always encode
	return b
}

// encode writes the fields as a JSON object, in order. The values are written as they are: they
// were valid JSON when read, which is cheaper than json.Marshal checking and compacting each of
// them again.
func (f fields) encode() json.RawMessage {
	size := 2
	for _, m := range f {
		size += len(m.Name) + len(m.Value) + 4
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, m := range f {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, m.Name)
		b = append(b, ':')
		b = append(b, m.Value...)
	}
	return append(b, '}')
}

// appendKey appends a member name as json.Marshal writes it.
func appendKey(b []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return append(b, encode(k)...)
		}
	}
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"')
}
