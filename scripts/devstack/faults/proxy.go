package faults

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// Proxy is a loopback reverse proxy to one server, with middleware in front of it.
type Proxy struct {
	url string
	srv *http.Server
}

// StartProxy starts a reverse proxy to target (a server's base URL, such as
// http://127.0.0.1:8000) on a free loopback port, its handler wrapped by the middleware given
// (the first given is outermost). Close stops it.
func StartProxy(target string, middleware ...func(http.Handler) http.Handler) (*Proxy, error) {
	return StartProxyOn("127.0.0.1:0", target, middleware...)
}

// StartProxyOn is StartProxy on a given loopback address.
func StartProxyOn(addr, target string, middleware ...func(http.Handler) http.Handler) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("proxy target %q is not a URL with a host", target)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		return nil, fmt.Errorf("proxy address %q is not a loopback address", addr)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{
		Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second,
	}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if r.Context().Err() != nil {
			return // the caller went away
		}
		http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
	}
	var h http.Handler = rp
	for i := len(middleware) - 1; i >= 0; i-- {
		h = middleware[i](h)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy to %s: %w", target, err)
	}
	p := &Proxy{url: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's base URL, to use as the server's endpoint.
func (p *Proxy) URL() string { return p.url }

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error { return p.srv.Close() }
