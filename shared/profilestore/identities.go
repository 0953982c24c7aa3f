package profilestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// IdentityTable is the Identities table: one item per identifier (recording.Entry), keyed by its
// text ("anonymousId:abc", "userId:u-1", "emailSha256:<hex>" …); and one per erased identifier,
// keyed "erased#" and its sealed form (a keyed hash), holding only when it was erased.
type IdentityTable struct {
	db    *dynamo.DB
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

// tombstonePrefix starts the key of a tombstone; no identifier's text starts so.
const tombstonePrefix = "erased#"

// tombstoneItem is an erased identifier's row: its sealed form and when it was erased.
type tombstoneItem struct {
	Key      string    `dynamo:"identifier,hash"`
	ErasedAt time.Time `dynamo:"erasedAt"`
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
		return recording.Entry{}, false, fmt.Errorf("get a %s identity: %w", id.Kind, err)
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
	return writeErr(err, "claim a "+string(id.Kind)+" identity")
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
	return writeErr(t.move(m).Run(ctx), "move a "+string(m.ID.Kind)+" identity")
}

// Tombstone implements recording.Identities.
func (t *IdentityTable) Tombstone(ctx context.Context, id identity.ID, sealed string, erasedAt time.Time, ifProfile string) error {
	if err := t.configured(); err != nil {
		return err
	}
	del := t.table.Delete("identifier", id.String())
	if ifProfile != "" {
		del = del.If("'profileId' = ?", ifProfile)
	}
	tx := t.db.WriteTx().Idempotent(true).Put(t.table.Put(tombstoneItem{Key: tombstonePrefix + sealed, ErasedAt: erasedAt.UTC()})).Delete(del)
	return writeErr(tx.Run(ctx), "tombstone a "+string(id.Kind)+" identity")
}

// Entries implements recording.Snapshots: entries and tombstones in one consistent BatchGetItem
// (100 keys per request).
func (t *IdentityTable) Entries(ctx context.Context, ids []identity.ID, sealed []string) (map[identity.ID]recording.Entry, map[string]bool, error) {
	entries, tombstoned := map[identity.ID]recording.Entry{}, map[string]bool{}
	if len(ids)+len(sealed) == 0 {
		return entries, tombstoned, nil
	}
	if err := t.configured(); err != nil {
		return nil, nil, err
	}
	byText := make(map[string]identity.ID, len(ids))
	keys := make([]dynamo.Keyed, 0, len(ids)+len(sealed))
	add := func(k string) {
		if _, dup := byText[k]; !dup { // BatchGetItem refuses a key given twice
			keys = append(keys, dynamo.Keys{k})
		}
	}
	for _, id := range ids {
		add(id.String())
		byText[id.String()] = id
	}
	for _, s := range sealed {
		add(tombstonePrefix + s)
		byText[tombstonePrefix+s] = identity.ID{}
	}
	var items []identityItem
	err := t.table.Batch("identifier").Get(keys...).Consistent(true).All(ctx, &items)
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, nil, fmt.Errorf("get %d identities: %w", len(keys), err)
	}
	for _, it := range items {
		if s, ok := strings.CutPrefix(it.Identifier, tombstonePrefix); ok {
			tombstoned[s] = true
		} else if id, ok := byText[it.Identifier]; ok {
			entries[id] = it.entry(id)
		}
	}
	return entries, tombstoned, nil
}

// Tombstoned implements recording.Identities.
func (t *IdentityTable) Tombstoned(ctx context.Context, sealed string) (bool, error) {
	if err := t.configured(); err != nil {
		return false, err
	}
	var it tombstoneItem
	err := t.table.Get("identifier", tombstonePrefix+sealed).Consistent(true).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get tombstone: %w", err)
	}
	return true, nil
}

// Lift implements recording.Identities.
func (t *IdentityTable) Lift(ctx context.Context, sealed string) (bool, error) {
	if err := t.configured(); err != nil {
		return false, err
	}
	var old tombstoneItem
	err := t.table.Delete("identifier", tombstonePrefix+sealed).OldValue(ctx, &old)
	if errors.Is(err, dynamo.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lift tombstone: %w", err)
	}
	return true, nil
}

// EachEntry implements recording.Identities.
func (t *IdentityTable) EachEntry(ctx context.Context, fn func(recording.Entry) error) error {
	if err := t.configured(); err != nil {
		return err
	}
	iter := t.table.Scan().Consistent(true).Iter()
	var it identityItem
	for iter.Next(ctx, &it) {
		e := recording.Entry{Sealed: strings.TrimPrefix(it.Identifier, tombstonePrefix), ErasedAt: it.ErasedAt}
		if !strings.HasPrefix(it.Identifier, tombstonePrefix) {
			id, err := identity.Parse(it.Identifier)
			if err != nil {
				return errors.New("an identity item is not kind:value")
			}
			e = it.entry(id)
		}
		if err := fn(e); err != nil {
			return err
		}
		it = identityItem{}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan identities: %w", err)
	}
	return nil
}
