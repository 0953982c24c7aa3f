package profilestore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

// ProfileTable is the Profiles table: one item per profile (recording.Record), keyed by profile
// id. Recording owns every attribute but the score's ("scores", "lapseAlertedAt"), which the
// score function writes (SaveScore) without changing the version, so that neither overwrites the
// other.
type ProfileTable struct {
	table dynamo.Table
}

// NewProfileTable returns the adapter of the Profiles table of that physical name.
func NewProfileTable(db *dynamo.DB, name string) *ProfileTable {
	return &ProfileTable{table: db.Table(name)}
}

// profileItem is a row of the Profiles table.
type profileItem struct {
	ProfileID    string   `dynamo:"profileId,hash"`
	UserID       string   `dynamo:"userId,omitempty"`
	AnonymousIDs []string `dynamo:"anonymousIds,omitempty"`
	// Hashed are the claimed identifiers (every kind but anonymousId and userId: "emailSha256:<hex>",
	// "deviceId:…", "externalId:crm_id:…"), sorted; the attribute keeps its first name.
	Hashed       []string               `dynamo:"hashedIds,omitempty"`
	Traits       traits                 `dynamo:"traits,omitempty"`
	TraitTimes   map[string]time.Time   `dynamo:"traitTimes,omitempty"`
	FirstSeen    time.Time              `dynamo:"firstSeen,omitempty"`
	LastSeen     time.Time              `dynamo:"lastSeen,omitempty"`
	Counts       counts                 `dynamo:"counts"`
	Groups       []string               `dynamo:"groups,omitempty"`
	MergedInto   string                 `dynamo:"mergedInto,omitempty"`
	MergedFrom   []string               `dynamo:"mergedFrom,omitempty"`
	MergingInto  string                 `dynamo:"mergingInto,omitempty"`
	MergeEvent   string                 `dynamo:"mergeEvent,omitempty"`
	MergeVia     string                 `dynamo:"mergeVia,omitempty"`
	MergeTrusted bool                   `dynamo:"mergeTrusted,omitempty"`
	MergedAt     time.Time              `dynamo:"mergedAt,omitempty"`
	SplitFrom    []string               `dynamo:"splitFrom,omitempty"`
	SplitAt      time.Time              `dynamo:"splitAt,omitempty"`
	UpdatedAt    time.Time              `dynamo:"updatedAt,omitempty"`
	Version      int                    `dynamo:"version"`
	Recent       []byte                 `dynamo:"recentIds,omitempty"`
	HighWater    string                 `dynamo:"highWater,omitempty"`
	MergedWater  string                 `dynamo:"mergedWater,omitempty"`
	ErasedAt     time.Time              `dynamo:"erasedAt,omitempty"`
	Erasure      *progressItem          `dynamo:"erasure,omitempty"`
	Consent      map[string]consentItem `dynamo:"consent,omitempty"`
	Fired        []firedItem            `dynamo:"triggersFired,omitempty"`
	// DueShard and DueAt key the sparse due index (see DueIndex).
	DueShard string `dynamo:"dueShard,omitempty"`
	DueAt    string `dynamo:"dueAt,omitempty"`
	// The audiences the profile is in, the events their rules count, and when they next change
	// by the clock alone (profile.Profile.AudiencesDue).
	Audiences   []membershipItem `dynamo:"audiences,omitempty"`
	EventTimes  eventTimes       `dynamo:"eventTimes,omitempty"`
	Computed    computedStates   `dynamo:"computed,omitempty"`
	AudienceDue time.Time        `dynamo:"audienceDue,omitempty"`

	// The score function's (scores.go).
	Scores         *scoreItem `dynamo:"scores,omitempty"`
	LapseAlertedAt time.Time  `dynamo:"lapseAlertedAt,omitempty"`

	aggregateFields // sessions, commerce and forms
}

type counts struct {
	Events     int `dynamo:"events"`
	PageViews  int `dynamo:"pageViews"`
	Tracks     int `dynamo:"tracks"`
	Identifies int `dynamo:"identifies"`
	Screens    int `dynamo:"screens"`
}

