// Package openapi holds the OpenAPI 3.1 document of dcrm's HTTP API (openapi.yaml beside it,
// embedded) and checks requests and responses against it. It is for tests, which hold the
// topology's routes and the handlers' real answers to the document: no function imports it, so
// the Lambda binaries do not carry the document.
package openapi

import (
	"bytes"
	"cmp"
	_ "embed" // the document
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"mime"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

//go:embed openapi.yaml
var source []byte

// docURL names the document for the schema compiler; its schemas refer to each other within it.
const docURL = "dcrm:///events/openapi/openapi.yaml"

// ErrUndocumented is returned for an operation, or a response of one, that the document does not
// describe.
var ErrUndocumented = errors.New("not in the document")

// Operation is one route the document describes.
type Operation struct {
	Method   string // GET, POST … (upper case)
	Path     string // as the topology declares it, e.g. /v1/profiles/{profileId}
	Statuses []int  // the documented response statuses, ascending
}

type operation struct {
	Operation
	requests  map[string]*jsonschema.Schema // the body's schema by media type; none: no body
	responses map[int]response
}

type response struct {
	// media are the body's media types, each with the body's schema when it is JSON (nil for
	// others); none when the response has no body.
	media   map[string]*jsonschema.Schema
	headers map[string]header // by lower-case name
}

// mediaTypes lists the response's media types, in order, for messages.
func (r response) mediaTypes() string {
	types := slices.Sorted(maps.Keys(r.media))
	return strings.Join(types, " or ")
}

type header struct {
	required bool
	integer  bool // the value is read as an integer
	schema   *jsonschema.Schema
}

type api struct {
	doc map[string]any // the document as JSON values
	ops map[string]*operation
}

func key(method, path string) string { return strings.ToUpper(method) + " " + path }

// methods are the operations a path item may hold.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// load reads and compiles the document once.
var load = sync.OnceValues(func() (*api, error) {
	doc, err := parse(source)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, fmt.Errorf("add the document: %w", err)
	}
	a := &api{doc: doc, ops: map[string]*operation{}}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		item, _ := item.(map[string]any)
		for _, m := range methods {
			raw, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			ptr := "/paths/" + escape(path) + "/" + m
			op, err := a.operation(c, strings.ToUpper(m), path, raw, ptr)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", strings.ToUpper(m), path, err)
			}
			a.ops[key(m, path)] = op
		}
	}
	return a, nil
})

// parse reads the YAML document into JSON values (json.Number for numbers), as the schema
// compiler takes them.
func parse(src []byte) (map[string]any, error) {
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		return nil, fmt.Errorf("read openapi.yaml: %w", err)
	}
	b, err := json.Marshal(v) // fails on keys that are not strings, which JSON cannot have
	if err != nil {
		return nil, fmt.Errorf("convert openapi.yaml to JSON: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("convert openapi.yaml to JSON: %w", err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("openapi.yaml is not a mapping")
	}
	return m, nil
}

func (a *api) operation(c *jsonschema.Compiler, method, path string, raw map[string]any, ptr string) (*operation, error) {
	op := &operation{Operation: Operation{Method: method, Path: path}, responses: map[int]response{}}
	if rb, ok := raw["requestBody"]; ok {
		body, bptr, err := a.resolve(rb, ptr+"/requestBody")
		if err != nil {
			return nil, err
		}
		content, _ := body["content"].(map[string]any)
		op.requests = map[string]*jsonschema.Schema{}
		for mt := range content {
			if op.requests[mt], err = compile(c, bptr+"/content/"+escape(mt)+"/schema"); err != nil {
				return nil, fmt.Errorf("request body %s: %w", mt, err)
			}
		}
	}
	responses, _ := raw["responses"].(map[string]any)
	for code, r := range responses {
		status, err := strconv.Atoi(code)
		if err != nil {
			return nil, fmt.Errorf("response %q: not a status", code)
		}
		resp, rptr, err := a.resolve(r, ptr+"/responses/"+code)
		if err != nil {
			return nil, err
		}
		out := response{media: map[string]*jsonschema.Schema{}, headers: map[string]header{}}
		content, _ := resp["content"].(map[string]any)
		for mt := range content {
			s, err := compile(c, rptr+"/content/"+escape(mt)+"/schema")
			if err != nil {
				return nil, fmt.Errorf("response %d, %s: %w", status, mt, err)
			}
			out.media[mt] = nil
			if isJSON(mt) {
				out.media[mt] = s
			}
		}
		headers, _ := resp["headers"].(map[string]any)
		for name, h := range headers {
			hd, hptr, err := a.resolve(h, rptr+"/headers/"+escape(name))
			if err != nil {
				return nil, err
			}
			s, err := compile(c, hptr+"/schema")
			if err != nil {
				return nil, fmt.Errorf("response %d, header %s: %w", status, name, err)
			}
			required, _ := hd["required"].(bool)
			typ, _ := hd["schema"].(map[string]any)["type"].(string)
			out.headers[strings.ToLower(name)] = header{required: required, integer: typ == "integer", schema: s}
		}
		op.responses[status] = out
		op.Statuses = append(op.Statuses, status)
	}
	slices.Sort(op.Statuses)
	return op, nil
}

