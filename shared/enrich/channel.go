package enrich

import (
	"net/url"
	"strings"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// Channel classifies a visit into a marketing channel with the rules of Google Analytics 4's
// default channel group for manually tagged traffic (Google Analytics Help, "[GA4] Default channel
// group", support.google.com/analytics/answer/9756891). Source, medium and campaign name come
// from the campaign when it has any of them; otherwise from the referrer: a search engine gives
// source = engine, medium = "organic"; another site gives source = its host, medium = "referral";
// no referrer (or one from the page's own site) gives source = "(direct)", medium = "(none)". The
// rules are tried in order, the first that matches wins, and comparisons ignore case:
//
//	| #  | channel                   | rule                                                                                     |
//	|----|---------------------------|------------------------------------------------------------------------------------------|
//	| 1  | direct                    | source is "(direct)" AND medium is "(not set)" or "(none)"                               |
//	| 2  | cross-network             | campaign name contains "cross-network"                                                   |
//	| 3  | paid shopping             | (source is a shopping site OR campaign name matches ^(.*(([^a-df-z]|^)shop|shopping).*)$) |
//	|    |                           | AND medium matches ^(.*cp.*|ppc|retargeting|paid.*)$                                     |
//	| 4  | paid search               | source is a search site AND medium matches ^(.*cp.*|ppc|retargeting|paid.*)$             |
//	| 5  | paid social               | source is a social site AND medium matches ^(.*cp.*|ppc|retargeting|paid.*)$             |
//	| 6  | paid video                | source is a video site AND medium matches ^(.*cp.*|ppc|retargeting|paid.*)$              |
//	| 7  | display                   | medium is one of display, banner, expandable, interstitial, cpm                          |
//	| 8  | paid other                | medium matches ^(.*cp.*|ppc|retargeting|paid.*)$                                         |
//	| 9  | organic shopping          | source is a shopping site OR campaign name matches the shopping pattern of rule 3        |
//	| 10 | organic social            | source is a social site OR medium is one of social, social-network, social-media, sm,    |
//	|    |                           | social network, social media                                                             |
//	| 11 | organic video             | source is a video site OR medium matches ^(.*video.*)$                                   |
//	| 12 | organic search            | source is a search site OR medium is organic                                             |
//	| 13 | referral                  | medium is one of referral, app, link                                                     |
//	| 14 | email                     | source or medium is one of email, e-mail, e_mail, e mail                                 |
//	| 15 | affiliate                 | medium is affiliate (or affiliates)                                                      |
//	| 16 | audio                     | medium is audio                                                                          |
//	| 17 | sms                       | source is sms OR medium is sms                                                           |
//	| 18 | mobile push notifications | medium ends with "push" OR contains "mobile" or "notification" OR source is firebase      |
//	| 19 | unassigned                | nothing above matched                                                                    |
//
// GA4 keeps its lists of search, social, video and shopping sites internal; ours are below
// (siteCategories) and match a source given as a name ("google", "fb") or as a host
// ("www.google.co.uk", "l.facebook.com"). Where GA4 uses Google Ads data (ad network type) we
// use the click id instead: a gclid without UTM tags is google / cpc, i.e. paid search (see
// Campaign). Two additions of ours for referrers: a webmail host (mail.google.com,
// outlook.live.com, …) or mail app gives medium "email"; an Android app referrer
// (android-app://<package>) is mapped through a short list of known apps.
func Channel(c *beacon.Campaign, referrer, pageURL string) string {
	source, medium, name := sourceMedium(c, referrer, pageURL)
	return channelOf(strings.ToLower(source), strings.ToLower(medium), strings.ToLower(name))
}

// sourceMedium returns the session's source, medium and campaign name the way GA4 derives them.
func sourceMedium(c *beacon.Campaign, referrer, pageURL string) (source, medium, name string) {
	if c != nil && (c.Source != "" || c.Medium != "" || c.Name != "") {
		source, medium, name = c.Source, c.Medium, c.Name
		if source == "" {
			source = "(not set)"
		}
		if medium == "" {
			medium = "(not set)"
		}
		return source, medium, name
	}
	ref := refererHost(referrer)
	if ref == "" || sameSite(ref, hostOf(pageURL)) {
		return "(direct)", "(none)", ""
	}
	switch category(ref) {
	case categoryEmail:
		return ref, "email", ""
	case categorySearch:
		return siteName(ref), "organic", ""
	default:
		return ref, "referral", ""
	}
}

func channelOf(source, medium, name string) string {
	paid := paidMedium(medium)
	shop := shoppingCampaign(name)
	cat := category(source)
	switch {
	case (source == "(direct)" || source == "direct") && (medium == "(not set)" || medium == "(none)"):
		return beacon.ChannelDirect
	case strings.Contains(name, "cross-network"):
		return beacon.ChannelCrossNetwork
	case (cat == categoryShopping || shop) && paid:
		return beacon.ChannelPaidShopping
	case cat == categorySearch && paid:
		return beacon.ChannelPaidSearch
	case cat == categorySocial && paid:
		return beacon.ChannelPaidSocial
	case cat == categoryVideo && paid:
		return beacon.ChannelPaidVideo
	case oneOf(medium, "display", "banner", "expandable", "interstitial", "cpm"):
		return beacon.ChannelDisplay
	case paid:
		return beacon.ChannelPaidOther
	case cat == categoryShopping || shop:
		return beacon.ChannelOrganicShopping
	case cat == categorySocial || oneOf(medium, "social", "social-network", "social-media", "sm", "social network", "social media"):
		return beacon.ChannelOrganicSocial
	case cat == categoryVideo || strings.Contains(medium, "video"):
		return beacon.ChannelOrganicVideo
	case cat == categorySearch || medium == "organic":
		return beacon.ChannelOrganicSearch
	case oneOf(medium, "referral", "app", "link"):
		return beacon.ChannelReferral
	case oneOf(source, "email", "e-mail", "e_mail", "e mail") || oneOf(medium, "email", "e-mail", "e_mail", "e mail"):
		return beacon.ChannelEmail
	case medium == "affiliate" || medium == "affiliates":
		return beacon.ChannelAffiliate
	case medium == "audio":
		return beacon.ChannelAudio
	case source == "sms" || medium == "sms":
		return beacon.ChannelSMS
	case strings.HasSuffix(medium, "push") || strings.Contains(medium, "mobile") || strings.Contains(medium, "notification") || source == "firebase":
		return beacon.ChannelPush
	default:
		return beacon.ChannelUnassigned
	}
}

// paidMedium is GA4's ^(.*cp.*|ppc|retargeting|paid.*)$.
func paidMedium(m string) bool {
	return strings.Contains(m, "cp") || m == "ppc" || m == "retargeting" || strings.HasPrefix(m, "paid")
}

// shoppingCampaign is GA4's ^(.*(([^a-df-z]|^)shop|shopping).*)$ on the campaign name.
func shoppingCampaign(name string) bool {
	if strings.Contains(name, "shopping") {
		return true
	}
	for i := 0; ; {
		j := strings.Index(name[i:], "shop")
		if j < 0 {
			return false
		}
		at := i + j
		if at == 0 {
			return true
		}
		if b := name[at-1]; !(b >= 'a' && b <= 'd' || b >= 'f' && b <= 'z') {
			return true
		}
		i = at + 1
	}
}

func oneOf(s string, list ...string) bool {
	for _, l := range list {
		if s == l {
			return true
		}
	}
	return false
}

type siteCategory int

const (
	categoryNone siteCategory = iota
	categorySearch
	categorySocial
	categoryVideo
	categoryShopping
	categoryEmail
)

// siteCategories lists sites by name (the label before the public suffix: "google" for
// www.google.co.uk) or by full host where the name alone would be ambiguous.
var siteCategories = map[string]siteCategory{
	// search
	"google": categorySearch, "bing": categorySearch, "yahoo": categorySearch, "duckduckgo": categorySearch,
	"baidu": categorySearch, "yandex": categorySearch, "ecosia": categorySearch, "naver": categorySearch,
	"ask": categorySearch, "aol": categorySearch, "seznam": categorySearch, "qwant": categorySearch,
	"startpage": categorySearch, "sogou": categorySearch, "daum": categorySearch, "so.com": categorySearch,
	"search.brave.com": categorySearch, "yahoo.co.jp": categorySearch, "msn": categorySearch,
	// social
	"facebook": categorySocial, "fb": categorySocial, "fb.me": categorySocial, "instagram": categorySocial,
	"ig": categorySocial, "linkedin": categorySocial, "lnkd.in": categorySocial, "twitter": categorySocial,
	"t.co": categorySocial, "x.com": categorySocial, "pinterest": categorySocial, "pin.it": categorySocial,
	"reddit": categorySocial, "tiktok": categorySocial, "snapchat": categorySocial, "tumblr": categorySocial,
	"vk": categorySocial, "whatsapp": categorySocial, "t.me": categorySocial, "telegram": categorySocial,
	"quora": categorySocial, "threads": categorySocial, "threads.net": categorySocial, "mastodon": categorySocial,
	"discord": categorySocial, "weibo": categorySocial, "wechat": categorySocial, "line": categorySocial,
	"messenger": categorySocial, "xing": categorySocial, "meetup": categorySocial, "nextdoor": categorySocial,
	"bsky.app": categorySocial, "bluesky": categorySocial,
	// video
	"youtube": categoryVideo, "youtu.be": categoryVideo, "vimeo": categoryVideo, "twitch": categoryVideo,
	"dailymotion": categoryVideo, "wistia": categoryVideo, "netflix": categoryVideo,
	// shopping
	"amazon": categoryShopping, "ebay": categoryShopping, "etsy": categoryShopping, "walmart": categoryShopping,
	"aliexpress": categoryShopping, "alibaba": categoryShopping, "shopify": categoryShopping, "shop.app": categoryShopping,
	"mercadolibre": categoryShopping, "rakuten": categoryShopping, "target": categoryShopping, "zalando": categoryShopping,
	"temu": categoryShopping, "shein": categoryShopping, "shopping.google.com": categoryShopping,
	// webmail (an addition of ours; GA4 counts these as referrals)
	"mail.google.com": categoryEmail, "outlook.live.com": categoryEmail, "outlook.office.com": categoryEmail,
	"outlook.office365.com": categoryEmail, "mail.yahoo.com": categoryEmail, "mail.aol.com": categoryEmail,
	"webmail": categoryEmail,
}

// notSearch are hosts of search engines' companies that are not search results.
var notSearch = []string{"docs.", "drive.", "accounts.", "calendar.", "meet.", "play.", "sites.", "maps.", "news.", "ads."}

// androidApps maps the package names of Android app referrers to the site they stand for.
var androidApps = map[string]string{
	"com.google.android.googlequicksearchbox": "google",
	"com.google.android.gm":                   "mail.google.com",
	"com.facebook.katana":                     "facebook",
	"com.instagram.android":                   "instagram",
	"com.linkedin.android":                    "linkedin",
	"com.twitter.android":                     "twitter",
	"com.pinterest":                           "pinterest",
	"com.reddit.frontpage":                    "reddit",
	"com.zhiliaoapp.musically":                "tiktok",
	"com.google.android.youtube":              "youtube",
	"com.microsoft.office.outlook":            "outlook.live.com",
}

// category finds the category of a source given as a name or a host.
func category(source string) siteCategory {
	s := strings.TrimPrefix(strings.ToLower(source), "www.")
	if cat, ok := siteCategories[s]; ok {
		return cat
	}
	if strings.HasPrefix(s, "mail.") || strings.HasPrefix(s, "webmail.") {
		return categoryEmail
	}
	if !strings.Contains(s, ".") {
		return categoryNone
	}
	if strings.HasPrefix(s, "shopping.google.") {
		return categoryShopping
	}
	cat := siteCategories[siteName(s)]
	if cat == categorySearch {
		for _, p := range notSearch {
			if strings.HasPrefix(s, p) {
				return categoryNone
			}
		}
	}
	return cat
}

// siteName is the label of a host before its public suffix: "google" for www.google.co.uk and
// google.de. Without the public suffix list it assumes a suffix is a top-level domain, or a
// country's second-level domain (co.uk, com.au, …: up to three letters under a two-letter one).
func siteName(host string) string {
	labels := strings.Split(strings.Trim(host, "."), ".")
	n := len(labels)
	switch {
	case n == 1:
		return labels[0]
	case n >= 3 && len(labels[n-1]) == 2 && len(labels[n-2]) <= 3:
		return labels[n-3]
	default:
		return labels[n-2]
	}
}

// registrable is the host's site: its name and public suffix ("example.co.uk" for
// shop.example.co.uk), with the same heuristic as siteName.
func registrable(host string) string {
	labels := strings.Split(strings.Trim(host, "."), ".")
	n := len(labels)
	switch {
	case n <= 2:
		return strings.Join(labels, ".")
	case len(labels[n-1]) == 2 && len(labels[n-2]) <= 3:
		return strings.Join(labels[n-3:], ".")
	default:
		return strings.Join(labels[n-2:], ".")
	}
}

// sameSite tells whether a referrer is the page's own site (a link from one page to another, or
// between subdomains of one domain), which starts no new visit: it counts as direct.
func sameSite(refHost, pageHost string) bool {
	if refHost == "" || pageHost == "" {
		return false
	}
	return refHost == pageHost || registrable(refHost) == registrable(pageHost)
}

// refererHost reads the host of a referrer URL (lower case, without port); for an Android app
// referrer, the site the app stands for when it is a known one.
func refererHost(raw string) string {
	host := ReferrerHost(raw)
	if site, ok := androidApps[host]; ok {
		return site
	}
	return host
}

// hostOf is the host of a URL, or "".
func hostOf(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// ReferrerHost returns the host of a referrer URL as it is recorded on the event: lower case,
// without port; for an Android app referrer (android-app://<package>), the package name. "" when
// there is no readable host.
func ReferrerHost(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw != "" && !strings.Contains(raw, "://") {
		raw = "http://" + raw // a bare host
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.Scheme == "android-app" {
		return strings.ToLower(u.Host)
	}
	return strings.ToLower(u.Hostname())
}
