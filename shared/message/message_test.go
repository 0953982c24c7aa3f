package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	lastSeen = time.Date(2025, 1, 10, 9, 30, 0, 0, time.UTC)
	raisedAt = time.Date(2025, 2, 20, 12, 0, 0, 0, time.UTC)
)

func schema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.AssertContent()
	s, err := c.Compile(filepath.Join("..", "..", "events", "schemas", name))
	if err != nil {
		t.Fatalf("compile schema %s: %v", name, err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, body []byte) error {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("message is not JSON: %v\n%s", err, body)
	}
	return s.Validate(doc)
}

func TestValidate(t *testing.T) {
	for _, m := range []Message{
		FailedEvent{Type: TypeFailedEvent, Version: FailedEventVersion, Stage: "stitch", FailedAt: raisedAt},
		FailedEvent{Type: TypeFailedEvent, Version: FailedEventVersion, Reason: "bad", Stage: "stitch"},
	} {
		if err := m.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid", m, err)
		}
	}
}

func TestFailedEvent(t *testing.T) {
	f := NewFailedEvent("stitch", "invalid event: no messageId", []byte(`{"type":"track"}`), raisedAt)
	f.EventID, f.SequenceNumber, f.PartitionKey = "shardId-000000000000:1", "1", "a-1"
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"data":"eyJ0eXBlIjoidHJhY2sifQ=="`) {
		t.Errorf("data is not the record in base64: %s", body)
	}
	if err := validate(t, schema(t, "failed-event.v1.json"), body); err != nil {
		t.Errorf("failed event does not match its schema: %v", err)
	}

	big := NewFailedEvent("stitch", "too big", bytes.Repeat([]byte("x"), MaxFailedData+10), raisedAt)
	if len(big.Data) != MaxFailedData || !big.Truncated {
		t.Errorf("big record: %d bytes, truncated %v; want %d, true", len(big.Data), big.Truncated, MaxFailedData)
	}
}

// The example messages under events/sqs are what a consumer receives; they match the schemas.
func TestExampleMessages(t *testing.T) {
	for file, schemaName := range map[string]string{
		"alert-lapse.json":  "alert-lapse.v2.json",
		"failed-event.json": "failed-event.v1.json",
	} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "events", "sqs", file))
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
			if err := validate(t, schema(t, schemaName), []byte(r.Body)); err != nil {
				t.Errorf("%s: body does not match %s: %v", file, schemaName, err)
			}
			var head struct {
				Type    string `json:"type"`
				Version int    `json:"version"`
			}
			_ = json.Unmarshal([]byte(r.Body), &head)
			if r.MessageAttributes["type"].StringValue != head.Type || r.MessageAttributes["version"].StringValue != strconv.Itoa(head.Version) {
				t.Errorf("%s: message attributes %+v do not match the body's type %q version %d", file, r.MessageAttributes, head.Type, head.Version)
			}
		}
	}
}
