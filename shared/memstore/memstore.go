// Package memstore keeps profiles, the identity graph and the history in memory, behind the
// recording engine's storage port (recording.Storage), with the same conditional semantics as
// the DynamoDB adapter (package profilestore): every condition is checked and every write made
// under one lock, and a Commit is all or none. It runs the engine's property
// tests thousands of times in seconds; a process that stops loses it.
//
// Records are values: the store keeps what it is given and hands it out again without copying,
// as nothing changes a record's collections in place (the engine builds new ones, and
// profile.Apply works on a copy). Whoever breaks that rule is caught by the test that records the
// same scenarios here and in DynamoDB and compares the two.
//
// A profile record grows no larger than a DynamoDB item may (MaxItemBytes): a larger one is
// refused (recording.ErrRejected), its size estimated by DynamoDB's rules (itemsize.Estimate).
//
// Touchpoints and receipts stay past their expiry (DynamoDB also removes expired items only some
// time later): the engine never relies on expiry.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/dcrm-project/dcrm/shared/activation"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/itemsize"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// Store is an in-memory recording.Storage. The zero value is not ready: use New.
type Store struct {
	mu       sync.Mutex
	profiles map[string]recording.Record
	entries  map[identity.ID]recording.Entry
	tombs    map[string]time.Time                     // erasure times by sealed identifier
	touch    map[string]map[string]history.Touchpoint // by profile id, then sort key
	receipts map[string]history.Receipt               // by message id
	members  activation.Index                         // the members index (members.go)
}

var _ recording.Storage = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		profiles: map[string]recording.Record{}, entries: map[identity.ID]recording.Entry{}, tombs: map[string]time.Time{},
		touch: map[string]map[string]history.Touchpoint{}, receipts: map[string]history.Receipt{}, members: activation.Index{},
	}
}

// lock takes the store's lock after letting other goroutines run, so that concurrent callers
// interleave between operations as they would against a remote store.
func (s *Store) lock() {
	runtime.Gosched()
	s.mu.Lock()
}

func conflict(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), recording.ErrConflict)
}

// Profile implements recording.Profiles.
func (s *Store) Profile(_ context.Context, id string, _ bool) (recording.Record, error) {
	s.lock()
	defer s.mu.Unlock()
	r, ok := s.profiles[id]
	if !ok {
		r.Profile.ID = id
	}
	return r, nil
}

// Records implements recording.Snapshots.
func (s *Store) Records(_ context.Context, ids []string) (map[string]recording.Record, error) {
	s.lock()
	defer s.mu.Unlock()
	out := make(map[string]recording.Record, len(ids))
	for _, id := range ids {
		r, ok := s.profiles[id]
		if !ok {
			r.Profile.ID = id
		}
		out[id] = r
	}
	return out, nil
}

// Entries implements recording.Snapshots.
func (s *Store) Entries(_ context.Context, ids []identity.ID, sealed []string) (map[identity.ID]recording.Entry, map[string]bool, error) {
	s.lock()
	defer s.mu.Unlock()
	entries, tombstoned := map[identity.ID]recording.Entry{}, map[string]bool{}
	for _, id := range ids {
		if e, ok := s.entries[id]; ok {
			entries[id] = e
		}
	}
	for _, k := range sealed {
		if _, ok := s.tombs[k]; ok {
			tombstoned[k] = true
		}
	}
	return entries, tombstoned, nil
}

// RecordsAndTombstones implements recording.Snapshots.
func (s *Store) RecordsAndTombstones(ctx context.Context, ids []string, sealed []string) (map[string]recording.Record, map[string]bool, error) {
	records, _ := s.Records(ctx, ids)
	_, tombstoned, _ := s.Entries(ctx, nil, sealed)
	return records, tombstoned, nil
}

// Erased implements recording.Snapshots.
func (s *Store) Erased(ctx context.Context, ids []string) (map[string]bool, error) {
	records, _ := s.Records(ctx, ids)
	erased := make(map[string]bool, len(ids))
	for id, r := range records {
		erased[id] = !r.ErasedAt.IsZero()
	}
	return erased, nil
}

