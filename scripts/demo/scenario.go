package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// Client calls the dcrm HTTP API as a site, a back end and a downstream tool would.
type Client struct {
	API        string // e.g. http://127.0.0.1:8080
	WriteKey   string // browser source
	ServerKey  string // trusted server source
	ProfileKey string // profile API
	Origin     string // the page's origin, which the browser source allows (the browser-safe route)
	HTTP       *http.Client
}

// Send posts one Segment-style call with a write key (HTTP Basic, key as user name) and returns
// the status and body.
func (c Client) Send(ctx context.Context, key, path string, body any) (int, string, error) {
	raw, ok := body.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return 0, "", err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.API+path, bytes.NewReader(raw))
	if err != nil {
		return 0, "", err
	}
	req.SetBasicAuth(key, "")
	req.Header.Set("Content-Type", "application/json")
	return c.do(req)
}

// Profile looks a profile up by one identifier ("userId", "anonymousId") through the profile API.
func (c Client) Profile(ctx context.Context, idType, id string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.API+"/v1/profiles?"+idType+"="+url.QueryEscape(id), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.ProfileKey)
	status, body, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNotFound { // its events may still be on their way through the stream
		return nil, errors.Join(errNotYet, fmt.Errorf("profile %s=%s: %d %s", idType, id, status, body))
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("profile %s=%s: %d %s", idType, id, status, body)
	}
	var p map[string]any
	return p, json.Unmarshal([]byte(body), &p)
}

// maxGetBytes bounds what Get reads of a response: a report of a month is far smaller.
const maxGetBytes = 8 << 20

// Get reads a path of the profile API (a report: /v1/reports/latest/attribution.csv) with the
// profile API key and returns the body of a 200, reading at most maxGetBytes of it. A 404 or a 503
// is errNotYet: the report is not there yet, or its storage asks for a retry.
func (c Client) Get(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.API+path, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.ProfileKey)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxGetBytes+1))
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	if len(b) > maxGetBytes {
		return "", fmt.Errorf("GET %s: the response is larger than %d bytes", path, maxGetBytes)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 500)])))
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusServiceUnavailable { // none yet; storage busy
			return "", errors.Join(errNotYet, err)
		}
		return "", err
	}
	return string(b), nil
}

