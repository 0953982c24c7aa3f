// Package recording is dcrm's recording engine: it places each event on the profile its
// identifiers resolve to and keeps the identity graph, the profiles and their history true to the
// rules of package identity (who is who), package profile (what an event does to a profile) and
// package history (what is kept of each event), whatever the order, repetition and concurrency of
// the events. It owns the rules of recording: claiming identifiers, merging and folding profiles,
// splitting a wrong merge, erasing a person, deduplicating, and what fired for whom. It talks to
// storage through a narrow port (Storage) whose guarantees are written on it; the adapters behind
// it (DynamoDB: package profilestore; memory: package memstore) hold no rules.
//
// The discipline that makes it safe under retries, replays, crashes and concurrent writers:
//
//   - a batch of events is recorded with one write per profile (RecordAll), only if the profile is
//     still at the version read (a concurrent change makes its events start over), followed by
//     the events' touchpoints; an event whose touchpoint is in the profile's history, or whose
//     deduplication key (its message id scoped by source and visitor, Input.Dedup) is among the
//     profile's recent ones or has a receipt, was recorded before and changes nothing;
//   - identifiers are claimed only if absent, so two writers that create the same identifier at
//     once agree on the winner;
//   - a merge first claims the merged profile (so that it joins one profile only), then moves
//     its identifiers, marking each with where it came from, then folds the profile and marks it
//     merged in one commit; whoever meets a claimed profile or a marked identifier before the
//     fold is done finishes it, so a crash in between loses nothing; a mark is cleared only
//     where its identifier belongs, so one moved astray is moved again by whoever reads it next;
//   - an identifier claimed for a profile that merged before it was written is adopted by the
//     live profile the next time an event carries it;
//   - every write of a profile but its score changes its version, so recording, consent, the
//     triggers schedule, a split and an erasure never overwrite each other;
//   - an erasure marks the person's live profile first (nothing records on it from then on, and
//     nothing merges into it), then works in bounded steps, keeping on that profile what is left,
//     so that it can stop anywhere and any later call goes on; an erased identifier is kept only
//     sealed (a keyed hash), and recognised by whoever holds the key and the identifier.
package recording

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

var (
	// ErrContention is returned when a profile kept changing under concurrent writers for every
	// attempt; doing the same again later succeeds.
	ErrContention = errors.New("profile kept changing under concurrent writes")
	// ErrChanged is returned by a write that is conditional on what was read (SaveFired) when
	// the profile changed since.
	ErrChanged = errors.New("profile changed since it was read")
	// ErrCorrupt is returned when stored profiles point at each other in a loop.
	ErrCorrupt = errors.New("profiles merged into each other in a loop")
	// ErrErased is returned when an event carries an identifier of an erased person (Erase): it is
	// never recorded, so that the person is not re-created.
	ErrErased = errors.New("identifier erased")
	// ErrNotAttempted is the error of the inputs of a batch after one that failed with an error
	// that recording again may cure: they were left alone, so that the batch can be retried from
	// there.
	ErrNotAttempted = errors.New("not recorded: an earlier event of the batch failed")
	// ErrNotMerged is returned by Split for a profile that is not merged into the given one.
	ErrNotMerged = errors.New("profile is not merged into this one")
	// ErrTooLong is returned by Split for a person whose history is longer than one split holds.
	ErrTooLong = errors.New("history too long to split")
)

const (
	maxAttempts = 16 // per event, each after a conflict with another writer or a merge
	maxHops     = 16 // merged profiles followed to the live one
)

// Engine records events on profiles and reads them back.
type Engine struct {
	st         Storage
	now        func() time.Time
	newID      func() string
	triggers   trigger.Config // the rules the due time follows
	retention  history.Retention
	key        Hasher // seals erased identifiers
	erasure    erasureBudget
	splitLimit int // the most touchpoints a split reads
	audiences  AudienceSource
	announcer  Announcer
}

// Hasher makes keyed hashes (package hashkey's Key): the engine seals an erased identifier as
// Sum("tombstone", <its text>), so that its tombstone holds nothing readable or guessable.
type Hasher interface {
	Sum(purpose string, parts ...string) string
}

// Option configures an Engine.
type Option func(*Engine)

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithTriggers sets the trigger rules by which profiles are due (default trigger.Default).
// Recording and the triggers schedule must use the same rules.
func WithTriggers(cfg trigger.Config) Option { return func(e *Engine) { e.triggers = cfg } }

// WithIDs sets how new profile ids are made (default NewID).
func WithIDs(newID func() string) Option { return func(e *Engine) { e.newID = newID } }

// WithRetention sets how long touchpoints are kept (default history.DefaultTTL).
func WithRetention(ttl time.Duration) Option {
	return func(e *Engine) { e.retention = history.Retention{TTL: ttl} }
}