// Commit implements recording.Profiles.
func (s *Store) Commit(_ context.Context, c recording.Change) error {
	s.lock()
	defer s.mu.Unlock()
	for _, p := range c.Puts {
		// Like DynamoDB, a record past the item size limit is refused before any condition is read.
		next := p.Next
		stored := s.profiles[p.Base.Profile.ID]
		next.Profile.Score, next.Profile.LapseAlertedAt = stored.Profile.Score, stored.Profile.LapseAlertedAt
		size, err := itemsize.Estimate(next, MaxItemBytes)
		if err != nil {
			return fmt.Errorf("size profile %s: %w", p.Base.Profile.ID, err)
		}
		if size > MaxItemBytes {
			return fmt.Errorf("put profile %s: about %d bytes, more than the item limit of %d: %w", p.Base.Profile.ID, size, MaxItemBytes, recording.ErrRejected)
		}
	}
	for _, p := range c.Puts {
		if v := s.profiles[p.Base.Profile.ID].Version; !s.at(p.Base) {
			return conflict("put profile %s at version %d: stored at %d", p.Base.Profile.ID, p.Base.Version, v)
		}
	}
	for _, m := range c.Moves {
		if !s.where(m) {
			return conflict("move a %s identity from %s", m.ID.Kind, m.From)
		}
	}
	for _, p := range c.Puts {
		next := p.Next
		next.Version = p.Base.Version + 1
		stored := s.profiles[p.Base.Profile.ID]
		next.Profile.Score, next.Profile.LapseAlertedAt = stored.Profile.Score, stored.Profile.LapseAlertedAt // scoring's
		s.index(activation.Changes(stored, next))
		s.profiles[next.Profile.ID] = next
	}
	for _, m := range c.Moves {
		s.move(m)
	}
	return nil
}

// at tells whether the stored record of base's profile is at base's version: absent, for 0.
func (s *Store) at(base recording.Record) bool {
	r, ok := s.profiles[base.Profile.ID]
	if base.Version == 0 {
		return !ok
	}
	return ok && r.Version == base.Version
}

// Bury implements recording.Profiles.
func (s *Store) Bury(_ context.Context, id string, erasedAt time.Time, done recording.Progress) error {
	s.lock()
	defer s.mu.Unlock()
	r := recording.Record{ErasedAt: erasedAt, Erasure: done}
	r.Profile.ID = id
	s.index(activation.Changes(s.profiles[id], r))
	s.profiles[id] = r
	return nil
}

