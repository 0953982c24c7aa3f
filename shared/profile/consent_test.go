package profile

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// Events carry the tracker's consent state in context.consent; null means undecided. Repeating the
// current answer keeps when it was first given; a different one wins if it is the latest.
func TestConsentFromEvents(t *testing.T) {
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	e := beacon.Event{Type: beacon.Page, MessageID: "m1", AnonymousID: "a", Timestamp: t1,
		Context: json.RawMessage(`{"consent":{"analytics":true,"marketing":null},"page":{"path":"/x"}}`)}
	a, err := FromEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]Consent{PurposeAnalytics: {Granted: true, At: t1, Source: EventSource}}; !reflect.DeepEqual(a.Consent, want) {
		t.Errorf("consent = %v, want %v", a.Consent, want)
	}
	if a.Page != "/x" {
		t.Errorf("page = %q", a.Page)
	}
	e.Context = json.RawMessage(`{"consent":{"analytics":"yes"},"page":{"path":"/y"}}`)
	if a, err := FromEvent(e); err != nil || a.Consent != nil || a.Page != "/y" {
		t.Errorf("a consent that is not a boolean is no answer and costs nothing else: %v %v %q", err, a.Consent, a.Page)
	}

	p := Apply(Profile{}, a, nil)
	later := a
	later.At = t1.Add(time.Hour)
	later.Consent = map[string]Consent{PurposeAnalytics: {Granted: true, At: later.At, Source: EventSource}}
	if got := Apply(p, later, nil).Consent[PurposeAnalytics].At; !got.Equal(t1) {
		t.Errorf("a repeated answer moved its time to %v", got)
	}
	later.Consent[PurposeAnalytics] = Consent{Granted: false, At: later.At, Source: EventSource}
	if Apply(p, later, nil).Consent[PurposeAnalytics].Granted {
		t.Error("a later refusal does not win")
	}
}

func TestApplyConsentLatestWins(t *testing.T) {
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	state := map[string]Consent{PurposeAnalytics: {Granted: true, At: t2, Source: "banner"}}
	out, changed := ApplyConsent(state, map[string]Consent{
		PurposeAnalytics: {Granted: false, At: t1, Source: "crm"}, // older: loses
		PurposeMarketing: {Granted: true, At: t1.In(time.FixedZone("x", 3600)), Source: "crm"},
	})
	if !changed || out[PurposeAnalytics] != state[PurposeAnalytics] || out[PurposeMarketing] != (Consent{Granted: true, At: t1, Source: "crm"}) {
		t.Errorf("ApplyConsent = %v, %v", out, changed)
	}
	if len(state) != 1 {
		t.Error("ApplyConsent changed its input")
	}
	if _, changed := ApplyConsent(out, map[string]Consent{PurposeMarketing: out[PurposeMarketing]}); changed {
		t.Error("the same answer again is a change")
	}
	if got, _ := ApplyConsent(out, map[string]Consent{PurposeAnalytics: {Granted: false, At: t2}}); got[PurposeAnalytics].Granted {
		t.Error("an answer given at the same time as the stored one does not win")
	}
	if err := ValidConsentPurpose("sms"); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("ValidConsentPurpose(sms) = %v", err)
	}
}