// consentItem is one purpose's consent, in the attribute consent (a map by purpose).
type consentItem struct {
	Granted bool      `dynamo:"granted"`
	At      time.Time `dynamo:"at"`
	Source  string    `dynamo:"source,omitempty"`
}

// progressItem is a recording.Progress as stored.
type progressItem struct {
	Of          string    `dynamo:"of,omitempty"`
	Profiles    int       `dynamo:"profiles"`
	Identifiers int       `dynamo:"identifiers"`
	Touchpoints int       `dynamo:"touchpoints"`
	CompletedAt time.Time `dynamo:"completedAt,omitempty"`
}

func newProgressItem(p recording.Progress) *progressItem {
	if p == (recording.Progress{}) {
		return nil
	}
	return &progressItem{Of: p.Of, Profiles: p.Profiles, Identifiers: p.Identifiers, Touchpoints: p.Touchpoints, CompletedAt: p.CompletedAt.UTC()}
}

func (it *progressItem) progress() recording.Progress {
	if it == nil {
		return recording.Progress{}
	}
	return recording.Progress{Of: it.Of, Profiles: it.Profiles, Identifiers: it.Identifiers, Touchpoints: it.Touchpoints, CompletedAt: it.CompletedAt}
}

// firedItem is a trigger.Fired as stored.
type firedItem struct {
	Kind string    `dynamo:"kind"`
	Key  string    `dynamo:"key"`
	At   time.Time `dynamo:"at"`
}

// traits are stored as a native DynamoDB map, empty strings and nulls included.
type traits map[string]any

func (t traits) MarshalDynamo() (types.AttributeValue, error) {
	if len(t) == 0 {
		return nil, nil
	}
	av, err := attributevalue.Marshal(map[string]any(t))
	if err != nil {
		return nil, fmt.Errorf("marshal traits: %w", err)
	}
	return av, nil
}

func (t *traits) UnmarshalDynamo(av types.AttributeValue) error {
	var m map[string]any
	if err := attributevalue.Unmarshal(av, &m); err != nil {
		return fmt.Errorf("unmarshal traits: %w", err)
	}
	*t = m
	return nil
}

// record reads an item as the engine's record.
func (it profileItem) record() recording.Record {
	r := recording.Record{
		Profile: it.profile(), Version: it.Version, Claimed: parseIDs(it.Hashed), Recent: it.Recent, HighWater: it.HighWater, MergedWater: it.MergedWater,
		MergingInto: it.MergingInto, MergedAt: it.MergedAt,
		Cause:     recording.Cause{MessageID: it.MergeEvent, Trusted: it.MergeTrusted},
		SplitFrom: it.SplitFrom, SplitAt: it.SplitAt, ErasedAt: it.ErasedAt, Erasure: it.Erasure.progress(),
	}
	if via, err := identity.Parse(it.MergeVia); err == nil {
		r.Cause.Via = via
	}
	for _, f := range it.Fired {
		r.Fired = append(r.Fired, trigger.Fired{Kind: f.Kind, Key: f.Key, At: f.At})
	}
	if at, err := history.ParseTime(it.DueAt); err == nil {
		r.DueAt = at
	}
	return r
}

func (it profileItem) profile() profile.Profile {
	p := profile.Profile{
		ID: it.ProfileID, UserID: it.UserID, AnonymousIDs: it.AnonymousIDs,
		Traits: map[string]any(it.Traits), TraitTimes: it.TraitTimes,
		FirstSeen: it.FirstSeen, LastSeen: it.LastSeen,
		Counts: profile.Counts(it.Counts), Groups: it.Groups,
		MergedInto: it.MergedInto, MergedFrom: it.MergedFrom, UpdatedAt: it.UpdatedAt,
		LapseAlertedAt: it.LapseAlertedAt,
	}
	if len(it.Consent) > 0 {
		p.Consent = make(map[string]profile.Consent, len(it.Consent))
		for k, c := range it.Consent {
			p.Consent[k] = profile.Consent{Granted: c.Granted, At: c.At, Source: c.Source}
		}
	}
	it.aggregateFields.fill(&p)
	p.Audiences, p.EventTimes, p.AudiencesDue = memberships(it.Audiences), it.EventTimes, it.AudienceDue
	p.Computed = it.Computed
	p.Score = it.Scores.score()
	return p
}

