package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/activity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/message"
)

// activityRequest is GET /v1/alerts or GET /v1/audit with the query.
func activityRequest(path string, query map[string]string, auth string) events.APIGatewayV2HTTPRequest {
	req := get(path, query, auth)
	req.RouteKey = "GET " + path
	return req
}

// The alerts and triggers of a day, newest first, a page at a time; the first page counts the
// day's by kind; a kind alone; another day; what the query may not be.
func TestAlertsOfADay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	auth := f.addKey(t, keystore.APIKey{Name: "viewer", Scopes: []keystore.Scope{keystore.Read}})
	basket := activity.Entry{At: now.Add(-time.Hour), Kind: message.KindAbandonedBasket, MessageID: "m-basket", ProfileID: f.live,
		Reason: "1 item worth 199.00 left in the basket; last seen 1 hour ago", Facts: map[string]float64{"items": 1, "value": 199}, Channel: "Triggers"}
	lapse := activity.Entry{At: now.Add(-2 * time.Hour), Kind: activity.KindLapse, MessageID: "m-lapse", ProfileID: f.anon,
		Reason: "lapse risk 0.91: P(alive) 0.09; value 312.40; alerts at a risk of 0.80 or more", Facts: map[string]float64{"risk": 0.91, "threshold": 0.8},
		Channel: "Alerts"}
	yesterday := activity.Entry{At: now.Add(-24 * time.Hour), Kind: message.KindReturningProspect, MessageID: "m-back", ProfileID: f.anon,
		Reason: "back after 41 days away, never ordered", Channel: "Triggers"}
	for _, e := range []activity.Entry{basket, lapse, yesterday} {
		require.NoError(t, f.activity.Write(ctx, e))
	}

	status, body := call(t, f.h, activityRequest("/v1/alerts", nil, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "2025-03-01", body["day"], "today, UTC, by default")
	alerts := body["alerts"].([]any)
	require.Len(t, alerts, 2)
	require.Equal(t, map[string]any{"at": "2025-03-01T11:00:00Z", "kind": "abandoned-basket", "profileId": f.live, "messageId": "m-basket",
		"reason": basket.Reason, "facts": map[string]any{"items": 1.0, "value": 199.0}, "channel": "Triggers"}, alerts[0])
	require.Equal(t, "m-lapse", alerts[1].(map[string]any)["messageId"])
	require.Equal(t, map[string]any{"abandoned-basket": 1.0, "abandoned-browse": 0.0, "abandoned-form": 0.0, "returning-prospect": 0.0,
		"returning-lapsed": 0.0, "lapse": 1.0}, body["counts"])
	require.NotContains(t, body, "next")
	require.NotContains(t, body, "countsPartial")

	// A page at a time: the next page has no counts.
	status, body = call(t, f.h, activityRequest("/v1/alerts", map[string]string{"limit": "1"}, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["alerts"], 1)
	next := body["next"].(string)
	status, body = call(t, f.h, activityRequest("/v1/alerts", map[string]string{"limit": "1", "cursor": next}, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "m-lapse", body["alerts"].([]any)[0].(map[string]any)["messageId"])
	require.NotContains(t, body, "counts")

	status, body = call(t, f.h, activityRequest("/v1/alerts", map[string]string{"kind": "lapse"}, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "lapse", body["kind"])
	require.Len(t, body["alerts"], 1)
	require.Equal(t, 1.0, body["counts"].(map[string]any)["abandoned-basket"], "the day's counts, whatever the kind shown")

	status, body = call(t, f.h, activityRequest("/v1/alerts", map[string]string{"day": "2025-02-28"}, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "m-back", body["alerts"].([]any)[0].(map[string]any)["messageId"])
	status, body = call(t, f.h, activityRequest("/v1/alerts", map[string]string{"day": "2025-01-01"}, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, []any{}, body["alerts"])

	for query, why := range map[string]map[string]string{
		`day "2025-02-30": want a date as YYYY-MM-DD`:                     {"day": "2025-02-30"},
		`kind "birthday": want one of abandoned-basket, abandoned-browse`: {"kind": "birthday"},
		"limit must be a whole number from 1 to 200":                      {"limit": "201"},
		`unknown parameter "profileId": use day, limit, cursor, kind`:     {"profileId": f.live},
		"cursor is not one this API returned for this day and kind":       {"cursor": "bm90IGEgY3Vyc29y"},
	} {
		status, body := call(t, f.h, activityRequest("/v1/alerts", why, auth))
		require.Equal(t, http.StatusBadRequest, status, query)
		require.Contains(t, body["error"], query)
	}
	// A cursor of one kind's pages is not one of another's.
	status, body = call(t, f.h, activityRequest("/v1/alerts", map[string]string{"kind": "lapse", "cursor": next}, auth))
	require.Equal(t, http.StatusBadRequest, status, body)
}

// Every change made through the API that succeeded is in the audit log: the route, the ids it
// named (never the body), who and how it ended; a read, a refused or failed change is not. Only
// admin reads the log.
func TestChangesAreAudited(t *testing.T) {
	f := newFixture(t)
	ops := keystore.APIKey{Name: "ops", Scopes: []keystore.Scope{keystore.Consent, keystore.Split, keystore.Audiences}}
	auth := f.addKey(t, ops)
	admin := f.addKey(t, keystore.APIKey{Name: "auditor", Scopes: []keystore.Scope{keystore.Admin}})
	reader := f.addKey(t, keystore.APIKey{Name: "reader", Scopes: []keystore.Scope{keystore.Read}})

	consent := put("/v1/profiles/"+f.live+"/consent", `{"marketing": true, "source": "call centre, Ann Example"}`, auth)
	consent.RequestContext.RequestID = "req-consent"
	status, body := call(t, f.h, consent)
	require.Equal(t, http.StatusOK, status, body)
	split := post("/v1/profiles/"+f.live+"/split", `{"profileId": "`+f.merged+`"}`, auth)
	split.RequestContext.RequestID = "req-split"
	status, body = call(t, f.h, split)
	require.Equal(t, http.StatusOK, status, body)
	define := audienceRequest(http.MethodPut, true, "vip", vipDefinition, auth)
	status, body = call(t, f.h, define)
	require.Equal(t, http.StatusCreated, status, body)
	remove := audienceRequest(http.MethodDelete, true, "vip", "", auth)
	status, _ = call(t, f.h, remove)
	require.Equal(t, http.StatusNoContent, status)

	// Not audited: a read, a change refused (bad body, missing scope), a change of nothing found.
	call(t, f.h, get("/v1/profiles/"+f.live, nil, admin))
	status, _ = call(t, f.h, put("/v1/profiles/"+f.live+"/consent", `{"marketing": "yes"}`, auth))
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = call(t, f.h, put("/v1/profiles/"+f.live+"/consent", `{"marketing": true}`, reader))
	require.Equal(t, http.StatusForbidden, status)
	status, _ = call(t, f.h, audienceRequest(http.MethodDelete, true, "nobody", "", auth))
	require.Equal(t, http.StatusNotFound, status)

	status, body = call(t, f.h, activityRequest("/v1/audit", nil, reader))
	require.Equal(t, http.StatusForbidden, status, "the audit log is for admins")
	require.Contains(t, body["error"], `lacks the "admin" scope, which GET /v1/audit needs`)

	status, body = call(t, f.h, activityRequest("/v1/audit", map[string]string{"day": "2025-03-01"}, admin))
	require.Equal(t, http.StatusOK, status, body)
	actions := body["actions"].([]any)
	require.Len(t, actions, 4)
	byRoute := map[string]map[string]any{}
	for _, a := range actions {
		m := a.(map[string]any)
		byRoute[m["route"].(string)] = m
		require.Equal(t, "ops", m["keyName"])
		require.True(t, strings.HasPrefix(m["keyId"].(string), "key_"), m["keyId"])
		require.Equal(t, "2025-03-01T12:00:00Z", m["at"])
	}
	require.Equal(t, map[string]any{"at": "2025-03-01T12:00:00Z", "route": "PUT /v1/profiles/{profileId}/consent", "targets": map[string]any{"profileId": f.live},
		"keyId": byRoute["PUT /v1/profiles/{profileId}/consent"]["keyId"], "keyName": "ops", "status": 200.0, "outcome": "OK", "requestId": "req-consent"},
		byRoute["PUT /v1/profiles/{profileId}/consent"])
	require.Equal(t, map[string]any{"profileId": f.live, "splitId": f.merged}, byRoute["POST /v1/profiles/{profileId}/split"]["targets"],
		"the profile split out, which the answer names")
	require.Equal(t, map[string]any{"audienceId": "vip"}, byRoute["PUT /v1/audiences/{audienceId}"]["targets"])
	require.Equal(t, "Created", byRoute["PUT /v1/audiences/{audienceId}"]["outcome"])
	require.Equal(t, 204.0, byRoute["DELETE /v1/audiences/{audienceId}"]["status"])
	require.NotContains(t, body, "next")
	raw := serve(t, f.h, activityRequest("/v1/audit", nil, admin)).Body
	for _, never := range []string{"Ann Example", "call centre", "marketing", "gold-secret-plan"} {
		require.NotContains(t, raw, never, "no request body in the audit log")
	}

	// Paged like the alerts; the audit log has no kinds.
	status, body = call(t, f.h, activityRequest("/v1/audit", map[string]string{"limit": "3"}, admin))
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["actions"], 3)
	status, body = call(t, f.h, activityRequest("/v1/audit", map[string]string{"limit": "3", "cursor": body["next"].(string)}, admin))
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["actions"], 1)
	status, body = call(t, f.h, activityRequest("/v1/audit", map[string]string{"kind": "lapse"}, admin))
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body["error"], `unknown parameter "kind": use day, limit, cursor`)
}

// brokenActivity is an activity log that takes nothing.
type brokenActivity struct{ downActivity }

func (brokenActivity) Write(context.Context, activity.Entry) error {
	return errors.New("the activity table is unavailable")
}

// A change the audit log cannot take is made and answered all the same, and logged in full.
func TestAChangeTheAuditLogCannotTakeStands(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	f.h.log = slog.New(slog.NewJSONHandler(&logs, nil))
	f.h.activity = brokenActivity{}
	status, body := call(t, f.h, put("/v1/profiles/"+f.live+"/consent", `{"marketing": true}`, "Bearer "+f.apiKey))
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, logs.String(), `"msg":"change made, not in the audit log"`)
	require.Contains(t, logs.String(), `"route":"PUT /v1/profiles/{profileId}/consent"`)
	require.Contains(t, logs.String(), `"targets":{"profileId":"`+f.live+`"}`)
}

// downActivity is an activity table that cannot be reached.
type downActivity struct{}

func (downActivity) Write(context.Context, activity.Entry) error {
	return errors.New("connection refused")
}
func (downActivity) Page(context.Context, activity.Query) (activity.Page, error) {
	return activity.Page{}, errors.New("connection refused")
}
func (downActivity) Counts(context.Context, string, []string) (map[string]int64, bool, error) {
	return nil, false, errors.New("connection refused")
}
func (downActivity) Forget(context.Context, []string, func(string) string) (int, int, error) {
	return 0, 0, errors.New("connection refused")
}
func (downActivity) Contacts(context.Context, []string, int) ([]activity.Entry, error) {
	return nil, errors.New("connection refused")
}

func TestTargets(t *testing.T) {
	json := func(body string) events.APIGatewayV2HTTPResponse {
		return events.APIGatewayV2HTTPResponse{Headers: headers("application/json"), Body: body}
	}
	got := targets(map[string]string{"audienceId": "vip"}, json(`{"exportId": "exp_1", "audienceId": "other", "userId": "u-1",
		"anonymousId": "a-1", "emailSha256": "ab", "state": "running", "members": 3, "splitId": ""}`))
	require.Equal(t, map[string]string{"audienceId": "vip", "exportId": "exp_1"}, got,
		"the path wins; people's identifiers, fields that are not ids and empty ones are left out")
	require.Equal(t, map[string]string{"profileId": "p"}, targets(map[string]string{"profileId": "p"}, events.APIGatewayV2HTTPResponse{}))
	require.Equal(t, map[string]string{}, targets(nil, json(`[1, 2]`)))
	many := `{`
	for i := range 20 {
		many += `"x` + strings.Repeat("y", i) + `Id": "v",`
	}
	require.Len(t, targets(nil, json(many+`"zId": "v"}`)), activity.MaxTargets)
	require.Empty(t, targets(nil, json(`{"longId": "`+strings.Repeat("x", activity.MaxID+1)+`"}`)))
	for route, want := range map[string]bool{"PUT /v1/x": true, "POST /v1/x": true, "DELETE /v1/x": true, "PATCH /v1/x": true,
		"GET /v1/x": false, "HEAD /v1/x": false, "OPTIONS /v1/x": false} {
		require.Equal(t, want, audited(route), route)
	}
}

// An erasure forgets the person in the activity log: their alerts and triggers go (also those of
// a profile merged into theirs); the audit log keeps who did what and when, naming them by a
// pseudonym only, also in the erasure's own entry. Nothing in the table names them any more.
func TestErasureForgetsThePersonsActivity(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := "Bearer " + f.apiKey
	other := activity.Entry{At: now.Add(-time.Hour), Kind: activity.KindLapse, MessageID: "m-other", ProfileID: f.anon, Reason: "r", Channel: "Alerts"}
	for _, e := range []activity.Entry{
		{At: now.Add(-2 * time.Hour), Kind: message.KindAbandonedBasket, MessageID: "m-live", ProfileID: f.live, Reason: "r", Channel: "Triggers"},
		{At: now.AddDate(0, 0, -20), Kind: message.KindAbandonedBrowse, MessageID: "m-merged", ProfileID: f.merged, Reason: "r", Channel: "Triggers"},
		other,
	} {
		require.NoError(t, f.activity.Write(ctx, e))
	}
	status, body := call(t, f.h, put("/v1/profiles/"+f.live+"/consent", `{"marketing": true}`, admin))
	require.Equal(t, http.StatusOK, status, body)
	erase := get("/v1/profiles/"+f.merged, nil, admin)
	erase.RouteKey, erase.RequestContext.HTTP.Method = "DELETE /v1/profiles/{profileId}", http.MethodDelete
	status, body = call(t, f.h, erase)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "complete", body["state"])

	status, body = call(t, f.h, activityRequest("/v1/alerts", nil, admin))
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["alerts"], 1)
	require.Equal(t, "m-other", body["alerts"].([]any)[0].(map[string]any)["messageId"])
	status, body = call(t, f.h, activityRequest("/v1/alerts", map[string]string{"day": activity.Day(now.AddDate(0, 0, -20))}, admin))
	require.Equal(t, http.StatusOK, status, body)
	require.Empty(t, body["alerts"])

	status, body = call(t, f.h, activityRequest("/v1/audit", nil, admin))
	require.Equal(t, http.StatusOK, status, body)
	pseudonym := "erased:" + testKey.Sum("activity", f.live)
	byRoute := map[string]any{}
	for _, a := range body["actions"].([]any) {
		byRoute[a.(map[string]any)["route"].(string)] = a.(map[string]any)["targets"]
	}
	require.Equal(t, map[string]any{"profileId": pseudonym}, byRoute["PUT /v1/profiles/{profileId}/consent"])
	require.Equal(t, map[string]any{"profileId": "erased:" + testKey.Sum("activity", f.merged)}, byRoute["DELETE /v1/profiles/{profileId}"])

	out, err := f.db.Client().Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(f.activityTable)})
	require.NoError(t, err)
	require.Len(t, out.Items, 3, "the other's alert and the two actions")
	text := fmt.Sprint(out.Items)
	for _, id := range []string{f.live, f.merged} {
		require.NotContains(t, text, id, "the activity log names an erased profile")
	}
}

