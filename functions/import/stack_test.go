package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/importing"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// A shop's orders file dropped in the import bucket of the local stack as it ships (S3's
// notification, the real import, collect's stream, stitch): the report counts its rows, the
// rejected row is on the failed-events queue with its line, the profiles show the store order, the
// web order and the return, and the same file dropped again changes nothing.
func TestAnOrdersFileOnTheLocalStack(t *testing.T) {
	ctx := context.Background()
	st, keys := devtest.Stack(t, "import")
	profileKey := keystore.NewKey("pk_")
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "test"))
	e := localawstest.Reachable(t)
	e.S3 = st.Env()["DCRM_S3_ENDPOINT"]
	c := e.S3Client()
	bucket := st.Resources()[topology.ImportBucket]

	day := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Minute)
	at := func(m int) string { return day.Add(time.Duration(m) * time.Minute).Format(time.RFC3339) }
	file := strings.Join([]string{
		"Invoice,Customer,When,SKU,Qty,Price,Where,Shop",
		"s1,c1," + at(0) + ",p1,2,20,store,Leeds",
		"s1,c1," + at(0) + ",p2,1,5,store,Leeds",
		"w1,c1," + at(60) + ",p3,1,30,web,",
		"r1,c1," + at(120) + ",p1,-1,20,store,Leeds",
		"x1,," + at(130) + ",p9,1,10,web,", // names no one: rejected
		"w2,c2," + at(140) + ",p3,3,10,,",
	}, "\n") + "\n"
	put := func(key string, meta map[string]string) {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(file), Metadata: meta})
		require.NoError(t, err)
	}
	mapping := map[string]string{"dcrm-map": "order_id=Invoice,userId=Customer,timestamp=When,product_id=SKU,quantity=Qty,price=Price,channel=Where,store=Shop"}
	put("orders/shop 1.csv", mapping)
	rep := waitForReport(t, c, bucket, "orders/shop 1.csv")
	require.Equal(t, importing.StateDone, rep.State, rep.Error)
	require.Equal(t, int64(6), rep.Rows)
	require.Equal(t, int64(5), rep.Imported)
	require.Equal(t, int64(1), rep.Rejected)
	require.Equal(t, int64(4), rep.Events, "three orders and a return")
	require.Equal(t, int64(1), rep.RejectionsSent)

	// The rejected row, for the person who made the file.
	failed := messagequeue.New(e.SQSClient(), st.Resources()[topology.FailedQueue])
	var reasons []string
	require.Eventually(t, func() bool {
		ds, err := failed.Receive(ctx, 10, time.Second)
		require.NoError(t, err)
		for _, d := range ds {
			var f message.FailedEvent
			require.NoError(t, json.Unmarshal([]byte(d.Body), &f))
			if f.Stage == stage {
				reasons = append(reasons, f.Reason)
			}
		}
		return len(reasons) > 0
	}, 30*time.Second, 200*time.Millisecond)
	require.Contains(t, reasons[0], "file orders/shop 1.csv, line 6")

	want := func() {
		t.Helper()
		var p map[string]any
		require.Eventually(t, func() bool {
			p = getProfile(t, st.APIURL(), profileKey, "c1")
			return p != nil && p["orders"] == 2.0 && p["returns"] != nil
		}, 60*time.Second, 250*time.Millisecond, "c1's orders and return: %v", p)
		require.Equal(t, 45.0+30-20, p["revenue"])
		require.Equal(t, map[string]any{"count": 1.0, "value": 20.0}, p["returns"])
		require.Equal(t, "store", p["firstOrder"].(map[string]any)["channel"])
		require.Equal(t, "web", p["lastOrder"].(map[string]any)["channel"])
		require.Equal(t, "store", p["acquisition"].(map[string]any)["channel"])
		require.Eventually(t, func() bool {
			q := getProfile(t, st.APIURL(), profileKey, "c2")
			return q != nil && q["revenue"] == 30.0
		}, 60*time.Second, 250*time.Millisecond)
	}
	want()

	// The same file again, under another name: the same events, recorded once.
	put("orders/shop 1 again.csv", mapping)
	require.Equal(t, importing.StateDone, waitForReport(t, c, bucket, "orders/shop 1 again.csv").State)
	waitForStitch(t, st.APIURL())
	want()

	// Spend, not about a person: its records go to the archive bucket, not to the stream.
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("spend/ads.csv"),
		Body: strings.NewReader("date,channel,cost,currency\n2026-11-01,paid search,120.5,EUR\n2026-11-02,paid search,99,EUR\n")})
	require.NoError(t, err)
	spend := waitForReport(t, c, bucket, "spend/ads.csv")
	require.Equal(t, importing.StateDone, spend.State, spend.Error)
	require.Equal(t, int64(2), spend.Spend)
	require.Zero(t, spend.Events)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(st.Resources()[topology.ArchiveBucket]), Key: aws.String(SpendKey("spend/ads.csv"))})
	require.NoError(t, err)
	lines, err := io.ReadAll(out.Body)
	out.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(string(lines), "\n"))
	require.Contains(t, string(lines), `"cost":120.5`)

	// Consents, as a CRM exports them: the latest answer per purpose reaches the profile; an older
	// answer later in the file changes nothing.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("consents/crm.csv"),
		Body: strings.NewReader("userId,purpose,granted,timestamp,source\n" +
			"c1,marketing,yes," + at(200) + ",crm\n" +
			"c1,marketing,opt-out," + at(300) + ",call centre\n" +
			"c1,marketing,yes," + at(250) + ",crm\n" +
			"c2,analytics,true," + at(200) + ",crm\n")})
	require.NoError(t, err)
	consents := waitForReport(t, c, bucket, "consents/crm.csv")
	require.Equal(t, importing.StateDone, consents.State, consents.Error)
	require.Equal(t, int64(4), consents.Events)
	var seen [2]any
	require.Eventually(t, func() bool {
		p, q := getProfile(t, st.APIURL(), profileKey, "c1"), getProfile(t, st.APIURL(), profileKey, "c2")
		if p == nil || q == nil {
			return false
		}
		seen = [2]any{p["consent"], q["consent"]}
		m, _ := p["consent"].(map[string]any)["marketing"].(map[string]any)
		a, _ := q["consent"].(map[string]any)["analytics"].(map[string]any)
		return m != nil && m["granted"] == false && m["at"] == at(300) && a != nil && a["granted"] == true
	}, 60*time.Second, 250*time.Millisecond, "c1 withdrew marketing by the latest answer; c2 granted analytics: %v", &seen)

	// A mapping that names no field: the import fails, saying why.
	put("orders/bad.csv", map[string]string{"dcrm-map": "nonsense=Invoice"})
	bad := waitForReport(t, c, bucket, "orders/bad.csv")
	require.Equal(t, importing.StateFailed, bad.State)
	require.Contains(t, bad.Error, "nonsense")
}