// EachProfile implements recording.Profiles.
func (s *Store) EachProfile(_ context.Context, fn func(recording.Record) error) error {
	s.lock()
	rs := make([]recording.Record, 0, len(s.profiles))
	for _, id := range slices.Sorted(maps.Keys(s.profiles)) {
		rs = append(rs, s.profiles[id])
	}
	s.mu.Unlock()
	for _, r := range rs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Due implements recording.Profiles: earliest first.
func (s *Store) Due(ctx context.Context, now time.Time, fn func(context.Context, string) error) error {
	s.lock()
	var due []recording.Record
	for _, r := range s.profiles {
		if !r.DueAt.IsZero() && !r.DueAt.After(now) {
			due = append(due, r)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(due, func(a, b recording.Record) int {
		return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.Profile.ID, b.Profile.ID))
	})
	for _, r := range due {
		if err := fn(ctx, r.Profile.ID); err != nil {
			return err
		}
	}
	return nil
}

// Entry implements recording.Identities.
func (s *Store) Entry(_ context.Context, id identity.ID, _ bool) (recording.Entry, bool, error) {
	s.lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	return e, ok, nil
}

// Claim implements recording.Identities.
func (s *Store) Claim(_ context.Context, id identity.ID, profileID string, at time.Time) error {
	s.lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[id]; ok {
		return conflict("claim a %s identity", id.Kind)
	}
	s.entries[id] = recording.Entry{ID: id, ProfileID: profileID, CreatedAt: at}
	return nil
}

// Move implements recording.Identities.
func (s *Store) Move(_ context.Context, m recording.Move) error {
	s.lock()
	defer s.mu.Unlock()
	if !s.where(m) {
		return conflict("move a %s identity from %s", m.ID.Kind, m.From)
	}
	s.move(m)
	return nil
}

// where tells whether an identifier is where a move expects it.
func (s *Store) where(m recording.Move) bool {
	e, ok := s.entries[m.ID]
	return ok && e.ProfileID == m.From && (m.AnyMark || e.MovedFrom == m.IfMark)
}

func (s *Store) move(m recording.Move) {
	e := s.entries[m.ID]
	e.ProfileID, e.MovedFrom, e.UpdatedAt = m.To, m.Mark, m.At
	s.entries[m.ID] = e
}

// Tombstone implements recording.Identities.
func (s *Store) Tombstone(_ context.Context, id identity.ID, sealed string, erasedAt time.Time, ifProfile string) error {
	s.lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[id]; ifProfile != "" && (!ok || e.ProfileID != ifProfile) {
		return conflict("tombstone a %s identity", id.Kind)
	}
	delete(s.entries, id)
	s.tombs[sealed] = erasedAt
	return nil
}

// Tombstoned implements recording.Identities.
func (s *Store) Tombstoned(_ context.Context, sealed string) (bool, error) {
	s.lock()
	defer s.mu.Unlock()
	_, ok := s.tombs[sealed]
	return ok, nil
}

// Lift implements recording.Identities.
func (s *Store) Lift(_ context.Context, sealed string) (bool, error) {
	s.lock()
	defer s.mu.Unlock()
	_, ok := s.tombs[sealed]
	delete(s.tombs, sealed)
	return ok, nil
}

// EachEntry implements recording.Identities.
func (s *Store) EachEntry(_ context.Context, fn func(recording.Entry) error) error {
	s.lock()
	es := slices.Collect(maps.Values(s.entries))
	for sealed, at := range s.tombs {
		es = append(es, recording.Entry{Sealed: sealed, ErasedAt: at})
	}
	s.mu.Unlock()
	slices.SortFunc(es, func(a, b recording.Entry) int {
		return cmp.Or(cmp.Compare(a.ID.String(), b.ID.String()), cmp.Compare(a.Sealed, b.Sealed))
	})
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Append implements recording.Histories.
func (s *Store) Append(_ context.Context, ts []history.Touchpoint, receipts []history.Receipt) error {
	s.lock()
	defer s.mu.Unlock()
	for _, t := range ts {
		if s.touch[t.ProfileID] == nil {
			s.touch[t.ProfileID] = map[string]history.Touchpoint{}
		}
		s.touch[t.ProfileID][t.Sort] = t
	}
	for _, r := range receipts {
		s.receipts[r.MessageID] = r
	}
	return nil
}

// Recorded implements recording.Histories.
func (s *Store) Recorded(_ context.Context, keys []history.Key, receipts []string) (map[string]bool, error) {
	s.lock()
	defer s.mu.Unlock()
	found := map[string]bool{}
	for _, k := range keys {
		if t, ok := s.touch[k.ProfileID][k.Sort]; ok {
			found[t.MessageID] = true
		}
	}
	for _, id := range receipts {
		if _, ok := s.receipts[id]; ok {
			found[id] = true
		}
	}
	return found, nil
}

// Touchpoints implements recording.Histories.
func (s *Store) Touchpoints(_ context.Context, id string, after *history.Cursor, typ string, limit int) ([]history.Touchpoint, error) {
	s.lock()
	defer s.mu.Unlock()
	var out []history.Touchpoint
	for _, t := range s.touch[id] {
		if (after == nil || after.Precedes(t.Key())) && history.Matches(t, typ) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, history.Newest)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Delete implements recording.Histories.
func (s *Store) Delete(_ context.Context, keys []history.Key) (int, error) {
	s.lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.touch[k.ProfileID], k.Sort)
	}
	return len(keys), nil
}

// MaxItemBytes is DynamoDB's item size limit, which memstore holds profile records to as well:
// a Put of a record larger than that is refused (recording.ErrRejected), as DynamoDB refuses it.
const MaxItemBytes = itemsize.MaxItemBytes