// parseIDs reads identifiers stored as text, skipping any that cannot be read.
func parseIDs(ss []string) []identity.ID {
	var ids []identity.ID
	for _, s := range ss {
		if id, err := identity.Parse(s); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func idStrings(ids []identity.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// put writes next in place of base, if the item is still at base's version (absent for 0): every
// attribute but the score's, empty ones removed rather than stored empty. The due index's
// attributes are written only when the due time moves, since an index write costs write units of
// its own (one to enter or leave the index, two to move in it).
func (t *ProfileTable) put(base, next recording.Record) *dynamo.Update {
	return ifAt(t.update(base, next), base.Version)
}

// update is put without its condition.
func (t *ProfileTable) update(base, next recording.Record) *dynamo.Update {
	p := next.Profile
	u := t.table.Update("profileId", base.Profile.ID).Set("counts", counts(p.Counts)).Set("version", base.Version+1)
	setOrRemove(u, "userId", p.UserID, len(p.UserID))
	setOrRemove(u, "anonymousIds", p.AnonymousIDs, len(p.AnonymousIDs))
	setOrRemove(u, "hashedIds", idStrings(next.Claimed), len(next.Claimed))
	setOrRemove(u, "traits", traits(p.Traits), len(p.Traits))
	setOrRemove(u, "traitTimes", utcTimes(p.TraitTimes), len(p.TraitTimes))
	setTime(u, "firstSeen", p.FirstSeen)
	setTime(u, "lastSeen", p.LastSeen)
	setTime(u, "updatedAt", p.UpdatedAt)
	setOrRemove(u, "groups", p.Groups, len(p.Groups))
	setOrRemove(u, "mergedInto", p.MergedInto, len(p.MergedInto))
	setOrRemove(u, "mergedFrom", p.MergedFrom, len(p.MergedFrom))
	setOrRemove(u, "mergingInto", next.MergingInto, len(next.MergingInto))
	setOrRemove(u, "mergeEvent", next.Cause.MessageID, len(next.Cause.MessageID))
	setOrRemove(u, "mergeVia", next.Cause.Via.String(), len(next.Cause.Via.Value))
	setOrRemove(u, "mergeTrusted", true, count(next.Cause.Trusted))
	setTime(u, "mergedAt", next.MergedAt)
	setOrRemove(u, "splitFrom", next.SplitFrom, len(next.SplitFrom))
	setTime(u, "splitAt", next.SplitAt)
	setTime(u, "erasedAt", next.ErasedAt)
	erasure := newProgressItem(next.Erasure)
	setOrRemove(u, "erasure", erasure, count(erasure != nil))
	setOrRemove(u, "recentIds", []byte(next.Recent), len(next.Recent))
	setOrRemove(u, "highWater", next.HighWater, len(next.HighWater))
	setOrRemove(u, "mergedWater", next.MergedWater, len(next.MergedWater))
	setOrRemove(u, "consent", consentItems(p.Consent), len(p.Consent))
	setOrRemove(u, "triggersFired", firedItems(next.Fired), len(next.Fired))
	setAggregates(u, p)
	setOrRemove(u, "audiences", membershipItems(p.Audiences), len(p.Audiences))
	setOrRemove(u, "eventTimes", eventTimes(p.EventTimes), count(p.EventTimes != nil))
	setOrRemove(u, "computed", computedStates(p.Computed), len(p.Computed))
	setTime(u, "audienceDue", p.AudiencesDue)
	if !next.DueAt.Equal(base.DueAt) {
		if next.DueAt.IsZero() {
			u.Remove("dueShard", "dueAt")
		} else {
			u.Set("dueShard", DueShard(base.Profile.ID)).Set("dueAt", history.FormatTime(next.DueAt))
		}
	}
	return u
}

// ifAt makes an update of a profile hold only if the item is at version: absent, for 0.
func ifAt(u *dynamo.Update, version int) *dynamo.Update {
	if version == 0 {
		return u.If("attribute_not_exists('profileId')")
	}
	return u.If("'version' = ?", version)
}

// ifAtOrStub is ifAt, but for version 0 it also takes the stub a split of a new profile leaves
// ahead of its Put (members.go: only pendingMembers and pendingSeq), never a tombstone.
func ifAtOrStub(u *dynamo.Update, version int) *dynamo.Update {
	if version == 0 {
		return u.If("attribute_not_exists('version') AND attribute_not_exists('erasedAt')")
	}
	return u.If("'version' = ?", version)
}

func setOrRemove(u *dynamo.Update, path string, v any, n int) {
	if n == 0 {
		u.Remove(path)
		return
	}
	u.Set(path, v)
}

func setTime(u *dynamo.Update, path string, t time.Time) {
	if t.IsZero() {
		u.Remove(path)
		return
	}
	u.Set(path, t.UTC())
}

func utcTimes(m map[string]time.Time) map[string]time.Time {
	out := make(map[string]time.Time, len(m))
	for k, t := range m {
		out[k] = t.UTC()
	}
	return out
}

func consentItems(m map[string]profile.Consent) map[string]consentItem {
	out := make(map[string]consentItem, len(m))
	for k, c := range m {
		out[k] = consentItem{Granted: c.Granted, At: c.At.UTC(), Source: c.Source}
	}
	return out
}

func firedItems(st trigger.State) []firedItem {
	out := make([]firedItem, 0, len(st))
	for _, f := range st {
		out = append(out, firedItem{Kind: f.Kind, Key: f.Key, At: f.At.UTC()})
	}
	return out
}

// Profile implements recording.Profiles.
func (t *ProfileTable) Profile(ctx context.Context, id string, consistent bool) (recording.Record, error) {
	var it profileItem
	err := t.table.Get("profileId", id).Consistent(consistent).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return recording.Record{Profile: profile.Profile{ID: id}}, nil
	}
	if err != nil {
		return recording.Record{}, fmt.Errorf("get profile %s: %w", id, err)
	}
	return it.record(), nil
}

// Records implements recording.Snapshots: consistent BatchGetItem, 100 keys per request.
func (t *ProfileTable) Records(ctx context.Context, ids []string) (map[string]recording.Record, error) {
	out, keys := t.keys(ids)
	if len(keys) == 0 {
		return out, nil
	}
	var items []profileItem
	err := t.table.Batch("profileId").Get(keys...).Consistent(true).All(ctx, &items)
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, fmt.Errorf("get %d profiles: %w", len(keys), err)
	}
	for _, it := range items {
		out[it.ProfileID] = it.record()
	}
	return out, nil
}

// keys are the distinct keys of ids, and their records as read when they have no item.
func (t *ProfileTable) keys(ids []string) (map[string]recording.Record, []dynamo.Keyed) {
	out := make(map[string]recording.Record, len(ids))
	keys := make([]dynamo.Keyed, 0, len(ids))
	for _, id := range ids {
		if _, dup := out[id]; !dup { // BatchGetItem refuses a key given twice
			out[id] = recording.Record{Profile: profile.Profile{ID: id}}
			keys = append(keys, dynamo.Keys{id})
		}
	}
	return out, keys
}

// Erased implements recording.Snapshots: consistent BatchGetItem of the attribute erasedAt alone
// (DynamoDB counts the read units of whole items all the same, but neither side encodes or decodes
// the rest).
func (t *ProfileTable) Erased(ctx context.Context, ids []string) (map[string]bool, error) {
	items, n, err := project[struct {
		ProfileID string    `dynamo:"profileId"`
		ErasedAt  time.Time `dynamo:"erasedAt"`
	}](ctx, t, ids, true, "profileId", "erasedAt")
	if err != nil {
		return nil, fmt.Errorf("get %d profiles' erasure: %w", n, err)
	}
	erased := make(map[string]bool, n)
	for _, it := range items {
		erased[it.ProfileID] = !it.ErasedAt.IsZero()
	}
	return erased, nil
}

// project reads the named attributes of the profiles of ids by BatchGetItem (100 keys per
// request), consistently or not, as items of T; n is how many distinct ids were asked for.
// DynamoDB bills the read units of the whole items all the same.
func project[T any](ctx context.Context, t *ProfileTable, ids []string, consistent bool, attrs ...string) (items []T, n int, err error) {
	_, keys := t.keys(ids)
	if len(keys) == 0 {
		return nil, 0, nil
	}
	err = t.table.Batch("profileId").Get(keys...).Project(attrs...).Consistent(consistent).All(ctx, &items)
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, len(keys), err
	}
	return items, len(keys), nil
}

