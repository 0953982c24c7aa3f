package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/httpapi"
)

// canned is a function that answers every invocation as collect answers an accepted batch.
type canned []byte

func (c canned) Invoke(context.Context, string, []byte) ([]byte, error) { return c, nil }

// BenchmarkServeHTTP is the API's own work for one browser request (two events, the headers a
// browser sends): reading it, building and encoding the payload format 2.0 event, and translating
// collect's answer; the function is a canned answer in the process.
func BenchmarkServeHTTP(b *testing.B) {
	api, err := httpapi.New(topology.Default().Routes, canned(`{"statusCode":200,"headers":{"Content-Type":"application/json",`+
		`"Access-Control-Allow-Origin":"http://localhost:8080","Vary":"Origin"},"body":"{\"success\":true}"}`))
	if err != nil {
		b.Fatal(err)
	}
	var events []string
	for i := range 2 {
		events = append(events, fmt.Sprintf(`{"type":"track","event":"Product Viewed","messageId":"m-%d","anonymousId":"a-1",`+
			`"properties":{"product_id":"p-1","name":"Shoe \"Runner\"","price":49.9,"url":"https://shop.example/p/1?x=1&y=2"},`+
			`"context":{"page":{"path":"/p/1","referrer":"https://www.example.org/","title":"Shoe"},"userAgent":"Mozilla/5.0"},`+
			`"timestamp":"2026-12-07T06:00:00.000Z"}`, i))
	}
	body := `{"batch":[` + strings.Join(events, ",") + `],"sentAt":"2026-12-07T06:00:01.000Z","writeKey":"wk"}`
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/v1/batch", strings.NewReader(body))
		r.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		r.Header.Set("Origin", "http://localhost:8080")
		r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
		r.Header.Set("Accept", "*/*")
		r.Header.Set("Accept-Language", "en-GB,en;q=0.9")
		r.Header.Set("Referer", "http://localhost:8080/p/1")
		r.Header.Set("Cookie", "ajs_anonymous_id=a-1; other=x")
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
