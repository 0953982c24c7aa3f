package usage

import "net/http"

// sqsChunk is what SQS bills as one request: each 64 KB of a request's payload.
const sqsChunk = 64 * kb

func (m *Meter) sqs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		// The JSON request or answer stands in for the payload: a little more than SQS counts.
		payload := max(r.ContentLength, rec.n)
		billed := max(1, (payload+sqsChunk-1)/sqsChunk)
		m.update(func(s *Snapshot) {
			s.SQS.Requests[op]++
			s.SQS.Billed += billed
		})
	})
}
