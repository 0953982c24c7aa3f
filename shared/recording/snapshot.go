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
// profiles those were merged into, if any.
func (b *batch) prefetch(ctx context.Context, idx []int) error {
	s := newSnapshot()
	seen := map[identity.ID]bool{}
	var ids []identity.ID
	for _, i := range idx {
		for _, id := range identifiers(b.in[i]) {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	entries, _, err := b.e.st.Entries(ctx, ids, nil)
	if err != nil {
		return fmt.Errorf("read identities: %w", err)
	}
	// Only an identifier without an entry can have a tombstone: most have one. The tombstones
	// are read with the profiles the entries lead to.
	var absent []identity.ID
	var sealed []string
	var next []string
	for _, id := range ids {
		if e, ok := entries[id]; ok {
			s.entries[id] = e
			next = append(next, e.ProfileID)
			continue
		}
		absent, sealed = append(absent, id), append(sealed, b.e.sealed(id))
	}
	// The profiles, then the ones they were merged into, hop by hop.
	for hop := range maxHops {
		next = slices.DeleteFunc(next, func(id string) bool { _, ok := s.records[id]; return ok || id == "" })
		if len(next) == 0 && (hop > 0 || len(sealed) == 0) {
			break
		}
		slices.Sort(next)
		var recs map[string]Record
		if hop == 0 {
			var tombstoned map[string]bool
			recs, tombstoned, err = b.e.st.RecordsAndTombstones(ctx, slices.Compact(next), sealed)
			if err != nil {
				return fmt.Errorf("read profiles and tombstones: %w", err)
			}
			for k, id := range absent {
				s.absent[id] = tombstoned[sealed[k]]
			}
		} else if recs, err = b.e.st.Records(ctx, slices.Compact(next)); err != nil {
			return fmt.Errorf("read profiles: %w", err)
		}
		next = next[:0]
		for id, r := range recs {
			s.records[id] = r
			next = append(next, r.Profile.MergedInto, r.MergingInto)
		}
	}
	b.snap = s
	return nil
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

// written notes that the batch wrote the record of a profile: read it again when needed.
func (s *snapshot) written(profileID string) {
	if s != nil {
		delete(s.records, profileID)
	}
}
