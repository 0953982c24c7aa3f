// Package activitystore keeps the activity log (shared/activity) in DynamoDB: the Activity table,
// one item per entry, partition key "log" ("<kind>#<UTC day>"), sort key "at" ("<time>#<message
// id>"), removed by the table's time-to-live ("expiresAt", epoch seconds) activity.Retention after
// the entry's time.
//
// Costs. An entry is one PutItem of its size in 1 KB write units: one unit for an alert or an
// action (some 300 to 600 bytes), so an alert or trigger sent costs one write; a retried run that
// sends the same message at the same time writes the same item again (replaced, not added). A page
// of one kind is one Query of at most limit+1 items (eventually consistent: half a read unit per
// 4 KB); of every alert kind, one such Query per kind (six), in parallel. A day's counts read each
// kind's day once (Select COUNT still reads the items: half a unit per 4 KB), at most MaxCountPages
// pages of 1 MB per kind. An entry that names a profile (every alert; an action whose path names
// one) also has an entry in the profile index (keys only, about 100 bytes: one more write unit),
// which an erasure reads (Forget).
package activitystore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activity"
)

// Attribute names of the table's keys and time-to-live (topology.ActivityTable's).
const (
	partitionKey = "log"
	sortKey      = "at"
)

// MaxCountPages bounds the 1 MB pages a day's count reads per kind (some 2,000 to 3,000 entries
// a page); a count that stops there is a lower bound.
const MaxCountPages = 20

// Store is the Activity table.
type Store struct {
	db        *dynamo.DB
	table     dynamo.Table
	name      string
	retention time.Duration
}

// New returns the store over the table of that name.
func New(db *dynamo.DB, table string) *Store {
	return &Store{db: db, table: db.Table(table), name: table, retention: activity.Retention}
}

// WithRetention keeps the entries written from now on for d instead of activity.Retention: for
// tests whose clock is in the past, which DynamoDB Local's time-to-live would otherwise sweep.
func (s *Store) WithRetention(d time.Duration) *Store {
	c := *s
	c.retention = d
	return &c
}

// item is an entry as stored.
type item struct {
	Log       string             `dynamo:"log,hash"`
	At        string             `dynamo:"at,range"`
	Kind      string             `dynamo:"kind"`
	MessageID string             `dynamo:"messageId"`
	ProfileID string             `dynamo:"profileId,omitempty"`
	Reason    string             `dynamo:"reason,omitempty"`
	Facts     map[string]float64 `dynamo:"facts,omitempty"`
	Channel   string             `dynamo:"channel,omitempty"`
	Route     string             `dynamo:"route,omitempty"`
	Targets   map[string]string  `dynamo:"targets,omitempty"`
	KeyID     string             `dynamo:"keyId,omitempty"`
	KeyName   string             `dynamo:"keyName,omitempty"`
	Status    int                `dynamo:"status,omitempty"`
	Outcome   string             `dynamo:"outcome,omitempty"`
	ExpiresAt int64              `dynamo:"expiresAt"`
}

func itemOf(e activity.Entry, retention time.Duration) item {
	pk, sk := e.Keys()
	return item{Log: pk, At: sk, Kind: e.Kind, MessageID: e.MessageID, ProfileID: e.ProfileID, Reason: e.Reason,
		Facts: e.Facts, Channel: e.Channel, Route: e.Route, Targets: e.Targets, KeyID: e.KeyID, KeyName: e.KeyName,
		Status: e.Status, Outcome: e.Outcome, ExpiresAt: e.At.Add(retention).Unix()}
}

func (it item) entry() (activity.Entry, error) {
	at, _, err := activity.ParseSortKey(it.At)
	if err != nil {
		return activity.Entry{}, err
	}
	return activity.Entry{At: at, Kind: it.Kind, MessageID: it.MessageID, ProfileID: it.ProfileID, Reason: it.Reason,
		Facts: it.Facts, Channel: it.Channel, Route: it.Route, Targets: it.Targets, KeyID: it.KeyID, KeyName: it.KeyName,
		Status: it.Status, Outcome: it.Outcome}, nil
}

// Write puts the entry, replacing one of the same message at the same time.
func (s *Store) Write(ctx context.Context, e activity.Entry) error {
	e.At = e.At.UTC()
	if err := e.Validate(); err != nil {
		return err
	}
	if err := s.table.Put(itemOf(e, s.retention)).Run(ctx); err != nil {
		return fmt.Errorf("write the %s entry %s: %w", e.Kind, e.MessageID, err)
	}
	return nil
}

// Newest reads at most limit entries of the kind's day, newest first, older than the sort key
// before ("" from the newest), and whether older ones are left (activity.Partitions).
func (s *Store) Newest(ctx context.Context, kind, day, before string, limit int) ([]activity.Entry, bool, error) {
	q := s.table.Get(partitionKey, activity.PartitionKey(kind, day)).Order(dynamo.Descending).Limit(limit + 1)
	if before != "" {
		q = q.Range(sortKey, dynamo.Less, before)
	}
	var items []item
	if err := q.All(ctx, &items); err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, false, err
	}
	more := len(items) > limit
	items = items[:min(len(items), limit)]
	out := make([]activity.Entry, 0, len(items))
	for _, it := range items {
		e, err := it.entry()
		if err != nil {
			return nil, false, fmt.Errorf("entry %s %s: %w", it.Log, it.At, err)
		}
		out = append(out, e)
	}
	return out, more, nil
}