// A person's contacts: the alerts and triggers sent for their live profile and for those merged
// into it, newest first, a bounded number; never another person's, never the audit log.
func TestContactsOfAPerson(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	auth := f.addKey(t, keystore.APIKey{Name: "viewer", Scopes: []keystore.Scope{keystore.Read}})
	for _, e := range []activity.Entry{
		{At: now.Add(-time.Hour), Kind: message.KindAbandonedBasket, MessageID: "m-basket", ProfileID: f.live, Reason: "1 item left in the basket", Channel: "Triggers"},
		{At: now.Add(-72 * time.Hour), Kind: message.KindAbandonedBrowse, MessageID: "m-browse", ProfileID: f.live, Reason: "3 products browsed", Channel: "Triggers"},
		{At: now.Add(-240 * time.Hour), Kind: message.KindReturningProspect, MessageID: "m-back", ProfileID: f.merged, Reason: "back after 41 days away", Channel: "Triggers"},
		{At: now.Add(-2 * time.Hour), Kind: activity.KindLapse, MessageID: "m-other", ProfileID: f.anon, Reason: "someone else's", Channel: "Alerts"},
		{At: now.Add(-time.Minute), Kind: activity.KindAudit, MessageID: "req-1", ProfileID: f.live, Route: "PUT /v1/profiles/{profileId}/consent",
			Targets: map[string]string{"profileId": f.live}, KeyID: "user:ann", Status: 200, Outcome: "200 OK"},
	} {
		require.NoError(t, f.activity.Write(ctx, e))
	}
	ids := func(body map[string]any) (out []string) {
		for _, c := range body["contacts"].([]any) {
			out = append(out, c.(map[string]any)["messageId"].(string))
		}
		return out
	}

	status, body := call(t, f.h, get("/v1/profiles/"+f.live+"/contacts", nil, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, f.live, body["profileId"])
	require.Equal(t, []string{"m-basket", "m-browse", "m-back"}, ids(body), "newest first, the merged profile's too")
	require.Equal(t, "3 products browsed", body["contacts"].([]any)[1].(map[string]any)["reason"])

	status, body = call(t, f.h, get("/v1/profiles/"+f.live+"/contacts", map[string]string{"limit": "2"}, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, []string{"m-basket", "m-browse"}, ids(body))

	// A merged profile's id reads the live profile's contacts.
	status, body = call(t, f.h, get("/v1/profiles/"+f.merged+"/contacts", nil, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, f.live, body["profileId"])

	for query, why := range map[string]map[string]string{
		"limit must be a whole number from 1 to 100": {"limit": "0"},
		`unknown parameter "day": use limit`:         {"day": "2025-03-01"},
	} {
		status, body := call(t, f.h, get("/v1/profiles/"+f.live+"/contacts", why, auth))
		require.Equal(t, http.StatusBadRequest, status, query)
		require.Contains(t, body["error"], query)
	}
	status, _ = call(t, f.h, get("/v1/profiles/prf_nobody/contacts", nil, auth))
	require.Equal(t, http.StatusNotFound, status)
}
