package message

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/lapse"
	"github.com/dcrm-project/dcrm/shared/profile"
)

func TestLapse(t *testing.T) {
	p := profile.Profile{ID: "prf_1", UserID: "u-1", AnonymousIDs: []string{"a-1", "a-2"}, LastSeen: lastSeen, Revenue: 312.404}
	a := lapse.Alert{ProfileID: "prf_1", UserID: "u-1", At: raisedAt,
		Risk:  lapse.Risk{Score: 0.9123, PAlive: 0.0877, Activity: 0, Recent: 0, Expected: 0},
		Value: 45.5, Reason: "lapse risk 0.91: P(alive) 0.09; value 45.50"}
	sc := profile.Score{Value: &profile.Value{PAlive: 0.0877, CLV: 45.5}, RFM: &profile.RFMScore{Segment: "At Risk"}}

	l := NewLapse(p, sc, a, raisedAt.AddDate(0, -2, 0))
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if l.InactiveDays != 41 || l.Segment != "At Risk" || l.CLV == nil || *l.CLV != 45.5 || l.Revenue != 312.4 {
		t.Errorf("alert %+v: want 41 inactive days, segment At Risk, CLV 45.5, revenue 312.40", l)
	}
	if l.MessageType() != TypeLapse || l.MessageVersion() != 2 {
		t.Errorf("type %s version %d, want lapse 2", l.MessageType(), l.MessageVersion())
	}
	// One crossing, one id: the same until the crossing is recorded, which moves the previous alert.
	if again := NewLapse(p, sc, lapse.Alert{At: raisedAt.AddDate(0, 0, 1), Risk: a.Risk, Reason: a.Reason}, raisedAt.AddDate(0, -2, 0)); again.AlertID != l.AlertID {
		t.Error("the same crossing reported a day later has another alertId")
	}
	if next := NewLapse(p, sc, a, raisedAt); next.AlertID == l.AlertID {
		t.Error("the next crossing has the same alertId")
	}
	if first := NewLapse(p, sc, a, raisedAt.AddDate(0, -2, 0)); LapseID("prf_2", raisedAt.AddDate(0, -2, 0)) == first.AlertID {
		t.Error("two profiles share an alertId")
	}

	if err := matchesSchema(l); err != nil {
		t.Errorf("lapse alert does not match its schema: %v", err)
	}
	// Without a purchase model (no CLV) nor RFM, for an anonymous customer.
	bare := NewLapse(profile.Profile{ID: "prf_2", LastSeen: lastSeen, Revenue: 80}, profile.Score{},
		lapse.Alert{At: raisedAt, Risk: lapse.Risk{Score: 0.95, PAlive: 1, Activity: 0.95, Expected: 5.1}, Value: 80, Reason: "lapse risk 0.95"}, lastSeen)
	body, _ := json.Marshal(bare)
	if err := matchesSchema(bare); err != nil {
		t.Errorf("bare lapse alert does not match its schema: %v", err)
	}
	var back map[string]any
	_ = json.Unmarshal(body, &back)
	if _, has := back["clv"]; has {
		t.Errorf("an alert without a purchase model carries a CLV: %s", body)
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
