package profilestore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/memstore"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
)

// The engine's tests (package recordingtest) run here against DynamoDB Local, on fresh tables
// each; the tests below them are about how this package stores things.

// propertyCases is how many random populations each property test tries against DynamoDB Local;
// the in-memory store runs thousands (package recording).
const propertyCases = 20

func newStore(t *testing.T) *Store {
	t.Helper()
	e := localawstest.Reachable(t)
	return New(e.Dynamo(), Tables{
		Profiles:    localawstest.NewTopologyTable(t, topology.ProfileTable),
		Identities:  localawstest.NewTopologyTable(t, topology.IdentityTable),
		Touchpoints: localawstest.NewTopologyTable(t, topology.TouchpointTable),
	})
}

func newStorage(t *testing.T) recording.Storage { return newStore(t) }

func TestStorageGuarantees(t *testing.T) { recordingtest.Storage(t, newStorage) }

func TestBehaviour(t *testing.T) { recordingtest.Behaviour(t, newStorage) }

func TestProperties(t *testing.T) { recordingtest.Properties(t, newStorage, propertyCases) }

func TestMemoryAndDynamoDBAgree(t *testing.T) {
	recordingtest.Agree(t, func(*testing.T) recording.Storage { return memstore.New() }, newStorage, 8)
}

// fixture is the engine over a fresh store, with a raw client to look at the items.
type fixture struct {
	recordingtest.Fixture
	store *Store
	raw   *dynamodb.Client
}

func newFixture(t *testing.T, opts ...recording.Option) fixture {
	t.Helper()
	s := newStore(t)
	f := recordingtest.New(t, func(*testing.T) recording.Storage { return s }, opts...)
	return fixture{Fixture: f, store: s, raw: localawstest.Reachable(t).DynamoDBClient()}
}

// scan returns every item of a table.
func (f fixture) scan(t *testing.T, table string) []map[string]types.AttributeValue {
	t.Helper()
	var out []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(f.raw, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		out = append(out, page.Items...)
	}
	return out
}

func str(av types.AttributeValue) string { return av.(*types.AttributeValueMemberS).Value }

// A profile at the item limit (a trait stored before traits were bounded) refuses the event that
// would grow it past: for good (not retried), with nothing written.
func TestOversizedProfileIsRejected(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := f.Record(t, recordingtest.Identify("m0", "A", "", 0, map[string]any{"plan": "gold"}))[0].ProfileID
	f.Rewrite(t, id, func(r *recording.Record) {
		r.Profile.Traits = map[string]any{"plan": "gold", "legacy": strings.Repeat("x", 398<<10)}
	})
	before := f.Stored(t, id)
	page := recordingtest.Page("m1", "A", 1)
	page.Page = strings.Repeat("p", 4000) // past what an event from collect carries
	_, err := f.Engine.Record(ctx, page)
	require.ErrorIs(t, err, recording.ErrRejected)
	require.True(t, recording.Permanent(err))
	require.Equal(t, before.Version, f.Stored(t, id).Version, "nothing written")
	require.Len(t, f.scan(t, f.store.TouchpointTable.name), 1, "a rejected event is not in the history")
}

// An event whose touchpoint DynamoDB refuses (an order of a thousand products with long ids: what
// no event from collect, 32 KB at most, carries) fails for good rather than again and again.
func TestOversizedTouchpointIsRejected(t *testing.T) {
	f := newFixture(t)
	huge := recordingtest.Order("m1", "A", "", 0)
	for i := range 1000 {
		huge.Products = append(huge.Products, profile.Line{ProductID: fmt.Sprintf("%04d-%s", i, strings.Repeat("p", 420)), Quantity: 1})
	}
	_, err := f.Engine.Record(context.Background(), huge)
	require.ErrorIs(t, err, recording.ErrRejected)
	require.True(t, recording.Permanent(err))
	require.Empty(t, f.scan(t, f.store.TouchpointTable.name))
}

// A batch's touchpoints of a profile and day are one chunk keyed by the day, expiring with its
// last touchpoint, which keeps its own key and expiry; receipts hold nothing about the person.
func TestTouchpointAndReceiptItems(t *testing.T) {
	f := newFixture(t)
	noTime := recordingtest.Page("m2", "A", 1)
	noTime.ClientAt = time.Time{}
	for _, out := range f.Engine.RecordAll(context.Background(), []recording.Input{{Activity: recordingtest.Page("m1", "A", 0)}, {Activity: noTime}}) {
		require.NoError(t, out.Err)
	}

	receipts, chunks := 0, 0
	for _, it := range f.scan(t, f.store.TouchpointTable.name) {
		if strings.HasPrefix(str(it["profileId"]), "msg#") {
			receipts++
			require.Equal(t, "msg#m2", str(it["profileId"]))
			require.ElementsMatch(t, []string{"profileId", "at", "messageId", "expiresAt"}, slices.Collect(maps.Keys(it)), "a receipt holds nothing about the person")
			continue
		}
		chunks++
		key := str(it["at"])
		require.True(t, strings.HasPrefix(key, "2025-03-01~"), key)
		require.ElementsMatch(t, []string{"profileId", "at", "d", "n", "expiresAt"}, slices.Collect(maps.Keys(it)))
		require.Equal(t, "2", it["n"].(*types.AttributeValueMemberN).Value)
		want := recordingtest.At(1).Add(recordingtest.Retention).Unix()
		require.Equal(t, strconv.FormatInt(want, 10), it["expiresAt"].(*types.AttributeValueMemberN).Value, "the later expiry of the two")
		c, err := decodeChunk(it["d"].(*types.AttributeValueMemberB).Value)
		require.NoError(t, err)
		for _, e := range c.entries {
			tp := e.touchpoint(str(it["profileId"]))
			require.True(t, strings.HasSuffix(tp.Sort, "#"+tp.MessageID), tp.Sort)
			at := map[string]int{"m1": 0, "m2": 1}[tp.MessageID]
			require.Equal(t, recordingtest.At(at).Add(recordingtest.Retention), tp.ExpiresAt)
		}
	}
	require.Equal(t, 1, chunks, "one chunk for the batch")
	require.Equal(t, 1, receipts, "a receipt only for the event sent without a time")
}

