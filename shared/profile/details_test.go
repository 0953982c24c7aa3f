package profile

import (
	"encoding/json"
	"reflect"
	"testing"
)

var contextSeeds = []string{
	`{"page":{"path":"/a","url":"https://shop.example/a?x=1"},"userAgent":"Mozilla/5.0","consent":{"analytics":true,"marketing":null}}`,
	`{"Page":{"path":"/a"},"PAGE":{"url":"/b"},"consent":{"analytics":false},"Consent":{"marketing":true}}`,
	`{"page":{"path":"/a"},"page":null}`,
	`{"page":"not an object","consent":[true],"library":{"name":"analytics.js"}}`,
	`{"p\u0061ge":{"path":"/escaped"}}`,
	`{"page":{"path":"/a"}`, `[]`, `null`, `"x"`, ``, ` {"page" : {"path" : "/spaced"} } `,
	`{"page":{"path":"/a","path":"/b"}}`, `{"consent":{"analytics":true},"consent":{"marketing":false}}`,
}

// readContext reads what encoding/json reads into an eventContext, whatever the context holds.
func TestReadContextReadsAsEncodingJSON(t *testing.T) {
	for _, s := range contextSeeds {
		checkReadContext(t, []byte(s))
	}
}

func FuzzReadContext(f *testing.F) {
	for _, s := range contextSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkReadContext)
}

func checkReadContext(t *testing.T, raw []byte) {
	var want eventContext
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &want)
	}
	if got := readContext(raw); !reflect.DeepEqual(got, want) {
		t.Fatalf("readContext(%s) = %#v, encoding/json reads %#v", raw, got, want)
	}
}
