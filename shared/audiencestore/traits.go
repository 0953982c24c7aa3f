package audiencestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/computed"
)

// Computed traits (package computed) are kept beside the audiences, which read them as
// computed.<id>: all of them in one item (traitsKey), written in the same transaction as the set
// item, its version moved on. So one version says whether the audiences or the traits changed
// (what recording's cache checks), and an audience can never name a trait a concurrent change
// removes: every change of either is conditioned on the version it read.

// Bounds of the computed traits.
const (
	// MaxTraits is the most computed traits defined (computed.NewSet's bound).
	MaxTraits = 100
	// MaxTraitBytes bounds one computed trait's definition (JSON), as MaxDefinitionBytes an audience's.
	MaxTraitBytes = 32 << 10
	// MaxTraitsBytes bounds their JSON together, all in one item.
	MaxTraitsBytes = 256 << 10
)

// traitsKey is the audienceId of the item holding the computed traits.
const traitsKey = "#traits"

// ErrTraitNotFound is a computed trait that is not defined.
var ErrTraitNotFound = errors.New("computed trait not found")

// traitsItem holds every computed trait's definition, as computed.Definition writes it, sorted by id.
type traitsItem struct {
	AudienceID  string    `dynamo:"audienceId,hash"` // traitsKey
	Definitions []string  `dynamo:"definitions"`
	UpdatedAt   time.Time `dynamo:"updatedAt"`
	UpdatedBy   string    `dynamo:"updatedBy"`
}

// Traits returns every computed trait, sorted by id.
func (s *Store) Traits(ctx context.Context) ([]computed.Definition, error) {
	var it traitsItem
	err := s.table.Get("audienceId", traitsKey).Consistent(true).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the computed traits: %w", err)
	}
	out := make([]computed.Definition, 0, len(it.Definitions))
	for _, raw := range it.Definitions {
		d, err := computed.Parse([]byte(raw))
		if err != nil {
			return nil, fmt.Errorf("stored computed trait: %w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Trait returns the computed trait with the id (ErrTraitNotFound when there is none).
func (s *Store) Trait(ctx context.Context, id string) (computed.Definition, error) {
	all, err := s.Traits(ctx)
	if err != nil {
		return computed.Definition{}, err
	}
	if i := slices.IndexFunc(all, func(d computed.Definition) bool { return d.ID == id }); i >= 0 {
		return all[i], nil
	}
	return computed.Definition{}, fmt.Errorf("computed trait %q: %w", id, ErrTraitNotFound)
}

// PutTrait defines a computed trait, or replaces the one of its id, as the key with id by; it
// tells whether it created it. A concurrent change is ErrChanged; the bounds ErrTooMany.
func (s *Store) PutTrait(ctx context.Context, def computed.Definition, by string) (bool, error) {
	set, _, err := s.read(ctx)
	if err != nil {
		return false, err
	}
	all, err := s.Traits(ctx)
	if err != nil {
		return false, err
	}
	created := !slices.ContainsFunc(all, func(d computed.Definition) bool { return d.ID == def.ID })
	all = slices.DeleteFunc(all, func(d computed.Definition) bool { return d.ID == def.ID })
	if len(all) >= MaxTraits {
		return false, fmt.Errorf("%w: %d computed traits are defined, at most %d; remove one first", ErrTooMany, len(all), MaxTraits)
	}
	all = append(all, def)
	if _, err := computed.NewSet(all); err != nil {
		return false, err
	}
	if err := s.writeTraits(ctx, set, all, by); err != nil {
		return false, fmt.Errorf("put computed trait %q: %w", def.ID, err)
	}
	return created, nil
}

// DeleteTrait removes the computed trait with the id, as the key with id by. A trait an audience
// reads is not removed (ErrReferenced, naming the audiences); one not defined is ErrTraitNotFound.
func (s *Store) DeleteTrait(ctx context.Context, id, by string) error {
	set, audiences, err := s.read(ctx)
	if err != nil {
		return err
	}
	all, err := s.Traits(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(all, func(d computed.Definition) bool { return d.ID == id }) {
		return fmt.Errorf("computed trait %q: %w", id, ErrTraitNotFound)
	}
	var reading []string
	for _, a := range audiences {
		if slices.Contains(a.Definition.Inputs().Computed, id) {
			reading = append(reading, a.Definition.ID)
		}
	}
	if len(reading) > 0 {
		return fmt.Errorf("%w: computed trait %q is read by %s; change or remove those first", ErrReferenced, id, quoted(reading))
	}
	all = slices.DeleteFunc(all, func(d computed.Definition) bool { return d.ID == id })
	if err := s.writeTraits(ctx, set, all, by); err != nil {
		return fmt.Errorf("delete computed trait %q: %w", id, err)
	}
	return nil
}

// writeTraits writes the traits item holding defs with the set item, its version moved on, in one
// transaction conditioned on the version read.
func (s *Store) writeTraits(ctx context.Context, set setItem, defs []computed.Definition, by string) error {
	slices.SortFunc(defs, func(a, b computed.Definition) int { return strings.Compare(a.ID, b.ID) })
	now := s.now().UTC().Truncate(time.Millisecond)
	it := traitsItem{AudienceID: traitsKey, UpdatedAt: now, UpdatedBy: by}
	size := 0
	for _, d := range defs {
		raw, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("%w: %v", computed.ErrInvalid, err)
		}
		size += len(raw)
		it.Definitions = append(it.Definitions, string(raw))
	}
	if size > MaxTraitsBytes {
		return fmt.Errorf("%w: the computed traits would hold %d bytes of JSON together, at most %d", ErrTooMany, size, MaxTraitsBytes)
	}
	change := func(tx *dynamo.WriteTx) *dynamo.WriteTx {
		if len(defs) == 0 {
			return tx.Delete(s.table.Delete("audienceId", traitsKey))
		}
		return tx.Put(s.table.Put(it))
	}
	return s.commit(ctx, change, set, set.IDs, now, by)
}

// checkComputed tells whether every computed trait the audiences defs read is defined.
func checkComputed(defs []audience.Definition, traits []computed.Definition) error {
	for _, d := range defs {
		for _, id := range d.Inputs().Computed {
			if !slices.ContainsFunc(traits, func(t computed.Definition) bool { return t.ID == id }) {
				return fmt.Errorf("%w: audience %q reads computed.%s, which is not a computed trait; define it first", ErrInvalidSet, d.ID, id)
			}
		}
	}
	return nil
}