// WithTombstoneKey sets the key that seals erased identifiers. Every engine that records or
// erases over the same storage must have the same key (the deployment's, package hashkey): an
// engine without one makes a random key of its own, whose tombstones no other engine recognises.
func WithTombstoneKey(k Hasher) Option { return func(e *Engine) { e.key = k } }

// WithErasureSteps sets how an erasure works (Erase): at most page touchpoints per step, and no
// new step once the context's deadline is less than reserve away (defaults: 200, 3s).
func WithErasureSteps(page int, reserve time.Duration) Option {
	return func(e *Engine) { e.erasure = erasureBudget{page: max(page, 1), reserve: reserve} }
}

// WithSplitLimit sets how many events a person's history may hold for Split (default 10,000):
// a split reads them all at once.
func WithSplitLimit(n int) Option { return func(e *Engine) { e.splitLimit = max(n, 1) } }

// New returns an engine over the given storage.
func New(st Storage, opts ...Option) *Engine {
	e := &Engine{st: st, now: time.Now, newID: NewID, triggers: trigger.Default, key: newRandomKey(),
		erasure: erasureBudget{page: 200, reserve: 3 * time.Second}, splitLimit: 10000}
	for _, o := range opts {
		o(e)
	}
	return e
}

// randomKey is an HMAC-SHA256 key of 32 random bytes, for an engine given none.
type randomKey []byte

func newRandomKey() randomKey {
	k := make(randomKey, 32)
	_, _ = rand.Read(k)
	return k
}

// Sum is the HMAC of the purpose and parts, each length-prefixed, in unpadded base64url.
func (k randomKey) Sum(purpose string, parts ...string) string {
	mac := hmac.New(sha256.New, k)
	for _, p := range append([]string{purpose}, parts...) {
		mac.Write(binary.AppendUvarint(nil, uint64(len(p))))
		mac.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// sealed is the form under which an erased identifier's tombstone is kept.
func (e *Engine) sealed(id identity.ID) string { return e.key.Sum("tombstone", id.String()) }

// NewID makes a random profile id.
func NewID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "prf_" + hex.EncodeToString(b)
}

// Permanent tells whether recording an event failed for good (recording it again fails the same
// way): it carries an erased identifier, or storage rejects it.
func Permanent(err error) bool { return errors.Is(err, ErrErased) || errors.Is(err, ErrRejected) }

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

// live follows merges from profile id to the record that holds its history now. A profile that
// does not exist yet (its identifier was claimed, the profile not written) is returned at
// version 0.
func (e *Engine) live(ctx context.Context, id string, consistent bool) (Record, error) {
	return toLive(id, func(id string) (Record, error) { return e.st.Profile(ctx, id, consistent) })
}

// toLive reads profile id, then the profiles it was merged into, one by one, until one that was
// not: the live one.
func toLive(id string, read func(id string) (Record, error)) (Record, error) {
	for range maxHops {
		r, err := read(id)
		if err != nil {
			return Record{}, err
		}
		if r.Profile.MergedInto == "" {
			return r, nil
		}
		id = r.Profile.MergedInto
	}
	return Record{}, fmt.Errorf("follow merges from %s: %w", id, ErrCorrupt)
}

// written tells whether a record holds a profile: written, and not being erased or erased.
func (r Record) written() bool { return r.Version > 0 && r.ErasedAt.IsZero() }

// Profile returns the live profile for id: the profile itself or, if it was merged, the one that
// holds its history now. It returns profile.ErrNotFound for an unknown or erased id.
func (e *Engine) Profile(ctx context.Context, id string) (profile.Profile, error) {
	r, err := e.live(ctx, id, false)
	if err != nil {
		return profile.Profile{}, err
	}
	if !r.written() {
		return profile.Profile{}, fmt.Errorf("profile %s: %w", id, profile.ErrNotFound)
	}
	return r.Profile, nil
}

// Lookup returns the live profile an identifier belongs to, or profile.ErrNotFound.
func (e *Engine) Lookup(ctx context.Context, id identity.ID) (profile.Profile, error) {
	entry, found, err := e.st.Entry(ctx, id, false)
	if err != nil {
		return profile.Profile{}, err
	}
	if !found || !entry.ErasedAt.IsZero() || entry.ProfileID == "" {
		return profile.Profile{}, fmt.Errorf("a %s identifier: %w", id.Kind, profile.ErrNotFound)
	}
	return e.Profile(ctx, entry.ProfileID)
}

// identifiers lists every identifier a record's profile holds, claimed ones included.
func (r Record) identifiers() []identity.ID {
	return append(r.Profile.Identifiers(), r.Claimed...)
}

// lists tells whether profile p, with its claimed identifiers, holds identifier id: for a user id,
// any user id will do (an earlier user id an alias linked leads to the profile of the later one).
func lists(p profile.Profile, claimed []identity.ID, id identity.ID) bool {
	switch id.Kind {
	case identity.User:
		return p.UserID != ""
	case identity.Anonymous:
		return slices.Contains(p.AnonymousIDs, id.Value)
	default:
		return slices.Contains(claimed, id)
	}
}
