// Package tracker tests dcrm's JavaScript tracker (functions/collect/tracker/t.js) in a real
// browser, headless Chromium: against the whole local stack (a page with the snippet of
// functions/collect/README.md produces the expected profile) and against a recording endpoint
// (what the tracker sends, in detail). Install the browser with `make browser`.
package tracker
