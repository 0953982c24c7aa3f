package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Client calls the dcrm HTTP API as a site, a back end and a downstream tool would.
type Client struct {
	API        string // e.g. http://127.0.0.1:8080
	WriteKey   string // browser source
	ServerKey  string // trusted server source
	ProfileKey string // profile API
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
// imports, came every few days and bought, then stopped coming: a lapse.
type Scenario struct {
	Run                    string    // names everything of this run, message ids included
	Shopper, Laptop, Phone string    // user id and the two devices' anonymous ids
	Lapsed                 string    // user id of the lapsed customer
	LapsedAt               time.Time // the lapsed customer's last visit
	ShopperEvents          int       // events the shopper's profile must hold once stitched
}

// NewScenario names everything after run, so that every run of the demo tells its own story.
func NewScenario(run string, now time.Time) Scenario {
	return Scenario{
		Run: run, Shopper: "cust-1001-" + run, Laptop: "anon-laptop-" + run, Phone: "anon-phone-" + run,
		Lapsed: "cust-2002-" + run, LapsedAt: now.Add(-40 * 24 * time.Hour).UTC().Truncate(time.Second),
		ShopperEvents: 8,
	}
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
	return []Step{
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
		{What: "malformed request (truncated JSON)", Path: "/v1/track", Body: []byte(`{"anonymousId": "x", "event": `), Want: 400},
	}
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
