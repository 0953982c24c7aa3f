package enrich

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// maxTagBytes bounds every campaign value taken from a URL, so that a long query cannot bloat the
// event.
const maxTagBytes = 256

// clickID is an ad platform's click id parameter and what auto-tagging reports for a click that
// carries it when the URL has no UTM source or medium of its own.
type clickID struct {
	param          string
	source, medium string
}

// clickIDs in order of precedence: when a URL carries several, the first one listed wins. fbclid
// has no medium: Facebook adds it to organic links as well as to ads, so it alone does not make a
// visit paid.
var clickIDs = []clickID{
	{"gclid", "google", "cpc"},
	{"gbraid", "google", "cpc"},
	{"wbraid", "google", "cpc"},
	{"dclid", "google", "display"},
	{"msclkid", "bing", "cpc"},
	{"yclid", "yandex", "cpc"},
	{"ttclid", "tiktok", "cpc"},
	{"li_fat_id", "linkedin", "cpc"},
	{"twclid", "twitter", "cpc"},
	{"epik", "pinterest", "cpc"},
	{"rdt_cid", "reddit", "cpc"},
	{"sccid", "snapchat", "cpc"},
	{"fbclid", "facebook", ""},
}

// utm maps the UTM parameters to the campaign fields they fill (and, in a context.campaign object
// as analytics.js sends it, the field names used there).
var utm = []struct {
	param, contextKey string
	field             func(*beacon.Campaign) *string
}{
	{"utm_source", "source", func(c *beacon.Campaign) *string { return &c.Source }},
	{"utm_medium", "medium", func(c *beacon.Campaign) *string { return &c.Medium }},
	{"utm_campaign", "name", func(c *beacon.Campaign) *string { return &c.Name }},
	{"utm_term", "term", func(c *beacon.Campaign) *string { return &c.Term }},
	{"utm_content", "content", func(c *beacon.Campaign) *string { return &c.Content }},
	{"utm_id", "id", func(c *beacon.Campaign) *string { return &c.ID }},
}

// Campaign reads the marketing tags of a landing page: the UTM parameters and ad click ids of
// pageURL's query, completed by fields the sender already parsed (context.campaign: "source",
// "medium", "name", "term", "content", "id" and click id parameters by name). The URL wins where
// both have a value. Parameter names are matched without regard to case.
//
// A click id without a UTM source or medium fills them in as the ad platform's auto-tagging
// reports them (gclid → google / cpc, msclkid → bing / cpc, dclid → google / display, fbclid →
// facebook, …). Nil when there are no tags at all. Malformed URLs yield what can be read of
// their query.
func Campaign(pageURL string, fromContext map[string]string) *beacon.Campaign {
	return campaign(query(pageURL), fromContext)
}

// campaign is Campaign from the parameters of the page URL's query (query).
func campaign(q map[string]string, fromContext map[string]string) *beacon.Campaign {
	var c beacon.Campaign
	for _, u := range utm {
		v := q[u.param]
		if v == "" {
			v = fromContext[u.contextKey]
		}
		*u.field(&c) = tag(v)
	}
	for _, id := range clickIDs {
		v := q[id.param]
		if v == "" {
			v = fromContext[id.param]
		}
		if v = tag(v); v == "" {
			continue
		}
		c.ClickID, c.ClickIDType = v, id.param
		if c.Source == "" {
			c.Source = id.source
		}
		if c.Medium == "" {
			c.Medium = id.medium
		}
		break
	}
	if c == (beacon.Campaign{}) {
		return nil
	}
	return &c
}

// query returns the first value of each parameter of a URL's query, names lower-cased. A URL that
// does not parse still gives the parameters after its "?".
func query(raw string) map[string]string {
	_, rest, ok := strings.Cut(raw, "?")
	if !ok {
		return nil
	}
	rest, _, _ = strings.Cut(rest, "#")
	out := map[string]string{}
	for rest != "" {
		var kv string
		kv, rest, _ = strings.Cut(rest, "&")
		k, v, _ := strings.Cut(kv, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			continue
		}
		k = strings.ToLower(k)
		if _, seen := out[k]; seen || k == "" {
			continue
		}
		if v, err = url.QueryUnescape(v); err != nil {
			continue
		}
		out[k] = v
	}
	return out
}

// tag trims a campaign value, makes it valid UTF-8 and bounds its length.
func tag(v string) string {
	v = strings.ToValidUTF8(strings.TrimSpace(v), "")
	if len(v) <= maxTagBytes {
		return v
	}
	v = v[:maxTagBytes]
	for !utf8.ValidString(v) {
		v = v[:len(v)-1]
	}
	return v
}
