package stack

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/httpapi"
	"github.com/dcrm-project/dcrm/scripts/devstack/lambdahost"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
)

// startProxies puts a reverse proxy on a loopback port in front of each local AWS server, wrapped in
// the configured middleware and the meter, and records their addresses for the functions.
func (s *Stack) startProxies() error {
	e := s.cfg.Endpoints
	targets := []struct {
		service, endpoint string
		proxied           *string
	}{
		{usage.DynamoDB, e.DynamoDB, &s.proxied.DynamoDB},
		{usage.Kinesis, e.Kinesis, &s.proxied.Kinesis},
		{usage.SQS, e.SQS, &s.proxied.SQS},
	}
	for _, t := range targets {
		p, err := usage.Proxy(t.endpoint)
		if err != nil {
			return fmt.Errorf("%s proxy: %w", t.service, err)
		}
		h := s.meter.Middleware(t.service, p)
		for i := len(s.cfg.Middleware) - 1; i >= 0; i-- {
			h = s.cfg.Middleware[i](t.service, h)
		}
		ln, err := listen(0, "")
		if err != nil {
			return fmt.Errorf("%s proxy: %w", t.service, err)
		}
		*t.proxied = "http://" + ln.Addr().String()
		s.serve(ln, h)
	}
	return nil
}

// withUsage meters the API's requests and serves the meter's snapshot at usage.Path beside it.
func (s *Stack) withUsage(api *httpapi.API) http.Handler {
	metered := s.meter.APIMiddleware(api.RouteKey, api)
	snapshot := s.meter.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == usage.Path {
			snapshot.ServeHTTP(w, r)
			return
		}
		metered.ServeHTTP(w, r)
	})
}

// Usage is what the stack has asked of AWS since it started (see package usage).
func (s *Stack) Usage() usage.Snapshot { return s.meter.Snapshot() }

// cpu is the CPU used by the host's own process and by each function's processes.
func (s *Stack) cpu() map[string]time.Duration {
	out := map[string]time.Duration{}
	if d, err := lambdahost.ProcessCPU(os.Getpid()); err == nil {
		out["devstack"] = d
	}
	for name, fn := range s.functions {
		out["function:"+name] = fn.CPU()
	}
	return out
}

// countingWriter is an io.Writer that reports how many bytes pass and keeps none.
type countingWriter func(n int)

func (c countingWriter) Write(p []byte) (int, error) {
	c(len(p))
	return len(p), nil
}