func (c Client) do(req *http.Request) (int, string, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

// Scenario is the scripted visit of the demo shop: one shopper browses anonymously on a laptop
// and a phone and then logs in on both; a second customer, whose history the shop's back end
// imports, came every few days and bought, then stopped coming: a lapse. Campaign visitors came
// over the last weeks by paid search, paid social, email, organic search or directly, some of them
// several times by different channels, and some bought: the orders the attribution credits.
type Scenario struct {
	Run                    string    // names everything of this run, message ids included
	At                     time.Time // the run's time, which the visitors' past sessions are dated from
	Shopper, Laptop, Phone string    // user id and the two devices' anonymous ids
	Lapsed                 string    // user id of the lapsed customer
	LapsedAt               time.Time // the lapsed customer's last visit
	ShopperEvents          int       // events the shopper's profile must hold once stitched
	Visitors               []Visitor // the campaign visitors
}

// Visitor is a visitor who came from the shop's marketing: sessions days apart, each landing by one
// channel, and an order in the last session, or none.
type Visitor struct {
	Name     string  // a first name, for the log
	Anon     string  // anonymous id (one browser)
	Agent    string  // the browser's user agent
	IP       string  // the browser's address
	Sessions []Visit // in time order
	Order    float64 // revenue of the order placed in the last session; 0: no order
}

// Visit is one session: when it began, the channel the enrichment must find for it (GA4's default
// channel group), and how the browser landed: the page's URL with its campaign tags, the referrer.
type Visit struct {
	At            time.Time
	Channel       string
	URL, Referrer string
}

// NewScenario names everything after run, so that every run of the demo tells its own story.
func NewScenario(run string, now time.Time) Scenario {
	now = now.UTC().Truncate(time.Second)
	s := Scenario{
		Run: run, At: now, Shopper: "cust-1001-" + run, Laptop: "anon-laptop-" + run, Phone: "anon-phone-" + run,
		Lapsed: "cust-2002-" + run, LapsedAt: now.Add(-40 * 24 * time.Hour),
		ShopperEvents: 8,
	}
	ago := func(days, hours int) time.Time { return now.Add(-time.Duration(days*24+hours) * time.Hour) }
	paidSearch := func(at time.Time) Visit {
		return Visit{At: at, Channel: beacon.ChannelPaidSearch, Referrer: "https://www.google.com/",
			URL: "https://shop.example/products/trail-runner?utm_source=google&utm_medium=cpc&utm_campaign=trail-shoes&gclid=Cj0KCQjw-demo"}
	}
	paidSocial := func(at time.Time) Visit {
		return Visit{At: at, Channel: beacon.ChannelPaidSocial, Referrer: "https://l.facebook.com/",
			URL: "https://shop.example/products/rain-jacket?utm_source=facebook&utm_medium=paid_social&utm_campaign=spring-sale&utm_content=carousel&fbclid=IwAR-demo"}
	}
	email := func(at time.Time) Visit {
		return Visit{At: at, Channel: beacon.ChannelEmail,
			URL: "https://shop.example/sale?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale"}
	}
	organic := func(at time.Time, engine string) Visit {
		return Visit{At: at, Channel: beacon.ChannelOrganicSearch, Referrer: engine, URL: "https://shop.example/products/trail-runner"}
	}
	direct := func(at time.Time) Visit {
		return Visit{At: at, Channel: beacon.ChannelDirect, URL: "https://shop.example/"}
	}
	const (
		mac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
		iphone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
		windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
		android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
	)
	google, bing := "https://www.google.com/", "https://www.bing.com/"
	visitor := func(name, agent, ip string, order float64, visits ...Visit) Visitor {
		return Visitor{Name: name, Anon: "anon-" + strings.ToLower(name) + "-" + run, Agent: agent, IP: ip, Sessions: visits, Order: order}
	}
	// Four orders; of this run alone, first touch credits organic search 2, paid search 1 and paid
	// social 1, last touch email 2, direct 1 and paid social 1 (TestScenarioAttribution has every model).
	s.Visitors = []Visitor{
		visitor("Mia", mac, "203.0.113.21", 89, paidSearch(ago(12, 3)), email(ago(3, 5))),
		visitor("Noah", windows, "203.0.113.37", 145, organic(ago(15, 2), google), paidSocial(ago(8, 6)), direct(ago(2, 4))),
		visitor("Ella", iphone, "198.51.100.14", 59, paidSocial(ago(10, 1))),
		visitor("Omar", android, "198.51.100.52", 210, organic(ago(18, 7), bing), email(ago(6, 2))),
		visitor("Lea", iphone, "198.51.100.77", 0, paidSocial(ago(5, 3))),
		visitor("Sam", windows, "203.0.113.90", 0, direct(ago(4, 8))),
		visitor("Ivy", mac, "203.0.113.64", 0, organic(ago(7, 5), google), paidSearch(ago(1, 2))),
		visitor("Tom", android, "198.51.100.103", 0, email(ago(2, 6))),
	}
	return s
}

// Orders is how many orders the campaign visitors place.
func (s Scenario) Orders() int {
	n := 0
	for _, v := range s.Visitors {
		if v.Order > 0 {
			n++
		}
	}
	return n
}

// ReportsAt is the time the reports schedule is run as of: tomorrow (UTC) at midnight, so that the
// report's period, which ends the day before, ends today and holds the run's orders.
func (s Scenario) ReportsAt() time.Time {
	y, m, d := s.At.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// Step is one call of the scenario, with the status it must get.
type Step struct {
	What   string
	Server bool // sent with the trusted server key
	Path   string
	Body   any
	Want   int
}

// Steps lists the calls in order. Message ids are fixed per run, so sending the steps again is a
// replay that must change nothing.
func (s Scenario) Steps() []Step {
	steps := s.steps()
	n := 0
	for _, st := range steps {
		body, ok := st.Body.(map[string]any)
		if !ok {
			continue
		}
		items := []any{body}
		if batch, ok := body["batch"].([]any); ok {
			items = batch
		}
		for _, it := range items {
			n++
			it.(map[string]any)["messageId"] = fmt.Sprintf("demo-%s-%d", s.Run, n)
		}
	}
	return steps
}

// Accepted is how many events the endpoint takes from the steps (those of the calls that must
// succeed): what the archive must hold of the run.
func (s Scenario) Accepted() int {
	n := 0
	for _, st := range s.steps() {
		body, ok := st.Body.(map[string]any)
		if !ok || st.Want != 200 {
			continue
		}
		if batch, ok := body["batch"].([]any); ok {
			n += len(batch)
		} else {
			n++
		}
	}
	return n
}

func (s Scenario) steps() []Step {
	page := func(anon, path string) map[string]any {
		return map[string]any{"anonymousId": anon, "name": path, "properties": map[string]any{"path": path, "url": "https://shop.example" + path}}
	}
	track := func(anon, event, product string) map[string]any {
		return map[string]any{"anonymousId": anon, "event": event, "properties": map[string]any{"product_id": product, "price": 59.0}}
	}
	login := func(anon string) map[string]any {
		return map[string]any{"anonymousId": anon, "userId": s.Shopper, "traits": map[string]any{"name": "Ada Shopper", "plan": "member"}}
	}
	// The lapsed customer's history: a visit every 5 days for 70 days, an order 20 days before
	// the last visit; nothing since (40 days): against their own baseline, a sharp drop.
	day := 24 * time.Hour
	lapsed := []any{map[string]any{"type": "identify", "userId": s.Lapsed, "timestamp": s.LapsedAt.Add(-70 * day).Format(time.RFC3339),
		"traits": map[string]any{"name": "Lin Lapsed"}}}
	for d := 70; d >= 0; d -= 5 {
		lapsed = append(lapsed, map[string]any{"type": "page", "userId": s.Lapsed, "timestamp": s.LapsedAt.Add(-time.Duration(d) * day).Format(time.RFC3339),
			"properties": map[string]any{"path": "/"}})
	}
	lapsed = append(lapsed, map[string]any{"type": "track", "userId": s.Lapsed, "timestamp": s.LapsedAt.Add(-20 * day).Format(time.RFC3339),
		"event": "Order Completed", "properties": map[string]any{"order_id": "o-" + s.Lapsed, "revenue": 120.0}})
	steps := []Step{
		{What: "laptop: home page", Path: "/v1/page", Body: page(s.Laptop, "/"), Want: 200},
		{What: "laptop: product page", Path: "/v1/page", Body: page(s.Laptop, "/products/red-shoes"), Want: 200},
		{What: "laptop: product viewed", Path: "/v1/track", Body: track(s.Laptop, "Product Viewed", "red-shoes"), Want: 200},
		{What: "phone: home + product pages, added to cart", Path: "/v1/batch", Body: map[string]any{"batch": []any{
			withType("page", page(s.Phone, "/")),
			withType("page", page(s.Phone, "/products/red-shoes")),
			withType("track", track(s.Phone, "Product Added", "red-shoes")),
		}}, Want: 200},
		{What: "laptop: login", Path: "/v1/identify", Body: login(s.Laptop), Want: 200},
		{What: "phone: login", Path: "/v1/identify", Body: login(s.Phone), Want: 200},
		{What: "back end: a customer's history (visits every 5 days, an order), last visit 40 days ago", Server: true, Path: "/v1/batch",
			Body: map[string]any{"batch": lapsed}, Want: 200},
	}
	for _, v := range s.Visitors {
		steps = append(steps, Step{What: "back end: " + v.describe(s.At), Server: true, Path: "/v1/batch",
			Body: map[string]any{"batch": v.events()}, Want: 200})
	}
	return append(steps,
		Step{What: "malformed request (truncated JSON)", Path: "/v1/track", Body: []byte(`{"anonymousId": "x", "event": `), Want: 400})
}

// describe says what the visitor did: "Mia: paid search 12 days ago, email 3 days ago → order 89.00".
func (v Visitor) describe(now time.Time) string {
	var parts []string
	for _, vis := range v.Sessions {
		days, unit := int(now.Sub(vis.At).Hours()/24), "days"
		if days == 1 {
			unit = "day"
		}
		parts = append(parts, fmt.Sprintf("%s %d %s ago", vis.Channel, days, unit))
	}
	what := v.Name + ": " + strings.Join(parts, ", ")
	if v.Order > 0 {
		what += fmt.Sprintf(" → order %.2f", v.Order)
	}
	return what
}

// events are the visitor's sessions as the browser tracker (analytics.js) records them — pages with
// context.page (url with its campaign tags, referrer, search), the campaign it parsed from the
// URL, the browser's user agent — relayed by the shop's back end with the server key: a browser key
// may send events at most a week old, and these are up to weeks old; and the endpoint believes the
// relayed context.userAgent of a server call, where a browser call's would be this client's own,
// which it flags as automated (and the journeys leave out). Each session lands on its
// page and views a product; the last, when the visitor buys, adds to the cart and completes the
// order, minutes apart, with the e-commerce events a shop's tracker sends (Product Viewed, Product
// Added, Checkout Started, Order Completed: the default funnel's steps).
func (v Visitor) events() []any {
	const product, checkout = "https://shop.example/products/trail-runner-gtx", "https://shop.example/checkout"
	var out []any
	for i, vis := range v.Sessions {
		item := map[string]any{"product_id": "trail-runner-gtx", "price": v.Order, "quantity": 1}
		out = append(out, v.page(vis.At, vis.URL, vis.Referrer), v.page(vis.At.Add(3*time.Minute), product, vis.URL),
			v.track(vis.At.Add(3*time.Minute), "Product Viewed", product, vis.URL, item))
		if i == len(v.Sessions)-1 && v.Order > 0 {
			out = append(out,
				v.track(vis.At.Add(5*time.Minute), "Product Added", product, vis.URL, item),
				v.page(vis.At.Add(8*time.Minute), checkout, product),
				v.track(vis.At.Add(8*time.Minute), "Checkout Started", checkout, product, map[string]any{"revenue": v.Order, "currency": "EUR"}),
				v.track(vis.At.Add(10*time.Minute), "Order Completed", checkout, product,
					map[string]any{"order_id": "o-" + v.Anon, "revenue": v.Order, "currency": "EUR"}))
		}
	}
	return out
}

// page is a page view as analytics.js sends it: its properties and context.page hold the path,
// referrer, search, title and url.
func (v Visitor) page(at time.Time, pageURL, referrer string) map[string]any {
	pg := pageOf(pageURL, referrer)
	return map[string]any{"type": "page", "anonymousId": v.Anon, "name": pg["path"], "timestamp": at.Format(time.RFC3339),
		"properties": maps.Clone(pg), "context": v.context(pg)}
}

// track is an event sent from a page, which the tracker records in context.page.
func (v Visitor) track(at time.Time, event, pageURL, referrer string, props map[string]any) map[string]any {
	return map[string]any{"type": "track", "anonymousId": v.Anon, "event": event, "timestamp": at.Format(time.RFC3339),
		"properties": props, "context": v.context(pageOf(pageURL, referrer))}
}

func (v Visitor) context(pg map[string]any) map[string]any {
	ctx := map[string]any{"page": pg, "userAgent": v.Agent, "ip": v.IP, "locale": "en-GB",
		"library": map[string]any{"name": "analytics.js", "version": "next-1.72.0"}}
	if c := campaignOf(pg["url"].(string)); c != nil {
		ctx["campaign"] = c
	}
	return ctx
}

// pageOf is analytics.js's page object of a URL and its referrer.
func pageOf(pageURL, referrer string) map[string]any {
	u, _ := url.Parse(pageURL)
	search := ""
	if u.RawQuery != "" {
		search = "?" + u.RawQuery
	}
	return map[string]any{"path": u.Path, "referrer": referrer, "search": search, "title": "Demo Shop", "url": pageURL}
}

// campaignOf is the context.campaign analytics.js parses from a URL's utm_ parameters
// (utm_campaign as name); nil without any.
func campaignOf(pageURL string) map[string]any {
	u, err := url.Parse(pageURL)
	if err != nil {
		return nil
	}
	c := map[string]any{}
	for k, vs := range u.Query() {
		if name, ok := strings.CutPrefix(k, "utm_"); ok && len(vs) > 0 {
			if name == "campaign" {
				name = "name"
			}
			c[name] = vs[0]
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c
}

func withType(t string, m map[string]any) map[string]any {
	m["type"] = t
	return m
}

// Send sends every step and fails on the first unexpected status.
func (s Scenario) Send(ctx context.Context, c Client, log io.Writer) error {
	for _, st := range s.Steps() {
		key := c.WriteKey
		if st.Server {
			key = c.ServerKey
		}
		status, body, err := c.Send(ctx, key, st.Path, st.Body)
		if err != nil {
			return fmt.Errorf("%s: %w", st.What, err)
		}
		fmt.Fprintf(log, "  %-52s POST %-12s → %d %s\n", st.What, st.Path, status, body)
		if status != st.Want {
			return fmt.Errorf("%s: got %d, want %d", st.What, status, st.Want)
		}
	}
	return nil
}

// errNotYet means the pipeline has not caught up yet.
var errNotYet = errors.New("not stitched yet")

// Stitched returns the shopper's profile once both devices and the login resolve to one profile
// holding all of the shopper's events.
func (s Scenario) Stitched(ctx context.Context, c Client) (map[string]any, error) {
	byUser, err := c.Profile(ctx, "userId", s.Shopper)
	if err != nil {
		return nil, errors.Join(errNotYet, err)
	}
	for _, anon := range []string{s.Laptop, s.Phone} {
		p, err := c.Profile(ctx, "anonymousId", anon)
		if err != nil {
			return nil, errors.Join(errNotYet, err)
		}
		if p["profileId"] != byUser["profileId"] {
			return nil, fmt.Errorf("%w: %s is on profile %v, the login on %v", errNotYet, anon, p["profileId"], byUser["profileId"])
		}
	}
	if !containsAll(byUser["anonymousIds"], s.Laptop, s.Phone) || eventCount(byUser) != s.ShopperEvents {
		return nil, fmt.Errorf("%w: profile holds %v events of %d", errNotYet, eventCount(byUser), s.ShopperEvents)
	}
	return byUser, nil
}

func containsAll(list any, want ...string) bool {
	items, _ := list.([]any)
	var got []string
	for _, it := range items {
		if s, ok := it.(string); ok {
			got = append(got, s)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

// eventCount reads the profile's total event count.
func eventCount(p map[string]any) int {
	counts, _ := p["counts"].(map[string]any)
	n, _ := counts["events"].(float64)
	return int(n)
}
