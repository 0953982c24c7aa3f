package alert

import (
	"fmt"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

// Type and version of the messages on the triggers queue.
const (
	TypeTriggerFired    = "trigger.fired"
	TriggerFiredVersion = 1
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
	Type      string `json:"type"`
	Version   int    `json:"version"`
	MessageID string `json:"messageId"`
	Kind      string `json:"kind"`
	// Key names the episode: the kind and the basket's last change, the form and its start, or
	// the session's start.
	Key       string    `json:"key"`
	ProfileID string    `json:"profileId"`
	UserID    string    `json:"userId,omitempty"`
	FiredAt   time.Time `json:"firedAt"`
	Since     time.Time `json:"since"`
	LastSeen  time.Time `json:"lastSeen"`
	// Basket is the open basket (abandoned-basket), Products the products browsed, latest first
	// (abandoned-browse), FormID the form (abandoned-form), LastOrder the last order
	// (returning-lapsed).
	Basket    *profile.OpenBasket `json:"basket,omitempty"`
	Products  []string            `json:"products,omitempty"`
	FormID    string              `json:"formId,omitempty"`
	LastOrder time.Time           `json:"lastOrder,omitzero"`
	// Reason says in words why it fired, for people reading the queue.
	Reason string `json:"reason"`
}

// NewTriggerFired is the message for a trigger that fired.
func NewTriggerFired(t trigger.Trigger) TriggerFired {
	m := TriggerFired{
		Type: TypeTriggerFired, Version: TriggerFiredVersion, MessageID: TriggerID(t.ProfileID, t.Key),
		Kind: t.Kind, Key: t.Key, ProfileID: t.ProfileID, UserID: t.UserID,
		FiredAt: t.FiredAt.UTC(), Since: t.Since.UTC(), LastSeen: t.LastSeen.UTC(),
		Products: slices.Clone(t.Products), FormID: t.FormID, Reason: t.Reason,
	}
	if !t.LastOrder.IsZero() {
		m.LastOrder = t.LastOrder.UTC()
	}
	if t.Basket != nil {
		b := *t.Basket
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
	case trigger.AbandonedBasket:
		if m.Basket == nil || len(m.Basket.Items) == 0 {
			return fmt.Errorf("%w: %s without a basket", ErrInvalid, m.Kind)
		}
	case trigger.AbandonedBrowse:
		if len(m.Products) == 0 {
			return fmt.Errorf("%w: %s without products", ErrInvalid, m.Kind)
		}
	case trigger.AbandonedForm:
		if m.FormID == "" {
			return fmt.Errorf("%w: %s without formId", ErrInvalid, m.Kind)
		}
	case trigger.ReturningLapsed:
		if m.LastOrder.IsZero() {
			return fmt.Errorf("%w: %s without lastOrder", ErrInvalid, m.Kind)
		}
	case trigger.ReturningProspect:
	default:
		return fmt.Errorf("%w: unknown trigger kind %q", ErrInvalid, m.Kind)
	}
	return nil
}
