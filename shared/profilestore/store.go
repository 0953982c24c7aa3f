// Package profilestore keeps profiles and the identity graph in DynamoDB (three tables: Profiles,
// Identities and the Touchpoints history) and records events on them exactly once.
//
// Recording follows the rules of package identity and package profile; this package adds the
// storage discipline that makes it safe under retries, replays, crashes and concurrent writers:
//
//   - a batch of events is recorded with one write per profile (RecordAll), only if the profile is
//     still at the version read (a concurrent change makes its events start over), followed by
//     the events' touchpoints; an event whose touchpoint is in the profile's history, or whose
//     message id is among the profile's recent ones, was recorded before and changes nothing;
//   - identifiers are claimed with a conditional put, so two writers that create the same
//     identifier at once agree on the winner;
//   - a merge first claims the merged profile (so that it joins one profile only), then repoints
//     its identifiers, marking each with where it came from, then folds the profile in one
//     transaction that also marks it merged; whoever meets a claimed profile or a marked
//     identifier before the fold is done finishes it, so a crash in between loses nothing.
package profilestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

var (
	// ErrContention is returned when a profile kept changing under concurrent writers for every
	// attempt to record an event; recording it again later succeeds.
	ErrContention = errors.New("profile kept changing under concurrent writes")
	// ErrChanged is returned by a write that is conditional on what was read (SaveScoreWithAlert,
	// SaveFired) when the profile changed since.
	ErrChanged = errors.New("profile changed since it was read")
	// ErrCorrupt is returned when stored profiles point at each other in a loop.
	ErrCorrupt = errors.New("profiles merged into each other in a loop")
	// ErrErased is returned when an event carries an identifier of an erased person (Erase): it is
	// never recorded, so that the person is not re-created.
	ErrErased = errors.New("identifier erased")
	// ErrRejected is returned when DynamoDB refuses a write as invalid (a profile grown past the
	// item size limit, for instance): recording the same event again fails the same way.
	ErrRejected = errors.New("write rejected by the database")
)

const (
	maxAttempts = 16 // per event, each after a conflict with another writer or a merge
	maxHops     = 16 // merged profiles followed to the live one
)

// Tables are the physical names of the tables. A store used only for some operations needs only
// their tables: scoring needs Profiles; lookups need Profiles and Identities.
type Tables struct {
	Profiles   string
	Identities string
	// Touchpoints is the history table. Without it, recording keeps no history (and knows an
	// event recorded before only among the profile's recent ones), and History, Export and Erase
	// fail.
	Touchpoints string
}