// profileTombstone is what is left of an erased profile.
type profileTombstone struct {
	ProfileID string        `dynamo:"profileId,hash"`
	ErasedAt  time.Time     `dynamo:"erasedAt"`
	Erasure   *progressItem `dynamo:"erasure,omitempty"`
}

// Bury implements recording.Profiles.
func (t *ProfileTable) Bury(ctx context.Context, id string, erasedAt time.Time, done recording.Progress) error {
	if err := t.table.Put(profileTombstone{ProfileID: id, ErasedAt: erasedAt.UTC(), Erasure: newProgressItem(done)}).Run(ctx); err != nil {
		return fmt.Errorf("bury profile %s: %w", id, err)
	}
	return nil
}

// EachProfile implements recording.Profiles.
func (t *ProfileTable) EachProfile(ctx context.Context, fn func(recording.Record) error) error {
	iter := t.table.Scan().Consistent(true).Iter()
	var it profileItem
	for iter.Next(ctx, &it) {
		if err := fn(it.record()); err != nil {
			return err
		}
		it = profileItem{}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan profiles: %w", err)
	}
	return nil
}

// The due index. A profile for which a trigger can fire carries dueAt, the time the next one falls
// due (recording.Record.DueAt, fixed-width so that it sorts), and dueShard, a hash of its id;
// together they key the Profiles table's sparse global secondary index DueIndex, which holds only
// the profiles that carry them, keys only. Due queries each shard for dueAt <= now and so reads
// the due profiles and no others, however many profiles there are.

