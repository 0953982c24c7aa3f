package profile

import (
	"errors"
	"testing"
	"time"
)

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
