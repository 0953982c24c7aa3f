package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// profileRows are the rows a live profile gives the snapshot: its profiles row; an identifiers
// row for each identifier it lists (its user id, its anonymous ids and its claimed identifiers:
// hashed emails and phones, external, device and advertising ids, as recording keeps them beside
// the profile); and a merges row for each profile merged into it. A profile lists every profile
// merged into it, at any remove (profile.Fold keeps the union: one merged into a profile that was
// merged in turn is listed on the live one), which is what its history and its erasure go by; so
// the merges rows need no chain followed, and each names a profile of the same snapshot.
func profileRows(r recording.Record) (archive.Profile, []archive.Identifier, []archive.Merge) {
	p := r.Profile
	ids := archive.Identifiers(p.ID, append(p.Identifiers(), r.Claimed...))
	merges := make([]archive.Merge, 0, len(p.MergedFrom))
	for _, m := range p.MergedFrom {
		if m != "" && m != p.ID {
			merges = append(merges, archive.Merge{MergedID: m, ProfileID: p.ID})
		}
	}
	return archive.FromProfile(p), ids, merges
}

// linkedUserID is the identifiers row of a user id identity whose profile's merges end at e, when
// the snapshot writes one from the Identities table: the live profile's own user id is written by
// profileRows, so only another one, which an alias linked to it (the profile keeps its first user
// id); and only for a live profile.
func linkedUserID(id identity.ID, e end) (archive.Identifier, bool) {
	if e.fate != alive || id.Kind != identity.User || e.UserID == id.Value {
		return archive.Identifier{}, false
	}
	return archive.Identifier{ProfileID: e.ID, Kind: string(id.Kind), Value: id.Value}, true
}

// fate is where following a profile's merges ends.
type fate int

const (
	alive    fate = iota // a live profile
	erased               // a profile being erased or erased: its person is in no table
	dangling             // a profile without an item: an identifier, or a merge, that outlived it
	loop                 // merges that come back to a profile passed before (recording makes none)
	tooFar               // more than maxHops merges (recording follows no more)
)

var fateNames = [...]string{alive: "alive", erased: "erased", dangling: "dangling", loop: "loop", tooFar: "tooFar"}

func (f fate) String() string { return fateNames[f] }

// maxHops is how many merges are followed from a profile to the live one, as recording does.
const maxHops = 16

// end is where following a profile's merges ended: the profile there and, when it is live, its
// user id.
type end struct {
	ID     string
	UserID string
	fate   fate
}

// follow follows merges from profile id through known, what was read of the profiles, to the
// profile at the end. need is the first profile on the way that known does not hold: it must be
// read before the end can be known.
func follow(id string, known map[string]profilestore.Link) (e end, need string) {
	var passed []string
	for hops := 0; ; hops++ {
		l, ok := known[id]
		switch {
		case id == "":
			return end{fate: dangling}, ""
		case !ok:
			return end{}, id
		case !l.Found:
			return end{ID: id, fate: dangling}, ""
		case l.Erased:
			return end{ID: id, fate: erased}, ""
		case l.MergedInto == "":
			return end{ID: id, UserID: l.UserID, fate: alive}, ""
		case slices.Contains(passed, id):
			return end{ID: id, fate: loop}, ""
		case hops == maxHops:
			return end{ID: id, fate: tooFar}, ""
		}
		passed = append(passed, id)
		id = l.MergedInto
	}
}

// resolver follows the merges of many profiles at once, reading the profiles it does not know yet
// a batch at a time (the profiles' links: read, the Profiles table's BatchGetItem) and keeping what
// it read for the next ids, up to limit profiles (then it starts over), so that memory stays
// bounded however many profiles a segment names.
type resolver struct {
	read  func(ctx context.Context, ids []string) (map[string]profilestore.Link, error)
	known map[string]profilestore.Link
	limit int
	reads int // profiles read
}

func newResolver(read func(context.Context, []string) (map[string]profilestore.Link, error), limit int) *resolver {
	return &resolver{read: read, known: map[string]profilestore.Link{}, limit: max(limit, 1)}
}

// resolve returns where the merges of each profile of ids end. Each round reads, at once, the next
// unknown profile of every chain not ended yet, so a batch takes as many rounds as its longest
// chain has merges (at most maxHops+1), whatever its size.
func (r *resolver) resolve(ctx context.Context, ids []string) (map[string]end, error) {
	out := make(map[string]end, len(ids))
	pending := slices.Compact(slices.Sorted(slices.Values(ids)))
	for len(pending) > 0 {
		var need []string
		rest := pending[:0]
		for _, id := range pending {
			e, n := follow(id, r.known)
			if n == "" {
				out[id] = e
				continue
			}
			need, rest = append(need, n), append(rest, id)
		}
		pending = rest
		if len(need) == 0 {
			break
		}
		need = slices.Compact(slices.Sorted(slices.Values(need)))
		got, err := r.read(ctx, need)
		if err != nil {
			return nil, fmt.Errorf("read %d profiles' merges: %w", len(need), err)
		}
		for _, id := range need {
			r.known[id] = got[id] // not in got: no item
		}
		r.reads += len(need)
	}
	if len(r.known) > r.limit {
		clear(r.known)
	}
	return out, nil
}