// An erased profile leaves an item with its id, the time and the counts of its erasure; an erased
// identifier an item keyed by its sealed form, with the time: nothing in either names the person.
func TestTombstoneItems(t *testing.T) {
	f := newFixture(t)
	id := f.RecordClaims(t, recordingtest.Identify("m1", "anon-visitor-1", "user-ann-1", 0, map[string]any{"name": "Ann"}), true, recordingtest.Email(7)).ProfileID
	_, err := f.Erase(context.Background(), id)
	require.NoError(t, err)
	for _, it := range f.scan(t, f.store.ProfileTable.table.Name()) {
		require.ElementsMatch(t, []string{"profileId", "erasedAt", "erasure"}, slices.Collect(maps.Keys(it)))
		erasure := it["erasure"].(*types.AttributeValueMemberM).Value
		require.ElementsMatch(t, []string{"profiles", "identifiers", "touchpoints", "completedAt"}, slices.Collect(maps.Keys(erasure)))
	}
	items := f.scan(t, f.store.IdentityTable.name)
	require.Len(t, items, 3)
	for _, it := range items {
		require.ElementsMatch(t, []string{"identifier", "erasedAt"}, slices.Collect(maps.Keys(it)))
		key := str(it["identifier"])
		require.True(t, strings.HasPrefix(key, tombstonePrefix), key)
		for _, personal := range []string{"anon-visitor-1", "user-ann-1", recordingtest.Email(7).Value, "anonymousId", "userId", "emailSha256"} {
			require.NotContains(t, key, personal)
		}
	}
	require.Empty(t, f.scan(t, f.store.TouchpointTable.name))
}

// A store without a Touchpoints table records without history and cannot read one.
func TestStoreWithoutHistory(t *testing.T) {
	e := localawstest.Reachable(t)
	s := New(e.Dynamo(), Tables{
		Profiles:   localawstest.NewTopologyTable(t, topology.ProfileTable),
		Identities: localawstest.NewTopologyTable(t, topology.IdentityTable),
	})
	f := recordingtest.New(t, func(*testing.T) recording.Storage { return s })
	r := f.Record(t, recordingtest.Page("m1", "A", 0))[0]
	require.True(t, f.Record(t, recordingtest.Page("m1", "A", 0))[0].Duplicate, "known among the recent ids")
	require.Equal(t, 1, f.Lookup(t, identity.AnonymousID("A")).Counts.Events)
	_, err := f.Engine.History(context.Background(), r.ProfileID, history.Query{})
	require.ErrorContains(t, err, "no Touchpoints table")
}

// A tombstone written before tombstones were sealed (keyed by the identifier itself) still
// refuses the identifier, and the invariants report it: it keeps the identifier in plain text.
func TestPlainTombstonesOfEarlierVersions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	err := f.store.IdentityTable.table.Put(identityItem{Identifier: "userId:old-user", ErasedAt: recordingtest.At(0), CreatedAt: recordingtest.At(0)}).Run(ctx)
	require.NoError(t, err)
	_, err = f.Engine.Record(ctx, recordingtest.Track("m1", "A", "old-user", 1))
	require.ErrorIs(t, err, recording.ErrErased)
	require.ErrorContains(t, f.CheckInvariants(ctx), "a tombstone keeps more than its sealed form and time (a userId identifier")
}

// RecordsAndTombstones reads profiles and tombstones from both tables in one batch of reads, over
// more keys than one BatchGetItem takes, as Records and Entries would apart; Erased agrees with
// the records.
func TestRecordsAndTombstonesAcrossBothTables(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var ids []string
	for i := range 120 {
		ids = append(ids, f.Record(t, recordingtest.Page(fmt.Sprintf("m%d", i), fmt.Sprintf("A%d", i), 0))[0].ProfileID)
	}
	for _, id := range ids[:7] {
		_, err := f.Erase(ctx, id)
		require.NoError(t, err)
	}
	var sealed []string
	for i := range 40 {
		s := fmt.Sprintf("sealed-%d", i)
		sealed = append(sealed, s)
		if i%2 == 0 {
			require.NoError(t, f.store.IdentityTable.Tombstone(ctx, identity.AnonymousID(fmt.Sprintf("gone-%d", i)), s, time.Now(), ""))
		}
	}
	asked := append(slices.Clone(ids), "never-seen", ids[3]) // a key twice, and one without an item

	records, tombstoned, err := f.store.RecordsAndTombstones(ctx, asked, append(sealed, sealed[0]))
	require.NoError(t, err)
	want, err := f.store.ProfileTable.Records(ctx, asked)
	require.NoError(t, err)
	require.Equal(t, want, records)
	_, wantTombstoned, err := f.store.IdentityTable.Entries(ctx, nil, sealed)
	require.NoError(t, err)
	require.Equal(t, wantTombstoned, tombstoned)
	require.Len(t, tombstoned, 20)

	erased, err := f.store.Erased(ctx, asked)
	require.NoError(t, err)
	for _, id := range asked {
		require.Equal(t, !records[id].ErasedAt.IsZero(), erased[id], id)
	}
	require.True(t, erased[ids[0]])
	require.False(t, erased[ids[10]])
}