func compile(c *jsonschema.Compiler, ptr string) (*jsonschema.Schema, error) {
	s, err := c.Compile(docURL + "#" + ptr)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", ptr, err)
	}
	return s, nil
}

// resolve follows the $ref of a response, request body, parameter or header to what it names,
// and returns it with its JSON pointer in the document.
func (a *api) resolve(v any, ptr string) (map[string]any, string, error) {
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("%s is not an object", ptr)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, ptr, nil
		}
		target, ok := strings.CutPrefix(ref, "#")
		if !ok {
			return nil, "", fmt.Errorf("%s: $ref %q is not within the document", ptr, ref)
		}
		if v, ok = lookup(a.doc, target); !ok {
			return nil, "", fmt.Errorf("%s: $ref %q names nothing", ptr, ref)
		}
		ptr = target
	}
	return nil, "", fmt.Errorf("%s: $ref leads too far", ptr)
}

// lookup finds the value a JSON pointer names in the document.
func lookup(doc any, ptr string) (any, bool) {
	if ptr == "" {
		return doc, true
	}
	v := doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// escape makes a name one token of a JSON pointer.
func escape(tok string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(tok) }

func isJSON(mediaType string) bool {
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

// Operations lists the document's operations, by path and method.
func Operations() ([]Operation, error) {
	a, err := load()
	if err != nil {
		return nil, err
	}
	out := make([]Operation, 0, len(a.ops))
	for _, op := range a.ops {
		o := op.Operation
		o.Statuses = slices.Clone(o.Statuses)
		out = append(out, o)
	}
	slices.SortFunc(out, func(x, y Operation) int { return cmp.Or(cmp.Compare(x.Path, y.Path), cmp.Compare(x.Method, y.Method)) })
	return out, nil
}

// Schema returns the schema of components/schemas named name as JSON values, for tests that
// compare a Go type with it.
func Schema(name string) (map[string]any, error) {
	a, err := load()
	if err != nil {
		return nil, err
	}
	s, ok := mapAt(a.doc, "components", "schemas", name)
	if !ok {
		return nil, fmt.Errorf("schema %s: %w", name, ErrUndocumented)
	}
	return s, nil
}

func mapAt(v any, path ...string) (map[string]any, bool) {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// Match finds the operation that serves a request for a concrete path, e.g. GET
// /v1/profiles/prf_1 is GET /v1/profiles/{profileId}.
func Match(method, path string) (Operation, error) {
	a, err := load()
	if err != nil {
		return Operation{}, err
	}
	if op, ok := a.ops[key(method, path)]; ok {
		return op.Operation, nil
	}
	for _, op := range a.ops {
		if op.Method == strings.ToUpper(method) && matches(op.Path, path) {
			return op.Operation, nil
		}
	}
	return Operation{}, fmt.Errorf("%s %s: %w", method, path, ErrUndocumented)
}

// matches tells whether a concrete path fills a path template, each {parameter} with a segment.
func matches(template, path string) bool {
	tmpl, segs := strings.Split(template, "/"), strings.Split(path, "/")
	if len(tmpl) != len(segs) {
		return false
	}
	for i, t := range tmpl {
		param := strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}")
		if (param && segs[i] == "") || (!param && t != segs[i]) {
			return false
		}
	}
	return true
}

func (a *api) response(method, path string, status int) (response, error) {
	op, ok := a.ops[key(method, path)]
	if !ok {
		return response{}, fmt.Errorf("%s %s: %w", method, path, ErrUndocumented)
	}
	r, ok := op.responses[status]
	if !ok {
		return response{}, fmt.Errorf("%s %s answering %d: %w (documented: %v)", method, path, status, ErrUndocumented, op.Statuses)
	}
	return r, nil
}

// ValidateResponse checks the body of a response of the route method path (as declared:
// /v1/profiles/{profileId}) with status against the document: the status must be documented, a
// JSON body must match its schema, and a response documented without a body must have none.
// Bodies of other media types (the pixel's GIF, the tracker's script) are not looked into. A
// response documented with several media types needs its Content-Type: ValidateResponseAs.
func ValidateResponse(method, path string, status int, body []byte) error {
	return ValidateResponseAs(method, path, status, "", body)
}

// ValidateResponseAs is ValidateResponse of a body of the given Content-Type, which must be one
// the response is documented with; "" is the response's one media type.
func ValidateResponseAs(method, path string, status int, contentType string, body []byte) error {
	a, err := load()
	if err != nil {
		return err
	}
	r, err := a.response(method, path, status)
	if err != nil {
		return err
	}
	if len(r.media) == 0 {
		if len(body) > 0 {
			return fmt.Errorf("%s %s answering %d: a body where the document has none", method, path, status)
		}
		return nil
	}
	var mt string
	switch {
	case contentType != "":
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return fmt.Errorf("%s %s answering %d: content type %q: %w", method, path, status, contentType, err)
		}
	case len(r.media) == 1:
		for only := range r.media {
			mt = only
		}
	default:
		return fmt.Errorf("%s %s answering %d: documented as %s: give the answer's content type", method, path, status, r.mediaTypes())
	}
	schema, ok := r.media[mt]
	switch {
	case !ok:
		return fmt.Errorf("%s %s answering %d: content type %s: %w (documented: %s)", method, path, status, mt, ErrUndocumented, r.mediaTypes())
	case schema != nil:
		if err := validateJSON(schema, body); err != nil {
			return fmt.Errorf("%s %s answering %d: %w", method, path, status, err)
		}
	}
	return nil
}

// ValidateHeaders checks the headers of a response of the route method path with status against
// the document: its Content-Type is a documented media type, the documented headers it must
// carry are there, and those it carries match their schemas. Names are compared in any case.
func ValidateHeaders(method, path string, status int, headers map[string]string) error {
	a, err := load()
	if err != nil {
		return err
	}
	r, err := a.response(method, path, status)
	if err != nil {
		return err
	}
	got := make(map[string]string, len(headers))
	for k, v := range headers {
		got[strings.ToLower(k)] = v
	}
	var errs []error
	if len(r.media) > 0 {
		mt, _, err := mime.ParseMediaType(got["content-type"])
		if _, ok := r.media[mt]; err != nil || !ok {
			errs = append(errs, fmt.Errorf("Content-Type %q, documented %s", got["content-type"], r.mediaTypes()))
		}
	}
	for name, h := range r.headers {
		v, ok := got[name]
		if !ok {
			if h.required {
				errs = append(errs, fmt.Errorf("no %s header", name))
			}
			continue
		}
		var value any = v
		if h.integer {
			value = json.Number(v)
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				errs = append(errs, fmt.Errorf("header %s %q is not an integer", name, v))
				continue
			}
		}
		if err := h.schema.Validate(value); err != nil {
			errs = append(errs, fmt.Errorf("header %s %q: %w", name, v, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %s answering %d: %w", method, path, status, err)
	}
	return nil
}

// ValidateRequest checks a request body sent to the route method path with the given Content-Type
// ("" is read as application/json) against the document. Only JSON bodies are looked into; a route
// documented without a body takes none.
func ValidateRequest(method, path, contentType string, body []byte) error {
	a, err := load()
	if err != nil {
		return err
	}
	op, ok := a.ops[key(method, path)]
	if !ok {
		return fmt.Errorf("%s %s: %w", method, path, ErrUndocumented)
	}
	if op.requests == nil {
		if len(body) > 0 {
			return fmt.Errorf("%s %s: a body where the document has none", method, path)
		}
		return nil
	}
	mt := "application/json"
	if contentType != "" {
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return fmt.Errorf("%s %s: content type %q: %w", method, path, contentType, err)
		}
	}
	s, ok := op.requests[mt]
	if !ok {
		return fmt.Errorf("%s %s: content type %s: %w", method, path, mt, ErrUndocumented)
	}
	if err := validateJSON(s, body); err != nil {
		return fmt.Errorf("%s %s request: %w", method, path, err)
	}
	return nil
}

func validateJSON(s *jsonschema.Schema, body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("body does not match the document: %w", err)
	}
	return nil
}

// Coverage records the responses tests produced, to find documented ones that none did. It is
// safe for concurrent use; a test package keeps one and runs its tests with Run.
type Coverage struct {
	mu   sync.Mutex
	seen map[string]bool
}

// Add records a response of the route method path with status.
func (c *Coverage) Add(method, path string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	c.seen[fmt.Sprintf("%s %d", key(method, path), status)] = true
}

// Missing lists, as "METHOD path status", the documented responses of the operations keep selects
// that were not added.
func (c *Coverage) Missing(keep func(Operation) bool) ([]string, error) {
	ops, err := Operations()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, op := range ops {
		if !keep(op) {
			continue
		}
		for _, status := range op.Statuses {
			if k := fmt.Sprintf("%s %d", key(op.Method, op.Path), status); !c.seen[k] {
				out = append(out, k)
			}
		}
	}
	return out, nil
}

// Run is for TestMain: it runs the tests of m and then, when every test ran (no -run, no -skip,
// not -short), fails the run if a documented response of the operations keep selects was
// produced by none. It returns the exit code.
func (c *Coverage) Run(m *testing.M, keep func(Operation) bool) int {
	code := m.Run()
	if code != 0 || testing.Short() { // -short skips the tests that need the local servers
		return code
	}
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return code
		}
	}
	missing, err := c.Missing(keep)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	case len(missing) > 0:
		fmt.Fprintf(os.Stderr, "FAIL: events/openapi/openapi.yaml documents responses no test produced:\n\t%s\n",
			strings.Join(missing, "\n\t"))
		return 1
	}
	return code
}
