package message

import (
	"errors"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/events/schemas"
)

func TestProfileUpdateMessagesMatchTheirSchemas(t *testing.T) {
	p := ProfileUpdated{ProfileID: "prf_1", ProfileVersion: 7, UserID: "u-1", AnonymousIDs: []string{"a-1"}, FirstSeen: lastSeen,
		LastSeen: raisedAt, Counts: Counts{Events: 3, PageViews: 2, Tracks: 1}, AllMergedFrom: []string{"prf_0"}, UpdatedAt: raisedAt}
	changed := func(c ProfileChanges) ProfileUpdated { u := p; u.Changes = c; return u }
	at := time.Date(2025, 2, 20, 12, 0, 0, 0, time.UTC)
	for _, m := range []Message{
		NewProfileUpdated(changed(ProfileChanges{IdentifiersAdded: []string{"userId:u-1", "userId:u-1"},
			MergedFrom: []string{"prf_0"}, TraitsChanged: []string{"plan", "email"}, Events: 2})),
		NewProfileUpdated(ProfileUpdated{ProfileID: "prf_2", ProfileVersion: 1, LastSeen: at, FirstSeen: at, UpdatedAt: at}),
		// Only reached by email: impressions, never seen on a site.
		NewProfileUpdated(ProfileUpdated{ProfileID: "prf_3", ProfileVersion: 1, Impressions: 2, Counts: Counts{Events: 2, Tracks: 2}, UpdatedAt: at}),
		NewProfileMerged("prf_0", "prf_1", at),
		NewProfileErased("prf_1", []string{"prf_0"}, at),
		NewProfileErased("prf_1", nil, at),
		NewProfileConsent("prf_1", map[string]Consent{"analytics": {Granted: true, At: at, Source: "banner"}, "marketing": {At: at}}),
		NewProfileSplit("prf_1", "prf_0", 2, 5, at),
		NewProfileSplit("prf_1", "prf_0", 0, 0, at),
	} {
		if err := m.Validate(); err != nil {
			t.Errorf("%T: %v", m, err)
		}
		if err := matchesSchema(m); err != nil {
			t.Error(err)
		}
	}
	u := NewProfileUpdated(changed(ProfileChanges{TraitsChanged: []string{"plan", "email", "plan"}}))
	if u.MessageID != "prf_1:7" || len(u.Changes.TraitsChanged) != 2 || u.Changes.TraitsChanged[0] != "email" {
		t.Errorf("update = %+v, want messageId prf_1:7 and sorted unique traits", u)
	}
	if empty := NewProfileUpdated(ProfileUpdated{ProfileID: "prf_2", ProfileVersion: 1}); empty.AnonymousIDs == nil ||
		empty.AllMergedFrom == nil || empty.Changes.IdentifiersAdded == nil || empty.Changes.MergedFrom == nil || empty.Changes.TraitsChanged == nil {
		t.Errorf("update %+v has null lists", empty)
	}
	if NewProfileMerged("a", "b", at).MessageID != NewProfileMerged("a", "b", at.Add(time.Hour)).MessageID {
		t.Error("the same merge reported later has another messageId")
	}
	if NewProfileSplit("a", "b", 1, 2, at).MessageID != NewProfileSplit("a", "b", 0, 0, at.Add(time.Hour)).MessageID {
		t.Error("the same split repeated later has another messageId")
	}
	if NewProfileSplit("a", "b", 1, 2, at).MessageID == NewProfileSplit("b", "a", 1, 2, at).MessageID ||
		NewProfileSplit("a", "b", 1, 2, at).MessageID == NewProfileMerged("b", "a", at).MessageID {
		t.Error("two different changes have one messageId")
	}
	c1 := map[string]Consent{"analytics": {Granted: true, At: at}}
	c2 := map[string]Consent{"analytics": {Granted: false, At: at}}
	if NewProfileConsent("p", c1).MessageID == NewProfileConsent("p", c2).MessageID {
		t.Error("two consent states have one messageId")
	}
}

func TestProfileUpdateSchemasRejectWrongMessages(t *testing.T) {
	for typ, body := range map[string]string{
		TypeProfileUpdated: `{"type":"profile.updated","version":1,"messageId":"p:1","profileId":"p","profileVersion":0}`,
		TypeProfileMerged:  `{"type":"profile.merged","version":1,"messageId":"x","from":"a","into":"b","mergedAt":"2025-01-01T00:00:00Z"}`,
		TypeProfileErased:  `{"type":"profile.erased","version":2,"messageId":"0123456789abcdef0123456789abcdef","profileId":"p","mergedProfiles":[],"erasedAt":"2025-01-01T00:00:00Z"}`,
		TypeProfileConsent: `{"type":"profile.consent","version":1,"messageId":"0123456789abcdef0123456789abcdef","profileId":"p","consent":{"sms":{"granted":true,"at":"2025-01-01T00:00:00Z"}}}`,
		TypeProfileSplit:   `{"type":"profile.split","version":1,"messageId":"0123456789abcdef0123456789abcdef","profileId":"p","splitId":"q","identifiers":-1,"touchpoints":0,"splitAt":"2025-01-01T00:00:00Z"}`,
	} {
		if err := schemas.Validate(typ, 1, []byte(body)); err == nil {
			t.Errorf("the %s v1 schema accepted %s", typ, body)
		}
	}
	for _, m := range []Message{
		ProfileUpdated{Type: TypeProfileUpdated, Version: 1, MessageID: "p:2", ProfileID: "p", ProfileVersion: 1},
		ProfileMerged{Type: TypeProfileMerged, Version: 1, MessageID: "x", From: "a", Into: "a", MergedAt: raisedAt},
		ProfileErased{Type: TypeProfileErased, Version: 1, MessageID: "x", ProfileID: "p"},
		ProfileConsent{Type: TypeProfileConsent, Version: 1, MessageID: "x", ProfileID: "p"},
		ProfileSplit{Type: TypeProfileSplit, Version: 1, MessageID: "x", ProfileID: "p", SplitID: "p", SplitAt: raisedAt},
		ProfileSplit{Type: TypeProfileSplit, Version: 1, MessageID: "x", ProfileID: "p", SplitID: "q"},
		ProfileSplit{Type: TypeProfileSplit, Version: 1, MessageID: "x", ProfileID: "p", SplitID: "q", Touchpoints: -1, SplitAt: raisedAt},
	} {
		if err := m.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid", m, err)
		}
	}
}
