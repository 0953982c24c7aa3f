package message

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/events/schemas"
)

func TestLapse(t *testing.T) {
	content := Lapse{ProfileID: "prf_1", UserID: "u-1", AnonymousIDs: []string{"a-1", "a-2"}, LastSeen: lastSeen.In(time.FixedZone("CET", 3600)),
		InactiveDays: 41, Risk: 0.9123, PAlive: 0.0877, Value: 45.5, Revenue: 312.4, Segment: "At Risk",
		Reason: "lapse risk 0.91: P(alive) 0.09; value 45.50", RaisedAt: raisedAt}
	l := NewLapse(content, raisedAt.AddDate(0, -2, 0))
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if l.MessageType() != TypeLapse || l.MessageVersion() != 2 || l.LastSeen.Location() != time.UTC {
		t.Errorf("type %s version %d last seen %s, want lapse 2 in UTC", l.MessageType(), l.MessageVersion(), l.LastSeen)
	}
	// One crossing, one id: the same until the crossing is recorded, which moves the previous alert.
	later := content
	later.RaisedAt = raisedAt.AddDate(0, 0, 1)
	if again := NewLapse(later, raisedAt.AddDate(0, -2, 0)); again.AlertID != l.AlertID {
		t.Error("the same crossing reported a day later has another alertId")
	}
	if next := NewLapse(content, raisedAt); next.AlertID == l.AlertID {
		t.Error("the next crossing has the same alertId")
	}
	if LapseID("prf_2", raisedAt.AddDate(0, -2, 0)) == l.AlertID {
		t.Error("two profiles share an alertId")
	}
	if err := matchesSchema(l); err != nil {
		t.Errorf("lapse alert does not match its schema: %v", err)
	}
	// Without a purchase model (no CLV) nor RFM, for an anonymous customer.
	bare := NewLapse(Lapse{ProfileID: "prf_2", LastSeen: lastSeen, Risk: 0.95, PAlive: 1, Activity: 0.95, ExpectedVisits: 5.1,
		Value: 80, Revenue: 80, Reason: "lapse risk 0.95", RaisedAt: raisedAt}, lastSeen)
	if err := matchesSchema(bare); err != nil {
		t.Errorf("bare lapse alert does not match its schema: %v", err)
	}
	body, _ := json.Marshal(bare)
	var back map[string]any
	_ = json.Unmarshal(body, &back)
	if _, has := back["clv"]; has {
		t.Errorf("an alert without a purchase model carries a CLV: %s", body)
	}
	if anon, ok := back["anonymousIds"].([]any); !ok || len(anon) != 0 {
		t.Errorf("an anonymous customer's anonymousIds are not an empty list: %s", body)
	}

	for _, bad := range []Lapse{
		{Type: TypeLapse, Version: 1, AlertID: "x", ProfileID: "p", RaisedAt: raisedAt, Reason: "r"},
		{Type: TypeLapse, Version: 2, ProfileID: "p", RaisedAt: raisedAt, Reason: "r"},
		{Type: TypeLapse, Version: 2, AlertID: "x", ProfileID: "p", Reason: "r"},
		{Type: TypeLapse, Version: 2, AlertID: "x", ProfileID: "p", RaisedAt: raisedAt, Reason: "r", Risk: 1.5},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestLapseSchemaRejectsWrongMessages(t *testing.T) {
	const rest = `"alertId":"0123456789abcdef0123456789abcdef","profileId":"p","anonymousIds":[],"inactiveDays":1,` +
		`"pAlive":0.1,"activity":0,"recentVisits":0,"expectedVisits":0,"value":10,"revenue":10,"reason":"r","raisedAt":"2025-01-10T09:30:00Z"`
	valid := `{"type":"lapse","version":2,"lastSeen":"2025-01-10T09:30:00Z","risk":0.9,` + rest + `}`
	if err := schemas.Validate(TypeLapse, LapseVersion, []byte(valid)); err != nil {
		t.Fatalf("schema refuses a valid alert: %v", err)
	}
	for _, body := range []string{
		`{"type":"lapse","version":2}`,
		`{"type":"lapse","version":1,"lastSeen":"2025-01-10T09:30:00Z","risk":0.9,` + rest + `}`,
		`{"type":"lapse","version":2,"lastSeen":"yesterday","risk":0.9,` + rest + `}`,
		`{"type":"lapse","version":2,"lastSeen":"2025-01-10T09:30:00Z","risk":1.5,` + rest + `}`,
		`{"type":"lapse","version":2,"lastSeen":"2025-01-10T09:30:00Z","risk":0.9,"extra":1,` + rest + `}`,
	} {
		if err := schemas.Validate(TypeLapse, LapseVersion, []byte(body)); err == nil {
			t.Errorf("schema accepted %s", body)
		}
	}
}
