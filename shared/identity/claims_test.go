package identity

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

func TestParseClaimKinds(t *testing.T) {
	for _, tc := range []struct {
		text string
		want ID
	}{
		{"deviceId:B5372DB0-C21E-11E4-8DFC-AA07A5B093DB", ID{Device, "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB"}},
		{"advertisingId:7a3cbea0-bdf5-11e4-8dfc-aa07a5b093db", ID{Advertising, "7a3cbea0-bdf5-11e4-8dfc-aa07a5b093db"}},
		{"externalId:crm_id:123", ID{External, "crm_id:123"}},
		// The kind ends at the first colon, the type at the second: the id keeps the others.
		{"externalId:sap:10:20", ID{External, "sap:10:20"}},
	} {
		got, err := Parse(tc.text)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.text, got, err, tc.want)
			continue
		}
		if got.String() != tc.text {
			t.Errorf("String() = %q, want %q", got.String(), tc.text)
		}
	}
	if typ, ok := (ID{External, "sap:10:20"}).ExternalType(); !ok || typ != "sap" {
		t.Errorf("ExternalType = %q, %v; want sap", typ, ok)
	}
	if _, ok := (ID{Device, "sap:10"}).ExternalType(); ok {
		t.Error("a device id has no external type")
	}
	for _, bad := range []string{"externalId:crm_id", "externalId:crm_id:", "externalId::123", "deviceId:", "idfa:x"} {
		if _, err := Parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) err = %v, want ErrInvalid", bad, err)
		}
	}
	for _, k := range []Kind{External, Device, Advertising, EmailSHA256, PhoneSHA256, User, Anonymous} {
		if got, err := ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%s) = %v, %v", k, got, err)
		}
	}
}

func TestNewID(t *testing.T) {
	for _, tc := range []struct {
		kind  Kind
		value string
		want  string // "" when invalid
	}{
		{External, " CRM_ID : 123 ", "crm_id:123"},
		{External, "ios.idfa:ABC", "ios.idfa:ABC"},
		{External, "crm_id:a:b", "crm_id:a:b"},
		{External, "crm_id", ""},
		{External, ":123", ""},
		{External, "crm_id: ", ""},
		{External, "crm id:123", ""},
		{External, strings.Repeat("t", 65) + ":1", ""},
		{External, "crm_id:" + strings.Repeat("9", 257), ""},
		{External, "crm_id:12\n3", ""},
		{Advertising, " 7A3CBEA0-BDF5-11E4-8DFC-AA07A5B093DB ", "7a3cbea0-bdf5-11e4-8dfc-aa07a5b093db"},
		{Advertising, "7a3cbea0bdf511e48dfcaa07a5b093db", ""},
		{Advertising, "7a3cbea0-bdf5-11e4-8dfc-aa07a5b093dg", ""},
		{Device, " B5372DB0-C21E ", "B5372DB0-C21E"},
		{Device, "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB", "b5372db0-c21e-11e4-8dfc-aa07a5b093db"},
		{Device, "", ""},
		{Device, strings.Repeat("d", 257), ""},
		{EmailSHA256, strings.ToUpper(hexA), hexA},
		{PhoneSHA256, "ab", ""},
		{Anonymous, " a ", " a "},
		{Kind("email"), "a@b", ""},
	} {
		got, err := NewID(tc.kind, tc.value)
		switch {
		case tc.want == "" && !errors.Is(err, ErrInvalid):
			t.Errorf("NewID(%s, %q) = %+v, %v; want ErrInvalid", tc.kind, tc.value, got, err)
		case tc.want != "" && (err != nil || got != ID{tc.kind, tc.want}):
			t.Errorf("NewID(%s, %q) = %+v, %v; want %q", tc.kind, tc.value, got, err, tc.want)
		}
	}
}

// stream builds a stream event with the given context.
func stream(ctx string) beacon.Event {
	e := beacon.Event{Type: beacon.Track, MessageID: "m", AnonymousID: "a-1", Event: "Opened"}
	if ctx != "" {
		e.Context = json.RawMessage(ctx)
	}
	return e
}

