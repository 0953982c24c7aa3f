// Package source describes where events come from: a site or server that holds a write key.
package source

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Source is a site (browser) or a back end (trusted, server-side) that sends events with a write key.
type Source struct {
	ID             string   `dynamo:"sourceId" json:"sourceId"`
	Name           string   `dynamo:"name" json:"name"`
	AllowedOrigins []string `dynamo:"allowedOrigins" json:"allowedOrigins,omitempty"`
	// Trusted sources are server-side: their identify calls may join two known customers.
	Trusted bool `dynamo:"trusted" json:"trusted"`
	// KeepRawPII keeps the personal data of events as sent, on the stream and in profiles, beside
	// the hashes of the person's email and phone. Without it the endpoint hashes or redacts it
	// before events go on the stream (package pii). Failed events and logs are redacted anyway.
	KeepRawPII bool `dynamo:"keepRawPII" json:"keepRawPII,omitempty"`
	// PhoneCountryCode is the country calling code ("44", "1") assumed for phone numbers sent
	// without one, so that they hash like their international form; "" assumes none.
	PhoneCountryCode string `dynamo:"phoneCountryCode,omitempty" json:"phoneCountryCode,omitempty"`
	// RateLimit is how many events per second the source may send to one instance of the
	// endpoint (0: DefaultRateLimit); past it, calls are refused with a 429 until it has room.
	RateLimit int `dynamo:"rateLimit,omitempty" json:"rateLimit,omitempty"`
}

// DefaultRateLimit is a source's rate (events per second, per instance of the endpoint) unless it
// says otherwise: some ten thousand visitors active at once, an event every ten seconds each, and
// well under what one instance takes (scripts/bench). A bulk import sent one batch after another
// reaches it: such a source is given a rate of its own.
const DefaultRateLimit = 1000

// Rate is the source's rate limit in events per second (see RateLimit).
func (s Source) Rate() int {
	if s.RateLimit > 0 {
		return s.RateLimit
	}
	return DefaultRateLimit
}

// AllowsOrigin tells whether a browser request from origin may use this source's key. Requests
// without an Origin header (servers, SDKs) are allowed; "*" allows every origin.
func (s Source) AllowsOrigin(origin string) bool {
	if origin == "" {
		return true
	}
	for _, o := range s.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// CheckOrigin reads an allowed origin as a browser sends it in Origin: "*" (every origin), or an
// http or https scheme, a host and an optional port, without a path, query, fragment or user (a
// trailing "/" is dropped). It returns the origin lower-cased, or why it is not one.
func CheckOrigin(o string) (string, error) {
	const usage = "an origin is * or scheme://host[:port], e.g. https://shop.example"
	if o == "*" {
		return o, nil
	}
	if len(o) > 256 {
		return "", fmt.Errorf("origin longer than 256 bytes: %s", usage)
	}
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.ContainsAny(o, " \t\r\n?#") {
		return "", fmt.Errorf("%q is not an origin: %s", o, usage)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q has no valid port: %s", o, usage)
		}
	}
	if h := u.Hostname(); h == "" || strings.Trim(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-[]:") != "" {
		return "", fmt.Errorf("%q has no valid host: %s", o, usage)
	}
	host := u.Host
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		host = strings.TrimSuffix(host, ":"+p) // a browser's Origin leaves the scheme's port out
	}
	return strings.ToLower(u.Scheme + "://" + host), nil
}
