package usage

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// apiIncrement is how an HTTP API request is billed: one request per 512 KB of it.
const apiIncrement = 512 * kb

// APIMiddleware counts the HTTP API's requests by route key (routeKey returns "" for a request no
// route takes), their bytes and their billed units.
func (m *Meter) APIMiddleware(routeKey func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := &countingBody{ReadCloser: r.Body}
		if r.Body != nil {
			r.Body = in
		}
		rec := &recorder{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(rec, r)
		route := routeKey(r)
		status := strconv.Itoa(max(rec.status, 200)/100) + "xx"
		size := max(in.n, r.ContentLength)
		logLine := accessLogLine(route, max(rec.status, 200), rec.n, time.Since(start))
		m.update(func(s *Snapshot) {
			a := &s.API
			a.Requests++
			a.Billed += max(1, (size+apiIncrement-1)/apiIncrement)
			a.BytesIn += size
			a.BytesOut += rec.n
			a.AccessLogBytes += logLine
			a.ByRoute[route]++
			a.ByStatus[status]++
		})
	})
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// AccessLogKeys are the fields of the deployed stage's access log, one JSON object per request
// (infra/service.go's accessLogFormat; a test there holds the two together).
var AccessLogKeys = []string{"error", "integrationError", "integrationMs", "integrationStatus", "latencyMs",
	"protocol", "requestId", "responseLength", "route", "status", "time"}

// accessLogLine is the length of the access-log line API Gateway would write for a request, every
// value a JSON string: its own request id (16 characters), epoch milliseconds (13), the protocol,
// "-" for the two errors that did not happen (a local request that reaches a route gets its
// function's answer), the latency twice (the integration's is most of it).
func accessLogLine(route string, status int, responseLength int64, latency time.Duration) int64 {
	if route == "" {
		route = "-"
	}
	n := len("{}\n") + len(AccessLogKeys) - 1 // braces, newline, commas
	for _, k := range AccessLogKeys {
		n += len(`"":""`) + len(k)
	}
	n += 2*len("-") + len("HTTP/1.1") + 16 + 13 + len(route) +
		2*len(strconv.FormatInt(latency.Milliseconds(), 10)) + 2*len(strconv.Itoa(status)) + len(strconv.FormatInt(responseLength, 10))
	return int64(n)
}
