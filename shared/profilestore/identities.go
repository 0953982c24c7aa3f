package profilestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// IdentityTable is the Identities table: one item per identifier (recording.Entry), keyed by its
// text ("anonymousId:abc", "userId:u-1", "emailSha256:<hex>" …).
type IdentityTable struct {
	table dynamo.Table
	name  string // empty when the store has no Identities table
}

// identityItem is a row of the Identities table.
type identityItem struct {
	Identifier string    `dynamo:"identifier,hash"`
	ProfileID  string    `dynamo:"profileId,omitempty"`
	MergedFrom string    `dynamo:"mergedFrom,omitempty"` // recording.Entry.MovedFrom
	CreatedAt  time.Time `dynamo:"createdAt"`
	UpdatedAt  time.Time `dynamo:"updatedAt,omitempty"`
	ErasedAt   time.Time `dynamo:"erasedAt,omitempty"`
}

func (it identityItem) entry(id identity.ID) recording.Entry {
	return recording.Entry{ID: id, ProfileID: it.ProfileID, MovedFrom: it.MergedFrom,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, ErasedAt: it.ErasedAt}
}

func (t *IdentityTable) configured() error {
	if t.name == "" {
		return errors.New("the store has no Identities table")
	}
	return nil
}

// Entry implements recording.Identities.
func (t *IdentityTable) Entry(ctx context.Context, id identity.ID, consistent bool) (recording.Entry, bool, error) {
	if err := t.configured(); err != nil {
		return recording.Entry{}, false, err
	}
	var it identityItem
	err := t.table.Get("identifier", id.String()).Consistent(consistent).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return recording.Entry{}, false, nil
	}
	if err != nil {
		return recording.Entry{}, false, fmt.Errorf("get identity %s: %w", id, err)
	}
	return it.entry(id), true, nil
}

// Claim implements recording.Identities.
func (t *IdentityTable) Claim(ctx context.Context, id identity.ID, profileID string, at time.Time) error {
	if err := t.configured(); err != nil {
		return err
	}
	err := t.table.Put(identityItem{Identifier: id.String(), ProfileID: profileID, CreatedAt: at.UTC()}).
		If("attribute_not_exists('identifier')").Run(ctx)
	return writeErr(err, "claim identity "+id.String())
}

// move is the conditional update of a recording.Move.
func (t *IdentityTable) move(m recording.Move) *dynamo.Update {
	u := t.table.Update("identifier", m.ID.String()).Set("profileId", m.To).Set("updatedAt", m.At.UTC())
	if m.Mark == "" {
		u.Remove("mergedFrom")
	} else {
		u.Set("mergedFrom", m.Mark)
	}
	switch {
	case m.AnyMark:
		return u.If("'profileId' = ?", m.From)
	case m.IfMark == "":
		return u.If("'profileId' = ? AND attribute_not_exists('mergedFrom')", m.From)
	}
	return u.If("'profileId' = ? AND 'mergedFrom' = ?", m.From, m.IfMark)
}

// Move implements recording.Identities.
func (t *IdentityTable) Move(ctx context.Context, m recording.Move) error {
	if err := t.configured(); err != nil {
		return err
	}
	return writeErr(t.move(m).Run(ctx), "move identity "+m.ID.String())
}

// Tombstone implements recording.Identities.
func (t *IdentityTable) Tombstone(ctx context.Context, id identity.ID, erasedAt, createdAt time.Time, ifProfile string) error {
	if err := t.configured(); err != nil {
		return err
	}
	put := t.table.Put(identityItem{Identifier: id.String(), ErasedAt: erasedAt.UTC(), CreatedAt: createdAt.UTC()})
	if ifProfile != "" {
		put = put.If("'profileId' = ?", ifProfile)
	}
	return writeErr(put.Run(ctx), "tombstone identity "+id.String())
}

// EachEntry implements recording.Identities.
func (t *IdentityTable) EachEntry(ctx context.Context, fn func(recording.Entry) error) error {
	if err := t.configured(); err != nil {
		return err
	}
	iter := t.table.Scan().Consistent(true).Iter()
	var it identityItem
	for iter.Next(ctx, &it) {
		id, err := identity.Parse(it.Identifier)
		if err != nil {
			return fmt.Errorf("identity %q cannot be read: %w", it.Identifier, err)
		}
		if err := fn(it.entry(id)); err != nil {
			return err
		}
		it = identityItem{}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan identities: %w", err)
	}
	return nil
}
