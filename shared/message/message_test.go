package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/events/schemas"
)

var (
	lastSeen = time.Date(2025, 1, 10, 9, 30, 0, 0, time.UTC)
	raisedAt = time.Date(2025, 2, 20, 12, 0, 0, 0, time.UTC)
)

// matchesSchema checks m's JSON against the schema of its type and version.
func matchesSchema(m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := schemas.Validate(m.MessageType(), m.MessageVersion(), body); err != nil {
		return fmt.Errorf("%w\n%s", err, body)
	}
	return nil
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
	if err := matchesSchema(f); err != nil {
		t.Errorf("failed event does not match its schema: %v", err)
	}

	big := NewFailedEvent("stitch", "too big", bytes.Repeat([]byte("x"), MaxFailedData+10), raisedAt)
	if len(big.Data) != MaxFailedData || !big.Truncated {
		t.Errorf("big record: %d bytes, truncated %v; want %d, true", len(big.Data), big.Truncated, MaxFailedData)
	}
}

// The examples under events/sqs are what consumers receive: each body reads into the message type
// its attributes name and passes its Validate, and the attributes are the type's (the schemas
// package checks the bodies against the schemas).
func TestExampleMessages(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "sqs", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil || len(ev.Records) == 0 {
			t.Fatalf("%s: not an SQS event: %v", file, err)
		}
		for _, r := range ev.Records {
			attr := func(name string) string {
				if v := r.MessageAttributes[name].StringValue; v != nil {
					return *v
				}
				return ""
			}
			var m Message
			switch attr("type") {
			case TypeLapse:
				m = &Lapse{}
			case TypeFailedEvent:
				m = &FailedEvent{}
			case TypeTriggerFired:
				m = &TriggerFired{}
			case TypeAudienceEntered, TypeAudienceExited:
				m = &AudienceChanged{}
			default:
				t.Fatalf("%s: an example of type %q", file, attr("type"))
			}
			if err := json.Unmarshal([]byte(r.Body), m); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if err := m.Validate(); err != nil {
				t.Errorf("%s: %v", file, err)
			}
			if attr("version") != strconv.Itoa(m.MessageVersion()) || r.MessageAttributes["version"].DataType != "Number" {
				t.Errorf("%s: version attribute %+v, want %d (Number)", file, r.MessageAttributes["version"], m.MessageVersion())
			}
			if tf, ok := m.(*TriggerFired); ok && (attr(AttrKind) != tf.Kind || r.MessageAttributes[AttrKind].DataType != "String") {
				t.Errorf("%s: kind attribute %+v, want %s (String)", file, r.MessageAttributes[AttrKind], tf.Kind)
			}
			if ac, ok := m.(*AudienceChanged); ok && (attr("type") != ac.Type || attr(AttrAudience) != ac.AudienceID || r.MessageAttributes[AttrAudience].DataType != "String") {
				t.Errorf("%s: type and audience attributes %+v, want %s and %s (String)", file, r.MessageAttributes, ac.Type, ac.AudienceID)
			}
		}
	}
}
