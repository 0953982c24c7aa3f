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
}

// Store is the recording engine's storage in DynamoDB.
type Store struct {
	*ProfileTable
	*IdentityTable
	*TouchpointTable
	db *dynamo.DB
}

var _ recording.Storage = (*Store)(nil)

// New returns the storage over the given tables.
func New(db *dynamo.DB, t Tables) *Store {
	return &Store{
		ProfileTable: NewProfileTable(db, t.Profiles), IdentityTable: &IdentityTable{db: db, table: db.Table(t.Identities), name: t.Identities},
		TouchpointTable: &TouchpointTable{table: db.Table(t.Touchpoints), name: t.Touchpoints}, db: db,
	}
}

// Commit implements recording.Profiles: one change is one conditional write, more are one
// transaction.
func (s *Store) Commit(ctx context.Context, c recording.Change) error {
	var ups []*dynamo.Update
	for _, p := range c.Puts {
		ups = append(ups, s.ProfileTable.put(p.Base, p.Next))
	}
	for _, m := range c.Moves {
		if err := s.IdentityTable.configured(); err != nil {
			return err
		}
		ups = append(ups, s.IdentityTable.move(m))
	}
	switch len(ups) {
	case 0:
		return nil
	case 1:
		return writeErr(ups[0].Run(ctx), "commit")
	}
	tx := s.db.WriteTx().Idempotent(true)
	for _, u := range ups {
		tx = tx.Update(u)
	}
	return writeErr(tx.Run(ctx), "commit")
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