// waitForStitch waits until the stream mapping has read every record put and stitch is idle,
// three looks in a row, by the local host's usage counts.
func waitForStitch(t *testing.T, api string) {
	t.Helper()
	quiet := 0
	require.Eventually(t, func() bool {
		resp, err := http.Get(api + usage.Path)
		require.NoError(t, err)
		defer resp.Body.Close()
		var u usage.Snapshot
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&u))
		if u.Kinesis.RecordsRead >= u.Kinesis.Records && u.Lambda["stitch"].InFlight == 0 {
			quiet++
		} else {
			quiet = 0
		}
		return quiet >= 3
	}, 60*time.Second, 500*time.Millisecond)
}

func waitForReport(t *testing.T, c *s3.Client, bucket, key string) importing.Report {
	t.Helper()
	var rep importing.Report
	require.Eventually(t, func() bool {
		out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(importing.ReportKey(key))})
		if err != nil {
			var missing *types.NoSuchKey
			require.True(t, errors.As(err, &missing), "%v", err)
			return false
		}
		defer out.Body.Close()
		body, err := io.ReadAll(out.Body)
		require.NoError(t, err)
		require.NoError(t, schemas.ValidateFile(schemas.ImportReport, body), "%s", body)
		require.NoError(t, json.Unmarshal(body, &rep))
		return rep.State != importing.StateRunning
	}, 60*time.Second, 200*time.Millisecond, "the report of %s", key)
	return rep
}

func getProfile(t *testing.T, api, key, userID string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, api+"/v1/profiles?userId="+userID, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var p map[string]any
	require.NoError(t, json.NewDecoder(bytes.NewReader(b)).Decode(&p))
	return p
}
