package localawstest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SQSProxy is a reverse proxy in front of the local SQS server that counts the calls made through
// it, by action, and the entries of each SendMessageBatch. FailEntries, when set, picks batch
// entries (by their body) that the proxy takes out of the call and answers as failed on SQS's side
// (InternalError, not the sender's fault), as SQS does in a partial failure.
type SQSProxy struct {
	URL string
	mu  sync.Mutex
	// calls by action (SendMessage, SendMessageBatch, ReceiveMessage …)
	calls map[string]int
	sizes []int
	fail  func(body string) bool
	delay time.Duration
}

// NewSQSProxy starts a proxy to the local SQS server, stopped when the test ends.
func NewSQSProxy(tb testing.TB) *SQSProxy {
	tb.Helper()
	target, err := url.Parse(Reachable(tb).SQS)
	if err != nil {
		tb.Fatal(err)
	}
	p := &SQSProxy{calls: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		delay := p.delay
		p.mu.Unlock()
		if action == "SendMessageBatch" && delay > 0 {
			time.Sleep(delay)
		}
		var failed []any
		if action == "SendMessageBatch" {
			var keep bool
			if body, failed, keep = p.batch(body); !keep {
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				_ = json.NewEncoder(w).Encode(map[string]any{"Failed": failed})
				return
			}
		}
		p.mu.Lock()
		p.calls[action]++
		p.mu.Unlock()
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		if len(failed) == 0 {
			proxy.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			tb.Errorf("SQS answered a batch with %s: %v", rec.Body, err)
			return
		}
		prev, _ := out["Failed"].([]any)
		out["Failed"] = append(prev, failed...)
		w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
		w.WriteHeader(rec.Code)
		_ = json.NewEncoder(w).Encode(out)
	}))
	tb.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// batch counts a SendMessageBatch call and takes out of it the entries FailEntries picks, as
// failures for the answer. keep is false when no entry is left to send (the call is still counted).
func (p *SQSProxy) batch(body []byte) (out []byte, failed []any, keep bool) {
	var in map[string]any
	if json.Unmarshal(body, &in) != nil {
		return body, nil, true
	}
	entries, _ := in["Entries"].([]any)
	p.mu.Lock()
	p.sizes = append(p.sizes, len(entries))
	fail := p.fail
	p.mu.Unlock()
	if fail == nil {
		return body, nil, true
	}
	var kept []any
	for _, e := range entries {
		m, _ := e.(map[string]any)
		if b, _ := m["MessageBody"].(string); fail(b) {
			failed = append(failed, map[string]any{"Id": m["Id"], "Code": "InternalError", "Message": "failed by the test's proxy", "SenderFault": false})
			continue
		}
		kept = append(kept, e)
	}
	if len(kept) == 0 {
		p.mu.Lock()
		p.calls["SendMessageBatch"]++
		p.mu.Unlock()
		return nil, failed, false
	}
	in["Entries"] = kept
	out, _ = json.Marshal(in)
	return out, failed, true
}

// Client is an SQS client whose calls go through the proxy.
func (p *SQSProxy) Client(tb testing.TB) *sqs.Client {
	return sqs.NewFromConfig(Reachable(tb).Config(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(p.URL) })
}

// FailEntries sets which batch entries, by body, fail on SQS's side from now on (nil: none).
func (p *SQSProxy) FailEntries(fail func(body string) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = fail
}

// Delay makes each SendMessageBatch call take at least d more, as a slow network would.
func (p *SQSProxy) Delay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Calls is how many calls of the action went through the proxy.
func (p *SQSProxy) Calls(action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[action]
}

// BatchSizes are the entries of each SendMessageBatch call so far, in order.
func (p *SQSProxy) BatchSizes() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.sizes...)
}
