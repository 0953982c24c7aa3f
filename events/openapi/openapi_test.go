package openapi

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dcrm-project/dcrm/infra/topology"
)

// parsed is the document as read, before any schema is compiled, so that the structural checks
// say what is wrong even when a schema does not compile.
func parsed(t *testing.T) *api {
	t.Helper()
	doc, err := parse(source)
	if err != nil {
		t.Fatal(err)
	}
	return &api{doc: doc}
}

// The operations are exactly the topology's routes: the same methods on the same paths, path
// parameters named alike.
func TestOperationsAreTheTopologysRoutes(t *testing.T) {
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	var documented, declared []string
	for _, op := range ops {
		documented = append(documented, op.Method+" "+op.Path)
	}
	for _, r := range topology.Default().Routes {
		// API Gateway's greedy parameter {name+} is OpenAPI's {name}: paths have no '+'.
		declared = append(declared, r.Method+" "+strings.ReplaceAll(r.Path, "+}", "}"))
	}
	slices.Sort(documented)
	slices.Sort(declared)
	if !slices.Equal(documented, declared) {
		t.Errorf("the document's operations are not the topology's routes:\ndocumented %q\ndeclared   %q", documented, declared)
	}
}

// The document is OpenAPI 3.1 as far as its structure goes: the fields every document and
// operation must have, every $ref resolving within it, unique operation ids, declared tags and
// security schemes, path parameters that match their templates.
func TestDocumentIsOpenAPI31(t *testing.T) {
	a := parsed(t)
	if a.doc["openapi"] != "3.1.0" {
		t.Errorf("openapi: %v, want 3.1.0", a.doc["openapi"])
	}
	info, _ := a.doc["info"].(map[string]any)
	for _, field := range []string{"title", "version"} {
		if s, _ := info[field].(string); s == "" {
			t.Errorf("info.%s is missing", field)
		}
	}
	for _, ref := range refs(a.doc, "") {
		if _, ok := lookup(a.doc, strings.TrimPrefix(ref[1], "#")); !strings.HasPrefix(ref[1], "#/") || !ok {
			t.Errorf("%s: $ref %q does not resolve within the document", ref[0], ref[1])
		}
	}

	components, _ := a.doc["components"].(map[string]any)
	schemes, _ := components["securitySchemes"].(map[string]any)
	tags := map[string]bool{}
	for _, tag := range a.doc["tags"].([]any) {
		tags[tag.(map[string]any)["name"].(string)] = true
	}
	operationIDs := map[string]string{}
	status := regexp.MustCompile(`^[1-5][0-9][0-9]$`)
	for path, item := range a.doc["paths"].(map[string]any) {
		item := item.(map[string]any)
		if !strings.HasPrefix(path, "/") {
			t.Errorf("path %q does not start with /", path)
		}
		for field := range item {
			if !slices.Contains(methods, field) && field != "parameters" && field != "summary" && field != "description" {
				t.Errorf("%s: %q is not a field of a path item", path, field)
			}
		}
		for _, m := range methods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			name := strings.ToUpper(m) + " " + path
			id, _ := op["operationId"].(string)
			if other, dup := operationIDs[id]; id == "" || dup {
				t.Errorf("%s: operationId %q is empty or also %s's", name, id, other)
			}
			operationIDs[id] = name
			for _, tag := range op["tags"].([]any) {
				if !tags[tag.(string)] {
					t.Errorf("%s: tag %q is not declared", name, tag)
				}
			}
			sec, _ := op["security"].([]any)
			for _, req := range sec {
				for scheme := range req.(map[string]any) {
					if _, ok := schemes[scheme]; !ok {
						t.Errorf("%s: security scheme %q is not declared", name, scheme)
					}
				}
			}
			responses, _ := op["responses"].(map[string]any)
			if len(responses) == 0 {
				t.Errorf("%s has no responses", name)
			}
			for code, r := range responses {
				resp, _, err := a.resolve(r, "")
				if err != nil || !status.MatchString(code) {
					t.Errorf("%s: response %q: %v", name, code, err)
					continue
				}
				if d, _ := resp["description"].(string); d == "" {
					t.Errorf("%s: response %s has no description", name, code)
				}
				for mt, media := range mapOf(resp["content"]) {
					if _, ok := mapOf(media)["schema"]; !ok {
						t.Errorf("%s: response %s, %s: a body without a schema", name, code, mt)
					}
				}
			}
			checkPathParameters(t, a, name, path, item, op)
		}
	}
}

