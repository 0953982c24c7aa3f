package httpapi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/dcrm-project/dcrm/infra/topology"
)

// ErrBadRoute is a route API Gateway would refuse.
var ErrBadRoute = errors.New("bad route")

// route is a compiled topology route.
type route struct {
	topology.Route
	segments []segment
}

type segmentKind int

const (
	greedy  segmentKind = iota // {name+}: the rest of the path
	param                      // {name}: one segment
	literal                    // text
)

type segment struct {
	kind segmentKind
	text string // literal text or parameter name
}

func compile(r topology.Route) (route, error) {
	if r.Method == "" || r.Function == "" || !strings.HasPrefix(r.Path, "/") {
		return route{}, fmt.Errorf("%w: %q %q -> %q", ErrBadRoute, r.Method, r.Path, r.Function)
	}
	c := route{Route: r}
	c.Method = strings.ToUpper(r.Method)
	parts := strings.Split(strings.TrimPrefix(r.Path, "/"), "/")
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}"):
			if i != len(parts)-1 {
				return route{}, fmt.Errorf("%w: %s: a greedy parameter must come last", ErrBadRoute, r.Path)
			}
			c.segments = append(c.segments, segment{greedy, p[1 : len(p)-2]})
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			c.segments = append(c.segments, segment{param, p[1 : len(p)-1]})
		default:
			c.segments = append(c.segments, segment{literal, p})
		}
	}
	return c, nil
}

// match reports whether the (escaped) path matches, with the decoded path parameters.
func (r route) match(escapedPath string) (map[string]string, bool) {
	parts := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	var params map[string]string
	set := func(k, v string) {
		if params == nil {
			params = map[string]string{}
		}
		params[k] = v
	}
	for i, s := range r.segments {
		if s.kind == greedy {
			rest := strings.Join(parts[i:], "/")
			if rest == "" {
				return nil, false
			}
			set(s.text, unescape(rest))
			return params, true
		}
		if i >= len(parts) {
			return nil, false
		}
		part := unescape(parts[i])
		switch s.kind {
		case literal:
			if part != s.text {
				return nil, false
			}
		case param:
			if part == "" {
				return nil, false
			}
			set(s.text, part)
		}
	}
	return params, len(parts) == len(r.segments)
}

// moreSpecific orders matching routes as API Gateway does: literal segments before parameters
// before greedy ones, left to right, then an exact method before ANY.
func (r route) moreSpecific(o route) bool {
	for i := 0; i < len(r.segments) && i < len(o.segments); i++ {
		if r.segments[i].kind != o.segments[i].kind {
			return r.segments[i].kind > o.segments[i].kind
		}
	}
	if len(r.segments) != len(o.segments) {
		return len(r.segments) > len(o.segments)
	}
	return r.Method != "ANY" && o.Method == "ANY"
}

// find picks the route for a method and path. When none has the method but some has the path and
// the method is OPTIONS, that route's function gets the preflight.
func find(routes []route, method, escapedPath string) (route, map[string]string, bool) {
	var best *route
	var bestParams map[string]string
	var preflight *route
	var preflightParams map[string]string
	for i := range routes {
		r := &routes[i]
		params, ok := r.match(escapedPath)
		if !ok {
			continue
		}
		if r.Method == method || r.Method == "ANY" {
			if best == nil || r.moreSpecific(*best) {
				best, bestParams = r, params
			}
		} else if method == "OPTIONS" && (preflight == nil || r.moreSpecific(*preflight)) {
			preflight, preflightParams = r, params
		}
	}
	switch {
	case best != nil:
		return *best, bestParams, true
	case preflight != nil:
		p := *preflight
		p.Method = "OPTIONS"
		return p, preflightParams, true
	}
	return route{}, nil, false
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