// Page reads a page of a day's entries of the query's kinds (activity.Read).
func (s *Store) Page(ctx context.Context, q activity.Query) (activity.Page, error) {
	return activity.Read(ctx, s, q)
}

// Counts counts the entries of each kind on the day, in parallel; complete is false when a
// kind's count stopped at MaxCountPages (its count is then a lower bound).
func (s *Store) Counts(ctx context.Context, day string, kinds []string) (map[string]int64, bool, error) {
	if _, err := activity.ParseDay(day); err != nil {
		return nil, false, err
	}
	type result struct {
		n        int64
		complete bool
		err      error
	}
	results := make([]result, len(kinds))
	var wg sync.WaitGroup
	for i, kind := range kinds {
		wg.Go(func() {
			n, complete, err := s.count(ctx, activity.PartitionKey(kind, day))
			results[i] = result{n, complete, err}
		})
	}
	wg.Wait()
	counts, complete := make(map[string]int64, len(kinds)), true
	for i, r := range results {
		if r.err != nil {
			return nil, false, fmt.Errorf("count the %s entries of %s: %w", kinds[i], day, r.err)
		}
		counts[kinds[i]] = r.n
		complete = complete && r.complete
	}
	return maps.Clone(counts), complete, nil
}

// key is an item's keys, as the profile index holds them.
type key struct {
	Log string `dynamo:"log"`
	At  string `dynamo:"at"`
}

// Forget removes what the log holds of the profiles ids (an erased person's live profile and
// those merged into it), found by the table's profile index: their alerts and triggers are
// deleted; an audit entry that names one keeps who did what and when, with every id of ids among
// its targets replaced by pseudonym(id) and no profile to be found by. Safe to repeat. It returns
// how many entries it deleted and rewrote.
func (s *Store) Forget(ctx context.Context, ids []string, pseudonym func(string) string) (deleted, rewritten int, err error) {
	for _, id := range ids {
		var keys []key
		err := s.table.Get("profileId", id).Index(topology.ActivityProfileIndex).All(ctx, &keys)
		if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
			return deleted, rewritten, fmt.Errorf("find the activity of %s: %w", id, err)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k.Log, activity.KindAudit+"#") {
				if err := s.table.Delete(partitionKey, k.Log).Range(sortKey, k.At).Run(ctx); err != nil {
					return deleted, rewritten, fmt.Errorf("delete the activity entry %s %s: %w", k.Log, k.At, err)
				}
				deleted++
				continue
			}
			var it item
			if err := s.table.Get(partitionKey, k.Log).Range(sortKey, dynamo.Equal, k.At).Consistent(true).One(ctx, &it); errors.Is(err, dynamo.ErrNotFound) {
				continue
			} else if err != nil {
				return deleted, rewritten, fmt.Errorf("read the audit entry %s %s: %w", k.Log, k.At, err)
			}
			it.ProfileID = ""
			for name, v := range it.Targets {
				if slices.Contains(ids, v) {
					it.Targets[name] = pseudonym(v)
				}
			}
			if err := s.table.Put(it).Run(ctx); err != nil {
				return deleted, rewritten, fmt.Errorf("rewrite the audit entry %s %s: %w", k.Log, k.At, err)
			}
			rewritten++
		}
	}
	return deleted, rewritten, nil
}

// count counts the items of a partition, at most MaxCountPages pages.
func (s *Store) count(ctx context.Context, partition string) (int64, bool, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.name),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": partitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: partition}},
		Select:                    types.SelectCount,
	}
	var n int64
	for range MaxCountPages {
		out, err := s.db.Client().Query(ctx, in)
		if err != nil {
			return 0, false, err
		}
		n += int64(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return n, true, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return n, false, nil
}

// MaxContactKeys bounds the index entries Contacts reads per profile id: 90 days of a person's
// alerts, triggers and audited changes stay far below it; beyond it the newest are not promised.
const MaxContactKeys = 1000

// Contacts reads the newest alerts and triggers sent to the profiles ids (a live profile and those
// merged into it), at most limit, newest first: the ids' keys from the table's profile index, then
// the entries themselves in batches (the index holds keys only). Audit entries are left out.
func (s *Store) Contacts(ctx context.Context, ids []string, limit int) ([]activity.Entry, error) {
	var keys []key
	for _, id := range ids {
		var found []key
		err := s.table.Get("profileId", id).Index(topology.ActivityProfileIndex).SearchLimit(MaxContactKeys).All(ctx, &found)
		if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
			return nil, fmt.Errorf("find the contacts of %s: %w", id, err)
		}
		for _, k := range found {
			if !strings.HasPrefix(k.Log, activity.KindAudit+"#") {
				keys = append(keys, k)
			}
		}
	}
	// The sort key starts with a fixed-width time: the newest sort last.
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(b.At, a.At) })
	keys = keys[:min(len(keys), limit)]
	if len(keys) == 0 {
		return nil, nil
	}
	batch := s.table.Batch(partitionKey, sortKey).Get()
	for _, k := range keys {
		batch.And(dynamo.Keys{k.Log, k.At})
	}
	var items []item
	if err := batch.All(ctx, &items); err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, fmt.Errorf("read the contacts: %w", err)
	}
	out := make([]activity.Entry, 0, len(items))
	for _, it := range items {
		e, err := it.entry()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b activity.Entry) int { return b.At.Compare(a.At) })
	return out, nil
}
