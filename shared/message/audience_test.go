package message

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func entered() AudienceChanged {
	return NewAudienceChanged(AudienceChanged{AudienceID: "vip", ProfileID: "prf_1", ProfileVersion: 7, UserID: "u-1",
		AnonymousIDs: []string{"a-1"}, Identifiers: []string{"phoneSha256:" + hex64('b'), "emailSha256:" + hex64('a')},
		MarketingConsent: ConsentGranted, At: visit, Since: visit}, true)
}

func hex64(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func TestNewAudienceChanged(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	m := entered()
	if m.Type != TypeAudienceEntered || m.Version != 1 || m.MessageID != AudienceChangeID(TypeAudienceEntered, "prf_1", "vip", 7) {
		t.Errorf("type %q version %d messageId %q", m.Type, m.Version, m.MessageID)
	}
	if m.Identifiers[0] != "emailSha256:"+hex64('a') {
		t.Errorf("identifiers not sorted: %v", m.Identifiers)
	}
	if !reflect.DeepEqual(m.MessageAttributes(), map[string]string{AttrAudience: "vip"}) {
		t.Errorf("attributes %v", m.MessageAttributes())
	}
	exited := NewAudienceChanged(AudienceChanged{AudienceID: "vip", ProfileID: "prf_1", ProfileVersion: 9,
		MarketingConsent: ConsentUnknown, At: visit.Add(time.Hour).In(cet), Since: visit.In(cet)}, false)
	if exited.Type != TypeAudienceExited || exited.AnonymousIDs == nil || exited.Identifiers == nil || exited.At.Location() != time.UTC {
		t.Errorf("exit %+v", exited)
	}
	for _, m := range []AudienceChanged{m, exited} {
		if err := m.Validate(); err != nil {
			t.Error(err)
		}
		if err := matchesSchema(m); err != nil {
			t.Error(err)
		}
	}
	// Entering and leaving at one version, or one audience at two versions, are different messages.
	if AudienceChangeID(TypeAudienceEntered, "p", "a", 1) == AudienceChangeID(TypeAudienceExited, "p", "a", 1) ||
		AudienceChangeID(TypeAudienceEntered, "p", "a", 1) == AudienceChangeID(TypeAudienceEntered, "p", "a", 2) {
		t.Error("messageIds collide")
	}
}

func TestAudienceChangedValidate(t *testing.T) {
	for name, spoil := range map[string]func(*AudienceChanged){
		"no audience": func(m *AudienceChanged) { m.AudienceID = "" },
		"no version":  func(m *AudienceChanged) { m.ProfileVersion = 0 },
		"foreign messageId": func(m *AudienceChanged) {
			m.MessageID = AudienceChangeID(m.Type, "prf_9", m.AudienceID, m.ProfileVersion)
		},
		"since after at": func(m *AudienceChanged) { m.Since = m.At.Add(time.Second) },
		"consent":        func(m *AudienceChanged) { m.MarketingConsent = "yes" },
		"type":           func(m *AudienceChanged) { m.Type = "audience.moved" },
	} {
		m := entered()
		spoil(&m)
		if err := m.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
