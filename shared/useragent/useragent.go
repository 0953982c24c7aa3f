// Package useragent reads User-Agent strings for the collection endpoint: browser, operating
// system and device class (github.com/mssola/useragent), and whether the agent is a crawler,
// monitor, HTTP library or command-line tool (github.com/x-way/crawlerdetect, a port of the
// Crawler-Detect pattern list).
package useragent

import (
	"strings"
	"sync"

	"github.com/mssola/useragent"
	"github.com/x-way/crawlerdetect"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/enrich"
)

// DefaultCacheSize is how many distinct user agents a Parser remembers. Real traffic has few
// distinct user agents, and matching against the crawler patterns is the costly part.
const DefaultCacheSize = 4096

// maxUABytes bounds the part of a user agent that is read: longer strings are cut.
const maxUABytes = 1024

// Parser reads user agents, remembering recent answers. It is safe for concurrent use.
type Parser struct {
	mu    sync.Mutex
	cache map[string]enrich.Agent
	size  int
}

// New returns a Parser that remembers up to size user agents (DefaultCacheSize when size ≤ 0).
func New(size int) *Parser {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Parser{cache: make(map[string]enrich.Agent, size), size: size}
}

// Parse reads a user agent string. An empty string is DeviceOther and not a bot.
func (p *Parser) Parse(ua string) enrich.Agent {
	ua = strings.TrimSpace(ua)
	if len(ua) > maxUABytes {
		ua = ua[:maxUABytes]
	}
	p.mu.Lock()
	a, ok := p.cache[ua]
	p.mu.Unlock()
	if ok {
		return a
	}
	a = Parse(ua)
	p.mu.Lock()
	if len(p.cache) >= p.size {
		clear(p.cache) // a crude bound: the working set refills it at once
	}
	p.cache[ua] = a
	p.mu.Unlock()
	return a
}

// Parse reads a user agent string without a cache.
func Parse(ua string) enrich.Agent {
	if strings.TrimSpace(ua) == "" {
		return enrich.Agent{Device: beacon.Device{Class: beacon.DeviceOther}}
	}
	u := useragent.New(ua)
	name, version := u.Browser()
	os := u.OSInfo()
	d := beacon.Device{Browser: name, BrowserVersion: version}
	d.OS, d.OSVersion = osName(os.Name, u.Platform()), os.Version
	bot := u.Bot() || crawlerdetect.IsCrawler(ua)
	d.Class = class(ua, d.OS, u.Platform(), u.Mobile(), bot)
	return enrich.Agent{Device: d, Bot: bot}
}

// osName gives operating systems the names people use for them.
func osName(name, platform string) string {
	switch {
	case platform == "iPhone" || platform == "iPod" || platform == "iPhone OS":
		return "iOS"
	case platform == "iPad":
		return "iPadOS"
	case name == "Mac OS X" || name == "Intel Mac OS X":
		return "macOS"
	case strings.HasPrefix(name, "CrOS"):
		return "ChromeOS"
	}
	return name
}

// class decides the device class. Android devices without "Mobile" in the user agent are
// tablets (Google's guidance to Android browsers), as are iPads and agents that say "Tablet".
func class(ua, os, platform string, mobile, bot bool) string {
	switch {
	case bot:
		return beacon.DeviceBot
	case platform == "iPad" || strings.Contains(ua, "Tablet"):
		return beacon.DeviceTablet
	case os == "Android" && !strings.Contains(ua, "Mobile"):
		return beacon.DeviceTablet
	case mobile || os == "Android" || os == "iOS":
		return beacon.DeviceMobile
	case os == "Windows" || os == "macOS" || os == "Linux" || os == "ChromeOS" || strings.HasPrefix(os, "FreeBSD"):
		return beacon.DeviceDesktop
	default:
		return beacon.DeviceOther
	}
}