// checkPathParameters checks that the path parameters of an operation are its template's, each
// required.
func checkPathParameters(t *testing.T, a *api, name, path string, item, op map[string]any) {
	t.Helper()
	var inTemplate, declared []string
	for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
		inTemplate = append(inTemplate, m[1])
	}
	params, _ := item["parameters"].([]any)
	ops, _ := op["parameters"].([]any)
	for _, p := range append(slices.Clone(params), ops...) {
		param, _, err := a.resolve(p, "")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, ok := param["schema"]; !ok {
			t.Errorf("%s: parameter %v has no schema", name, param["name"])
		}
		if param["in"] != "path" {
			continue
		}
		declared = append(declared, param["name"].(string))
		if param["required"] != true {
			t.Errorf("%s: path parameter %v is not required", name, param["name"])
		}
	}
	slices.Sort(inTemplate)
	slices.Sort(declared)
	if !slices.Equal(inTemplate, declared) {
		t.Errorf("%s: path parameters %q, the template has %q", name, declared, inTemplate)
	}
}

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

// refs lists every $ref in v as (where, ref).
func refs(v any, ptr string) [][2]string {
	var out [][2]string
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["$ref"].(string); ok {
			out = append(out, [2]string{ptr, ref})
		}
		for k, e := range x {
			out = append(out, refs(e, ptr+"/"+escape(k))...)
		}
	case []any:
		for i, e := range x {
			out = append(out, refs(e, ptr+"/"+strconv.Itoa(i))...)
		}
	}
	return out
}

// Every schema of the document is a JSON Schema 2020-12 (valid against its metaschema) and
// compiles: the components, and those of parameters, bodies and headers.
func TestEverySchemaCompiles(t *testing.T) {
	a := parsed(t)
	meta, err := jsonschema.NewCompiler().Compile("https://json-schema.org/draft/2020-12/schema")
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, a.doc); err != nil {
		t.Fatal(err)
	}
	ptrs := schemas(a.doc, "")
	if len(ptrs) < 50 {
		t.Fatalf("found %d schemas; the walk missed some", len(ptrs))
	}
	for _, ptr := range ptrs {
		v, _ := lookup(a.doc, ptr)
		if err := meta.Validate(v); err != nil {
			t.Errorf("%s is not a JSON Schema 2020-12: %v", ptr, err)
		}
		if _, err := compile(c, ptr); err != nil {
			t.Error(err)
		}
	}
}

// schemas lists the JSON pointers of the document's schemas: the components' and every "schema"
// field outside them.
func schemas(v any, ptr string) []string {
	if ptr == "/components/schemas" {
		var out []string
		for name := range mapOf(v) {
			out = append(out, ptr+"/"+escape(name))
		}
		return out
	}
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "schema" {
				out = append(out, ptr+"/schema")
				continue
			}
			out = append(out, schemas(e, ptr+"/"+escape(k))...)
		}
	case []any:
		for i, e := range x {
			out = append(out, schemas(e, ptr+"/"+strconv.Itoa(i))...)
		}
	}
	return out
}

func TestMatch(t *testing.T) {
	for path, want := range map[string]string{
		"/v1/profiles":                 "/v1/profiles",
		"/v1/profiles/prf_1":           "/v1/profiles/{profileId}",
		"/v1/profiles/prf_1/events":    "/v1/profiles/{profileId}/events",
		"/v1/pixel/track":              "/v1/pixel/{type}",
		"/v1/profiles/prf_1/events/x":  "",
		"/v1/profiles//events":         "",
		"/v1/profiles/prf_1/unknown":   "",
		"/v1/profiles/{profileId}/foo": "",
		"/v1/reports":                  "/v1/reports",
		"/v1/reports/latest":           "/v1/reports/{period}",
		"/v1/reports/latest/paths.csv": "/v1/reports/{period}/{part}",
		"/v1/reports//paths.csv":       "",
		"/v1/audiences":                "/v1/audiences",
		"/v1/audiences/vip":            "/v1/audiences/{audienceId}",
	} {
		op, err := Match("get", path)
		switch {
		case want == "" && !errors.Is(err, ErrUndocumented):
			t.Errorf("GET %s matched %v, %v", path, op.Path, err)
		case want != "" && (err != nil || op.Path != want):
			t.Errorf("GET %s: %v, %v; want %s", path, op.Path, err, want)
		}
	}
	if _, err := Match("POST", "/v1/profiles/p/events"); !errors.Is(err, ErrUndocumented) {
		t.Errorf("POST on a GET route: %v", err)
	}
}

