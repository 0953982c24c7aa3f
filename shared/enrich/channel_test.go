package enrich

import (
	"testing"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

func TestChannel(t *testing.T) {
	const page = "https://shop.example/products/red-shoes"
	for _, tc := range []struct {
		name     string
		c        *beacon.Campaign
		referrer string
		want     string
	}{
		{"no referrer, no tags", nil, "", beacon.ChannelDirect},
		{"own site as referrer", nil, "https://shop.example/", beacon.ChannelDirect},
		{"own site's other subdomain", nil, "https://www.shop.example/basket", beacon.ChannelDirect},
		{"gclid alone", Campaign(page+"?gclid=EAIaIQ", nil), "https://www.google.com/", beacon.ChannelPaidSearch},
		{"msclkid alone", Campaign(page+"?msclkid=abc", nil), "", beacon.ChannelPaidSearch},
		{"google / cpc", &beacon.Campaign{Source: "google", Medium: "cpc"}, "", beacon.ChannelPaidSearch},
		{"Bing / PPC, any case", &beacon.Campaign{Source: "Bing", Medium: "PPC"}, "", beacon.ChannelPaidSearch},
		{"google.co.uk / paidsearch", &beacon.Campaign{Source: "www.google.co.uk", Medium: "paidsearch"}, "", beacon.ChannelPaidSearch},
		{"google organic referrer", nil, "https://www.google.co.uk/", beacon.ChannelOrganicSearch},
		{"duckduckgo referrer", nil, "https://duckduckgo.com/", beacon.ChannelOrganicSearch},
		{"utm medium organic", &beacon.Campaign{Source: "newsletter-partner", Medium: "organic"}, "", beacon.ChannelOrganicSearch},
		{"facebook / paid_social", &beacon.Campaign{Source: "facebook", Medium: "paid_social"}, "", beacon.ChannelPaidSocial},
		{"fb / cpc", &beacon.Campaign{Source: "fb", Medium: "cpc"}, "", beacon.ChannelPaidSocial},
		{"ttclid alone", Campaign(page+"?ttclid=x1", nil), "", beacon.ChannelPaidSocial},
		{"fbclid alone is organic", Campaign(page+"?fbclid=IwAR", nil), "https://l.facebook.com/", beacon.ChannelOrganicSocial},
		{"facebook referrer", nil, "https://m.facebook.com/", beacon.ChannelOrganicSocial},
		{"t.co referrer", nil, "https://t.co/abc", beacon.ChannelOrganicSocial},
		{"medium social", &beacon.Campaign{Source: "partner-forum", Medium: "social"}, "", beacon.ChannelOrganicSocial},
		{"youtube / cpv", &beacon.Campaign{Source: "youtube", Medium: "cpv"}, "", beacon.ChannelPaidVideo},
		{"youtube referrer", nil, "https://www.youtube.com/watch?v=1", beacon.ChannelOrganicVideo},
		{"display banner", &beacon.Campaign{Source: "adnetwork", Medium: "banner"}, "", beacon.ChannelDisplay},
		{"dclid alone", Campaign(page+"?dclid=CJ", nil), "", beacon.ChannelDisplay},
		{"retargeting elsewhere", &beacon.Campaign{Source: "criteo", Medium: "retargeting"}, "", beacon.ChannelPaidOther},
		{"shopping campaign paid", &beacon.Campaign{Source: "google", Medium: "cpc", Name: "summer-shopping"}, "", beacon.ChannelPaidShopping},
		{"amazon referrer", nil, "https://www.amazon.de/", beacon.ChannelOrganicShopping},
		{"cross-network campaign", &beacon.Campaign{Source: "google", Medium: "cpc", Name: "pmax cross-network"}, "", beacon.ChannelCrossNetwork},
		{"other site referrer", nil, "https://blog.example.org/post", beacon.ChannelReferral},
		{"utm medium referral", &beacon.Campaign{Source: "partner", Medium: "referral"}, "", beacon.ChannelReferral},
		{"newsletter", &beacon.Campaign{Source: "newsletter", Medium: "email", Name: "march"}, "", beacon.ChannelEmail},
		{"source e-mail", &beacon.Campaign{Source: "e-mail", Medium: "weekly"}, "", beacon.ChannelEmail},
		{"webmail referrer", nil, "https://mail.google.com/", beacon.ChannelEmail},
		{"gmail app referrer", nil, "android-app://com.google.android.gm", beacon.ChannelEmail},
		{"google app referrer", nil, "android-app://com.google.android.googlequicksearchbox", beacon.ChannelOrganicSearch},
		{"affiliate", &beacon.Campaign{Source: "awin", Medium: "affiliate"}, "", beacon.ChannelAffiliate},
		{"audio", &beacon.Campaign{Source: "spotify-ads", Medium: "audio"}, "", beacon.ChannelAudio},
		{"sms", &beacon.Campaign{Source: "sms", Medium: "text"}, "", beacon.ChannelSMS},
		{"push", &beacon.Campaign{Source: "app", Medium: "web-push"}, "", beacon.ChannelPush},
		{"source without medium", &beacon.Campaign{Source: "partner"}, "", beacon.ChannelUnassigned},
		{"unknown medium", &beacon.Campaign{Source: "partner", Medium: "flyer"}, "https://www.google.com/", beacon.ChannelUnassigned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Channel(tc.c, tc.referrer, page); got != tc.want {
				t.Errorf("Channel(%+v, %q) = %q, want %q", tc.c, tc.referrer, got, tc.want)
			}
		})
	}
}

func TestShoppingCampaign(t *testing.T) {
	for name, want := range map[string]bool{
		"shop": true, "spring-shop": true, "eshop": true, "shopping days": true,
		"workshop": false, "bishop": false, "": false,
	} {
		if got := shoppingCampaign(name); got != want {
			t.Errorf("shoppingCampaign(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestReferrerHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://www.Google.com:443/search?q=x": "www.google.com",
		"www.example.org/path":                  "www.example.org",
		"android-app://com.google.android.gm":   "com.google.android.gm",
		"":                                      "",
		"::not a url":                           "",
	} {
		if got := ReferrerHost(in); got != want {
			t.Errorf("ReferrerHost(%q) = %q, want %q", in, got, want)
		}
	}
}
