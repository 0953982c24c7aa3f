// Package profilestore keeps profiles and the identity graph in DynamoDB (four tables: Profiles,
// Identities, the Events ledger and the Touchpoints history) and records events on them exactly once.
//
// Recording follows the rules of package identity and package profile; this package adds the
// storage discipline that makes it safe under retries, replays, crashes and concurrent writers:
//
//   - every event is recorded in one transaction that adds its message id to the Events ledger
//     (only if absent: a second delivery changes nothing), writes the profile (only if its
//     version is the one read: a concurrent change makes the attempt start over) and adds the
//     event to the profile's history (Touchpoints), so a replay writes nothing twice;
//   - identifiers are claimed with a conditional put, so two writers that create the same
//     identifier at once agree on the winner;
//   - a merge first repoints the merged profile's identifiers, marking each with where it came from,
//     then folds the profile in one transaction that also marks it merged (only once); whoever reads
//     a marked identifier before the fold is done finishes it, so a crash in between loses nothing.
package profilestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/scoring"
)

var (
	// ErrContention is returned when a profile kept changing under concurrent writers for every
	// attempt to record an event; recording it again later succeeds.
	ErrContention = errors.New("profile kept changing under concurrent writes")
	// ErrChanged is returned by MarkLapseAlerted when the profile changed since it was read.
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

// DefaultEventTTL is how long the ledger remembers an event unless WithEventTTL says otherwise.
const DefaultEventTTL = 90 * 24 * time.Hour

const (
	maxAttempts = 16 // per event, each after a conflict with another writer or a merge
	maxHops     = 16 // merged profiles followed to the live one
)

// Tables are the physical names of the tables. A store used only for some operations needs only
// their tables: scoring needs Profiles; lookups need Profiles and Identities.
type Tables struct {
	Profiles   string
	Identities string
	Events     string
	// Touchpoints is the history table. Without it, recording keeps no history and History,
	// Export and Erase fail.
	Touchpoints string
}

// Store records events on profiles and reads them back.
type Store struct {
	db         *dynamo.DB
	profiles   dynamo.Table
	identities dynamo.Table
	events     dynamo.Table
	touch      dynamo.Table
	eventTTL   time.Duration
	touchTTL   time.Duration

	touchpointTable string // physical name; empty when the store keeps no history
	now             func() time.Time
	newID           func() string
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithEventTTL sets how long the ledger remembers an event (default DefaultEventTTL).
func WithEventTTL(d time.Duration) Option { return func(s *Store) { s.eventTTL = d } }

// WithIDs sets how new profile ids are made (default NewID).
func WithIDs(newID func() string) Option { return func(s *Store) { s.newID = newID } }

// New returns a store over the given tables.
func New(db *dynamo.DB, t Tables, opts ...Option) *Store {
	s := &Store{
		db: db, profiles: db.Table(t.Profiles), identities: db.Table(t.Identities), events: db.Table(t.Events),
		touch: db.Table(t.Touchpoints), touchpointTable: t.Touchpoints,
		eventTTL: DefaultEventTTL, touchTTL: DefaultTouchpointTTL, now: time.Now, newID: NewID,
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

// Result tells what recording an event did.
type Result struct {
	ProfileID string   // the profile the event is on
	Duplicate bool     // the event had been recorded before; nothing changed
	Created   bool     // the profile was created for this event
	Merged    []string // profiles folded into ProfileID while recording the event
	// Version is the profile's version after the event (for a duplicate, as read); Profile is the
	// profile at that version. Added are the identifiers the event attached to it and
	// TraitsChanged the traits whose value it changed (both empty for a duplicate).
	Version       int
	Profile       profile.Profile
	Added         []string
	TraitsChanged []string
}

// errRetry makes Record start over with fresh reads at once (this attempt changed the graph);
// errConflict after a pause (another writer changed what this attempt read).
var (
	errRetry    = errors.New("state changed; read again")
	errConflict = errors.New("lost a race with another writer; read again")
)

// Claims are what an event says of who it is beside its anonymousId and userId: its hashed
// identifiers (identity.HashedIDs: email and phone SHA-256) and whether its source is trusted (a
// server-side key). The identity rules decide what they may join (identity.Refine). Properties
// are the event's properties as sent, kept (bounded, see MaxTouchpointProperties) in its touchpoint.
type Claims struct {
	Hashed     []identity.ID
	Trusted    bool
	Properties json.RawMessage
}

// Record records an activity on the profile its identifiers resolve to, creating and merging
// profiles as the identity rules decide. Recording the same message id again changes nothing.
func (s *Store) Record(ctx context.Context, a profile.Activity) (Result, error) {
	return s.RecordClaims(ctx, a, Claims{})
}

// RecordClaims is Record for an event that also carries the given claims: its hashed identifiers
// are resolved, attached and (from a trusted source) joined like its other identifiers, under the
// rules and limits of package identity.
func (s *Store) RecordClaims(ctx context.Context, a profile.Activity, c Claims) (Result, error) {
	var merged []string
	conflicts := 0
	for range maxAttempts {
		res, from, err := s.record(ctx, a, c)
		if from != "" {
			merged = append(merged, from)
		}
		if errors.Is(err, errRetry) {
			continue
		}
		if errors.Is(err, errConflict) {
			if err := pause(ctx, conflicts); err != nil {
				return Result{}, fmt.Errorf("record event %s: %w", a.MessageID, err)
			}
			conflicts++
			continue
		}
		if rejected(err) {
			return Result{}, fmt.Errorf("record event %s: %w: %w", a.MessageID, ErrRejected, err)
		}
		if err != nil {
			return Result{}, fmt.Errorf("record event %s: %w", a.MessageID, err)
		}
		res.Merged = merged
		return res, nil
	}
	return Result{}, fmt.Errorf("record event %s: %w", a.MessageID, ErrContention)
}

// ref is an identifier as read: its graph entry and the live profile it leads to.
type ref struct {
	item    *identityItem // nil for a new identifier
	live    profile.Profile
	version int      // of live; 0 when it does not exist yet
	hashed  []string // live's hashed identifiers (profileItem.Hashed)
}

func (r ref) owner() identity.Owner {
	if r.item == nil {
		return identity.Owner{}
	}
	held := map[identity.Kind]int{identity.Anonymous: len(r.live.AnonymousIDs)}
	if r.live.UserID != "" {
		held[identity.User] = 1
	}
	for _, id := range parseIDs(r.hashed) {
		held[id.Kind]++
	}
	return identity.Owner{ProfileID: r.live.ID, UserID: r.live.UserID, Held: held}
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

// withHashed returns the sorted union of the stored hashed identifiers and the hashed ones of ids.
func withHashed(stored []string, ids []identity.ID) []string {
	out := slices.Clone(stored)
	for _, id := range ids {
		if id.Kind == identity.EmailSHA256 || id.Kind == identity.PhoneSHA256 {
			out = append(out, id.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// record makes one attempt. It returns errRetry after changing the graph (a merge) and errConflict
// after losing a race (a claim or a write), with the id of the profile it folded in, if any.
func (s *Store) record(ctx context.Context, a profile.Activity, c Claims) (Result, string, error) {
	refs := map[identity.ID]ref{}
	var folded string
	read := func(id identity.ID) (ref, error) {
		r, err := s.lookup(ctx, id)
		if err != nil {
			return r, err
		}
		if r.item != nil && r.item.MergedFrom != "" {
			// A merge moved this identifier: finish it, or clear the mark if it is done.
			done, err := s.finishMerge(ctx, r.item.MergedFrom, r.live.ID, id)
			if err != nil {
				return r, err
			}
			if done {
				folded = r.item.MergedFrom
				return r, errRetry
			}
		}
		refs[id] = r
		return r, nil
	}
	alias := a.Type == beacon.Alias && a.PreviousID != ""
	anon, user := identity.AnonymousID(a.AnonymousID), identity.UserID(a.UserID)
	if alias {
		anon = identity.AnonymousID(a.PreviousID)
	}
	for _, id := range append([]identity.ID{anon, user}, c.Hashed...) {
		if id.IsZero() {
			continue
		}
		if _, err := read(id); err != nil {
			return Result{}, folded, err
		}
	}
	var plan identity.Plan
	if alias {
		// previousId is an anonymous id, unless the graph knows it only as a user id.
		prev := anon
		if refs[anon].item == nil {
			r, err := read(identity.UserID(a.PreviousID))
			if err != nil {
				return Result{}, folded, err
			}
			if r.item != nil {
				prev = identity.UserID(a.PreviousID)
			}
		}
		plan = identity.ResolveAlias(prev, a.UserID, refs[prev].owner(), refs[user].owner())
	} else {
		plan = identity.Resolve(a.AnonymousID, a.UserID, refs[anon].owner(), refs[user].owner())
	}
	owners := make(map[identity.ID]identity.Owner, len(refs))
	for id, r := range refs {
		owners[id] = r.owner()
	}
	plan = identity.Refine(plan, c.Hashed, owners, c.Trusted)
	if plan.MergeFrom != "" {
		via := anon
		for _, id := range plan.Attach {
			if owners[id].ProfileID == plan.MergeFrom {
				via = id
				break
			}
		}
		folded, err := s.merge(ctx, plan.MergeFrom, plan.Profile, via)
		if err != nil {
			return Result{}, "", err
		}
		if folded {
			return Result{}, plan.MergeFrom, errRetry
		}
		return Result{}, "", errRetry
	}

	target, version, created := profile.Profile{ID: plan.Profile}, 0, false
	var hashed []string
	if plan.Profile == "" {
		target.ID, created = s.newID(), true
	}
	for _, r := range refs {
		if r.item != nil && r.live.ID == target.ID {
			target, version, hashed = r.live, r.version, r.hashed
		}
	}
	for _, id := range plan.Attach {
		if refs[id].item != nil {
			continue
		}
		if won, err := s.claim(ctx, id, target.ID); err != nil || !won {
			return Result{}, "", cmpErr(err, errConflict)
		}
	}

	now := s.now().UTC()
	next := profile.Apply(target, a, plan.Attach)
	next.UpdatedAt = now
	ledger := eventItem{
		MessageID: a.MessageID, ProfileID: target.ID, Type: a.Type, Timestamp: a.At,
		RecordedAt: now, ExpiresAt: now.Add(s.eventTTL),
	}
	write := s.writeProfile(next, version)
	hashedBefore := hashed
	hashed = withHashed(hashed, plan.Attach)
	setOrRemove(write, "hashedIds", hashed, len(hashed))
	tx := s.db.WriteTx().Idempotent(true).
		Put(s.events.Put(ledger).If("attribute_not_exists('messageId')")).
		Update(write)
	if s.touchpointTable != "" {
		tx = tx.Put(s.touch.Put(s.touchpoint(target.ID, a, c.Properties)))
	}
	err := tx.Run(ctx)
	switch reasons := cancellations(err); {
	case err == nil:
		return Result{ProfileID: target.ID, Created: created, Version: version + 1, Profile: next,
			Added: added(target, hashedBefore, next, hashed), TraitsChanged: changedTraits(target.Traits, next.Traits)}, "", nil
	case reasons.failed(0):
		// Recorded before: whatever its profile is now, it counts once.
		return Result{ProfileID: target.ID, Duplicate: true, Version: version, Profile: target}, "", nil
	case reasons.failed(1) || reasons.conflict():
		return Result{}, "", errConflict
	default:
		return Result{}, "", fmt.Errorf("write profile %s: %w", target.ID, err)
	}
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

// lookup reads an identifier and the live profile it leads to.
func (s *Store) lookup(ctx context.Context, id identity.ID) (ref, error) {
	var r ref
	var it identityItem
	err := s.identities.Get("identifier", id.String()).Consistent(true).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("get identity %s: %w", id, err)
	}
	if !it.ErasedAt.IsZero() {
		return r, fmt.Errorf("identity %s: %w", id, ErrErased)
	}
	r.item = &it
	live, err := s.liveItem(ctx, it.ProfileID, true)
	if err == nil && !live.ErasedAt.IsZero() {
		return r, fmt.Errorf("identity %s: profile %s: %w", id, live.ProfileID, ErrErased)
	}
	r.live, r.version, r.hashed = live.profile(), live.Version, live.Hashed
	return r, err
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

// merge moves the anonymous profile from into the profile into: it repoints from's identifiers
// (and via, the identifier it was found by), marking each, then folds from into into and marks it
// merged. It returns whether it folded; it does not when the merge is no longer allowed (from became
// another user's profile meanwhile) or when from was merged already.
func (s *Store) merge(ctx context.Context, from, into string, via identity.ID) (bool, error) {
	src, _, err := s.get(ctx, from, true)
	if err != nil {
		return false, err
	}
	if src.MergedInto != "" {
		return false, nil
	}
	dst, _, err := s.live(ctx, into, true)
	if err != nil {
		return false, err
	}
	if dst.ID == from || identity.CanMerge(dst.UserID, src.UserID) != nil {
		return false, nil
	}
	for _, id := range withID(src.identifiers(), via) {
		if err := s.repoint(ctx, id, from, dst.ID); err != nil {
			return false, err
		}
	}
	return s.finishMerge(ctx, from, dst.ID, via)
}

func withID(ids []identity.ID, id identity.ID) []identity.ID {
	if id.IsZero() || slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

// repoint moves an identifier of profile from to profile into, marking where it came from.
func (s *Store) repoint(ctx context.Context, id identity.ID, from, into string) error {
	err := s.identities.Update("identifier", id.String()).
		Set("profileId", into).Set("mergedFrom", from).Set("updatedAt", s.now().UTC()).
		If("'profileId' = ?", from).Run(ctx)
	if err != nil && !dynamo.IsCondCheckFailed(err) { // already moved (or not there): nothing to do
		return fmt.Errorf("repoint identity %s: %w", id, err)
	}
	return nil
}

// finishMerge folds profile from into the live profile into, unless that happened already, and
// then clears the marks on the identifiers the merge moved (from's, and via). It returns whether it
// folded. It returns errConflict when another writer changed either profile first, and errRetry
// after moving the identifiers back when the merge is no longer allowed.
func (s *Store) finishMerge(ctx context.Context, from, into string, via identity.ID) (bool, error) {
	src, found, err := s.get(ctx, from, true)
	if err != nil {
		return false, err
	}
	if !found {
		src.ProfileID = from // claimed, never written: it merges as an empty profile
	}
	folded := false
	if src.MergedInto == "" {
		dstItem, err := s.liveItem(ctx, into, true)
		if err != nil {
			return false, err
		}
		dst, dstVersion := dstItem.profile(), dstItem.Version
		if dst.ID == from {
			return false, fmt.Errorf("merge %s into itself: %w", from, ErrCorrupt)
		}
		out, err := profile.Fold(dst, src.profile())
		if errors.Is(err, identity.ErrDifferentUsers) {
			// from became another user's profile after its identifiers were moved: move them back.
			if err := s.undoMerge(ctx, withID(src.identifiers(), via), from, dst.ID); err != nil {
				return false, err
			}
			return false, errRetry
		}
		if err != nil {
			return false, fmt.Errorf("fold profile %s into %s: %w", from, dst.ID, err)
		}
		now := s.now().UTC()
		out.UpdatedAt = now
		mark := s.profiles.Update("profileId", from).
			Set("mergedInto", dst.ID).Set("updatedAt", now).Set("version", src.Version+1)
		write := s.writeProfile(out, dstVersion)
		hashed := withHashed(dstItem.Hashed, parseIDs(src.Hashed))
		setOrRemove(write, "hashedIds", hashed, len(hashed))
		err = s.db.WriteTx().Idempotent(true).
			Update(write).
			Update(ifVersion(mark, src.Version).If("attribute_not_exists('mergedInto')")).
			Run(ctx)
		if r := cancellations(err); err != nil {
			if r.failed(0) || r.failed(1) || r.conflict() {
				return false, errConflict
			}
			return false, fmt.Errorf("fold profile %s into %s: %w", from, dst.ID, err)
		}
		folded = true
	}
	// The fold is done: clear the marks, so that readers of these identifiers need not check again.
	for _, id := range withID(src.identifiers(), via) {
		err := s.identities.Update("identifier", id.String()).Remove("mergedFrom").
			If("'mergedFrom' = ?", from).Run(ctx)
		if err != nil && !dynamo.IsCondCheckFailed(err) {
			return folded, fmt.Errorf("clear merge mark on %s: %w", id, err)
		}
	}
	return folded, nil
}

// undoMerge moves identifiers that a refused merge moved to into back to from.
func (s *Store) undoMerge(ctx context.Context, ids []identity.ID, from, into string) error {
	for _, id := range ids {
		err := s.identities.Update("identifier", id.String()).
			Set("profileId", from).Remove("mergedFrom").Set("updatedAt", s.now().UTC()).
			If("'profileId' = ? AND 'mergedFrom' = ?", into, from).Run(ctx)
		if err != nil && !dynamo.IsCondCheckFailed(err) {
			return fmt.Errorf("move identity %s back: %w", id, err)
		}
	}
	return nil
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			iter := s.profiles.Scan().Filter("attribute_not_exists('mergedInto') AND attribute_not_exists('erasedAt')").Segment(seg, segments).Iter()
			var it profileItem
			for iter.Next(ctx, &it) {
				if err := fn(ctx, it.profile()); err != nil {
					cancel(err)
					return
				}
				it = profileItem{}
			}
			if err := iter.Err(); err != nil {
				cancel(fmt.Errorf("scan profiles (segment %d of %d): %w", seg, segments, err))
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// SaveScore writes a profile's score fields, and nothing else.
func (s *Store) SaveScore(ctx context.Context, id string, sc scoring.Score) error {
	err := s.profiles.Update("profileId", id).
		Set("recencyDays", sc.RecencyDays).Set("frequency", sc.Frequency).
		Set("recencyScore", sc.RecencyScore).Set("frequencyScore", sc.FrequencyScore).
		Set("score", sc.Score).Set("segment", sc.Segment).Set("scoredAt", sc.ScoredAt.UTC()).
		If("attribute_exists('profileId')").Run(ctx)
	if dynamo.IsCondCheckFailed(err) {
		return fmt.Errorf("save score of %s: %w", id, profile.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("save score of %s: %w", id, err)
	}
	return nil
}

// MarkLapseAlerted records that a lapse alert was raised at for a profile read with the given last
// seen and previous alert time (zero if none). It returns ErrChanged if either changed since, so
// that one lapse is recorded once.
func (s *Store) MarkLapseAlerted(ctx context.Context, id string, lastSeen, previous, at time.Time) error {
	u := s.profiles.Update("profileId", id).Set("lapseAlertedAt", at.UTC()).
		If("'lastSeen' = ?", lastSeen.UTC())
	if previous.IsZero() {
		u = u.If("attribute_not_exists('lapseAlertedAt')")
	} else {
		u = u.If("'lapseAlertedAt' = ?", previous.UTC())
	}
	err := u.Run(ctx)
	if dynamo.IsCondCheckFailed(err) {
		return fmt.Errorf("mark lapse alert on %s: %w", id, ErrChanged)
	}
	if err != nil {
		return fmt.Errorf("mark lapse alert on %s: %w", id, err)
	}
	return nil
}
