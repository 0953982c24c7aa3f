package recording

import (
	"context"
	"errors"
	"time"

	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

// Storage is what the engine needs of a store: profiles, the identity graph and the history, with
// the guarantees written on each method. The engine keeps its rules safe under retries, crashes
// and concurrent writers on these guarantees alone; an implementation adds no rules of its own.
//
// Reads said to be consistent see every write that completed before them. A conditional write
// whose condition does not hold changes nothing and returns an error that wraps ErrConflict. A
// write the store refuses as invalid (a record grown past what it can hold) returns an error that
// wraps ErrRejected; writing it again fails the same way. Any other error is transient.
type Storage interface {
	Profiles
	Identities
	Histories
	Snapshots
}

// Snapshots reads many records and entries at once, consistently, so that recording a batch of
// events costs a few requests rather than a few per event. What they return is what Profile,
// Entry and Tombstoned would each have returned at the time of the call.
type Snapshots interface {
	// Records reads the records of ids, as Profile does (one never written at version 0).
	Records(ctx context.Context, ids []string) (map[string]Record, error)
	// Entries reads the entries of ids (one without an entry is not in the map) and tells which
	// of the sealed forms have a tombstone.
	Entries(ctx context.Context, ids []identity.ID, sealed []string) (entries map[identity.ID]Entry, tombstoned map[string]bool, err error)
	// RecordsAndTombstones is Records of ids and Entries of the sealed forms alone, read at once:
	// what a batch reads once it knows its identifiers' entries (the profiles of the known ones,
	// the tombstones of the new ones).
	RecordsAndTombstones(ctx context.Context, ids []string, sealed []string) (map[string]Record, map[string]bool, error)
	// Erased tells which of the profiles ids have ErasedAt set, as Records would, reading nothing
	// else of them.
	Erased(ctx context.Context, ids []string) (map[string]bool, error)
}

// Profiles keeps profile records.
type Profiles interface {
	// Profile reads the record of profile id, consistently when asked. A profile never written
	// reads as a Record of that id at version 0; an erased one as its tombstone (ErasedAt set,
	// version 0, nothing else).
	Profile(ctx context.Context, id string, consistent bool) (Record, error)
	// Commit makes every change of c, all or none: each Put only if the stored record is still at
	// the version of its Base, each Move only if its identifier is where the Move expects it. If
	// any condition fails, nothing is written (ErrConflict).
	Commit(ctx context.Context, c Change) error
	// Bury replaces the record of profile id by a tombstone: ErasedAt, the erasure's Progress and
	// nothing else. It holds no condition.
	Bury(ctx context.Context, id string, erasedAt time.Time, done Progress) error
	// EachProfile calls fn with every stored record (live, merged, erased), in no given order,
	// until fn returns an error, which it returns. Meant for checks on a store at rest.
	EachProfile(ctx context.Context, fn func(Record) error) error
	// Due calls fn with the id of every profile whose DueAt is set and at or before now. It may
	// lag behind writes (an index): the caller reads the profile before acting on it.
	Due(ctx context.Context, now time.Time, fn func(ctx context.Context, profileID string) error) error
}

// Identities keeps the identity graph: one entry per identifier, naming the profile it belongs to;
// and the tombstones of erased identifiers, each under its sealed form (a keyed hash of the
// identifier's text, which the engine makes): a tombstone holds nothing that can be read back or
// guessed, and is found only by whoever holds the key and the identifier.
type Identities interface {
	// Entry reads an identifier's entry, consistently when asked; found is false when there is none
	// (a tombstone is not the identifier's entry: see Tombstoned).
	Entry(ctx context.Context, id identity.ID, consistent bool) (e Entry, found bool, err error)
	// Claim creates the entry of id, pointing at profileID, only if id has none (ErrConflict
	// otherwise: another writer claimed it first).
	Claim(ctx context.Context, id identity.ID, profileID string, at time.Time) error
	// Move moves an identifier as m says, only if its entry is where m expects it (ErrConflict
	// otherwise).
	Move(ctx context.Context, m Move) error
	// Tombstone writes the tombstone sealed (ErasedAt and nothing else) and removes the entry of
	// id, both or neither: only if the entry points at ifProfile when that is set (ErrConflict
	// otherwise), whether or not there is one when it is not.
	Tombstone(ctx context.Context, id identity.ID, sealed string, erasedAt time.Time, ifProfile string) error
	// Tombstoned tells, consistently, whether there is a tombstone sealed.
	Tombstoned(ctx context.Context, sealed string) (bool, error)
	// Lift removes the tombstone sealed, and tells whether there was one.
	Lift(ctx context.Context, sealed string) (bool, error)
	// EachEntry calls fn with every entry, tombstones included (Entry.Sealed), in no given order,
	// until fn returns an error, which it returns. Meant for checks on a store at rest.
	EachEntry(ctx context.Context, fn func(Entry) error) error
}

// Histories keeps the touchpoints of every profile and the receipts of events sent without a time
// of their own (package history).
type Histories interface {
	// Append writes touchpoints and receipts, replacing any of the same key. It holds no
	// condition; writing the same ones again changes nothing.
	Append(ctx context.Context, touchpoints []history.Touchpoint, receipts []history.Receipt) error
	// Recorded reads, consistently, which of the touchpoints of keys and the receipts of message
	// ids exist, and returns the message ids of those that do.
	Recorded(ctx context.Context, keys []history.Key, receipts []string) (map[string]bool, error)
	// Touchpoints reads the touchpoints of profile id, consistently, newest first: those after
	// the cursor when there is one (history.Cursor.Precedes), of the type typ selects
	// (history.Matches), at most limit of them (all when limit is 0).
	Touchpoints(ctx context.Context, id string, after *history.Cursor, typ string, limit int) ([]history.Touchpoint, error)
	// Delete removes touchpoints by key (missing ones are no error) and returns how many keys it
	// was given.
	Delete(ctx context.Context, keys []history.Key) (int, error)
}

// Record is a profile as the engine stores it: the customer's profile and what recording keeps
// beside it. The score (Profile.Score and Profile.LapseAlertedAt) belongs to scoring: it is read
// with the rest and never written by a Put.
type Record struct {
	Profile profile.Profile
	// Version counts the writes of the record; every Put makes it Base.Version+1. 0: not written.
	Version int
	// Claimed are the claimed identifiers the profile holds beside its userId and anonymousIds
	// (every other kind), sorted by their text.
	Claimed []identity.ID
	// Recent are the deduplication keys of the latest events written to the profile (see Recent).
	Recent Recent
	// HighWater is at or above the greatest touchpoint key (history.SortKey) of the events
	// recorded on the profile or on one merged into it: an event whose key is greater was not
	// recorded before, and its history need not be read to know it. It is kept as the newest
	// key's time alone (waterMark), 50 bytes less on every profile write; marks written before
	// hold the whole key. "0" for a profile that recorded no event; empty when not known (a
	// record written before the mark was kept).
	HighWater string
	// MergedWater is at or above the high-water marks of the profiles merged into this one, as
	// they were when each was merged: an event whose key is greater was recorded on none of
	// them, so their histories need not be read for it (a person on several devices, whose
	// events reach stitch out of order, is otherwise looked up in every device's history). Empty
	// when nothing was merged in, or not known (a merge written before the mark was kept).
	MergedWater string
	// MergingInto claims the profile for a merge into another until Profile.MergedInto is set.
	MergingInto string
	// Cause is what asked for the merge of this profile into another; MergedAt when it was done.
	Cause    Cause
	MergedAt time.Time
	// SplitFrom are the profiles an operator split this one from; it never merges with them again.
	SplitFrom []string
	SplitAt   time.Time
	// ErasedAt is set when the person's erasure began; the record is buried when it ends.
	// Erasure is how far the erasure has gone: on the live profile while it runs (the record
	// keeps then only what the erasure still needs: the identifiers and the merged profiles left),
	// and on the tombstones it leaves.
	ErasedAt time.Time
	Erasure  Progress
	// Fired is what triggers fired for the profile, kept as long as it can matter.
	Fired trigger.State
	// DueAt is when the profile falls due: the earlier of when its next trigger falls due
	// (trigger.Config.Due) and Profile.AudiencesDue; zero when neither can.
	DueAt time.Time
}

// Cause is what asks for a merge: an event, from a trusted source or not, and the identifier that
// joined the two profiles.
type Cause struct {
	MessageID string
	Via       identity.ID
	Trusted   bool
}

// Progress is how far the erasure of a person has gone.
type Progress struct {
	// Of is, on the tombstone of a profile merged into the person's live profile, the live one.
	Of          string
	Profiles    int       // profile records buried
	Identifiers int       // identifiers replaced by tombstones
	Touchpoints int       // touchpoints deleted
	CompletedAt time.Time // when the live profile was buried; zero while under way
}

// Entry is an identifier's entry in the identity graph, or a tombstone.
type Entry struct {
	ID        identity.ID
	ProfileID string
	// MovedFrom is set on an identifier that a merge moved here, until the merge is complete: it
	// tells whoever reads the identifier that the profile it came from may still have to be folded.
	MovedFrom string
	CreatedAt time.Time
	UpdatedAt time.Time
	// ErasedAt and Sealed make a tombstone: the identifier's person was erased. Sealed is the
	// identifier's keyed hash; a tombstone has no ID, profile or other time.
	ErasedAt time.Time
	Sealed   string
}

// Change is what Commit writes at once.
type Change struct {
	Puts  []Put
	Moves []Move
}

// Put writes Next in place of Base, only if the stored record is still at Base.Version (absent
// when 0). It writes every field but the score; the record's version becomes Base.Version+1.
type Put struct {
	Base, Next Record
}

// Move points identifier ID at profile To instead of From, with Mark as its mark after the move
// ("" for none), only if it points at From and its mark is IfMark ("" for none), or any mark when
// AnyMark is set.
type Move struct {
	ID       identity.ID
	From, To string
	Mark     string
	IfMark   string
	AnyMark  bool
	At       time.Time
}

// Errors of the storage.
var (
	// ErrConflict is returned by a conditional write whose condition does not hold.
	ErrConflict = errors.New("stored state changed since it was read")
	// ErrRejected is returned when storage refuses a write as invalid (a profile grown past the
	// size a record may have, for instance): writing it again fails the same way.
	ErrRejected = errors.New("write rejected by storage")
)