// The checks say what is wrong.
func TestValidationRefusesWhatTheDocumentDoesNot(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string // in the error; "" for none
	}{
		{"a profile's error", ValidateResponse("GET", "/v1/profiles/{profileId}", 404, []byte(`{"error":"profile not found"}`)), ""},
		{"an undocumented route", ValidateResponse("GET", "/v1/nothing", 200, []byte(`{}`)), "not in the document"},
		{"an undocumented status", ValidateResponse("GET", "/t.js", 418, nil), "answering 418: not in the document (documented: [200 304])"},
		{"a field too many", ValidateResponse("GET", "/v1/profiles/{profileId}", 404, []byte(`{"error":"x","code":1}`)), "does not match"},
		{"not JSON", ValidateResponse("POST", "/v1/track", 200, []byte(`success`)), "not JSON"},
		{"more after the JSON", ValidateResponse("POST", "/v1/track", 200, []byte(`{"success":true} {}`)), "not JSON"},
		{"a body where none is", ValidateResponse("OPTIONS", "/v1/track", 204, []byte(`{}`)), "a body where the document has none"},
		{"a GIF is not looked into", ValidateResponse("GET", "/v1/pixel/{type}", 200, []byte("R0lGODlh")), ""},
		{"a batch's partial success", ValidateResponse("POST", "/v1/batch", 200,
			[]byte(`{"success":true,"accepted":1,"rejected":[{"index":1,"reason":"r"}],"rejectedCount":1}`)), ""},
		{"counts without the refused", ValidateResponse("POST", "/v1/batch", 200, []byte(`{"success":true,"accepted":1}`)), "does not match"},

		{"headers", ValidateHeaders("POST", "/v1/track", 429, map[string]string{"content-type": "application/json", "Retry-After": "1"}), ""},
		{"no Retry-After", ValidateHeaders("POST", "/v1/track", 503, map[string]string{"Content-Type": "application/json"}), "no retry-after header"},
		{"Retry-After not a number", ValidateHeaders("POST", "/v1/track", 503, map[string]string{"Content-Type": "application/json", "Retry-After": "soon"}), "not an integer"},
		{"another content type", ValidateHeaders("GET", "/v1/pixel/{type}", 200, map[string]string{"Content-Type": "text/html", "Cache-Control": "no-cache"}), `Content-Type "text/html", documented image/gif`},
		{"a header's value", ValidateHeaders("OPTIONS", "/v1/batch", 204, map[string]string{"Access-Control-Allow-Methods": "GET",
			"Access-Control-Allow-Headers": "x", "Access-Control-Max-Age": "1", "Vary": "Origin"}), "header access-control-allow-methods"},

		{"a split", ValidateRequest("POST", "/v1/profiles/{profileId}/split", "application/json", []byte(`{"profileId":"p"}`)), ""},
		{"a split naming nothing", ValidateRequest("POST", "/v1/profiles/{profileId}/split", "", []byte(`{}`)), "does not match"},
		{"a beacon as text", ValidateRequest("POST", "/v1/track", "text/plain;charset=UTF-8", []byte(`{"userId":7,"event":"E"}`)), ""},
		{"a track without its event", ValidateRequest("POST", "/v1/track", "", []byte(`{"userId":"u"}`)), "does not match"},
		{"a multipart beacon", ValidateRequest("POST", "/v1/track", "multipart/form-data; boundary=x", []byte(`{}`)), "content type multipart/form-data: not in the document"},
		{"a body to a GET", ValidateRequest("GET", "/v1/profiles", "", []byte(`{}`)), "a body where the document has none"},

		// A response of several media types: the body is checked as its Content-Type says.
		{"a report's CSV", ValidateResponseAs("GET", "/v1/reports/{period}/{part}", 200, "text/csv; charset=utf-8", []byte("goal,by\n")), ""},
		{"a report's JSON", ValidateResponseAs("GET", "/v1/reports/{period}/{part}", 200, "application/json", []byte(`{"goals":[]}`)), ""},
		{"a report's JSON that is not", ValidateResponseAs("GET", "/v1/reports/{period}/{part}", 200, "application/json", []byte("goal,by\n")), "not JSON"},
		{"a report's picture as HTML", ValidateResponseAs("GET", "/v1/reports/{period}/{part}", 200, "text/html", []byte("<svg/>")),
			"content type text/html: not in the document (documented: application/json or image/svg+xml or text/csv)"},
		{"a report's part without its type", ValidateResponse("GET", "/v1/reports/{period}/{part}", 200, []byte("goal,by\n")),
			"documented as application/json or image/svg+xml or text/csv: give the answer's content type"},
		{"one type named", ValidateResponseAs("GET", "/v1/profiles/{profileId}", 404, "application/json", []byte(`{"error":"x"}`)), ""},
		{"a picture's headers", ValidateHeaders("GET", "/v1/reports/{period}/{part}", 200, map[string]string{"Content-Type": "image/svg+xml",
			"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}), ""},
		{"a CSV's headers", ValidateHeaders("GET", "/v1/reports/{period}/{part}", 200, map[string]string{"Content-Type": "text/csv; charset=utf-8",
			"X-Content-Type-Options": "nosniff", "Content-Disposition": `attachment; filename="paths-2025-01-01_2025-01-31.csv"`}), ""},
		{"a report's part as HTML", ValidateHeaders("GET", "/v1/reports/{period}/{part}", 200, map[string]string{"Content-Type": "text/html",
			"X-Content-Type-Options": "nosniff"}), `Content-Type "text/html", documented application/json or image/svg+xml or text/csv`},
		{"a report without nosniff", ValidateHeaders("GET", "/v1/reports", 200, map[string]string{"Content-Type": "application/json"}),
			"no x-content-type-options header"},
		{"a report list", ValidateResponse("GET", "/v1/reports", 200,
			[]byte(`{"latest":"2025-01-01_2025-01-31","reports":[{"period":"2025-01-01_2025-01-31","from":"2025-01-01","to":"2025-01-31"}]}`)), ""},
		{"a report list before the first", ValidateResponse("GET", "/v1/reports", 200, []byte(`{"latest":null,"reports":[]}`)), ""},
		{"a report list without latest", ValidateResponse("GET", "/v1/reports", 200, []byte(`{"reports":[]}`)), "does not match"},
		{"a period that is not one", ValidateResponse("GET", "/v1/reports", 200,
			[]byte(`{"latest":"last month","reports":[]}`)), "does not match"},

		{"an audience", ValidateRequest("PUT", "/v1/audiences/{audienceId}", "", []byte(`{"id":"vip","name":"VIP","rule":{"field":"revenue","op":">=","value":500}}`)), ""},
		{"an audience with a member too many", ValidateRequest("PUT", "/v1/audiences/{audienceId}", "",
			[]byte(`{"id":"vip","name":"VIP","rules":[],"rule":{"field":"revenue","op":">=","value":500}}`)), "does not match"},
		{"an audience comparing a time with a number", ValidateRequest("PUT", "/v1/audiences/{audienceId}", "",
			[]byte(`{"id":"vip","name":"VIP","rule":{"field":"lastSeen","op":">=","value":5}}`)), "does not match"},
		{"a removed audience", ValidateResponse("DELETE", "/v1/audiences/{audienceId}", 204, nil), ""},
	} {
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("%s: %v", tc.name, tc.err)
		case tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, tc.err, tc.want)
		}
	}
}