// Store records events on profiles and reads them back.
type Store struct {
	db         *dynamo.DB
	profiles   dynamo.Table
	identities dynamo.Table
	touch      dynamo.Table
	touchTTL   time.Duration

	touchpointTable string // physical name; empty when the store keeps no history
	now             func() time.Time
	newID           func() string
	triggers        trigger.Config // the rules the due index follows
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithTriggers sets the trigger rules by which profiles are indexed by their due time (default
// trigger.Default). Recording and the triggers schedule must use the same rules.
func WithTriggers(cfg trigger.Config) Option { return func(s *Store) { s.triggers = cfg } }

// WithIDs sets how new profile ids are made (default NewID).
func WithIDs(newID func() string) Option { return func(s *Store) { s.newID = newID } }

// New returns a store over the given tables.
func New(db *dynamo.DB, t Tables, opts ...Option) *Store {
	s := &Store{
		db: db, profiles: db.Table(t.Profiles), identities: db.Table(t.Identities),
		touch: db.Table(t.Touchpoints), touchpointTable: t.Touchpoints,
		touchTTL: DefaultTouchpointTTL, now: time.Now, newID: NewID, triggers: trigger.Default,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewID makes a random profile id.
func NewID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "prf_" + hex.EncodeToString(b)
}

// parseIDs reads identifiers stored as text, skipping any that cannot be read.
func parseIDs(ss []string) []identity.ID {
	var ids []identity.ID
	for _, s := range ss {
		if id, err := identity.Parse(s); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// identifiers lists every identifier the stored profile holds, hashed ones included.
func (it profileItem) identifiers() []identity.ID {
	return append(it.profile().Identifiers(), parseIDs(it.Hashed)...)
}

// withHashed returns the sorted union of the stored claimed identifiers and the claimed ones of
// ids: every kind but anonymousId and userId, which the profile holds in fields of their own.
func withHashed(stored []string, ids []identity.ID) []string {
	out := slices.Clone(stored)
	for _, id := range ids {
		if id.Kind != identity.Anonymous && id.Kind != identity.User {
			out = append(out, id.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// pause waits before the next attempt after the n-th conflict (from 0): a random time up to 10ms
// doubled n times, at most 320ms, so that writers contending for one profile spread out.
func pause(ctx context.Context, n int) error {
	limit := 10 * time.Millisecond << min(n, 5)
	t := time.NewTimer(time.Duration(mrand.Int64N(int64(limit))))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// cmpErr returns err, or alt when err is nil.
func cmpErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

// live follows merges from profile id to the profile that holds its history now. A profile that
// does not exist yet (its identifier was claimed, the profile not written) is returned empty with
// version 0.
func (s *Store) live(ctx context.Context, id string, consistent bool) (profile.Profile, int, error) {
	it, err := s.liveItem(ctx, id, consistent)
	if err != nil {
		return profile.Profile{}, 0, err
	}
	return it.profile(), it.Version, nil
}

// liveItem is live, returning the stored item.
func (s *Store) liveItem(ctx context.Context, id string, consistent bool) (profileItem, error) {
	for range maxHops {
		it, found, err := s.get(ctx, id, consistent)
		if err != nil {
			return profileItem{}, err
		}
		if !found {
			return profileItem{ProfileID: id}, nil
		}
		if it.MergedInto == "" {
			return it, nil
		}
		id = it.MergedInto
	}
	return profileItem{}, fmt.Errorf("follow merges from %s: %w", id, ErrCorrupt)
}

func (s *Store) get(ctx context.Context, id string, consistent bool) (profileItem, bool, error) {
	var it profileItem
	err := s.profiles.Get("profileId", id).Consistent(consistent).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return it, false, nil
	}
	if err != nil {
		return it, false, fmt.Errorf("get profile %s: %w", id, err)
	}
	return it, true, nil
}

// claim makes a new identifier point at profileID. It returns false when another writer claimed it
// first; reading it again gives the winner.
func (s *Store) claim(ctx context.Context, id identity.ID, profileID string) (bool, error) {
	err := s.identities.Put(identityItem{Identifier: id.String(), ProfileID: profileID, CreatedAt: s.now().UTC()}).
		If("attribute_not_exists('identifier')").Run(ctx)
	if dynamo.IsCondCheckFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim identity %s: %w", id, err)
	}
	return true, nil
}

// writeProfile writes the fields stitch owns, if the profile is still at version. Empty fields are
// removed rather than stored empty.
func (s *Store) writeProfile(p profile.Profile, version int) *dynamo.Update {
	u := s.profiles.Update("profileId", p.ID).
		Set("userId", p.UserID).
		Set("traits", traits(p.Traits)).
		Set("firstSeen", p.FirstSeen.UTC()).
		Set("lastSeen", p.LastSeen.UTC()).
		Set("counts", counts(p.Counts)).
		Set("updatedAt", p.UpdatedAt.UTC()).
		Set("version", version+1)
	setOrRemove(u, "anonymousIds", p.AnonymousIDs, len(p.AnonymousIDs))
	setOrRemove(u, "mergedFrom", p.MergedFrom, len(p.MergedFrom))
	setOrRemove(u, "groups", p.Groups, len(p.Groups))
	setOrRemove(u, "traitTimes", utcTimes(p.TraitTimes), len(p.TraitTimes))
	setOrRemove(u, "consent", fromConsent(p.Consent), len(p.Consent))
	setAggregates(u, p)
	return ifVersion(u, version)
}

func setOrRemove(u *dynamo.Update, path string, v any, n int) {
	if n == 0 {
		u.Remove(path)
		return
	}
	u.Set(path, v)
}

func ifVersion(u *dynamo.Update, version int) *dynamo.Update {
	if version == 0 {
		return u.If("attribute_not_exists('profileId')")
	}
	return u.If("'version' = ?", version)
}

func utcTimes(m map[string]time.Time) map[string]time.Time {
	out := make(map[string]time.Time, len(m))
	for k, t := range m {
		out[k] = t.UTC()
	}
	return out
}

// reasons are the cancellation reasons of a failed transaction, by item.
type reasons []string

func cancellations(err error) reasons {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	r := make(reasons, len(tce.CancellationReasons))
	for i, c := range tce.CancellationReasons {
		r[i] = aws.ToString(c.Code)
	}
	return r
}

// rejected tells whether DynamoDB refused a request as invalid, rather than failing to serve it.
func rejected(err error) bool {
	for _, c := range cancellations(err) {
		if c == "ValidationError" || c == "ItemCollectionSizeLimitExceeded" {
			return true
		}
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationException"
}

func (r reasons) failed(i int) bool { return i < len(r) && r[i] == "ConditionalCheckFailed" }

func (r reasons) conflict() bool {
	for _, c := range r {
		if c == "TransactionConflict" {
			return true
		}
	}
	return false
}

// Profile returns the live profile for id: the profile itself or, if it was merged, the one that
// holds its history now. It returns profile.ErrNotFound for an unknown id.
func (s *Store) Profile(ctx context.Context, id string) (profile.Profile, error) {
	it, err := s.liveItem(ctx, id, false)
	if err != nil {
		return profile.Profile{}, err
	}
	if it.Version == 0 || !it.ErasedAt.IsZero() {
		return profile.Profile{}, fmt.Errorf("profile %s: %w", id, profile.ErrNotFound)
	}
	return it.profile(), nil
}

// Lookup returns the live profile an identifier belongs to, or profile.ErrNotFound.
func (s *Store) Lookup(ctx context.Context, id identity.ID) (profile.Profile, error) {
	var it identityItem
	err := s.identities.Get("identifier", id.String()).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return profile.Profile{}, fmt.Errorf("identity %s: %w", id, profile.ErrNotFound)
	}
	if err != nil {
		return profile.Profile{}, fmt.Errorf("get identity %s: %w", id, err)
	}
	if !it.ErasedAt.IsZero() || it.ProfileID == "" {
		return profile.Profile{}, fmt.Errorf("identity %s: %w", id, profile.ErrNotFound)
	}
	return s.Profile(ctx, it.ProfileID)
}

// Scan calls fn for every live profile, reading the table in the given number of parallel
// segments; fn is called from one goroutine per segment, so it must be safe for concurrent use.
// The first error from fn or from reading stops the scan and is returned.
func (s *Store) Scan(ctx context.Context, segments int, fn func(context.Context, profile.Profile) error) error {
	segments = max(segments, 1)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for seg := range segments {
		wg.Go(func() {
			err := s.ScanSegment(ctx, seg, segments, func(ctx context.Context, p profile.Profile) (bool, error) {
				return true, fn(ctx, p)
			})
			if err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
