package main

import (
	"bytes"
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
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/source"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// Events sent to the local stack as it ships (collect, the stream, stitch, the local Data
// Firehose, the archive bucket's notification, this function's real bootstrap) land in the
// archive's Parquet files by day: every event once by message id, though the batch is sent twice;
// enriched; on the profile it was stitched to, which a later login merged into the person's.
func TestEventsReachTheArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the local stack")
	}
	ctx := context.Background()
	st, keys := devtest.StackWith(t, "archive", devtest.Functions(t), nil)
	writeKey, profileKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, writeKey, source.Source{ID: "src_shop", Name: "shop", Trusted: true}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "test"))

	day := time.Now().UTC().Add(-30 * time.Hour).Truncate(time.Hour) // yesterday or the day before
	event := func(i int, typ, anon, user string, extra string) string {
		return fmt.Sprintf(`{"type":%q,"messageId":"m-%02d","anonymousId":%q,"userId":%q,"timestamp":%q%s}`,
			typ, i, anon, user, day.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), extra)
	}
	campaign := `,"name":"Home","context":{"page":{"url":"https://shop.example/?utm_source=news&utm_medium=email&utm_campaign=dec"}}`
	lines := []string{
		event(1, "page", "phone", "", campaign),
		event(2, "track", "phone", "", `,"event":"Product Viewed","properties":{"product_id":"p1","price":12}`),
		event(3, "page", "laptop", "", `,"name":"Home"`),
		event(4, "identify", "laptop", "u-9", `,"traits":{"tier":"gold"}`),
		event(5, "track", "phone", "u-9", `,"event":"Order Completed","properties":{"order_id":"o1","revenue":30}`), // the phone logs in: merged
	}
	batch := `{"batch":[` + strings.Join(lines, ",") + `]}`
	for range 2 { // the second time, every event is a duplicate: archived again, counted once
		send(t, st.APIURL(), writeKey, batch)
	}

	e := localawstest.Reachable(t)
	e.S3 = st.Env()["DCRM_S3_ENDPOINT"]
	c, bucket := e.S3Client(), st.Resources()[topology.ArchiveBucket]
	var rows []archive.Event
	require.Eventually(t, func() bool {
		rows = readEvents(t, c, bucket)
		return len(rows) >= 2*len(lines)
	}, 90*time.Second, 500*time.Millisecond, "both sendings archived")
	assert.Len(t, rows, 2*len(lines), "both sendings, no more")

	byID := map[string][]archive.Event{}
	for _, r := range rows {
		byID[r.MessageID] = append(byID[r.MessageID], r)
	}
	require.Len(t, byID, len(lines))
	person := getProfile(t, st.APIURL(), profileKey, "u-9")
	live, _ := person["profileId"].(string)
	require.NotEmpty(t, live)
	merged, _ := person["mergedFrom"].([]any)
	stitchedTo := map[string]bool{}
	for id, rs := range byID {
		for _, r := range rs { // a duplicate is on the profile as it is when seen again: the person's
			assert.True(t, r.ProfileID == live || slices.Contains(merged, any(r.ProfileID)),
				"%s on %s: the person's profile or one merged into it (%s, %v)", id, r.ProfileID, live, merged)
			stitchedTo[r.ProfileID] = true
			assert.Equal(t, "src_shop", r.SourceID)
			assert.True(t, r.Trusted)
		}
	}
	assert.Len(t, stitchedTo, 2, "the phone's first events were stitched to its own profile before its login")
	first := byID["m-01"][0]
	assert.Equal(t, "email", first.Channel, "enriched: the campaign's channel")
	assert.Equal(t, "news", first.CampaignSource)
	assert.Equal(t, "Home", first.Name)
	assert.Equal(t, day.Add(time.Minute), first.Timestamp)
	assert.JSONEq(t, `{"order_id":"o1","revenue":30}`, byID["m-05"][0].Properties)
	assert.Equal(t, "u-9", byID["m-05"][0].UserID)
}

// readEvents reads every row of the archive's events files.
func readEvents(t *testing.T, c *s3.Client, bucket string) []archive.Event {
	t.Helper()
	return readRows[archive.Event](t, c, bucket, archive.EventsTable)
}

// readRows reads every row of a table's files.
func readRows[T archive.Row](t *testing.T, c *s3.Client, bucket, table string) []T {
	t.Helper()
	tb, _ := archive.TableNamed(table)
	var rows []T
	for key, body := range readObjects(t, c, bucket, tb.Prefix) {
		got, err := parquet.Read[T](bytes.NewReader(body), int64(len(body)))
		require.NoError(t, err, key)
		rows = append(rows, got...)
	}
	return rows
}

// readObjects reads every object under prefix, by key.
func readObjects(t *testing.T, c *s3.Client, bucket, prefix string) map[string][]byte {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	require.NoError(t, err)
	objects := map[string][]byte{}
	for _, o := range out.Contents {
		obj, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		require.NoError(t, err)
		body, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		require.NoError(t, err)
		objects[aws.ToString(o.Key)] = body
	}
	return objects
}

func getProfile(t *testing.T, api, key, userID string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, api+"/v1/profiles?userId="+userID, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	var p map[string]any
	require.Eventually(t, func() bool {
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&p) == nil
	}, 30*time.Second, 200*time.Millisecond)
	return p
}
