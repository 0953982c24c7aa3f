package message

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/events/schemas"
)

var visit = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

// basketFired is an abandoned-basket message as the trigger rules make it.
func basketFired() TriggerFired {
	return NewTriggerFired(TriggerFired{Kind: KindAbandonedBasket, Key: "abandoned-basket:2025-06-01T10:00:00Z", ProfileID: "prf_1",
		UserID: "u-1", FiredAt: visit.Add(2 * time.Hour), Since: visit, LastSeen: visit,
		Basket: &Basket{Items: []BasketItem{{ProductID: "tent", Quantity: 1, Price: 49.5}}, Value: 49.5, UpdatedAt: visit},
		Reason: "1 item worth 49.50 left in the basket; last seen 2 hours ago"})
}

func TestNewTriggerFired(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	items := []BasketItem{{ProductID: "tent", Quantity: 1}}
	products := []string{"tent", "stove"}
	m := NewTriggerFired(TriggerFired{Kind: KindReturningLapsed, Key: "k", ProfileID: "p", FiredAt: visit.In(cet), Since: visit.In(cet),
		LastSeen: visit.In(cet), LastOrder: visit.In(cet), Products: products, Basket: &Basket{Items: items, UpdatedAt: visit.In(cet)}, Reason: "r"})
	if m.Type != TypeTriggerFired || m.Version != TriggerFiredVersion || m.MessageID != TriggerID("p", "k") {
		t.Errorf("type %q version %d messageId %q", m.Type, m.Version, m.MessageID)
	}
	for _, at := range []time.Time{m.FiredAt, m.Since, m.LastSeen, m.LastOrder, m.Basket.UpdatedAt} {
		if at.Location() != time.UTC {
			t.Errorf("time %s is not in UTC", at)
		}
	}
	items[0].ProductID, products[0] = "changed", "changed"
	if m.Basket.Items[0].ProductID != "tent" || m.Products[0] != "tent" {
		t.Error("the message shares its basket or products with what it was made of")
	}
	if m := basketFired(); !reflect.DeepEqual(m.MessageAttributes(), map[string]string{AttrKind: KindAbandonedBasket}) {
		t.Errorf("attributes %v", m.MessageAttributes())
	}
	if err := matchesSchema(basketFired()); err != nil {
		t.Error(err)
	}
}

func TestTriggerIDIsTheEpisode(t *testing.T) {
	tr := basketFired()
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
	good := basketFired()
	for name, change := range map[string]func(*TriggerFired){
		"version":           func(m *TriggerFired) { m.Version = 2 },
		"foreign messageId": func(m *TriggerFired) { m.MessageID = TriggerID("prf_9", m.Key) },
		"no key":            func(m *TriggerFired) { m.Key = "" },
		"no firedAt":        func(m *TriggerFired) { m.FiredAt = time.Time{} },
		"no reason":         func(m *TriggerFired) { m.Reason = "" },
		"unknown kind":      func(m *TriggerFired) { m.Kind = "birthday" },
		"basket missing":    func(m *TriggerFired) { m.Basket = nil },
		"form without id":   func(m *TriggerFired) { m.Kind, m.Basket = KindAbandonedForm, nil },
		"browse, none":      func(m *TriggerFired) { m.Kind, m.Basket = KindAbandonedBrowse, nil },
		"lapsed, no order":  func(m *TriggerFired) { m.Kind, m.Basket = KindReturningLapsed, nil },
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
