package message

import (
	"fmt"
	"slices"
	"time"
)

// Type and version of the messages on the triggers queue.
const (
	TypeTriggerFired    = "trigger.fired"
	TriggerFiredVersion = 1
)

// Kinds of trigger, as the message names them (package trigger holds the rules that fire them).
const (
	KindAbandonedBasket   = "abandoned-basket"
	KindAbandonedBrowse   = "abandoned-browse"
	KindAbandonedForm     = "abandoned-form"
	KindReturningProspect = "returning-prospect"
	KindReturningLapsed   = "returning-lapsed"
)

// AttrKind is the message attribute that carries a trigger's kind, so that a consumer (or a
// subscription filter) takes the kinds it handles without parsing bodies.
const AttrKind = "kind"

// TriggerFired says that a trigger fired for a customer: a downstream tool sends the message it
// calls for (an abandoned-basket email, a returning-customer offer). One type serves every kind;
// Kind says which, and the kind's own fields (basket, products, formId, lastOrder) come with it.
//
// Its messageId is a hash of profileId and key, the episode that fired: a trigger sent again (a
// retry after a crash, or two runs at once) has the same messageId, and consumers drop repeats by
// it, as they must for any SQS message anyway.
type TriggerFired struct {
	Type      string    `json:"type"`
	Version   int       `json:"version"`
	MessageID string    `json:"messageId"`
	Kind      string    `json:"kind"`
	Key       string    `json:"key"` // the episode: fires once
	ProfileID string    `json:"profileId"`
	UserID    string    `json:"userId,omitempty"`
	FiredAt   time.Time `json:"firedAt"`
	Since     time.Time `json:"since"` // the basket's last change, the form's or the session's start
	LastSeen  time.Time `json:"lastSeen"`
	// Basket is the open basket (abandoned-basket); Products the products browsed, latest first
	// (abandoned-browse); FormID the form (abandoned-form); LastOrder the last order
	// (returning-lapsed).
	Basket    *Basket   `json:"basket,omitempty"`
	Products  []string  `json:"products,omitempty"`
	FormID    string    `json:"formId,omitempty"`
	LastOrder time.Time `json:"lastOrder,omitzero"`
	Reason    string    `json:"reason"` // why it fired, in words
}

// Basket is an open basket: its items by product id, their value and its last change.
type Basket struct {
	Items     []BasketItem `json:"items"`
	Value     float64      `json:"value"`
	UpdatedAt time.Time    `json:"updatedAt"`
}

// BasketItem is a product in a basket.
type BasketItem struct {
	ProductID string  `json:"productId"`
	Quantity  int     `json:"quantity"`
	Price     float64 `json:"price,omitempty"`
}

// NewTriggerFired completes m, which holds what fired: its type, version and messageId, its times
// in UTC, its basket and products copied.
func NewTriggerFired(m TriggerFired) TriggerFired {
	m.Type, m.Version, m.MessageID = TypeTriggerFired, TriggerFiredVersion, TriggerID(m.ProfileID, m.Key)
	m.FiredAt, m.Since, m.LastSeen, m.Products = m.FiredAt.UTC(), m.Since.UTC(), m.LastSeen.UTC(), slices.Clone(m.Products)
	if !m.LastOrder.IsZero() {
		m.LastOrder = m.LastOrder.UTC()
	}
	if m.Basket != nil {
		b := *m.Basket
		b.Items, b.UpdatedAt = slices.Clone(b.Items), b.UpdatedAt.UTC()
		m.Basket = &b
	}
	return m
}

// TriggerID is the messageId of the episode key of profile profileID.
func TriggerID(profileID, key string) string { return hashID(TypeTriggerFired, profileID, key) }

func (TriggerFired) MessageType() string { return TypeTriggerFired }
func (TriggerFired) MessageVersion() int { return TriggerFiredVersion }

// MessageAttributes are the attributes beside type and version: the kind.
func (m TriggerFired) MessageAttributes() map[string]string {
	return map[string]string{AttrKind: m.Kind}
}

// Validate checks the fields every consumer relies on, and those of its kind.
func (m TriggerFired) Validate() error {
	switch {
	case m.Type != TypeTriggerFired || m.Version != TriggerFiredVersion:
		return fmt.Errorf("%w: type %q version %d, want %q version %d", ErrInvalid, m.Type, m.Version, TypeTriggerFired, TriggerFiredVersion)
	case m.ProfileID == "" || m.Key == "" || m.MessageID != TriggerID(m.ProfileID, m.Key):
		return fmt.Errorf("%w: trigger without profileId and key, or with a messageId not made of them", ErrInvalid)
	case m.FiredAt.IsZero() || m.Since.IsZero() || m.LastSeen.IsZero():
		return fmt.Errorf("%w: trigger without firedAt, since or lastSeen", ErrInvalid)
	case m.Reason == "":
		return fmt.Errorf("%w: trigger without a reason", ErrInvalid)
	}
	switch m.Kind {
	case KindAbandonedBasket:
		if m.Basket == nil || len(m.Basket.Items) == 0 {
			return fmt.Errorf("%w: %s without a basket", ErrInvalid, m.Kind)
		}
	case KindAbandonedBrowse:
		if len(m.Products) == 0 {
			return fmt.Errorf("%w: %s without products", ErrInvalid, m.Kind)
		}
	case KindAbandonedForm:
		if m.FormID == "" {
			return fmt.Errorf("%w: %s without formId", ErrInvalid, m.Kind)
		}
	case KindReturningLapsed:
		if m.LastOrder.IsZero() {
			return fmt.Errorf("%w: %s without lastOrder", ErrInvalid, m.Kind)
		}
	case KindReturningProspect:
	default:
		return fmt.Errorf("%w: unknown trigger kind %q", ErrInvalid, m.Kind)
	}
	return nil
}