func TestClaims(t *testing.T) {
	e := stream(`{
		"device": {"id": "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB", "advertisingId": "7A3CBEA0-BDF5-11E4-8DFC-AA07A5B093DB",
		           "adTrackingEnabled": true, "manufacturer": "Apple"},
		"externalIds": [
			{"id": "123", "type": "CRM_ID", "collection": "users", "encoding": "none"},
			{"id": 42, "type": "loyalty"},
			{"id": "acme-1", "type": "salesforce_account", "collection": "accounts"},
			{"id": "u-1", "type": "user_id", "collection": "users"},
			{"id": "ann@example.com", "type": "email", "collection": "users"},
			{"id": "456", "type": "crm_id", "collection": "users"},
			{"id": "null", "type": "braze_id"},
			{"id": "b5372db0-c21e-11e4-8dfc-aa07a5b093db", "type": "ios.id"},
			{"id": "7a3cbea0-bdf5-11e4-8dfc-aa07a5b093db", "type": "ios.idfa"},
			{"id": "x", "type": "a:b"},
			{"type": "crm_id"},
			"not an object"
		]}`)
	e.Hashed = map[string]string{"email_sha256": hexA, "email_sha256_google": hexB}
	e.Enrichment = &beacon.Enrichment{LinkerID: "cookie-on-a"}

	ids, skipped := Claims(e)
	want := []ID{
		{EmailSHA256, hexA},
		{External, "crm_id:123"},
		{External, "loyalty:42"},
		AnonymousID("cookie-on-a"),
		{Device, "b5372db0-c21e-11e4-8dfc-aa07a5b093db"}, // ios.id, and context.device.id in another case
		{Advertising, "7a3cbea0-bdf5-11e4-8dfc-aa07a5b093db"},
	}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("Claims =\n%v\nwant\n%v", ids, want)
	}
	wantSkipped := []string{
		`context.externalIds[11]: not an object`,
		`context.externalIds[2]: collection "accounts": not a person's id`,
		`context.externalIds[3]: type user_id: the event's userId is the user id`,
		`context.externalIds[4]: type email: an email is personal data`,
		`context.externalIds[5]: a second id of type crm_id (one per type)`,
		`context.externalIds[6]: placeholder value "null"`,
		`context.externalIds[9]: type "a:b" has a ':'`,
		`context.externalIds[10]: externalId is not type:id`,
	}
	if len(skipped) != len(wantSkipped) {
		t.Fatalf("skipped = %q\nwant %q", skipped, wantSkipped)
	}
	for i, w := range wantSkipped {
		if !strings.HasPrefix(skipped[i], w) {
			t.Errorf("skipped[%d] = %q, want it to start with %q", i, skipped[i], w)
		}
	}
}

func TestClaimsRespectAdTrackingAndJunk(t *testing.T) {
	e := stream(`{"device": {"id": "9774d56d682e549c", "advertisingId": "7A3CBEA0-BDF5-11E4-8DFC-AA07A5B093DB", "adTrackingEnabled": false},
		"externalIds": [{"id": "7a3cbea0-bdf5-11e4-8dfc-aa07a5b093db", "type": "android.idfa"}]}`)
	ids, skipped := Claims(e)
	if len(ids) != 0 {
		t.Errorf("Claims = %v, want none", ids)
	}
	for _, w := range []string{"context.externalIds[0]: ad tracking is disabled", "context.device.id: device id shared by many devices",
		"context.device.advertisingId: ad tracking is disabled"} {
		if !slicesHasPrefix(skipped, w) {
			t.Errorf("skipped = %q, want one starting %q", skipped, w)
		}
	}

	// The all-zero advertising id of a person who withheld it, junk device ids, a malformed device.
	for ctx, reason := range map[string]string{
		`{"device": {"advertisingId": "00000000-0000-0000-0000-000000000000"}}`: "context.device.advertisingId: all-zero id",
		`{"device": {"id": "unknown"}}`:                                         `context.device.id: placeholder value "unknown"`,
		`{"device": {"id": "02:00:00:00:00:00"}}`:                               "context.device.id: device id shared by many devices",
		`{"device": {"advertisingId": "not-a-uuid"}}`:                           "context.device.advertisingId: advertisingId is not a UUID",
		`{"device": {"id": {"nested": 1}}}`:                                     "context.device.id: not a string",
		`{"device": "iPhone"}`:                                                  "context.device: not an object",
		`{"externalIds": {"id": "1"}}`:                                          "context.externalIds: not an array",
	} {
		ids, skipped := Claims(stream(ctx))
		if len(ids) != 0 || len(skipped) != 1 || !strings.HasPrefix(skipped[0], reason) {
			t.Errorf("Claims(%s) = %v, %q; want nothing, skipped %q…", ctx, ids, skipped, reason)
		}
	}
}

func TestClaimsOfTheLinker(t *testing.T) {
	e := stream("")
	e.Enrichment = &beacon.Enrichment{LinkerID: "a-1"} // the tracker adopted the linked id already
	if ids, skipped := Claims(e); len(ids) != 0 || len(skipped) != 0 {
		t.Errorf("Claims of a linker that is the event's own anonymous id = %v, %v", ids, skipped)
	}
	e.Enrichment.LinkerID = "a-0"
	if ids, _ := Claims(e); !reflect.DeepEqual(ids, []ID{AnonymousID("a-0")}) {
		t.Errorf("Claims = %v, want the linked anonymous id", ids)
	}
	// Nothing to claim: no context, no hashes, no enrichment.
	if ids, skipped := Claims(beacon.Event{AnonymousID: "a"}); ids != nil || skipped != nil {
		t.Errorf("Claims of a bare event = %v, %v", ids, skipped)
	}
}

func TestClaimsAreBoundedPerEvent(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"externalIds":[`)
	for i := range 8 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":"v","type":"t` + string(rune('a'+i)) + `"}`)
	}
	b.WriteString(`]}`)
	ids, skipped := Claims(stream(b.String()))
	if len(ids) != MaxExternalIDs || len(skipped) != 8-MaxExternalIDs || !strings.Contains(skipped[0], "more than 5 externalId") {
		t.Errorf("Claims = %v, skipped %q; want %d ids and the rest skipped", ids, skipped, MaxExternalIDs)
	}
}

func slicesHasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
