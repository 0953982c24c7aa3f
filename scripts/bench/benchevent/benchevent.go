// Package benchevent is the realistic event the collect benchmarks send, in-process
// (functions/collect's BenchmarkCollect) and to the real process (scripts/bench/collectcpu): a
// browser track call of about 1.2 KB as analytics.js sends it, with page context, user agent,
// campaign and traits with an e-mail.
package benchevent

import "fmt"

// Visitor is the anonymous id of Track's events unless a request gives its own.
const Visitor = "0f6e2a51-3c84-4b9e-a7d2-5e1f9c3b8d46"

// Origin is the site the events come from (the source must allow it).
const Origin = "https://shop.example"

// UserAgent is the browser's user agent, in the event's context and in the request's header.
const UserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

// Track is the i-th event (its messageId differs by i) of the visitor.
func Track(i int, visitor string) map[string]any {
	return map[string]any{
		"type":        "track",
		"messageId":   fmt.Sprintf("ajs-next-1709294400000-%08d-4f3c-9a2e-7b1d5e6f8a90", i),
		"anonymousId": visitor,
		"event":       "Product Added",
		"properties": map[string]any{
			"product_id": "sku-48213-red", "name": "Trail Runner 3 — red", "category": "Shoes/Running",
			"price": 59.9, "quantity": 1, "currency": "EUR", "cart_id": "c-7d1e9b",
		},
		"context": map[string]any{
			"page": map[string]any{
				"path": "/products/trail-runner-3", "referrer": "https://www.google.com/",
				"search": "?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale",
				"title":  "Trail Runner 3 — Shop", "url": "https://shop.example/products/trail-runner-3?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale",
			},
			"userAgent": UserAgent,
			"locale":    "en-GB",
			"timezone":  "Europe/London",
			"library":   map[string]any{"name": "analytics.js", "version": "next-1.70.0"},
			"campaign":  map[string]any{"name": "spring-sale", "source": "newsletter", "medium": "email", "content": "hero-banner"},
			"traits":    map[string]any{"email": "Ana.Shopper@Example.com", "plan": "member", "first_name": "Ana"},
			"screen":    map[string]any{"width": 1920, "height": 1080, "density": 1},
		},
		"integrations":      map[string]any{"All": true},
		"originalTimestamp": "2024-03-01T11:59:58.120Z",
		"sentAt":            "2024-03-01T11:59:58.250Z",
	}
}

// Batch is the body of a /v1/batch call of events.
func Batch(events []any) map[string]any {
	return map[string]any{"batch": events, "sentAt": "2024-03-01T11:59:58.250Z"}
}
