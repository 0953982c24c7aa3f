package usage

import (
	"io"
	"net/http"
	"strconv"
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
		next.ServeHTTP(rec, r)
		route := routeKey(r)
		status := strconv.Itoa(max(rec.status, 200)/100) + "xx"
		size := max(in.n, r.ContentLength)
		m.update(func(s *Snapshot) {
			a := &s.API
			a.Requests++
			a.Billed += max(1, (size+apiIncrement-1)/apiIncrement)
			a.BytesIn += size
			a.BytesOut += rec.n
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
