package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/source"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

// TestEmailOpenIsNoReturn runs the real collect, stitch, profiles and triggers bootstraps on a
// local host: a prospect last on the site 41 days ago opens an email (the pixel) and sees a banner
// (the pixel's page): the profile shows two impressions and still one visit, and the triggers
// schedule sends nothing. The same prospect then comes to the site: "returning prospect" is sent.
func TestEmailOpenIsNoReturn(t *testing.T) {
	ctx := context.Background()
	st, keys := devtest.Stack(t, "imp")
	run := localawstest.UniqueName("imp")
	browserKey, serverKey, profileKey := keystore.NewKey("wk_"), keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, browserKey, source.Source{ID: "src_mail_" + run, Name: "newsletter and site"}))
	require.NoError(t, keys.PutSource(ctx, serverKey, source.Source{ID: "src_crm_" + run, Name: "back end", Trusted: true}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "impressions test"))
	triggers := messagequeue.New(localawstest.Reachable(t).SQSClient(), st.Resources()[topology.TriggerQueue])
	user := "prospect-" + run
	consent := `"context":{"consent":{"marketing":true}}`

	post := func(key, call, body string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, st.APIURL()+"/v1/"+call, strings.NewReader(body))
		require.NoError(t, err)
		req.SetBasicAuth(key, "")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	}
	pixel := func(typ, event string) {
		t.Helper()
		data := base64.RawURLEncoding.EncodeToString([]byte(event))
		resp, err := http.Get(st.APIURL() + "/v1/pixel/" + typ + "?data=" + data)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, resp.Header.Get("X-Dcrm-Error"))
	}
	type view struct {
		ProfileID   string    `json:"profileId"`
		Visits      int       `json:"visits"`
		LastSeen    time.Time `json:"lastSeen"`
		Impressions struct {
			Count  int `json:"count"`
			Groups []struct {
				Kind, Channel, Campaign string
				Count                   int
			} `json:"groups"`
		} `json:"impressions"`
	}
	// profileOnce waits until the profile satisfies ok, and returns it.
	profileOnce := func(ok func(view) bool) view {
		t.Helper()
		var v view
		var last string
		require.Eventually(t, func() bool {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, st.APIURL()+"/v1/profiles?userId="+url.QueryEscape(user), nil)
			req.Header.Set("Authorization", "Bearer "+profileKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			return resp.StatusCode == http.StatusOK && json.Unmarshal(b, &v) == nil && ok(v)
		}, time.Minute, 100*time.Millisecond, "last answer: %s", last)
		return v
	}
	// sent runs the triggers schedule now and returns the kinds sent for the prospect since the
	// last call (the host's own ticker may have run it too: the queue is what counts).
	sent := func() []string {
		t.Helper()
		_, err := st.RunSchedule(ctx, topology.TriggersSchedule)
		require.NoError(t, err)
		var kinds []string
		for {
			ds, err := triggers.Receive(ctx, 10, time.Second)
			require.NoError(t, err)
			if len(ds) == 0 {
				return kinds
			}
			for _, d := range ds {
				var m struct{ Kind, UserID string }
				require.NoError(t, json.Unmarshal(d.Body, &m))
				if m.UserID == user {
					kinds = append(kinds, m.Kind)
				}
			}
		}
	}

	// The back end imports the prospect's last visit, 41 days ago.
	visited := time.Now().UTC().Add(-41 * calendar.Day).Truncate(time.Second)
	post(serverKey, "page", fmt.Sprintf(`{"userId":%q,"name":"Home","timestamp":%q,"properties":{"path":"/"},%s}`,
		user, visited.Format(time.RFC3339), consent))
	profileOnce(func(v view) bool { return v.Visits == 1 })

	// Today: the newsletter is opened and a banner is shown, both through the pixel.
	pixel("track", fmt.Sprintf(`{"writeKey":%q,"userId":%q,"event":"Email Opened","properties":{"campaign_name":"winback"},%s}`, browserKey, user, consent))
	pixel("page", fmt.Sprintf(`{"writeKey":%q,"userId":%q,"name":"Banner"}`, browserKey, user))
	v := profileOnce(func(v view) bool { return v.Impressions.Count == 2 })
	require.Equal(t, 1, v.Visits, "impressions are not visits")
	require.True(t, v.LastSeen.Equal(visited), "last seen %v, want the visit's %v", v.LastSeen, visited)
	require.Len(t, v.Impressions.Groups, 2)
	require.Equal(t, "open", v.Impressions.Groups[1].Kind)
	require.Equal(t, "email", v.Impressions.Groups[1].Channel)
	require.Equal(t, "winback", v.Impressions.Groups[1].Campaign)
	require.Empty(t, sent(), "an email open is not a return")

	// The prospect comes back to the site.
	post(browserKey, "page", fmt.Sprintf(`{"userId":%q,"anonymousId":"a-%s","name":"Home","properties":{"path":"/"},%s}`, user, run, consent))
	profileOnce(func(v view) bool { return v.Visits == 2 })
	require.Equal(t, []string{trigger.ReturningProspect}, sent(), "a page view after 41 days away is a return")

	// The profile API shows what fired, for whom and why, in the day's alerts (written by the
	// triggers binary as it sent the message).
	var alerts struct {
		Day    string `json:"day"`
		Alerts []struct {
			Kind, ProfileID, Reason, MessageID, Channel string
		} `json:"alerts"`
		Counts map[string]int `json:"counts"`
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, st.APIURL()+"/v1/alerts?kind="+trigger.ReturningProspect, nil)
	req.Header.Set("Authorization", "Bearer "+profileKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.NoError(t, json.Unmarshal(b, &alerts))
	require.Equal(t, time.Now().UTC().Format(time.DateOnly), alerts.Day)
	require.Len(t, alerts.Alerts, 1, string(b))
	a := alerts.Alerts[0]
	require.Equal(t, trigger.ReturningProspect, a.Kind)
	require.Equal(t, profileOnce(func(view) bool { return true }).ProfileID, a.ProfileID)
	require.Contains(t, a.Reason, "back after 41 days away, never ordered")
	require.Equal(t, topology.TriggerQueue, a.Channel)
	require.NotEmpty(t, a.MessageID)
	require.Equal(t, 1, alerts.Counts[trigger.ReturningProspect])
	require.NotContains(t, string(b), user, "nothing personal but the profile id")
}
