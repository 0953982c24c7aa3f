package message

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

var visit = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

// shopper builds a profile event by event, as stitch does.
type shopper struct {
	p profile.Profile
	n int
}

func newShopper() *shopper {
	return &shopper{p: profile.Profile{ID: "prf_1", UserID: "u-1",
		Consent: map[string]profile.Consent{profile.PurposeMarketing: {Granted: true, At: visit.Add(-time.Hour)}}}}
}

func (s *shopper) do(after time.Duration, event string, f func(*profile.Activity)) *shopper {
	s.n++
	a := profile.Activity{MessageID: fmt.Sprint("m", s.n), Type: beacon.Track, Event: event, AnonymousID: "a-1", At: visit.Add(after)}
	if event == "" {
		a.Type, a.Page = beacon.Page, "/"
	}
	if f != nil {
		f(&a)
	}
	s.p = profile.Apply(s.p, a, []identity.ID{identity.AnonymousID("a-1")})
	return s
}

func products(ids ...string) func(*profile.Activity) {
	return func(a *profile.Activity) {
		for _, id := range ids {
			a.Products = append(a.Products, profile.Line{ProductID: id, Quantity: 1, Price: 49.5})
		}
	}
}

// fired runs the rules on a profile a day after its last event and returns what fires.
func fired(t *testing.T, p profile.Profile, now time.Time) trigger.Trigger {
	t.Helper()
	ts := trigger.Default.Fire(p, 1, nil, now)
	if len(ts) != 1 {
		t.Fatalf("fired %d triggers: %+v", len(ts), ts)
	}
	return ts[0]
}

// Every kind of trigger, as the rules make it, gives a message that validates and matches the schema.
func TestTriggerMessagesMatchTheSchema(t *testing.T) {
	day := 24 * time.Hour
	cases := map[string]trigger.Trigger{
		trigger.AbandonedBasket: fired(t, newShopper().do(0, "Product Added", products("tent")).p, visit.Add(2*time.Hour)),
		trigger.AbandonedBrowse: fired(t, newShopper().do(0, "Product Viewed", products("tent")).do(time.Minute, "Product Viewed", products("stove")).p,
			visit.Add(3*time.Hour)),
		trigger.AbandonedForm:     fired(t, newShopper().do(0, "Form Started", func(a *profile.Activity) { a.FormID = "quote" }).p, visit.Add(time.Hour)),
		trigger.ReturningProspect: fired(t, newShopper().do(0, "", nil).do(40*day, "", nil).p, visit.Add(40*day+time.Minute)),
		trigger.ReturningLapsed: fired(t, newShopper().do(0, "Order Completed", func(a *profile.Activity) { a.OrderID = "o1" }).
			do(160*day, "", nil).do(200*day, "", nil).p, visit.Add(200*day+time.Minute)),
	}
	for kind, tr := range cases {
		if tr.Kind != kind {
			t.Errorf("%s: the rules fired %s", kind, tr.Kind)
			continue
		}
		m := NewTriggerFired(tr)
		if err := m.Validate(); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
		if got := m.MessageAttributes(); !reflect.DeepEqual(got, map[string]string{AttrKind: kind}) {
			t.Errorf("%s: attributes %v", kind, got)
		}
		body, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := matchesSchema(m); err != nil {
			t.Errorf("%s does not match the schema: %v", kind, err)
		}
		// Each kind carries its own field and none of the others'.
		var fields map[string]any
		_ = json.Unmarshal(body, &fields)
		own := map[string]string{trigger.AbandonedBasket: "basket", trigger.AbandonedBrowse: "products",
			trigger.AbandonedForm: "formId", trigger.ReturningLapsed: "lastOrder"}
		for k, field := range own {
			if _, has := fields[field]; has != (k == kind) {
				t.Errorf("%s: has %s = %v", kind, field, has)
			}
		}
	}
	basket := NewTriggerFired(cases[trigger.AbandonedBasket])
	if basket.Basket.Value != 49.5 || basket.Basket.Items[0].ProductID != "tent" || basket.UserID != "u-1" {
		t.Errorf("basket message %+v", basket)
	}
}

