package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/source"
)

func TestTombstoneIdentifiers(t *testing.T) {
	email := pii.HashEmail("Ann@Example.com")[pii.EmailKey]
	for in, want := range map[string]identity.ID{
		"email: Ann@Example.com ":       {Kind: identity.EmailSHA256, Value: email},
		"phone:+44 20 7946 0958":        {Kind: identity.PhoneSHA256, Value: pii.HashPhone("+442079460958", "")[pii.PhoneKey]},
		"user:u-1":                      identity.UserID("u-1"),
		"anonymous:a:b":                 identity.AnonymousID("a:b"),
		"userId:u-2":                    identity.UserID("u-2"),
		"emailSha256:" + email:          {Kind: identity.EmailSHA256, Value: email},
		"externalId:crm_id:42":          {Kind: identity.External, Value: "crm_id:42"},
		"anonymousId:0b9e-4c1f-9d2a-11": identity.AnonymousID("0b9e-4c1f-9d2a-11"),
	} {
		got, err := tombstoneIdentifier(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "ann@example.com", "email:", "email:not-an-address", "phone:abc", "nickname:ann", "externalId:42"} {
		_, err := tombstoneIdentifier(bad)
		require.Error(t, err, bad)
	}
	for _, args := range [][]string{{"tombstone", "lift"}, {"tombstone", "lift", "--identifier"}, {"tombstone", "lift", "--identifier", "user:u", "extra"}, {"tombstone", "bury"}} {
		require.ErrorIs(t, run(context.Background(), args, &bytes.Buffer{}), errUsage, "%v", args)
	}
}

// TestErasureLeavesNothingInAnyTable erases, through the real functions of a local stack, a
// customer who came on two devices, logged in with an email, bought, and was scored and fitted;
// then it reads every item of every table of the stack: nothing in them names the customer (no
// id, email, hash, name or trait of theirs, no profile id but as the key of a tombstone). Then an
// operator lifts the tombstone of the customer's user id, and that user id records again.
func TestErasureLeavesNothingInAnyTable(t *testing.T) {
	ctx := context.Background()
	st, keys := devtest.Stack(t, "erasure")
	serverKey, profileKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, serverKey, source.Source{ID: "src_erasure", Name: "erasure", Trusted: true}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "erasure"))
	for k, v := range st.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("DCRM_PROFILE_API_KEY", profileKey)

	send := func(t *testing.T, call, body string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, st.APIURL()+"/v1/"+call, strings.NewReader(body))
		require.NoError(t, err)
		req.SetBasicAuth(serverKey, "")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	lookup := func(args ...string) (string, int) {
		var out bytes.Buffer
		if run(ctx, append([]string{"profile", "get"}, args...), &out) != nil {
			return "", 0
		}
		var p struct {
			ProfileID string `json:"profileId"`
			Counts    struct{ Events int }
		}
		_ = json.Unmarshal(out.Bytes(), &p)
		return p.ProfileID, p.Counts.Events
	}

	send(t, "page", `{"anonymousId":"erasure-phone-7","name":"Home","properties":{"path":"/tents"}}`)
	send(t, "identify", `{"anonymousId":"erasure-desk-7","userId":"erasure-user-7","traits":{"email":"Erin.Erased@Example.com","name":"Erin Erased"}}`)
	send(t, "track", `{"anonymousId":"erasure-desk-7","userId":"erasure-user-7","event":"Order Completed",`+
		`"properties":{"order_id":"erasure-order-7","revenue":120,"products":[{"product_id":"tent-1","quantity":1,"price":120}]}}`)
	// The phone logs in once both profiles are there, so that it merges into the customer's: the
	// phone's and the desk's events travel on different shards, stitched in no given order.
	require.Eventually(t, func() bool {
		user, events := lookup("--user-id", "erasure-user-7")
		phone, _ := lookup("--anonymous-id", "erasure-phone-7")
		return user != "" && events == 2 && phone != "" && phone != user
	}, time.Minute, 100*time.Millisecond, "the two devices were never stitched apart")
	send(t, "identify", `{"anonymousId":"erasure-phone-7","userId":"erasure-user-7"}`)
	var live string
	require.Eventually(t, func() bool {
		id, events := lookup("--user-id", "erasure-user-7")
		phone, _ := lookup("--anonymous-id", "erasure-phone-7")
		live = id
		return id != "" && phone == id && events == 4
	}, time.Minute, 100*time.Millisecond, "the customer was never stitched")
	var export bytes.Buffer
	require.NoError(t, run(ctx, []string{"profile", "export", live}, &export))
	var doc struct {
		MergedProfiles []string `json:"mergedProfiles"`
	}
	require.NoError(t, json.Unmarshal(export.Bytes(), &doc))
	require.Len(t, doc.MergedProfiles, 1, "the phone merged in")
	for _, name := range []string{"fit", "score", "triggers"} {
		_, err := st.RunSchedule(ctx, name)
		require.NoError(t, err, name)
	}

	var erased bytes.Buffer
	require.NoError(t, run(ctx, []string{"profile", "erase", doc.MergedProfiles[0]}, &erased))
	var e map[string]any
	require.NoError(t, json.Unmarshal(erased.Bytes(), &e), erased.String())
	require.Equal(t, "complete", e["state"])
	require.Equal(t, live, e["profileId"])
	require.Equal(t, 2.0, e["profilesErased"])

	personal := []string{"erasure-user-7", "erasure-desk-7", "erasure-phone-7", "erasure-order-7", "Erin", "rin.erased",
		pii.HashEmail("Erin.Erased@Example.com")[pii.EmailKey], "/tents"}
	profileIDs := append([]string{live}, doc.MergedProfiles...)
	raw := localawstest.Reachable(t).DynamoDBClient()
	tables := 0
	for logical, name := range st.Resources() {
		if topology.Default().Kind(logical) != "table" {
			continue
		}
		tables++
		for _, m := range scanAll(t, raw, name) {
			if logical == topology.ModelTable {
				if data, ok := m["data"].([]byte); ok {
					m["data"] = string(gunzipPart(t, data)) // the model documents, compressed
				}
			}
			text, err := json.Marshal(m)
			require.NoError(t, err)
			for _, p := range personal {
				require.NotContains(t, string(text), p, "table %s holds something of the person", logical)
			}
			if logical == topology.ProfileTable && slices.Contains(profileIDs, fmt.Sprint(m["profileId"])) {
				// A tombstone: when, and the counts of the erasure (a merged profile's names the
				// live one, whose tombstone holds them: both pseudonymous ids of erased profiles).
				require.ElementsMatch(t, []string{"profileId", "erasedAt", "erasure"}, keysOf(m), "the erased profile %s is a tombstone", m["profileId"])
				continue
			}
			for _, id := range profileIDs {
				require.NotContains(t, string(text), id, "table %s names an erased profile", logical)
			}
		}
	}
	require.Equal(t, len(topology.Default().Tables), tables, "every table was read")

	// Stitch recognises the user id by its tombstone, sealed by the profile API under the same key.
	send(t, "identify", `{"anonymousId":"erasure-laptop-6","userId":"erasure-user-7"}`)
	failed := messagequeue.New(localawstest.Reachable(t).SQSClient(), st.Resources()[topology.FailedQueue])
	require.Eventually(t, func() bool {
		ds, err := failed.Receive(ctx, 10, 0)
		require.NoError(t, err)
		for _, d := range ds {
			var f message.FailedEvent
			require.NoError(t, json.Unmarshal(d.Body, &f))
			if f.Reason == "identifier erased" {
				require.NotContains(t, string(d.Body), "erasure-user-7", "the refusal keeps nothing of the person")
				return true
			}
		}
		return false
	}, time.Minute, 100*time.Millisecond, "the erased user id was not refused")
	id, _ := lookup("--user-id", "erasure-user-7")
	require.Empty(t, id, "the person is not re-created")

	// The customer comes back and consents: the operator lifts the tombstone of their user id.
	var lifted bytes.Buffer
	require.NoError(t, run(ctx, []string{"tombstone", "lift", "--identifier", "user:erasure-user-7"}, &lifted))
	require.Contains(t, lifted.String(), "lifted")
	require.NotContains(t, lifted.String(), "erasure-user-7", "the answer repeats no identifier")
	require.ErrorIs(t, run(ctx, []string{"tombstone", "lift", "--identifier", "user:erasure-user-7"}, &bytes.Buffer{}), errNoTombstone)
	send(t, "identify", `{"anonymousId":"erasure-laptop-7","userId":"erasure-user-7"}`)
	require.Eventually(t, func() bool {
		id, events := lookup("--user-id", "erasure-user-7")
		return id != "" && id != live && events == 1
	}, time.Minute, 100*time.Millisecond, "the lifted user id was never recorded again")
}

func scanAll(t *testing.T, c *dynamodb.Client, table string) []map[string]any {
	t.Helper()
	var out []map[string]any
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		for _, it := range page.Items {
			var m map[string]any
			require.NoError(t, attributevalue.UnmarshalMap(it, &m))
			out = append(out, m)
		}
	}
	return out
}

// gunzipPart reads a model part: the whole compressed document when it is in one part.
func gunzipPart(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err, "a model document in one part")
	return out
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// FuzzTombstoneIdentifier: whatever an operator types is an identifier of a known kind with a
// value, or an error; never a panic.
func FuzzTombstoneIdentifier(f *testing.F) {
	for _, s := range []string{"email:ann@example.com", "phone:+44 20 7946 0958", "user:u-1", "anonymous:a", "externalId:crm_id:42", "x", ":", "email:@", "userId:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := tombstoneIdentifier(s)
		if err != nil {
			return
		}
		if id.Value == "" {
			t.Fatalf("%q: an identifier without a value", s)
		}
		if _, err := identity.ParseKind(string(id.Kind)); err != nil {
			t.Fatalf("%q: kind %q: %v", s, id.Kind, err)
		}
	})
}