// The request schemas say what the endpoint takes, case by case.
func TestCallSchemas(t *testing.T) {
	for _, tc := range []struct {
		path, body string
		ok         bool
	}{
		{"/v1/page", `{"anonymousId":"a"}`, true},
		{"/v1/page", `{"anonymousId":"","userId":null}`, false},
		{"/v1/page", `{"userId":42.0,"properties":null}`, true},
		{"/v1/page", `{"userId":4.2}`, false},
		{"/v1/page", `{"userId":"u","properties":[]}`, false},
		{"/v1/page", `{"userId":"` + strings.Repeat("u", 257) + `"}`, false},
		{"/v1/page", `{"userId":"u","timestamp":"2024-03-01"}`, true},
		{"/v1/page", `{"userId":"u","timestamp":"yesterday"}`, false},
		{"/v1/group", `{"userId":"u"}`, false},
		{"/v1/group", `{"userId":"u","groupId":"acme"}`, true},
		{"/v1/alias", `{"userId":"u","previousId":"a"}`, true},
		{"/v1/alias", `{"anonymousId":"a","previousId":"a"}`, false},
		{"/v1/batch", `{"batch":[]}`, false},
		{"/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"E"},{"type":"alias","userId":"u","previousId":"a"}]}`, true},
		{"/v1/batch", `{"batch":[{"type":"track","userId":"u"}]}`, false},
		{"/v1/batch", `{"batch":[{"type":"merge","userId":"u"}]}`, false},
		{"/v1/batch", `{"batch":[{"userId":"u"}]}`, false},
	} {
		err := ValidateRequest("POST", tc.path, "application/json", []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("POST %s %s: %v, want ok %v", tc.path, tc.body, err, tc.ok)
		}
	}
}

func TestCoverage(t *testing.T) {
	var c Coverage
	for _, s := range []int{200, 304} {
		c.Add("GET", "/t.js", s)
	}
	c.Add("POST", "/v1/profiles/{profileId}/split", 409)
	missing, err := c.Missing(func(op Operation) bool { return op.Path == "/t.js" || strings.HasSuffix(op.Path, "/split") })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{}
	for _, s := range []int{200, 400, 401, 403, 404, 422, 503} {
		want = append(want, fmt.Sprintf("POST /v1/profiles/{profileId}/split %d", s))
	}
	if !slices.Equal(missing, want) {
		t.Errorf("missing %q, want %q", missing, want)
	}
}

// The audience definition the profile API takes and answers is shared/audience's JSON Schema,
// copied: the schema audienceDefinition is the file's root (without $schema, $id and $defs), and
// each of its $defs is the schema audience<Name>, the references rewritten to them.
func TestAudienceDefinitionIsTheLanguagesSchema(t *testing.T) {
	if n := holdCopy(t, "../../shared/audience/definition.schema.json", "audience"); n != 10 {
		t.Errorf("%d schemas; the file has the root and nine $defs", n)
	}
}

// The computed-trait definition the profile API takes and answers is shared/computed's JSON
// Schema, copied as the audience definition is: computedDefinition and computed<Name>.
func TestComputedDefinitionIsTheLanguagesSchema(t *testing.T) {
	if n := holdCopy(t, "../../shared/computed/definition.schema.json", "computed"); n != 4 {
		t.Errorf("%d schemas; the file has the root and three $defs", n)
	}
}

// holdCopy checks that the document holds a copy of the JSON Schema in file: the schema
// <prefix>Definition is the file's root (without $schema, $id and $defs), and each of its $defs
// is the schema <prefix><Name>, the references rewritten to them. It returns how many schemas the
// file makes.
func holdCopy(t *testing.T, file, prefix string) int {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	doc := v.(map[string]any)
	name := func(def string) string { return prefix + strings.ToUpper(def[:1]) + def[1:] }
	var rewrite func(v any) any
	rewrite = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				if ref, ok := e.(string); ok && k == "$ref" {
					def, ok := strings.CutPrefix(ref, "#/$defs/")
					if !ok {
						t.Fatalf("$ref %q outside the file's $defs", ref)
					}
					out[k] = "#/components/schemas/" + name(def)
					continue
				}
				out[k] = rewrite(e)
			}
			return out
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = rewrite(e)
			}
			return out
		}
		return v
	}
	want := map[string]any{}
	root := map[string]any{}
	for k, e := range doc {
		if k != "$schema" && k != "$id" && k != "$defs" {
			root[k] = e
		}
	}
	want[prefix+"Definition"] = rewrite(root)
	for def, e := range doc["$defs"].(map[string]any) {
		want[name(def)] = rewrite(e)
	}
	for schema, w := range want {
		got, err := Schema(schema)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("schema %s is not the copy of %s's:\n got %v\nwant %v", schema, file, got, w)
		}
	}
	return len(want)
}

// The document stays out of the Lambda binaries: no function imports this package.
func TestFunctionsDoNotLinkTheDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "../../functions/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if slices.Contains(strings.Fields(string(out)), "github.com/dcrm-project/dcrm/events/openapi") {
		t.Error("a function links events/openapi; only tests may import it")
	}
}
