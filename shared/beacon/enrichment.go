package beacon

// Enrichment is what the collection endpoint adds to an event from the request and the event's
// own context, so that every later stage reads the same answers. It never holds the sender's full
// IP address or raw personal data: the address is truncated, emails and phones travel only as
// hashes (Event.Hashed).
//
// The JSON shape on the stream:
//
//	"enrichment": {
//	  "ip": "203.0.113.0",
//	  "device": {"browser": "Chrome", "browserVersion": "122.0.0.0", "os": "Windows", "osVersion": "10", "class": "desktop"},
//	  "bot": {"isBot": false},
//	  "campaign": {"source": "google", "medium": "cpc", "name": "spring", "term": "red shoes", "content": "ad-1",
//	               "id": "cmp-7", "clickId": "EAIaIQ", "clickIdType": "gclid"},
//	  "referrer": "www.google.com",
//	  "channel": "paid search",
//	  "linkerId": "6f1c3a52-7d0e-4b8e-9a51-2f6a7c0d9e11"
//	}
type Enrichment struct {
	// IP is the sender's address truncated to its network: an IPv4 /24 (last octet 0) or an IPv6
	// /48. Empty when the address is unknown or not an IP address.
	IP string `json:"ip,omitempty"`
	// Device is what the user agent says about the browser and the device; nil without one.
	Device *Device `json:"device,omitempty"`
	// Bot says whether the event looks automated. Such events are flagged, never dropped.
	Bot Bot `json:"bot"`
	// Campaign holds the marketing tags of the page URL (UTM parameters, ad click ids); nil when
	// it has none.
	Campaign *Campaign `json:"campaign,omitempty"`
	// Referrer is the host of the page that linked to this one ("" when there was none).
	Referrer string `json:"referrer,omitempty"`
	// Channel is the marketing channel of the visit, one of the Channel… values.
	Channel string `json:"channel,omitempty"`
	// LinkerID is the anonymous id another domain of the same site handed over in a cross-domain
	// link, still valid when the event was received: a hint that both ids are one visitor, which
	// the identity graph takes as a claimed anonymousId (see package identity).
	LinkerID string `json:"linkerId,omitempty"`
}

// Device is a browser and the device it runs on, as its user agent describes them.
type Device struct {
	Browser        string `json:"browser,omitempty"`
	BrowserVersion string `json:"browserVersion,omitempty"`
	OS             string `json:"os,omitempty"`
	OSVersion      string `json:"osVersion,omitempty"`
	// Class is one of the Device… classes.
	Class string `json:"class"`
}

// Device classes.
const (
	DeviceDesktop = "desktop"
	DeviceMobile  = "mobile"
	DeviceTablet  = "tablet"
	DeviceBot     = "bot"
	DeviceOther   = "other"
)

// Bot is the verdict on whether an event was sent by a program rather than a person.
type Bot struct {
	IsBot bool `json:"isBot"`
	// Reason names the rule that matched: BotUserAgent for a known crawler or tool, or one of the
	// behaviour rules (BotMissingUserAgent, BotHeadless).
	Reason string `json:"reason,omitempty"`
}

// Reasons for flagging an event as sent by a bot.
const (
	// BotUserAgent: the user agent is a known crawler, monitor, library or command-line tool.
	BotUserAgent = "user-agent"
	// BotMissingUserAgent: a browser source's request came without a User-Agent header, which
	// no browser does.
	BotMissingUserAgent = "missing-user-agent"
	// BotHeadless: the user agent says it is a headless or scripted browser.
	BotHeadless = "headless"
)

// Campaign is the marketing tags of a landing page: UTM parameters and ad click ids.
type Campaign struct {
	Source  string `json:"source,omitempty"`  // utm_source
	Medium  string `json:"medium,omitempty"`  // utm_medium
	Name    string `json:"name,omitempty"`    // utm_campaign
	Term    string `json:"term,omitempty"`    // utm_term
	Content string `json:"content,omitempty"` // utm_content
	ID      string `json:"id,omitempty"`      // utm_id
	// ClickID is an ad platform's click id and ClickIDType the parameter that carried it
	// (gclid, gbraid, wbraid, dclid, fbclid, msclkid, ttclid, li_fat_id, twclid, …).
	ClickID     string `json:"clickId,omitempty"`
	ClickIDType string `json:"clickIdType,omitempty"`
}

// Marketing channels, modelled on GA4's default channel group (see package enrich).
const (
	ChannelDirect          = "direct"
	ChannelCrossNetwork    = "cross-network"
	ChannelPaidShopping    = "paid shopping"
	ChannelPaidSearch      = "paid search"
	ChannelPaidSocial      = "paid social"
	ChannelPaidVideo       = "paid video"
	ChannelDisplay         = "display"
	ChannelPaidOther       = "paid other"
	ChannelOrganicShopping = "organic shopping"
	ChannelOrganicSocial   = "organic social"
	ChannelOrganicVideo    = "organic video"
	ChannelOrganicSearch   = "organic search"
	ChannelReferral        = "referral"
	ChannelEmail           = "email"
	ChannelAffiliate       = "affiliate"
	ChannelAudio           = "audio"
	ChannelSMS             = "sms"
	ChannelPush            = "mobile push notifications"
	// Channels of contacts that no web page reports: imported from call centres and mail houses.
	ChannelPhone      = "phone"
	ChannelMail       = "mail"
	ChannelChat       = "chat"
	ChannelInPerson   = "in person"
	ChannelUnassigned = "unassigned"
)
