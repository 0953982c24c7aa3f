package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
