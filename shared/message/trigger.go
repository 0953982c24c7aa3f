package message

import (
	"fmt"
	"slices"

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
	// The trigger as it fired: kind, episode key, profile, times, the kind's own fields and the
	// reason in words.
	trigger.Trigger
}

// NewTriggerFired is the message for a trigger that fired.
func NewTriggerFired(t trigger.Trigger) TriggerFired {
	t.FiredAt, t.Since, t.LastSeen, t.Products = t.FiredAt.UTC(), t.Since.UTC(), t.LastSeen.UTC(), slices.Clone(t.Products)
	if !t.LastOrder.IsZero() {
		t.LastOrder = t.LastOrder.UTC()
	}
	if t.Basket != nil {
		b := *t.Basket
		b.Items, b.UpdatedAt = slices.Clone(b.Items), b.UpdatedAt.UTC()
		t.Basket = &b
	}
	return TriggerFired{Type: TypeTriggerFired, Version: TriggerFiredVersion, MessageID: TriggerID(t.ProfileID, t.Key), Trigger: t}
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