func TestTriggerIDIsTheEpisode(t *testing.T) {
	tr := fired(t, newShopper().do(0, "Product Added", products("tent")).p, visit.Add(2*time.Hour))
	later := tr
	later.FiredAt = tr.FiredAt.Add(5 * time.Minute)
	if NewTriggerFired(tr).MessageID != NewTriggerFired(later).MessageID {
		t.Error("the same episode sent again has another messageId")
	}
	other := tr
	other.Key += "x"
	if NewTriggerFired(tr).MessageID == NewTriggerFired(other).MessageID {
		t.Error("another episode has the same messageId")
	}
	other = tr
	other.ProfileID = "prf_2"
	if NewTriggerFired(tr).MessageID == NewTriggerFired(other).MessageID {
		t.Error("another profile's episode has the same messageId")
	}
}

func TestTriggerValidateRejects(t *testing.T) {
	good := NewTriggerFired(fired(t, newShopper().do(0, "Product Added", products("tent")).p, visit.Add(2*time.Hour)))
	for name, change := range map[string]func(*TriggerFired){
		"version":           func(m *TriggerFired) { m.Version = 2 },
		"foreign messageId": func(m *TriggerFired) { m.MessageID = TriggerID("prf_9", m.Key) },
		"no key":            func(m *TriggerFired) { m.Key = "" },
		"no firedAt":        func(m *TriggerFired) { m.FiredAt = time.Time{} },
		"no reason":         func(m *TriggerFired) { m.Reason = "" },
		"unknown kind":      func(m *TriggerFired) { m.Kind = "birthday" },
		"basket missing":    func(m *TriggerFired) { m.Basket = nil },
		"form without id":   func(m *TriggerFired) { m.Kind, m.Basket = trigger.AbandonedForm, nil },
		"browse, none":      func(m *TriggerFired) { m.Kind, m.Basket = trigger.AbandonedBrowse, nil },
		"lapsed, no order":  func(m *TriggerFired) { m.Kind, m.Basket = trigger.ReturningLapsed, nil },
	} {
		m := good
		b := *good.Basket
		m.Basket = &b
		change(&m)
		if err := m.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
	for name, body := range map[string]string{
		"basket without basket": `{"type":"trigger.fired","version":1,"messageId":"0123456789abcdef0123456789abcdef","kind":"abandoned-basket","key":"k","profileId":"p","firedAt":"2025-06-01T12:00:00Z","since":"2025-06-01T10:00:00Z","lastSeen":"2025-06-01T10:00:00Z","reason":"r"}`,
		"unknown kind":          `{"type":"trigger.fired","version":1,"messageId":"0123456789abcdef0123456789abcdef","kind":"birthday","key":"k","profileId":"p","firedAt":"2025-06-01T12:00:00Z","since":"2025-06-01T10:00:00Z","lastSeen":"2025-06-01T10:00:00Z","reason":"r"}`,
		"bad time":              `{"type":"trigger.fired","version":1,"messageId":"0123456789abcdef0123456789abcdef","kind":"returning-prospect","key":"k","profileId":"p","firedAt":"noon","since":"2025-06-01T10:00:00Z","lastSeen":"2025-06-01T10:00:00Z","reason":"r"}`,
	} {
		if err := schemas.Validate(TypeTriggerFired, TriggerFiredVersion, []byte(body)); err == nil {
			t.Errorf("schema accepted %s", name)
		}
	}
}

// The example under events/sqs is what a consumer of the triggers queue receives.
func TestTriggerExampleMessage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "sqs", "trigger-fired.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Records []struct {
			Body              string `json:"body"`
			MessageAttributes map[string]struct {
				StringValue string `json:"stringValue"`
				DataType    string `json:"dataType"`
			} `json:"messageAttributes"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil || len(ev.Records) == 0 {
		t.Fatalf("not an SQS event: %v", err)
	}
	for _, r := range ev.Records {
		var m TriggerFired
		if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
			t.Fatal(err)
		}
		if err := m.Validate(); err != nil {
			t.Errorf("example: %v", err)
		}
		attrs := r.MessageAttributes
		if attrs["type"].StringValue != TypeTriggerFired || attrs["version"].StringValue != "1" ||
			attrs[AttrKind].StringValue != m.Kind || attrs[AttrKind].DataType != "String" {
			t.Errorf("example attributes %+v do not match the body", attrs)
		}
	}
}
