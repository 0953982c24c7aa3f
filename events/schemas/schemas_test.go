package schemas

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Every schema compiles and fixes the type and version its file is named for.
func TestEverySchemaCompilesAndFixesItsTypeAndVersion(t *testing.T) {
	want := map[string]key{
		"alert-lapse.v2.json":      {"lapse", 2},
		"audience-entered.v1.json": {"audience.entered", 1},
		"audience-exited.v1.json":  {"audience.exited", 1},
		"failed-event.v1.json":     {"failed-event", 1},
		"profile-consent.v1.json":  {"profile.consent", 1},
		"profile-erased.v1.json":   {"profile.erased", 1},
		"profile-merged.v1.json":   {"profile.merged", 1},
		"profile-split.v1.json":    {"profile.split", 1},
		"profile-updated.v1.json":  {"profile.updated", 1},
		"trigger-fired.v1.json":    {"trigger.fired", 1},
	}
	all, err := compiled()
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(files, "*.json")
	if len(names) != len(want) || len(all) != len(want) {
		t.Errorf("%d files, %d schemas; want %d: %v", len(names), len(all), len(want), names)
	}
	for name, k := range want {
		if !Known(k.typ, k.version) {
			t.Errorf("%s: no schema for %s v%d", name, k.typ, k.version)
		}
	}
	if Known("lapse", 1) {
		t.Error("lapse v1, no longer sent, has a schema")
	}
}

func TestValidateSaysWhatIsWrong(t *testing.T) {
	if err := Validate("nope", 1, []byte(`{}`)); !errors.Is(err, ErrUnknown) || err.Error() != `no schema for type "nope" version 1` {
		t.Errorf("unknown type: %v", err)
	}
	if err := Validate("profile.merged", 1, []byte(`not json`)); err == nil {
		t.Error("accepted a body that is not JSON")
	}
	if err := Validate("profile.merged", 1, []byte(`{"type":"profile.merged","version":1} {}`)); err == nil {
		t.Error("accepted a body with more after the JSON")
	}
	if err := Validate("profile.merged", 1, []byte(`{"type":"profile.merged","version":1}`)); err == nil {
		t.Error("accepted a merge without its fields")
	}
	// The data of a failed event is base64.
	body := `{"type":"failed-event","version":1,"reason":"r","stage":"stitch","data":"not base64!","failedAt":"2025-01-01T00:00:00Z"}`
	if err := Validate("failed-event", 1, []byte(body)); err == nil {
		t.Error("accepted failed-event data that is not base64")
	}
}

// The example SQS events under events/sqs are what a consumer receives: each body matches the
// schema its message attributes name, and the attributes match the body.
func TestExampleMessagesValidate(t *testing.T) {
	samples, err := filepath.Glob(filepath.Join("..", "sqs", "*.json"))
	if err != nil || len(samples) == 0 {
		t.Fatalf("no example messages: %v", err)
	}
	for _, file := range samples {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Records []struct {
				Body              string `json:"body"`
				MessageAttributes map[string]struct {
					StringValue string `json:"stringValue"`
				} `json:"messageAttributes"`
			} `json:"Records"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil || len(ev.Records) == 0 {
			t.Fatalf("%s: not an SQS event: %v", file, err)
		}
		for _, r := range ev.Records {
			typ := r.MessageAttributes["type"].StringValue
			version, _ := strconv.Atoi(r.MessageAttributes["version"].StringValue)
			if err := Validate(typ, version, []byte(r.Body)); err != nil {
				t.Errorf("%s: %v", file, err)
			}
			var head struct {
				Type    string `json:"type"`
				Version int    `json:"version"`
				Kind    string `json:"kind"`
			}
			_ = json.Unmarshal([]byte(r.Body), &head)
			if head.Type != typ || head.Version != version || head.Kind != r.MessageAttributes["kind"].StringValue {
				t.Errorf("%s: message attributes %+v do not match the body's type %q version %d kind %q", file, r.MessageAttributes, head.Type, head.Version, head.Kind)
			}
		}
	}
}
