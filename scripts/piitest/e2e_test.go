package piitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/source"
)

// raw are the personal values the test sends; none may be found anywhere dcrm writes, except on
// the stream for the source that keeps raw data.
var raw = []string{"ann.lee@", "Ann.Lee@", "ann.lee%40", "ann@work", "friend@", "7700", "7946", "Lovelace", "Ada Street", "1815-12-10"}

// TestPersonalDataIsRedactedEverywhere sends, through the real endpoint, a batch whose events carry
// personal data everywhere the first redaction missed it (traits.Email, traits.contact.email,
// context.Traits.email, properties.email and .phone, an address in the page URL), plus a refused
// event, and an event of a source that keeps raw data that stitch can never record. It then reads
// what landed: the stream, the profiles, identities and touchpoints tables, the failed-events and
// profile-updates queues, and the functions' logs.
func TestPersonalDataIsRedactedEverywhere(t *testing.T) {
	ctx := context.Background()
	endpoints := localawstest.Reachable(t)
	logs := t.TempDir()
	st, err := stack.Start(ctx, stack.Config{
		Prefix: localawstest.UniqueName("pii"), FunctionsDir: devtest.BuildFunctions(t), Endpoints: endpoints,
		LogDir: logs, PollInterval: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		st.Close()
		stack.DeleteResources(endpoints, topology.Default(), st.Resources())
	})
	res := st.Resources()
	keys := keystore.New(endpoints.Dynamo(), res[topology.KeyTable])
	shopKey, crmKey := keystore.NewKey("wk_"), keystore.NewKey("wk_")
	require.NoError(t, keys.PutSource(ctx, shopKey, source.Source{ID: "src_shop", Name: "shop", PhoneCountryCode: "44"}))
	require.NoError(t, keys.PutSource(ctx, crmKey, source.Source{ID: "src_crm", Name: "crm", Trusted: true, KeepRawPII: true}))

	const user = "user-pii"
	identify := `{"type":"identify","messageId":"m-identify","anonymousId":"anon-pii","userId":"` + user + `",
		"traits":{"Email":" Ann.Lee@Example.COM ","contact":{"email":"ann@work.example","phone":"+44 7700 900123"},"name":"Ada Lovelace","birthday":"1815-12-10","plan":"gold"},
		"context":{"Traits":{"email":"ann.lee@example.com"},"page":{"url":"https://shop.example/welcome?email=ann.lee%40example.com"}}}`
	track := `{"type":"track","messageId":"m-track","anonymousId":"anon-pii","event":"Friend Invited",
		"properties":{"email":"friend@example.org","phone":"020 7946 0000","address":{"street":"1 Ada Street","city":"Leeds"},"plan":"gold"}}`
	refused := `{"type":"track","messageId":"m-refused","anonymousId":"anon-pii","traits":{"EMAIL":"ann.lee@example.com","mobile":"07700 900123"}}`
	post(t, st.APIURL(), shopKey, `{"batch":[`+identify+`,`+track+`,`+refused+`]}`)
	// An all-zero anonymous id is junk: collect takes it, stitch can never record it.
	post(t, st.APIURL(), crmKey, `{"batch":[{"type":"identify","messageId":"m-junk","anonymousId":"00000000-0000-0000-0000-000000000000",
		"traits":{"email":"ann.lee@example.com","name":"Ada Lovelace","address":{"street":"1 Ada Street"}}}]}`)

	// The queues: collect's refused event and stitch's unrecordable one, and the profile update.
	failed := receive(t, endpoints.SQSClient(), res[topology.FailedQueue], 2)
	updates := receive(t, endpoints.SQSClient(), res[topology.ProfileUpdateQueue], 1)
	stages := map[string]bool{}
	for _, m := range failed {
		var f struct {
			Stage string `json:"stage"`
			Data  []byte `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(m), &f))
		stages[f.Stage] = true
		absent(t, "a failed event from "+f.Stage, m+string(f.Data))
		require.Contains(t, string(f.Data), pii.HashedPrefix+pii.Hash("ann.lee@example.com"), "the address is hashed, comparable")
	}
	require.Equal(t, map[string]bool{"collect": true, "stitch": true}, stages)
	for _, m := range updates {
		absent(t, "a profile update", m)
	}

	// The tables: every item of the profiles, identities and touchpoints.
	require.Eventually(t, func() bool {
		out, err := endpoints.DynamoDBClient().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(res[topology.TouchpointTable]), ConsistentRead: aws.Bool(true)})
		require.NoError(t, err)
		n := 0
		for _, it := range out.Items {
			if count, ok := it["n"].(*types.AttributeValueMemberN); ok { // the touchpoints a chunk holds
				c, _ := strconv.Atoi(count.Value)
				n += c
			}
		}
		return n >= 2
	}, 30*time.Second, 100*time.Millisecond, "the two events never reached the history")
	for _, table := range []string{topology.ProfileTable, topology.IdentityTable, topology.TouchpointTable} {
		items := scan(t, endpoints.DynamoDBClient(), res[table])
		require.NotEmpty(t, items, table)
		absent(t, "the "+table+" table", items...)
	}
	history := strings.Join(scan(t, endpoints.DynamoDBClient(), res[topology.TouchpointTable]), "\n")
	require.Contains(t, history, "Friend Invited", "the history is read as it holds it, not compressed")
	require.Contains(t, history, "Leeds", "what is not personal is kept")
	profiles := strings.Join(scan(t, endpoints.DynamoDBClient(), res[topology.ProfileTable]), "\n")
	require.Contains(t, profiles, `"plan"`, "what is not personal is kept")
	identities := strings.Join(scan(t, endpoints.DynamoDBClient(), res[topology.IdentityTable]), "\n")
	require.Contains(t, identities, pii.Hash("ann.lee@example.com"), "the person's email, in any case, is an identifier")

	// The stream: the shop's events carry hashes; the source that keeps raw data has its own.
	var shop, crm int
	for _, e := range stream(t, endpoints.KinesisClient(), res[topology.EventStream]) {
		var ev beacon.Event
		require.NoError(t, json.Unmarshal(e, &ev))
		switch ev.SourceID {
		case "src_shop":
			shop++
			absent(t, "the stream", string(e))
			require.False(t, ev.RawPII)
		case "src_crm":
			crm++
			require.True(t, ev.RawPII, "a source that keeps raw data says so on the stream")
			require.Contains(t, string(e), "Ada Lovelace")
		}
	}
	require.Equal(t, 2, shop, "the shop's two accepted events")
	require.Equal(t, 1, crm)

	// The functions' logs.
	files, err := filepath.Glob(filepath.Join(logs, "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		absent(t, "the log "+filepath.Base(f), string(b))
	}
}

// absent fails when a raw personal value is in any of texts.
func absent(t *testing.T, where string, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for _, r := range raw {
			require.NotContains(t, text, r, "%s keeps raw personal data: %s", where, text)
		}
	}
}

func post(t *testing.T, api, key, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, api+"/v1/batch", strings.NewReader(body))
	require.NoError(t, err)
	req.SetBasicAuth(key, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
}

// receive reads at least n message bodies from a queue, waiting for them.
func receive(t *testing.T, client *sqs.Client, url string, n int) []string {
	t.Helper()
	var got []string
	require.Eventually(t, func() bool {
		out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		require.NoError(t, err)
		for _, m := range out.Messages {
			got = append(got, aws.ToString(m.Body))
		}
		return len(got) >= n
	}, 60*time.Second, 100*time.Millisecond, "fewer than %d messages on %s", n, url)
	return got
}

// scan returns every item of a table, as JSON.
func scan(t *testing.T, client *dynamodb.Client, table string) []string {
	t.Helper()
	out, err := client.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	items := make([]string, len(out.Items))
	for i, it := range out.Items {
		if d, ok := it["d"].(*types.AttributeValueMemberB); ok { // a chunk of history: what it holds
			text, err := profilestore.ChunkJSON(d.Value)
			require.NoError(t, err)
			it["d"] = &types.AttributeValueMemberS{Value: text}
		}
		b, err := json.Marshal(it)
		require.NoError(t, err)
		items[i] = string(b)
	}
	return items
}

// stream returns the events of every record on the stream, from its start.
func stream(t *testing.T, client *kinesis.Client, name string) []json.RawMessage {
	t.Helper()
	ctx := context.Background()
	shards, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	require.NoError(t, err)
	var evs []json.RawMessage
	for _, sh := range shards.Shards {
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: sh.ShardId,
			ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		require.NoError(t, err)
		for iter := it.ShardIterator; iter != nil; {
			// The stream mapping reads the same shard: a read over the shard's limit is throttled,
			// and read again, as any consumer does.
			var out *kinesis.GetRecordsOutput
			require.Eventually(t, func() bool {
				out, err = client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
				var throttled *ktypes.ProvisionedThroughputExceededException
				if errors.As(err, &throttled) {
					return false
				}
				require.NoError(t, err)
				return true
			}, 30*time.Second, 200*time.Millisecond, "read shard %s", aws.ToString(sh.ShardId))
			for _, r := range out.Records {
				split, err := beacon.SplitRecord(r.Data)
				require.NoError(t, err, fmt.Sprintf("record %s", bytes.TrimSpace(r.Data)))
				evs = append(evs, split...)
			}
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return evs
}
