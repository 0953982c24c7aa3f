// Package profilestore keeps the recording engine's storage (recording.Storage) in DynamoDB, one
// adapter per table: ProfileTable (profiles.go, with the due index and the score's own writes),
// IdentityTable (identities.go) and TouchpointTable (touchpoints.go); and the fitted models
// (ModelStore, models.go). It holds no rules: what is written, when and on what condition is the engine's
// (package recording); this package turns the port's operations into DynamoDB's and records into
// items and back. Store puts the three together and commits changes across them.
package profilestore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/recording"
)

// Tables are the physical names of the tables. A store used only for some operations needs only
// their tables: scoring and the triggers schedule need Profiles; lookups need Profiles and
// Identities.
type Tables struct {
	Profiles   string
	Identities string
	// Touchpoints is the history table. Without it, recording keeps no history (and knows an
	// event recorded before only among the profile's recent ones), and reading the history fails.
	Touchpoints string
	// AudienceMembers is the members index (members.go). Without it, no index is kept: every
	// function that writes profiles must name it, or the index misses what that one writes.
	AudienceMembers string
}

// Store is the recording engine's storage in DynamoDB.
type Store struct {
	*ProfileTable
	*IdentityTable
	*TouchpointTable
	members *MemberTable // nil: no members index
	db      *dynamo.DB
}

var _ recording.Storage = (*Store)(nil)

// New returns the storage over the given tables.
func New(db *dynamo.DB, t Tables) *Store {
	s := &Store{
		ProfileTable: NewProfileTable(db, t.Profiles), IdentityTable: &IdentityTable{db: db, table: db.Table(t.Identities), name: t.Identities},
		TouchpointTable: &TouchpointTable{table: db.Table(t.Touchpoints), name: t.Touchpoints}, db: db,
	}
	if t.AudienceMembers != "" {
		s.members = &MemberTable{table: db.Table(t.AudienceMembers)}
	}
	return s
}

// Commit implements recording.Profiles: one change is one conditional write, more are one
// transaction; with the members index kept, a change of member items goes in the profile's
// transaction (members.go).
func (s *Store) Commit(ctx context.Context, c recording.Change) error {
	if handled, err := s.commitMembers(ctx, c); handled {
		return err
	}
	var ups []*dynamo.Update
	for _, p := range c.Puts {
		u := s.ProfileTable.put(p.Base, p.Next)
		if s.members != nil {
			u = u.If("attribute_not_exists('pendingMembers')") // a split cut off is reconciled first
		}
		ups = append(ups, u)
	}
	for _, m := range c.Moves {
		if err := s.IdentityTable.configured(); err != nil {
			return err
		}
		ups = append(ups, s.IdentityTable.move(m))
	}
	var err error
	switch len(ups) {
	case 0:
		return nil
	case 1:
		err = writeErr(ups[0].Run(ctx), "commit")
	default:
		tx := s.db.WriteTx().Idempotent(true)
		for _, u := range ups {
			tx = tx.Update(u)
		}
		err = writeErr(tx.Run(ctx), "commit")
	}
	if errors.Is(err, recording.ErrConflict) {
		return s.afterConflict(ctx, c, err)
	}
	return err
}

// RecordsAndTombstones implements recording.Snapshots: one consistent BatchGetItem across the
// Profiles and Identities tables (100 keys per request), rather than one per table.
func (s *Store) RecordsAndTombstones(ctx context.Context, ids []string, sealed []string) (map[string]recording.Record, map[string]bool, error) {
	switch {
	case len(sealed) == 0:
		records, err := s.ProfileTable.Records(ctx, ids)
		return records, map[string]bool{}, err
	case len(ids) == 0:
		_, tombstoned, err := s.IdentityTable.Entries(ctx, nil, sealed)
		return map[string]recording.Record{}, tombstoned, err
	}
	if err := s.IdentityTable.configured(); err != nil {
		return nil, nil, err
	}
	records, profileKeys := s.ProfileTable.keys(ids)
	var tombstoneKeys []dynamo.Keyed
	tombstoned := make(map[string]bool, len(sealed))
	for _, k := range slices.Compact(slices.Sorted(slices.Values(sealed))) { // BatchGetItem refuses a key given twice
		tombstoneKeys = append(tombstoneKeys, dynamo.Keys{tombstonePrefix + k})
	}
	var table string
	iter := s.ProfileTable.table.Batch("profileId").Get(profileKeys...).
		From(s.IdentityTable.table, "identifier", tombstoneKeys...).Consistent(true).IterWithTable(&table)
	var item map[string]types.AttributeValue
	for iter.Next(ctx, &item) {
		if table == s.IdentityTable.name {
			var it tombstoneItem
			if err := dynamo.UnmarshalItem(item, &it); err != nil {
				return nil, nil, fmt.Errorf("read tombstone: %w", err)
			}
			tombstoned[strings.TrimPrefix(it.Key, tombstonePrefix)] = true
		} else {
			var it profileItem
			if err := dynamo.UnmarshalItem(item, &it); err != nil {
				return nil, nil, fmt.Errorf("read profile: %w", err)
			}
			records[it.ProfileID] = it.record()
		}
		item = nil
	}
	if err := iter.Err(); err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, nil, fmt.Errorf("get %d profiles and %d tombstones: %w", len(profileKeys), len(tombstoneKeys), err)
	}
	return records, tombstoned, nil
}

// writeErr says what a failed conditional write means to the engine: the condition did not hold
// (recording.ErrConflict), DynamoDB refused the write as invalid (recording.ErrRejected: an item
// grown past 400 KB, say), or it could not be served.
func writeErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		var rejected bool
		for _, r := range tce.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "ConditionalCheckFailed", "TransactionConflict":
				return fmt.Errorf("%s: %w", what, recording.ErrConflict)
			case "ValidationError", "ItemCollectionSizeLimitExceeded":
				rejected = true
			}
		}
		if rejected {
			return fmt.Errorf("%s: %w: %w", what, recording.ErrRejected, err)
		}
	}
	if dynamo.IsCondCheckFailed(err) {
		return fmt.Errorf("%s: %w", what, recording.ErrConflict)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" {
		return fmt.Errorf("%s: %w: %w", what, recording.ErrRejected, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
