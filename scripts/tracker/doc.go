// Package tracker tests dcrm's JavaScript tracker (functions/collect/tracker/t.js) in a real
// browser, headless Chromium: against the whole local stack, through a proxy that sees every
// request (a page with the snippet of functions/collect/README.md sends its events in batches, a
// lost answer is sent again and recorded once, the events before leaving go by sendBeacon, and the
// profile holds each event exactly once), and against a recording endpoint (what the tracker
// sends, in detail: batching, retries, the bounded queue, consent, linking). Install the browser
// with `make browser`.
package tracker
