package profilestore

import (
	"context"
	"fmt"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// consentItem is one purpose's consent as stored on a profile item (attribute consent, a map by
// purpose), written by the profile API (SetConsent) and by recording (events' context.consent).
type consentItem struct {
	Granted bool      `dynamo:"granted"`
	At      time.Time `dynamo:"at"`
	Source  string    `dynamo:"source,omitempty"`
}

func toConsent(m map[string]consentItem) map[string]profile.Consent {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]profile.Consent, len(m))
	for k, c := range m {
		out[k] = profile.Consent{Granted: c.Granted, At: c.At, Source: c.Source}
	}
	return out
}

func fromConsent(m map[string]profile.Consent) map[string]consentItem {
	out := make(map[string]consentItem, len(m))
	for k, c := range m {
		out[k] = consentItem{Granted: c.Granted, At: c.At.UTC(), Source: c.Source}
	}
	return out
}

// SetConsent records consent answers on the live profile of id: per purpose, the latest answer (by
// its time) wins, so answers may arrive in any order. It returns the live profile id and the
// consent state after the change, or profile.ErrNotFound. It changes the profile's version, like
// recording does (which takes the consent answers of events, see profile.Apply), so that neither
// overwrites the other: a concurrent change makes it read again.
func (s *Store) SetConsent(ctx context.Context, id string, change map[string]profile.Consent) (string, map[string]profile.Consent, error) {
	for range maxAttempts {
		it, err := s.liveItem(ctx, id, true)
		if err != nil {
			return "", nil, err
		}
		if it.Version == 0 || !it.ErasedAt.IsZero() {
			return "", nil, fmt.Errorf("set consent on %s: %w", id, profile.ErrNotFound)
		}
		next, changed := profile.ApplyConsent(toConsent(it.Consent), change)
		if !changed {
			return it.ProfileID, next, nil
		}
		u := s.profiles.Update("profileId", it.ProfileID).Set("consent", fromConsent(next)).Set("version", it.Version+1).
			If("'version' = ? AND attribute_not_exists('mergedInto') AND attribute_not_exists('mergingInto') AND attribute_not_exists('erasedAt')", it.Version)
		p := it.profile()
		p.Consent = next // marketing consent decides whether a trigger can fall due
		setDue(u, it, s.dueAt(p, it.triggerState(), s.now().UTC()))
		err = u.Run(ctx)
		if dynamo.IsCondCheckFailed(err) {
			continue // changed, merged or erased meanwhile: read again
		}
		if err != nil {
			return "", nil, fmt.Errorf("set consent on %s: %w", it.ProfileID, err)
		}
		return it.ProfileID, next, nil
	}
	return "", nil, fmt.Errorf("set consent on %s: %w", id, ErrContention)
}
