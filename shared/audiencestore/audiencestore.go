// Package audiencestore keeps the audience definitions (shared/audience's language) in the
// Audiences table, one item per audience keyed by its id, beside one item that stands for the
// whole set: its version and the ids it holds.
//
// The definitions are a set whose every member may name others (the audiences field, a
// lookalike's seed), so a change is checked against the whole set, and the set must stay valid
// however many writers there are. Put and Delete therefore read the set item and every definition
// (strongly consistent), check the set as it would be after the change (audience.ValidateSet:
// every audience named is defined, no cycle; a removal leaves no audience naming the removed
// one), and write the change and the set item, its version moved on, in one transaction
// conditioned on the version they read. Every change moves the version, so a transaction that
// succeeds was checked against the set as it stood when it was written; of two writers that read
// the same version one wins and the other gets ErrChanged, and repeats the request against the
// set as it now is (where the winner's change may make its own invalid).
//
// The set is bounded: at most MaxAudiences definitions, each at most MaxDefinitionBytes of JSON
// and MaxSetBytes together, so that a change reads a bounded set and the list fits one answer of
// the profile API.
package audiencestore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/computed"
)

// Bounds of the set.
const (
	// MaxAudiences is the most definitions the set holds.
	MaxAudiences = 200
	// MaxDefinitionBytes bounds a definition's JSON as stored (as audience.Definition writes it).
	MaxDefinitionBytes = 32 << 10
	// MaxSetBytes bounds the definitions' JSON together: a change reads them all, and the profile
	// API lists them in one answer.
	MaxSetBytes = 1 << 20
)

// setKey is the audienceId of the item that stands for the set. Audience ids are lower-case
// slugs, so no audience has it.
const setKey = "#set"

var (
	// ErrNotFound is an audience that is not defined.
	ErrNotFound = errors.New("audience not found")
	// ErrInvalidSet is a change that would leave the set invalid: a definition naming an audience
	// that is not defined, or audiences forming a cycle. It wraps audience.ErrInvalid; the message
	// says where.
	ErrInvalidSet = errors.New("the audiences would not be a valid set")
	// ErrTooMany is a new definition the set has no room for (MaxAudiences, MaxSetBytes).
	ErrTooMany = errors.New("too many audiences")
	// ErrTooLarge is a definition whose JSON is over MaxDefinitionBytes.
	ErrTooLarge = errors.New("audience definition too large")
	// ErrReferenced is a removal of an audience other definitions name; the message names them.
	ErrReferenced = errors.New("audience in use")
	// ErrChanged is a change that lost a race: the set changed between reading it and writing.
	// Nothing was written; the change is to be tried again, against the set as it now is.
	ErrChanged = errors.New("the audiences changed under a concurrent write; try again")
)

// Stored is a definition as kept, with its bookkeeping.
type Stored struct {
	Definition audience.Definition
	// JSON is the definition as stored (as audience.Definition writes it; audience.Parse reads it).
	JSON json.RawMessage
	// Version is 1 when created and moves on with each replacement.
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
	// UpdatedBy is the id of the profile-API key that wrote it last (never the key).
	UpdatedBy string
	// Created says, of what Put returns, whether the write created the audience.
	Created bool
}

// item is an audience's item.
type item struct {
	AudienceID string    `dynamo:"audienceId,hash"`
	Definition string    `dynamo:"definition"`
	Version    int       `dynamo:"version"`
	CreatedAt  time.Time `dynamo:"createdAt"`
	UpdatedAt  time.Time `dynamo:"updatedAt"`
	UpdatedBy  string    `dynamo:"updatedBy"`
}

// setItem stands for the set: its version, moved on by every change, and the ids of the audiences
// it holds, from which List reads them without a scan.
type setItem struct {
	AudienceID string    `dynamo:"audienceId,hash"` // setKey
	Version    int       `dynamo:"version"`
	IDs        []string  `dynamo:"ids,set,omitempty"`
	UpdatedAt  time.Time `dynamo:"updatedAt"`
	UpdatedBy  string    `dynamo:"updatedBy"`
}

// Store keeps the audience definitions.
type Store struct {
	db    *dynamo.DB
	table dynamo.Table
	now   func() time.Time
	// The bounds (MaxAudiences, MaxSetBytes), lowered by tests.
	maxAudiences, maxSetBytes int
	// beforeCommit, when set, runs between reading the set and writing the change (for tests that
	// write in between).
	beforeCommit func()
}

// New returns the store over the Audiences table of that physical name.
func New(db *dynamo.DB, table string) *Store {
	return &Store{db: db, table: db.Table(table), now: time.Now, maxAudiences: MaxAudiences, maxSetBytes: MaxSetBytes}
}

