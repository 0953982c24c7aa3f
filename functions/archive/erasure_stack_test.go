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
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	devstack "github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/schedule"
	"github.com/dcrm-project/dcrm/shared/source"
)

// An erasure through the profile API reaches the archive on the local stack as it ships: ann's
// and bob's events reach the archive (collect, stitch, the local Data Firehose, this function's
// bootstrap) and the daily snapshot; ann, whose phone's profile was merged into hers, is erased
// with a key that may read and erase; the archive-erasure run (the schedule's event, through the
// local Lambda Invoke API) leaves no row of her profile ids in any table or delivered object,
// and every row of bob's. The function takes requests at once here (DCRM_ERASURE_SETTLE=0s),
// where it waits half an hour in AWS.
func TestAnErasureReachesTheArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the local stack")
	}
	ctx := context.Background()
	st, keys := devtest.StackWith(t, "erasure", devtest.Functions(t), func(c *devstack.Config) {
		top := topology.Default()
		for i, f := range top.Functions {
			if f.Name == "archive" {
				top.Functions[i].Settings = map[string]string{settingSettle: "0s"}
			}
		}
		c.Topology = &top
	})
	writeKey, profileKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, writeKey, source.Source{ID: "src_shop", Name: "shop", Trusted: true}))
	_, err := keys.PutAPIKey(ctx, profileKey, keystore.APIKey{Name: "dpo", Scopes: []keystore.Scope{keystore.Read, keystore.Erase}, Created: time.Now()})
	require.NoError(t, err)

	day := time.Now().UTC().Add(-30 * time.Hour).Truncate(time.Hour)
	event := func(i int, typ, anon, user, extra string) string {
		return fmt.Sprintf(`{"type":%q,"messageId":"m-%02d","anonymousId":%q,"userId":%q,"timestamp":%q%s}`,
			typ, i, anon, user, day.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), extra)
	}
	lines := []string{
		event(1, "page", "ann-phone", "", `,"name":"Home"`),
		event(2, "track", "ann-phone", "", `,"event":"Product Viewed","properties":{"product_id":"p1"}`),
		event(3, "page", "bob-pc", "", `,"name":"Home"`),
		event(4, "page", "ann-laptop", "", `,"name":"Home"`),
		event(5, "identify", "ann-laptop", "u-ann", `,"traits":{"tier":"gold"}`),
		event(6, "identify", "bob-pc", "u-bob", ``),
		event(7, "track", "ann-phone", "u-ann", `,"event":"Order Completed","properties":{"order_id":"o1","revenue":30}`), // merged
		event(8, "track", "bob-pc", "u-bob", `,"event":"Order Completed","properties":{"order_id":"o2","revenue":12}`),
	}
	send(t, st.APIURL(), writeKey, `{"batch":[`+strings.Join(lines, ",")+`]}`)

	e := localawstest.Reachable(t)
	e.S3 = st.Env()["DCRM_S3_ENDPOINT"]
	c, bucket := e.S3Client(), st.Resources()[topology.ArchiveBucket]
	require.Eventually(t, func() bool { return len(readEvents(t, c, bucket)) >= len(lines) }, 60*time.Second, 250*time.Millisecond,
		"both people's events archived")
	annP, bobP := getProfile(t, st.APIURL(), profileKey, "u-ann"), getProfile(t, st.APIURL(), profileKey, "u-bob")
	annIDs := []string{annP["profileId"].(string)}
	merged, _ := annP["mergedFrom"].([]any)
	for _, id := range merged {
		annIDs = append(annIDs, id.(string))
	}
	require.Len(t, annIDs, 2, "the phone's profile merged into the laptop's")
	bobID := bobP["profileId"].(string)

	lambdaClient := lambda.NewFromConfig(e.Config(), func(o *lambda.Options) { o.BaseEndpoint = aws.String(st.LambdaURL()) })
	invoke := func(function string, payload []byte) []byte {
		t.Helper()
		out, err := lambdaClient.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(st.Env()["DCRM_FUNCTION_"+strings.ToUpper(function)]),
			Payload: payload})
		require.NoError(t, err)
		require.Nil(t, out.FunctionError, "%s: %s", function, out.Payload)
		return out.Payload
	}
	invoke("snapshot", schedule.Payload(topology.SnapshotSchedule, time.Now()))
	require.NotEmpty(t, readRows[archive.Merge](t, c, bucket, archive.MergesTable), "the snapshot holds ann's merge")

	isAnn := func(id string) bool { return slices.Contains(annIDs, id) }
	var bobsBefore []archive.Event
	for _, r := range readEvents(t, c, bucket) {
		if !isAnn(r.ProfileID) {
			bobsBefore = append(bobsBefore, r)
		}
	}
	require.Len(t, bobsBefore, 3)

	erase(t, st.APIURL(), profileKey, annIDs[0])
	pending := readObjects(t, c, bucket, archive.ErasurePendingPrefix)
	require.Contains(t, pending, archive.ErasurePendingPrefix+annIDs[0]+".json", "the erasure left its request")

	var sum passSummary
	require.NoError(t, json.Unmarshal(invoke("archive", schedule.Payload(topology.ArchiveErasureSchedule, time.Now())), &sum))
	assert.Equal(t, []string{annIDs[0]}, sum.Erasures)
	assert.True(t, sum.Finished)

	byMessage := func(a, b archive.Event) int { return strings.Compare(a.MessageID, b.MessageID) }
	events := readEvents(t, c, bucket)
	slices.SortFunc(events, byMessage)
	slices.SortFunc(bobsBefore, byMessage)
	assert.Equal(t, bobsBefore, events, "bob's events, each once, and none of ann's")
	for _, p := range readRows[archive.Profile](t, c, bucket, archive.ProfilesTable) {
		assert.False(t, isAnn(p.ProfileID), "profiles")
	}
	for _, i := range readRows[archive.Identifier](t, c, bucket, archive.IdentifiersTable) {
		assert.False(t, isAnn(i.ProfileID), "identifiers")
	}
	assert.Contains(t, readRows[archive.Identifier](t, c, bucket, archive.IdentifiersTable),
		archive.Identifier{ProfileID: bobID, Kind: "userId", Value: "u-bob"})
	for _, m := range readRows[archive.Merge](t, c, bucket, archive.MergesTable) {
		assert.False(t, isAnn(m.MergedID) || isAnn(m.ProfileID), "merges")
	}
	for key, body := range readObjects(t, c, bucket, topology.ArchiveIncomingPrefix) {
		r, err := decompressed(bytes.NewReader(body))
		require.NoError(t, err)
		text, err := io.ReadAll(r)
		require.NoError(t, err)
		for _, id := range annIDs {
			assert.NotContains(t, string(text), id, key)
		}
	}
	done := readObjects(t, c, bucket, archive.ErasureDonePrefix)
	require.Len(t, done, 1)
	for _, raw := range done {
		proof, err := archive.ReadErasure(raw)
		require.NoError(t, err)
		assert.Equal(t, annIDs[1:], proof.MergedFrom)
		assert.Equal(t, int64(5), proof.Done.Removed[archive.EventsTable].Rows, "ann's five events")
		assert.Equal(t, int64(1), proof.Done.Removed[archive.MergesTable].Rows)
	}
	assert.Empty(t, readObjects(t, c, bucket, archive.ErasurePendingPrefix))
}

func send(t *testing.T, api, writeKey, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, api+"/v1/batch", strings.NewReader(body))
	require.NoError(t, err)
	req.SetBasicAuth(writeKey, "")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// erase erases a person through the profile API, repeating the request until it is complete.
func erase(t *testing.T, api, key, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		req, err := http.NewRequest(http.MethodDelete, api+"/v1/profiles/"+id, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, resp.StatusCode)
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "erasure complete")
}