// DueIndex is the name of the due index (topology.DueIndex).
const DueIndex = "due"

// DueShards is how many partitions the due index is spread over, so that a burst of writes does
// not all land on one index partition. Changing it leaves entries in shards no longer read.
const DueShards = 16

// DueShard is the due-index partition of a profile.
func DueShard(profileID string) string {
	h := fnv.New32a()
	h.Write([]byte(profileID))
	return strconv.Itoa(int(h.Sum32() % DueShards))
}

// Due implements recording.Profiles: it reads each shard of the due index in a goroutine of its
// own, earliest first, so fn must be safe for concurrent use. The index is eventually consistent.
// The first error from fn or from reading stops the reading and is returned.
func (t *ProfileTable) Due(ctx context.Context, now time.Time, fn func(ctx context.Context, profileID string) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for shard := range DueShards {
		wg.Go(func() {
			iter := t.table.Get("dueShard", strconv.Itoa(shard)).Index(DueIndex).
				Range("dueAt", dynamo.LessOrEqual, history.FormatTime(now)).Iter()
			var key struct {
				ProfileID string `dynamo:"profileId"`
			}
			for iter.Next(ctx, &key) {
				if err := fn(ctx, key.ProfileID); err != nil {
					cancel(err)
					return
				}
			}
			if err := iter.Err(); err != nil {
				cancel(fmt.Errorf("read due shard %d: %w", shard, err))
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
