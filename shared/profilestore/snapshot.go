package profilestore

import (
	"context"
	"fmt"
	"time"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// The reads of the daily snapshot (functions/snapshot): the live profiles with the claimed
// identifiers recording keeps beside them, the identifiers of one kind, and what following a
// profile's merges needs of it. All are eventually consistent (half the read units of a
// consistent read): a snapshot is taken by scans over minutes, not at one instant.

// ScanRecords is ScanSegment with each live profile as its record: the profile and what recording
// keeps beside it, its claimed identifiers (Record.Claimed) among them.
func (t *ProfileTable) ScanRecords(ctx context.Context, segment, total int, fn func(context.Context, recording.Record) (bool, error),
	unreadable func(profileID string, err error)) error {
	return t.scanLive(ctx, segment, total, func(ctx context.Context, it profileItem) (bool, error) { return fn(ctx, it.record()) }, unreadable)
}

// Link is what following a profile's merges to the live one needs of it.
type Link struct {
	Found      bool   // the profile has an item
	UserID     string // its user id, "" for an anonymous profile
	MergedInto string // the profile it was merged into; "" for a live one
	Erased     bool   // being erased, or erased (a tombstone)
}

// Links reads the links of the profiles of ids (BatchGetItem of four attributes, 100 keys per
// request). A profile without an item is in the map, not Found.
func (t *ProfileTable) Links(ctx context.Context, ids []string) (map[string]Link, error) {
	items, n, err := project[struct {
		ProfileID  string    `dynamo:"profileId"`
		UserID     string    `dynamo:"userId"`
		MergedInto string    `dynamo:"mergedInto"`
		ErasedAt   time.Time `dynamo:"erasedAt"`
	}](ctx, t, ids, false, "profileId", "userId", "mergedInto", "erasedAt")
	if err != nil {
		return nil, fmt.Errorf("get %d profiles' merges: %w", n, err)
	}
	out := make(map[string]Link, n)
	for _, id := range ids {
		out[id] = Link{}
	}
	for _, it := range items {
		out[it.ProfileID] = Link{Found: true, UserID: it.UserID, MergedInto: it.MergedInto, Erased: !it.ErasedAt.IsZero()}
	}
	return out, nil
}

// ScanEntries reads the identifiers of one kind in one segment of a parallel scan of total
// segments of the Identities table, calling fn for each in turn until fn returns false or an error
// (which is returned). Tombstones are never read (their keys start otherwise); an item whose key
// is not an identifier of the kind is skipped. DynamoDB filters the kind after reading: the read
// units are the whole segment's.
func (t *IdentityTable) ScanEntries(ctx context.Context, segment, total int, kind identity.Kind, fn func(context.Context, recording.Entry) (bool, error)) error {
	if err := t.configured(); err != nil {
		return err
	}
	iter := t.table.Scan().Filter("begins_with('identifier', ?)", string(kind)+":").Segment(segment, total).Iter()
	var it identityItem
	for iter.Next(ctx, &it) {
		if id, err := identity.Parse(it.Identifier); err == nil && id.Kind == kind {
			more, err := fn(ctx, it.entry(id))
			if err != nil || !more {
				return err
			}
		}
		it = identityItem{}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan %s identities (segment %d of %d): %w", kind, segment, total, err)
	}
	return nil
}