// WithClock returns the store with the clock it dates its writes by.
func (s *Store) WithClock(now func() time.Time) *Store {
	c := *s
	c.now = now
	return &c
}

// Get returns the audience with the id (ErrNotFound when there is none).
func (s *Store) Get(ctx context.Context, id string) (Stored, error) {
	if id == setKey {
		return Stored{}, fmt.Errorf("audience %q: %w", id, ErrNotFound)
	}
	var it item
	err := s.table.Get("audienceId", id).Consistent(true).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return Stored{}, fmt.Errorf("audience %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Stored{}, fmt.Errorf("read audience %q: %w", id, err)
	}
	return it.stored()
}

// List returns every audience, sorted by id.
func (s *Store) List(ctx context.Context) ([]Stored, error) {
	_, all, err := s.read(ctx)
	return all, err
}

// Version returns the set's version (0 before the first audience was ever defined): it moves on
// with every change, so a reader that knows the version it read the definitions at knows, with one
// small read, whether they are still current.
func (s *Store) Version(ctx context.Context) (int, error) {
	var set setItem
	err := s.table.Get("audienceId", setKey).Consistent(true).One(ctx, &set)
	switch {
	case errors.Is(err, dynamo.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("read the audiences' set: %w", err)
	}
	return set.Version, nil
}

// Current returns every audience and computed trait, with the set's version they are read at
// (one version for both: see traits.go).
func (s *Store) Current(ctx context.Context) (int, []audience.Definition, []computed.Definition, error) {
	set, all, err := s.read(ctx)
	if err != nil {
		return 0, nil, nil, err
	}
	defs := make([]audience.Definition, len(all))
	for i, st := range all {
		defs[i] = st.Definition
	}
	traits, err := s.Traits(ctx)
	if err != nil {
		return 0, nil, nil, err
	}
	return set.Version, defs, traits, nil
}

// Put stores the definition, creating the audience or replacing it (its version moves on), as
// written by the key with id by. The set with it must be valid (ErrInvalidSet) and within its
// bounds (ErrTooMany, ErrTooLarge); a concurrent change is ErrChanged.
func (s *Store) Put(ctx context.Context, def audience.Definition, by string) (Stored, error) {
	raw, err := json.Marshal(def)
	if err != nil {
		return Stored{}, fmt.Errorf("%w: %v", audience.ErrInvalid, err)
	}
	if len(raw) > MaxDefinitionBytes {
		return Stored{}, fmt.Errorf("%w: %d bytes of JSON, at most %d", ErrTooLarge, len(raw), MaxDefinitionBytes)
	}
	if def, err = audience.Parse(raw); err != nil { // what is stored reads back
		return Stored{}, err
	}
	set, all, err := s.read(ctx)
	if err != nil {
		return Stored{}, err
	}
	defs := make([]audience.Definition, 0, len(all)+1)
	size := len(raw)
	var prev *Stored
	for i, a := range all {
		if a.Definition.ID == def.ID {
			prev = &all[i]
			continue
		}
		defs = append(defs, a.Definition)
		size += len(a.JSON)
	}
	defs = append(defs, def)
	switch {
	case prev == nil && len(all) >= s.maxAudiences:
		return Stored{}, fmt.Errorf("%w: %d are defined, at most %d; remove one first", ErrTooMany, len(all), s.maxAudiences)
	case size > s.maxSetBytes:
		return Stored{}, fmt.Errorf("%w: the definitions would hold %d bytes of JSON together, at most %d", ErrTooMany, size, s.maxSetBytes)
	}
	if err := audience.ValidateSet(defs); err != nil {
		return Stored{}, fmt.Errorf("%w: %w", ErrInvalidSet, readable(err))
	}
	if in := def.Inputs(); len(in.Computed) > 0 {
		traits, err := s.Traits(ctx)
		if err != nil {
			return Stored{}, err
		}
		if err := checkComputed([]audience.Definition{def}, traits); err != nil {
			return Stored{}, err
		}
	}

	now := s.now().UTC().Truncate(time.Millisecond)
	it := item{AudienceID: def.ID, Definition: string(raw), Version: 1, CreatedAt: now, UpdatedAt: now, UpdatedBy: by}
	put := s.table.Put(it).If("attribute_not_exists('audienceId')")
	ids := slices.Clone(set.IDs)
	if prev != nil {
		it.Version, it.CreatedAt = prev.Version+1, prev.CreatedAt
		put = s.table.Put(it).If("'version' = ?", prev.Version)
	} else {
		ids = append(ids, def.ID)
	}
	if err := s.commit(ctx, func(tx *dynamo.WriteTx) *dynamo.WriteTx { return tx.Put(put) }, set, ids, now, by); err != nil {
		return Stored{}, fmt.Errorf("put audience %q: %w", def.ID, err)
	}
	out, err := it.stored()
	out.Created = prev == nil
	return out, err
}

// Delete removes the audience with the id, as the key with id by. An audience other definitions
// name is not removed (ErrReferenced, naming them); one that is not defined is ErrNotFound; a
// concurrent change is ErrChanged.
func (s *Store) Delete(ctx context.Context, id, by string) error {
	set, all, err := s.read(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(set.IDs, id) {
		return fmt.Errorf("audience %q: %w", id, ErrNotFound)
	}
	var naming []string // the audiences that name it
	for _, a := range all {
		in := a.Definition.Inputs()
		if a.Definition.ID != id && (slices.Contains(in.Audiences, id) || slices.Contains(in.Lookalikes, id)) {
			naming = append(naming, a.Definition.ID)
		}
	}
	if len(naming) > 0 {
		return fmt.Errorf("%w: %q is named by %s; change or remove those first", ErrReferenced, id, quoted(naming))
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	del := s.table.Delete("audienceId", id).If("attribute_exists('audienceId')")
	ids := slices.DeleteFunc(slices.Clone(set.IDs), func(x string) bool { return x == id })
	if err := s.commit(ctx, func(tx *dynamo.WriteTx) *dynamo.WriteTx { return tx.Delete(del) }, set, ids, now, by); err != nil {
		return fmt.Errorf("delete audience %q: %w", id, err)
	}
	return nil
}

// commit writes the change (what change adds to the transaction) with the set item, its version
// moved on and holding ids, in one transaction that holds only if the set is still at the version
// read.
func (s *Store) commit(ctx context.Context, change func(*dynamo.WriteTx) *dynamo.WriteTx, set setItem, ids []string, now time.Time, by string) error {
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	slices.Sort(ids)
	next := setItem{AudienceID: setKey, Version: set.Version + 1, IDs: ids, UpdatedAt: now, UpdatedBy: by}
	put := s.table.Put(next).If("attribute_not_exists('audienceId')")
	if set.Version > 0 {
		put = s.table.Put(next).If("'version' = ?", set.Version)
	}
	err := change(s.db.WriteTx().Idempotent(true).Put(put)).Run(ctx)
	if dynamo.IsCondCheckFailed(err) {
		return ErrChanged
	}
	return err
}

// read returns the set item and every definition, sorted by id, read strongly consistent: the
// set item first, so that the definitions are no older than the version read.
func (s *Store) read(ctx context.Context) (setItem, []Stored, error) {
	var set setItem
	err := s.table.Get("audienceId", setKey).Consistent(true).One(ctx, &set)
	switch {
	case errors.Is(err, dynamo.ErrNotFound):
		return setItem{}, nil, nil
	case err != nil:
		return setItem{}, nil, fmt.Errorf("read the audiences' set: %w", err)
	case len(set.IDs) == 0:
		return set, nil, nil
	}
	keys := make([]dynamo.Keyed, len(set.IDs))
	for i, id := range set.IDs {
		keys[i] = dynamo.Keys{id}
	}
	var items []item
	err = s.table.Batch("audienceId").Get(keys...).Consistent(true).All(ctx, &items)
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return setItem{}, nil, fmt.Errorf("read %d audiences: %w", len(keys), err)
	}
	if len(items) != len(set.IDs) {
		// Written in one transaction with the set item, read after it: only a change since the
		// set item was read removes one.
		return setItem{}, nil, fmt.Errorf("read %d audiences, found %d: %w", len(set.IDs), len(items), ErrChanged)
	}
	out := make([]Stored, 0, len(items))
	for _, it := range items {
		st, err := it.stored()
		if err != nil {
			return setItem{}, nil, err
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Stored) int { return cmp.Compare(a.Definition.ID, b.Definition.ID) })
	return set, out, nil
}

func (it item) stored() (Stored, error) {
	d, err := audience.Parse([]byte(it.Definition))
	if err != nil {
		return Stored{}, fmt.Errorf("stored audience %q does not read: %w", it.AudienceID, err)
	}
	return Stored{Definition: d, JSON: json.RawMessage(it.Definition), Version: it.Version,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, UpdatedBy: it.UpdatedBy}, nil
}

// definitionsAt matches audience.ValidateSet's `definitions[3] ("vip")`, a position in the list
// it was given, which means nothing to a caller who named the audience.
var definitionsAt = regexp.MustCompile(`definitions\[[0-9]+\] \(("[^"]*")\)`)

// readable is ValidateSet's error naming audiences by id alone: `audience "vip": rule.all[1]:
// audience "gold" is not defined`.
func readable(err error) error {
	return &wrapped{msg: definitionsAt.ReplaceAllString(err.Error(), "audience $1"), err: err}
}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

func quoted(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ", ")
}
