package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

const (
	chromeUA    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
	googlebotUA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

// from sets the address and user agent a request arrives with, as API Gateway reports them.
func from(req events.APIGatewayV2HTTPRequest, ip, ua string) events.APIGatewayV2HTTPRequest {
	req.RequestContext.HTTP.SourceIP = ip
	req.RequestContext.HTTP.UserAgent = ua
	if ua != "" {
		req.Headers["user-agent"] = ua
	}
	return req
}

// records are the events as they go on the stream: JSON.
func records(t *testing.T, st *fakeStream) string {
	t.Helper()
	b, err := json.Marshal(st.events)
	require.NoError(t, err)
	return string(b)
}

func TestEnrichesBrowserEvents(t *testing.T) {
	h, _, st := newHandler()
	body := `{"type":"page","anonymousId":"a-1","name":"Red shoes","context":{
		"page":{"url":"https://shop.example/p/red?utm_campaign=spring&gclid=EAIaIQ","referrer":"https://www.google.com/"},
		"traits":{"email":"Ann@Example.com"}}}`
	req := from(post("/v1/page", body, "Authorization", basic(browserKey), "Origin", "https://shop.example"), "203.0.113.77", chromeUA)
	resp := answer(t, h, req)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	require.Len(t, st.events, 1)

	e := st.events[0].Enrichment
	require.NotNil(t, e)
	assert.Equal(t, "203.0.113.0", e.IP)
	assert.Equal(t, &beacon.Device{Browser: "Chrome", BrowserVersion: "122.0.0.0", OS: "Windows", OSVersion: "10", Class: beacon.DeviceDesktop}, e.Device)
	assert.Equal(t, beacon.Bot{}, e.Bot)
	assert.Equal(t, &beacon.Campaign{Source: "google", Medium: "cpc", Name: "spring", ClickID: "EAIaIQ", ClickIDType: "gclid"}, e.Campaign)
	assert.Equal(t, "www.google.com", e.Referrer)
	assert.Equal(t, beacon.ChannelPaidSearch, e.Channel)

	sum := sha256.Sum256([]byte("ann@example.com"))
	assert.Equal(t, map[string]string{"email_sha256": hex.EncodeToString(sum[:])}, st.events[0].Hashed)
	rec := records(t, st)
	assert.NotContains(t, rec, "203.0.113.77", "the full address must not reach the stream")
	assert.NotContains(t, strings.ToLower(rec), "ann@example.com", "the raw email must not reach the stream")
}

func TestIdentifyLosesRawEmailOnTheStream(t *testing.T) {
	h, _, st := newHandler()
	body := `{"userId":"u-1","traits":{"email":" Ann@Example.com ","phone":"+44 7700 900123","plan":"gold"},
		"context":{"ip":"198.51.100.23","userAgent":"` + chromeUA + `"}}`
	req := from(post("/v1/identify", body, "Authorization", basic(serverKey)), "192.0.2.10", "analytics-go (version: 3.3.0)")
	resp := answer(t, h, req)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	require.Len(t, st.events, 1)

	ev := st.events[0]
	assert.JSONEq(t, `{"plan":"gold"}`, string(ev.Traits))
	email, phone := sha256.Sum256([]byte("ann@example.com")), sha256.Sum256([]byte("+447700900123"))
	assert.Equal(t, hex.EncodeToString(email[:]), ev.Hashed["email_sha256"])
	assert.Equal(t, hex.EncodeToString(phone[:]), ev.Hashed["phone_sha256"])
	// A trusted back end relays the visitor's address and browser; its own say nothing.
	assert.Equal(t, "198.51.100.0", ev.Enrichment.IP)
	assert.Equal(t, beacon.DeviceDesktop, ev.Enrichment.Device.Class)
	rec := records(t, st)
	for _, raw := range []string{"Example.com", "example.com", "7700", "198.51.100.23", "192.0.2.10"} {
		assert.NotContains(t, rec, raw)
	}
}

func TestBotsAreFlaggedNotDropped(t *testing.T) {
	h, _, st := newHandler()
	batch := `{"batch":[
		{"type":"page","anonymousId":"crawler-1","context":{"page":{"url":"https://shop.example/"}}},
		{"type":"track","anonymousId":"crawler-1","event":"Product Viewed"}]}`
	req := from(post("/v1/batch", batch, "Authorization", basic(browserKey)), "66.249.66.1", googlebotUA)
	resp := answer(t, h, req)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	require.Len(t, st.events, 2)
	for _, ev := range st.events {
		assert.Equal(t, beacon.Bot{IsBot: true, Reason: beacon.BotUserAgent}, ev.Enrichment.Bot)
		assert.Equal(t, beacon.DeviceBot, ev.Enrichment.Device.Class)
		assert.Equal(t, "66.249.66.0", ev.Enrichment.IP)
	}

	// A browser source's call without any user agent is flagged by rule.
	st.events = nil
	req = from(post("/v1/track", `{"anonymousId":"x","event":"E"}`, "Authorization", basic(browserKey)), "203.0.113.5", "")
	resp = answer(t, h, req)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	require.Len(t, st.events, 1)
	assert.Equal(t, beacon.Bot{IsBot: true, Reason: beacon.BotMissingUserAgent}, st.events[0].Enrichment.Bot)
}
