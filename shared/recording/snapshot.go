package recording

import (
	"context"
	"fmt"
	"slices"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
)

// snapshot is what a batch read of the store at its start, kept up to date with the batch's own
// writes, so that placing its events reads the store once for all of them rather than a few
// times for each (Snapshots). It is as good as reading each time: what the batch writes
// is conditional on what it read (the version of a profile, the absence or place of an
// identifier), so a change by another writer since the snapshot makes that write fail and the
// events start over with fresh reads. Whatever the batch writes outside those rules (a merge, a
// tombstone) drops the snapshot, or what it knows of the identifier.
type snapshot struct {
	entries map[identity.ID]Entry // read or written; a missing one was not read
	absent  map[identity.ID]bool  // read and found to have no entry: whether it has a tombstone
	records map[string]Record     // by profile id
}

func newSnapshot() *snapshot {
	return &snapshot{entries: map[identity.ID]Entry{}, absent: map[identity.ID]bool{}, records: map[string]Record{}}
}

// identifiers lists what an input may look up when it is placed (placeOnce).
func identifiers(in Input) []identity.ID {
	a := in.Activity
	ids := []identity.ID{identity.AnonymousID(a.AnonymousID), identity.UserID(a.UserID)}
	if a.Type == beacon.Alias && a.PreviousID != "" {
		ids = append(ids, identity.AnonymousID(a.PreviousID), identity.UserID(a.PreviousID))
	}
	ids = append(ids, in.Claims.IDs...)
	return slices.DeleteFunc(ids, identity.ID.IsZero)
}

// prefetch reads, in a few requests, the entries of every identifier the inputs carry, then at
// once the tombstones of those without one and the profiles the others lead to, then the live
// profiles those were merged into, if any. What the batch's snapshot holds already (after the
// batch's own merge, all but what the merge changed) is not read again.
func (b *batch) prefetch(ctx context.Context, idx []int) error {
	s := b.snap
	if s == nil {
		s = newSnapshot()
	}
	seen := map[identity.ID]bool{}
	var ids, unread []identity.ID
	for _, i := range idx {
		for _, id := range identifiers(b.in[i]) {
			if seen[id] {
				continue
			}
			seen[id] = true
			ids = append(ids, id)
			if !s.knows(id) {
				unread = append(unread, id)
			}
		}
	}
	// Only an identifier without an entry can have a tombstone: most have one. The tombstones
	// are read with the profiles the entries lead to.
	var absent []identity.ID
	var sealed []string
	if len(unread) > 0 {
		entries, _, err := b.e.st.Entries(ctx, unread, nil)
		if err != nil {
			return fmt.Errorf("read identities: %w", err)
		}
		for _, id := range unread {
			if e, ok := entries[id]; ok {
				s.entries[id] = e
				continue
			}
			absent, sealed = append(absent, id), append(sealed, b.e.sealed(id))
		}
	}
	var next []string
	for _, id := range ids {
		if e, ok := s.entries[id]; ok {
			next = append(next, e.ProfileID)
		}
	}
	// The profiles, then the ones they were merged into, hop by hop.
	for hop := range maxHops {
		next = s.unknown(next)
		if len(next) == 0 && (hop > 0 || len(sealed) == 0) {
			break
		}
		var recs map[string]Record
		var err error
		if hop == 0 {
			var tombstoned map[string]bool
			recs, tombstoned, err = b.e.st.RecordsAndTombstones(ctx, next, sealed)
			if err != nil {
				return fmt.Errorf("read profiles and tombstones: %w", err)
			}
			for k, id := range absent {
				s.absent[id] = tombstoned[sealed[k]]
			}
		} else if recs, err = b.e.st.Records(ctx, next); err != nil {
			return fmt.Errorf("read profiles: %w", err)
		}
		next = next[:0]
		for id, r := range recs {
			s.records[id] = r
			next = append(next, r.Profile.MergedInto, r.MergingInto)
		}
	}
	b.snap, b.partial = s, false
	return nil
}

// knows tells whether the snapshot holds an identifier's entry, or knows it has none.
func (s *snapshot) knows(id identity.ID) bool {
	_, ok := s.entries[id]
	_, none := s.absent[id]
	return ok || none
}

// unknown returns, sorted and once each, the profiles that ids lead to through the records the
// snapshot holds (themselves, or those they were merged or are merging into) that it does not hold.
func (s *snapshot) unknown(ids []string) []string {
	var out []string
	seen := map[string]bool{}
	for len(ids) > 0 {
		id := ids[len(ids)-1]
		ids = ids[:len(ids)-1]
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		if r, ok := s.records[id]; ok {
			ids = append(ids, r.Profile.MergedInto, r.MergingInto)
			continue
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// entry reads an identifier's entry, from the snapshot when it has it. erased tells, for one
// without an entry, whether it has a tombstone.
func (b *batch) entry(ctx context.Context, id identity.ID) (e Entry, found, erased bool, err error) {
	if s := b.snap; s != nil {
		if e, ok := s.entries[id]; ok {
			return e, true, false, nil
		}
		if erased, ok := s.absent[id]; ok {
			return Entry{}, false, erased, nil
		}
	}
	e, found, err = b.e.st.Entry(ctx, id, true)
	if err != nil || found {
		return e, found, false, err
	}
	erased, err = b.e.st.Tombstoned(ctx, b.e.sealed(id))
	return Entry{}, false, erased, err
}

// live follows merges from profile id to the record that holds its history now, as Engine.live
// does, reading from the snapshot what it has and keeping there what it reads.
func (b *batch) live(ctx context.Context, id string) (Record, error) {
	return toLive(id, func(id string) (Record, error) {
		if r, ok := b.snap.record(id); ok {
			return r, nil
		}
		r, err := b.e.st.Profile(ctx, id, true)
		if err == nil && b.snap != nil {
			b.snap.records[id] = r
		}
		return r, err
	})
}

func (s *snapshot) record(id string) (Record, bool) {
	if s == nil {
		return Record{}, false
	}
	r, ok := s.records[id]
	return r, ok
}

// claimed notes the batch's own claim of an identifier for the profile of record base, as read
// (at version 0 for one the batch creates).
func (s *snapshot) claimed(e Entry, base Record) {
	if s != nil {
		s.entries[e.ID] = e
		delete(s.absent, e.ID)
		if _, ok := s.records[e.ProfileID]; !ok {
			s.records[e.ProfileID] = base
		}
	}
}

// forget drops what the snapshot knows of id, to be read again.
func (s *snapshot) forget(id identity.ID) {
	if s != nil {
		delete(s.entries, id)
		delete(s.absent, id)
	}
}

// written notes that the batch may have written the record of a profile: read it again when
// needed.
func (s *snapshot) written(profileID string) {
	if s != nil {
		delete(s.records, profileID)
	}
}

// wrote notes that the batch wrote next, which the store holds now at version (Put).
func (s *snapshot) wrote(next Record, version int) {
	if s != nil {
		next.Version = version
		s.records[next.Profile.ID] = next
	}
}

// merged notes that the batch merged profile from into the live profile into: both records
// changed, and from's identifiers moved (any marked by a merge is read again too). The rest of
// the snapshot stands.
func (s *snapshot) merged(from, into string) {
	if s == nil {
		return
	}
	delete(s.records, from)
	delete(s.records, into)
	for id, e := range s.entries {
		if e.ProfileID == from || e.MovedFrom != "" {
			delete(s.entries, id)
		}
	}
}
