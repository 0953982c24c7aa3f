package memstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dcrm-project/dcrm/shared/activation"
)

// The members index, as profilestore keeps it in the AudienceMembers table: one member per person
// per audience (activation.Member), written with the profile whose memberships call for it
// (Commit) and removed with the record (Bury).

// index applies writes of the members index; the caller holds the lock.
func (s *Store) index(writes []activation.Write) {
	for _, w := range writes {
		m := w.Member
		if w.Delete {
			delete(s.members[m.Audience], m.ProfileID)
			if len(s.members[m.Audience]) == 0 {
				delete(s.members, m.Audience)
			}
			continue
		}
		if s.members[m.Audience] == nil {
			s.members[m.Audience] = map[string]activation.Member{}
		}
		s.members[m.Audience][m.ProfileID] = m
	}
}

// ErrBadCursor is Members' error for a cursor it did not make.
var ErrBadCursor = errors.New("not a members cursor")

// Members reads a page of the members of an audience by profile id, as profilestore's does: after
// the cursor ("" from the start), at most limit, and the cursor of the next page ("" at the end).
func (s *Store) Members(_ context.Context, audienceID, cursor string, limit int) ([]activation.Member, string, error) {
	if limit < 1 {
		return nil, "", fmt.Errorf("members page of %d: want at least 1", limit)
	}
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		var ok bool
		if after, ok = strings.CutPrefix(string(b), "m1:"); err != nil || !ok || after == "" {
			return nil, "", ErrBadCursor
		}
	}
	s.lock()
	defer s.mu.Unlock()
	var out []activation.Member
	for _, id := range slices.Sorted(maps.Keys(s.members[audienceID])) {
		if id <= after {
			continue
		}
		if len(out) == limit {
			return out, base64.RawURLEncoding.EncodeToString([]byte("m1:" + out[limit-1].ProfileID)), nil
		}
		out = append(out, s.members[audienceID][id])
	}
	return out, "", nil
}

// MemberIndex returns the whole members index, for checks at rest.
func (s *Store) MemberIndex(context.Context) (activation.Index, error) {
	s.lock()
	defer s.mu.Unlock()
	out := make(activation.Index, len(s.members))
	for a, ms := range s.members {
		out[a] = maps.Clone(ms)
	}
	return out, nil
}
