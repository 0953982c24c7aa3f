// Package membership connects the recording engine's audience membership (package recording) to
// where the definitions are kept (package audiencestore) and to the audiences queue: Source reads
// the definitions in force, cached, and Queue announces every change as an audience.entered or
// audience.exited message (package message).
package membership

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// Definitions is where the audiences and computed traits are kept (audiencestore.Store), under
// one version.
type Definitions interface {
	Version(ctx context.Context) (int, error)
	Current(ctx context.Context) (int, []audience.Definition, []computed.Definition, error)
}

// Cache bounds. A change of the definitions reaches recording within CheckEvery; a store that
// cannot be read is bridged with what was read last for up to StaleFor, after which recording
// waits for it (events are recorded later, never with definitions known to be old).
const (
	CheckEvery = 30 * time.Second
	StaleFor   = 10 * time.Minute
)

// Source gives the definitions in force (recording.AudienceSource): it checks the set's version
// every CheckEvery (one small read) and reads the definitions again only when it moved.
type Source struct {
	defs Definitions
	now  func() time.Time

	mu      sync.Mutex
	current recording.AudienceSet
	read    bool      // current was read
	checked time.Time // when the version was last checked successfully
}

// NewSource returns a source over defs.
func NewSource(defs Definitions) *Source { return &Source{defs: defs, now: time.Now} }

// WithClock sets the clock the cache ages by.
func (s *Source) WithClock(now func() time.Time) *Source { s.now = now; return s }

// Audiences implements recording.AudienceSource.
func (s *Source) Audiences(ctx context.Context) (recording.AudienceSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.read && now.Sub(s.checked) < CheckEvery {
		return s.current, nil
	}
	err := s.refresh(ctx)
	switch {
	case err == nil:
		s.checked = now
		return s.current, nil
	case s.read && now.Sub(s.checked) < StaleFor:
		return s.current, nil
	}
	return recording.AudienceSet{}, err
}

// refresh reads the set's version and, when it moved, the definitions.
func (s *Source) refresh(ctx context.Context) error {
	version, err := s.defs.Version(ctx)
	if err != nil {
		return err
	}
	if s.read && version == s.current.Version {
		return nil
	}
	version, defs, traits, err := s.defs.Current(ctx)
	if err != nil {
		return err
	}
	current := recording.AudienceSet{Version: version}
	if len(defs) > 0 {
		if current.Set, err = audience.NewSet(defs); err != nil {
			return fmt.Errorf("the stored audiences do not form a valid set: %w", err)
		}
	}
	if len(traits) > 0 {
		if current.Traits, err = computed.NewSet(traits); err != nil {
			return fmt.Errorf("the stored computed traits do not form a valid set: %w", err)
		}
	}
	s.current, s.read = current, true
	return nil
}

// Sender sends messages to a queue (messagequeue.Queue).
type Sender interface {
	SendAll(ctx context.Context, ms []message.Message) []error
}

// Queue announces audience changes on the audiences queue (recording.Announcer).
type Queue struct{ Sender Sender }

// Announce implements recording.Announcer: every change is sent, or an error names how many were
// not (the engine then records none of them, and announces them again with the same messageIds).
func (q Queue) Announce(ctx context.Context, changes []recording.AudienceChange) error {
	ms := make([]message.Message, len(changes))
	for i, c := range changes {
		ms[i] = Message(c)
	}
	failed, first := 0, error(nil)
	for _, err := range q.Sender.SendAll(ctx, ms) {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d audience changes not sent: %w", failed, len(changes), first)
	}
	return nil
}

// Message is the audience.entered or audience.exited message of a change.
func Message(c recording.AudienceChange) message.AudienceChanged {
	p := c.Profile
	ids := make([]string, len(c.Claimed))
	for i, id := range c.Claimed {
		ids[i] = id.String()
	}
	return message.NewAudienceChanged(message.AudienceChanged{
		AudienceID: c.Audience, ProfileID: p.ID, ProfileVersion: c.ProfileVersion, UserID: p.UserID,
		AnonymousIDs: p.AnonymousIDs, Identifiers: ids, MarketingConsent: consent(p),
		At: c.At, Since: c.Since,
	}, c.Entered)
}

// consent is the person's marketing answer as the message carries it.
func consent(p profile.Profile) string {
	c, ok := p.Consent[profile.PurposeMarketing]
	switch {
	case !ok:
		return message.ConsentUnknown
	case c.Granted:
		return message.ConsentGranted
	}
	return message.ConsentDenied
}
