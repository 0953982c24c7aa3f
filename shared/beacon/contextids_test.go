package beacon

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestContextIDs(t *testing.T) {
	for _, tc := range []struct {
		name, ctx string
		want      ContextIDs
	}{
		{"none", `{"locale":"en-GB"}`, ContextIDs{}},
		{"not an object", `[1]`, ContextIDs{}},
		{"mobile SDK", `{"device":{"id":"B5372DB0","advertisingId":"7A3CBEA0","adTrackingEnabled":false,"model":"iPhone7,2"},
			"externalIds":[{"id":"123","type":"crm_id","collection":"users","encoding":"none"},{"id":42,"type":"loyalty"}]}`,
			ContextIDs{DeviceID: "B5372DB0", AdvertisingID: "7A3CBEA0", AdTrackingDisabled: true, ExternalIDs: []ExternalID{
				{ID: "123", Type: "crm_id", Collection: "users", Encoding: "none"}, {ID: "42", Type: "loyalty"}}}},
		{"names in any case, the last wins", `{"Device":{"ID":"x"},"device":{"Id":"y","AdTrackingEnabled":true},"EXTERNALIDS":[{"ID":"1","Type":"t","type":"u"}]}`,
			ContextIDs{DeviceID: "y", ExternalIDs: []ExternalID{{ID: "1", Type: "u"}}}},
		{"nulls", `{"device":null,"externalIds":null}`, ContextIDs{}},
		{"null elements", `{"externalIds":[null,{"id":"1","type":"t"}]}`, ContextIDs{ExternalIDs: []ExternalID{{ID: "1", Type: "t"}}}},
		{"null members change nothing", `{"device":{"id":"d","id":null},"externalIds":[{"id":"1","type":"t","type":null}]}`,
			ContextIDs{DeviceID: "d", ExternalIDs: []ExternalID{{ID: "1", Type: "t"}}}},
		{"a device sent twice adds up", `{"device":{"id":"d"},"Device":{"advertisingId":"a"}}`, ContextIDs{DeviceID: "d", AdvertisingID: "a"}},
		{"a null list means none", `{"externalIds":[{"id":"1"}],"externalIds":null}`, ContextIDs{}},
		{"malformed", `{"device":{"id":1.5,"advertisingId":["a"]},"externalIds":[{"id":"1","type":7},{"id":{}},"x",{"id":"2","type":"t"}]}`,
			ContextIDs{ExternalIDs: []ExternalID{{ID: "2", Type: "t"}}, Malformed: []string{
				"context.device.id: not a string or an integer", "context.device.advertisingId: not a string",
				"context.externalIds[0]: type: not a string", "context.externalIds[1]: id: not a string", "context.externalIds[2]: not an object"}}},
		{"device not an object", `{"device":"iPhone","externalIds":{"id":"1"}}`,
			ContextIDs{Malformed: []string{"context.device: not an object", "context.externalIds: not an array"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Event{Context: json.RawMessage(tc.ctx)}.ContextIDs()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ContextIDs =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestElements(t *testing.T) {
	list, ok := Elements([]byte(` [1, "a,b", {"c":[2]}, null] `))
	want := []string{`1`, `"a,b"`, `{"c":[2]}`, `null`}
	if !ok || len(list) != len(want) {
		t.Fatalf("Elements = %q, %v", list, ok)
	}
	for i := range want {
		if string(list[i]) != want[i] {
			t.Errorf("element %d = %s, want %s", i, list[i], want[i])
		}
	}
	if list, ok := Elements([]byte(`[]`)); !ok || len(list) != 0 {
		t.Errorf("Elements([]) = %q, %v", list, ok)
	}
	for _, bad := range []string{``, `{}`, `[1,`, `[1] x`} {
		if _, ok := Elements([]byte(bad)); ok {
			t.Errorf("Elements(%q) ok, want false", bad)
		}
	}
}

// FuzzContextIDs checks that any context is read without panicking, and that where encoding/json
// reads the same fields as strings, ContextIDs reads the same values.
func FuzzContextIDs(f *testing.F) {
	for _, seed := range []string{
		`{"device":{"id":"B5372DB0","advertisingId":"7A3CBEA0","adTrackingEnabled":false}}`,
		`{"externalIds":[{"id":"123","type":"crm_id","collection":"users","encoding":"none"}]}`,
		`{"Device":{"ID":"x"},"device":{"iD":"\u0079"}}`,
		`{"externalIds":[{"id":"1","Type":"a","TYPE":"b"}],"externalids":[]}`,
		`{"device":{"id":12345678901234567890}}`,
		`[]`, `{"device":"x"}`, `{"externalIds":[null,{}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, ctx []byte) {
		got := Event{Context: ctx}.ContextIDs()
		var ref struct {
			Device struct {
				ID            string `json:"id"`
				AdvertisingID string `json:"advertisingId"`
			} `json:"device"`
			ExternalIDs []struct {
				ID         string `json:"id"`
				Type       string `json:"type"`
				Collection string `json:"collection"`
				Encoding   string `json:"encoding"`
			} `json:"externalIds"`
		}
		if json.Unmarshal(ctx, &ref) != nil {
			return // not all strings, or not JSON: encoding/json has nothing to compare with
		}
		if got.DeviceID != ref.Device.ID || got.AdvertisingID != ref.Device.AdvertisingID {
			t.Errorf("device = %q %q, encoding/json reads %q %q", got.DeviceID, got.AdvertisingID, ref.Device.ID, ref.Device.AdvertisingID)
		}
		// A null element decodes to a zero one; ContextIDs leaves it out.
		var want, have []ExternalID
		for _, x := range ref.ExternalIDs {
			if x := (ExternalID{ID: x.ID, Type: x.Type, Collection: x.Collection, Encoding: x.Encoding}); x != (ExternalID{}) {
				want = append(want, x)
			}
		}
		for _, x := range got.ExternalIDs {
			if x != (ExternalID{}) {
				have = append(have, x)
			}
		}
		if !reflect.DeepEqual(have, want) {
			t.Errorf("external ids = %+v, encoding/json reads %+v", have, want)
		}
	})
}
