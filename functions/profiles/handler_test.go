package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/guregu/dynamo/v2"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/openapi"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/s3server"
	"github.com/dcrm-project/dcrm/shared/activitystore"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/fanout/fanouttest"
	"github.com/dcrm-project/dcrm/shared/hashkey"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/objectstore"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/source"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fixture struct {
	h                  *handler
	keys               *keystore.Store
	keyTable           string
	store              *recording.Engine
	scores             *profilestore.ProfileTable // the Profiles table, where the score function writes
	updates            *messagequeue.Queue
	apiKey, writeKey   string
	live, merged, anon string // profile ids
	tables             profilestore.Tables
	db                 *dynamo.DB
	archive            *archiveBucket              // where an erasure leaves its request
	reports            *archiveBucket              // the reports bucket
	audiences          *audiencestore.Store        // the Audiences table
	storage            *profilestore.Store         // the engine's storage, with the members index
	exports            objectstore.Bucket          // the exports bucket, on an S3 server of the test's own
	steps              *fanouttest.Local[stepDone] // the export steps the handler invokes, run in the test's process
	activity           *activitystore.Store        // the activity log: alerts, triggers and the audit log
	activityTable      string
}

// testKey is the deployment's hash key in tests.
var testKey = func() hashkey.Key {
	k, err := hashkey.New([]byte("a test key of the profiles function, 32 bytes or more"))
	if err != nil {
		panic(err)
	}
	return k
}()

// newFixture stores a profile-API key and a write key, and two customers: u-1 on two devices (one
// profile merged into the other) and an anonymous visitor.
func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	e := localawstest.Reachable(t)
	keyTable := localawstest.NewTopologyTable(t, topology.KeyTable)
	keys := keystore.New(e.Dynamo(), keyTable)
	f := fixture{apiKey: keystore.NewKey("pk_"), writeKey: keystore.NewKey("wk_")}
	require.NoError(t, keys.PutProfileAPIKey(ctx, f.apiKey, "crm"))
	require.NoError(t, keys.PutSource(ctx, f.writeKey, source.Source{ID: "src_shop", Name: "shop"}))

	// The events are dated in the past; long TTLs keep DynamoDB Local's TTL sweeper from expiring
	// the history during the test.
	tables := profilestore.Tables{
		Profiles:        localawstest.NewTopologyTable(t, topology.ProfileTable),
		Identities:      localawstest.NewTopologyTable(t, topology.IdentityTable),
		Touchpoints:     localawstest.NewTopologyTable(t, topology.TouchpointTable),
		AudienceMembers: localawstest.NewTopologyTable(t, topology.AudienceMemberTable),
	}
	f.tables, f.db = tables, e.Dynamo()
	f.storage = profilestore.New(e.Dynamo(), tables)
	store := recording.New(f.storage, recording.WithTombstoneKey(testKey),
		recording.WithRetention(100*365*24*time.Hour), recording.WithClock(func() time.Time { return now }))
	f.scores = profilestore.NewProfileTable(e.Dynamo(), tables.Profiles)
	t0 := time.Date(2025, 2, 1, 9, 0, 0, 0, time.UTC)
	record := func(id, typ, anon, user string, minutes int, traits map[string]any) recording.Result {
		r, err := store.Record(ctx, profile.Activity{MessageID: id, Type: typ, AnonymousID: anon, UserID: user,
			At: t0.Add(time.Duration(minutes) * time.Minute), Traits: traits})
		require.NoError(t, err)
		return r
	}
	f.live = record("m1", beacon.Identify, "a-desk", "u-1", 0, map[string]any{"email": "ann@example.com"}).ProfileID
	f.merged = record("m2", beacon.Page, "a-phone", "", 5, nil).ProfileID
	record("m3", beacon.Identify, "a-phone", "u-1", 6, nil)
	f.anon = record("m4", beacon.Track, "a-other", "", 7, nil).ProfileID
	f.store = store
	f.updates = messagequeue.New(e.SQSClient(), localawstest.NewQueue(t))
	f.keys, f.keyTable = keys, keyTable
	f.archive = &archiveBucket{objects: map[string][]byte{}}
	f.reports = &archiveBucket{objects: map[string][]byte{}}
	f.audiences = audiencestore.New(e.Dynamo(), localawstest.NewTopologyTable(t, topology.AudienceTable)).WithClock(func() time.Time { return now })
	f.exports = newExportsBucket(t)
	// The activity log keeps its entries a century: the tests' clock is in the past.
	f.activityTable = localawstest.NewTopologyTable(t, topology.ActivityTable)
	f.activity = activitystore.New(e.Dynamo(), f.activityTable).WithRetention(100 * 365 * 24 * time.Hour)
	f.h = &handler{keys: keys, profiles: store, updates: f.updates, archive: f.archive, reports: reportStore{f.reports},
		audiences: f.audiences, members: f.storage, exports: f.exports, keyStore: keys, activity: f.activity,
		pseudonymOf: func(id string) string { return testKey.Sum("activity", id) }, now: func() time.Time { return now }, log: quiet}
	f.steps = &fanouttest.Local[stepDone]{Handle: func(ctx context.Context, payload json.RawMessage) (stepDone, error) {
		var e stepEvent
		if err := json.Unmarshal(payload, &e); err != nil || e.Export == nil {
			return stepDone{}, fmt.Errorf("not a step: %s", payload)
		}
		return f.h.runStep(ctx, *e.Export)
	}}
	f.h.steps = f.steps
	return f
}

func get(path string, query map[string]string, auth string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "GET /v1/profiles", RawPath: path, QueryStringParameters: query,
		Headers: map[string]string{"accept": "application/json"},
	}
	req.RequestContext.HTTP.Method = http.MethodGet
	if path == "/v1/reports" {
		req.RouteKey = "GET /v1/reports"
	}
	if rest, ok := strings.CutPrefix(path, "/v1/reports/"); ok {
		period, part, found := strings.Cut(rest, "/")
		req.RouteKey, req.PathParameters = "GET /v1/reports/{period}", map[string]string{"period": period}
		if found {
			req.RouteKey += "/{part}"
			req.PathParameters["part"] = part
		}
	}
	if rest, ok := strings.CutPrefix(path, "/v1/profiles/"); ok {
		id, sub, _ := strings.Cut(rest, "/")
		req.RouteKey = "GET /v1/profiles/{profileId}"
		if sub != "" {
			req.RouteKey += "/" + sub
		}
		req.PathParameters = map[string]string{"profileId": id}
	}
	if auth != "" {
		req.Headers["authorization"] = auth
	}
	return req
}

// call serves a request and reads the JSON answer; serve holds it to the document.
func call(t *testing.T, h *handler, req events.APIGatewayV2HTTPRequest) (int, map[string]any) {
	t.Helper()
	resp := serve(t, h, req)
	if resp.StatusCode == http.StatusNoContent {
		require.Empty(t, resp.Body)
		return resp.StatusCode, nil
	}
	require.Equal(t, "application/json", resp.Headers["content-type"])
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &body), resp.Body)
	return resp.StatusCode, body
}

func TestAuthorisation(t *testing.T) {
	f := newFixture(t)
	for name, auth := range map[string]string{
		"no header":      "",
		"not bearer":     "Basic " + f.apiKey,
		"empty token":    "Bearer ",
		"unknown key":    "Bearer pk_nope",
		"write key":      "Bearer " + f.writeKey,
		"key of nothing": "Bearer",
	} {
		status, body := call(t, f.h, get("/v1/profiles/"+f.live, nil, auth))
		require.Equal(t, http.StatusUnauthorized, status, name)
		require.NotEmpty(t, body["error"], name)
	}
	resp := serve(t, f.h, get("/v1/profiles/"+f.live, nil, ""))
	require.Contains(t, resp.Headers["www-authenticate"], "Bearer")

	// Header names and the scheme are case-insensitive.
	req := get("/v1/profiles/"+f.live, nil, "")
	req.Headers["Authorization"] = "bearer " + f.apiKey
	status, _ := call(t, f.h, req)
	require.Equal(t, http.StatusOK, status)
}

func TestLookups(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	tests := []struct {
		name    string
		path    string
		query   map[string]string
		status  int
		profile string
		error   string
	}{
		{"by id", "/v1/profiles/" + f.live, nil, 200, f.live, ""},
		{"merged id resolves to the live profile", "/v1/profiles/" + f.merged, nil, 200, f.live, ""},
		{"anonymous profile", "/v1/profiles/" + f.anon, nil, 200, f.anon, ""},
		{"by user id", "/v1/profiles", map[string]string{"userId": "u-1"}, 200, f.live, ""},
		{"by merged device", "/v1/profiles", map[string]string{"anonymousId": "a-phone"}, 200, f.live, ""},
		{"by anonymous id", "/v1/profiles", map[string]string{"anonymousId": "a-other"}, 200, f.anon, ""},
		{"unknown id", "/v1/profiles/prf_nope", nil, 404, "", "profile not found"},
		{"unknown user", "/v1/profiles", map[string]string{"userId": "u-nobody"}, 404, "", "profile not found"},
		{"no query", "/v1/profiles", nil, 400, "", "name one identifier: ?userId=… or ?anonymousId=… or ?emailSha256=…"},
		{"unknown identifier type", "/v1/profiles", map[string]string{"email": "a@b"}, 400, "",
			`unknown identifier type "email"; known types: advertisingId, anonymousId, deviceId, emailSha256, externalId, phoneSha256, userId`},
		{"two identifiers", "/v1/profiles", map[string]string{"userId": "u-1", "anonymousId": "a-desk"}, 400, "", "name exactly one identifier"},
		{"empty value", "/v1/profiles", map[string]string{"userId": ""}, 400, "", "userId is empty"},
		{"other route", "/v1/profiles/x/tags", nil, 404, "", "no such route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := get(tt.path, tt.query, auth)
			if tt.name == "other route" {
				req.PathParameters = nil
			}
			status, body := call(t, f.h, req)
			require.Equal(t, tt.status, status, body)
			if tt.error != "" {
				require.Contains(t, body["error"], tt.error)
				return
			}
			require.Equal(t, tt.profile, body["profileId"])
		})
	}
}

func TestProfileJSON(t *testing.T) {
	f := newFixture(t)
	status, body := call(t, f.h, get("/v1/profiles", map[string]string{"userId": "u-1"}, "Bearer "+f.apiKey))
	require.Equal(t, 200, status)
	require.Equal(t, f.live, body["profileId"])
	require.Equal(t, "u-1", body["userId"])
	require.Equal(t, []any{"a-desk", "a-phone"}, body["anonymousIds"])
	require.Equal(t, map[string]any{"email": "ann@example.com"}, body["traits"])
	require.Equal(t, "2025-02-01T09:00:00Z", body["firstSeen"])
	require.Equal(t, "2025-02-01T09:06:00Z", body["lastSeen"])
	require.Equal(t, map[string]any{"events": 3.0, "pageViews": 1.0, "tracks": 0.0, "identifies": 2.0, "screens": 0.0}, body["counts"])
	require.Equal(t, []any{f.merged}, body["mergedFrom"])
	require.NotContains(t, body, "score", "not scored yet")
	// Sessions and aggregates: the phone's page view is the one visit (identify calls are not activity).
	require.Equal(t, 1.0, body["visits"])
	require.Equal(t, 1.0, body["depth"])
	require.Equal(t, 0.0, body["engagedSeconds"])
	require.Equal(t, 0.0, body["orders"])
	require.Equal(t, 0.0, body["revenue"])
	session, ok := body["session"].(map[string]any)
	require.True(t, ok, "session in %v", body)
	require.Equal(t, "2025-02-01T09:05:00Z", session["start"])
	require.Equal(t, "2025-02-01T09:05:00Z", session["end"])
	require.Equal(t, 1.0, session["pageViews"])
	require.NotEmpty(t, session["id"])
	for _, absent := range []string{"basket", "openForms", "products", "lastChannel"} {
		require.NotContains(t, body, absent)
	}
}

// The handler serves exactly the topology's routes of the profiles function, by route key: the
// profile API's (routes) and, public, the browser routes (browserRoutes) and the console's files
// (consoleRoutes); any other route key
// (which API Gateway would not send it) is a 404. Every browser route is in the document, whose
// operations the topology's routes are (events/openapi), so none goes undeclared.
func TestRoutesAreTheTopologys(t *testing.T) {
	var declared []string
	for _, r := range topology.Default().Routes {
		switch {
		case r.Function == "profiles" && r.Public:
			key := r.Method + " " + r.Path
			require.True(t, browserRoutes[key] || consoleRoutes[key], "public route %s is a browser route or a console file's", key)
		case r.Function == "profiles":
			declared = append(declared, r.Method+" "+r.Path)
		}
	}
	require.ElementsMatch(t, declared, slices.Collect(maps.Keys(routes)))
	for route := range browserRoutes {
		method, path, _ := strings.Cut(route, " ")
		_, err := openapi.Match(method, path)
		require.NoError(t, err, route)
	}

	f := newFixture(t)
	for _, key := range []string{"POST /v1/profiles/{profileId}", "DELETE /v1/profiles", "$default", ""} {
		req := get("/v1/profiles/"+f.live, nil, "Bearer "+f.apiKey)
		req.RouteKey = key
		status, body := call(t, f.h, req)
		require.Equal(t, http.StatusNotFound, status, key)
		require.Equal(t, "no such route", body["error"])
	}
}

type down struct{}

func (down) ProfileAPIKey(context.Context, string) (keystore.APIKey, error) {
	return keystore.APIKey{}, errors.New("connection refused")
}
func (down) Profile(context.Context, string) (profile.Profile, error) {
	return profile.Profile{}, errors.New("connection refused")
}
func (down) Lookup(context.Context, identity.ID) (profile.Profile, error) {
	return profile.Profile{}, errors.New("connection refused")
}
func (down) Export(context.Context, string, history.Query) (recording.Person, error) {
	return recording.Person{}, errors.New("connection refused")
}
func (down) EraseAnnounced(context.Context, string, func(context.Context, profile.Profile) error) (recording.Erasure, error) {
	return recording.Erasure{}, errors.New("connection refused")
}
func (down) SetConsent(context.Context, string, map[string]profile.Consent) (string, map[string]profile.Consent, error) {
	return "", nil, errors.New("connection refused")
}
func (down) History(context.Context, string, history.Query) (history.Page, error) {
	return history.Page{}, errors.New("connection refused")
}
func (down) Merges(context.Context, string) ([]identity.Merge, error) {
	return nil, errors.New("connection refused")
}
func (down) Split(context.Context, string, string) (recording.Separation, error) {
	return recording.Separation{}, errors.New("connection refused")
}
func (down) Get(context.Context, string, int64) ([]byte, error) {
	return nil, errors.New("connection refused")
}
func (down) List(context.Context, string) ([]string, error) {
	return nil, errors.New("connection refused")
}

type allow struct{}

func (allow) ProfileAPIKey(context.Context, string) (keystore.APIKey, error) {
	return keystore.APIKey{ID: "key_allowall", Name: "test", Scopes: []keystore.Scope{keystore.Admin}}, nil
}

func TestStoreOutageIsA503(t *testing.T) {
	for _, h := range []*handler{{keys: down{}, profiles: down{}, log: quiet}, {keys: allow{}, profiles: down{}, log: quiet}} {
		status, body := call(t, h, get("/v1/profiles/p1", nil, "Bearer k"))
		require.Equal(t, http.StatusServiceUnavailable, status)
		require.Equal(t, "profiles are unavailable right now; try again", body["error"])
	}
}

func TestSetupReadsTheEnvironment(t *testing.T) {
	top := topology.Default()
	env := map[string]string{
		top.EnvVar(topology.ProfileTable):        "p",
		top.EnvVar(topology.IdentityTable):       "i",
		top.EnvVar(topology.KeyTable):            "k",
		top.EnvVar(topology.TouchpointTable):     "tp",
		top.EnvVar(topology.ProfileUpdateQueue):  "http://127.0.0.1:9324/000000000000/updates",
		top.EnvVar(topology.ArchiveBucket):       "archive",
		top.EnvVar(topology.ReportsBucket):       "reports",
		top.EnvVar(topology.AudienceTable):       "audiences",
		top.EnvVar(topology.AudienceMemberTable): "members",
		top.EnvVar(topology.ExportsBucket):       "exports",
		top.EnvVar(topology.HealthTable):         "health",
		top.EnvVar(topology.ActivityTable):       "activity",
		hashkey.EnvKey:                           "a test key of the profiles function, 32 bytes or more",
		"AWS_REGION":                             localaws.Region,
	}
	getenv := func(k string) string { return env[k] }
	_, err := setup(context.Background(), getenv, quiet)
	require.NoError(t, err)
	key := env[hashkey.EnvKey]
	delete(env, hashkey.EnvKey)
	_, err = setup(context.Background(), getenv, quiet)
	require.ErrorContains(t, err, hashkey.EnvSecret, "tombstones cannot be sealed without the key")
	env[hashkey.EnvKey] = key
	delete(env, top.EnvVar(topology.KeyTable))
	_, err = setup(context.Background(), getenv, quiet)
	require.ErrorContains(t, err, "DCRM_KEYS_TABLE is not set")
	env[top.EnvVar(topology.KeyTable)] = "k"
	delete(env, top.EnvVar(topology.ArchiveBucket))
	_, err = setup(context.Background(), getenv, quiet)
	require.ErrorContains(t, err, "DCRM_ARCHIVE_BUCKET is not set", "an erasure could not reach the archive")
	env[top.EnvVar(topology.ArchiveBucket)] = "archive"
	delete(env, top.EnvVar(topology.ReportsBucket))
	_, err = setup(context.Background(), getenv, quiet)
	require.ErrorContains(t, err, top.EnvVar(topology.ReportsBucket)+" is not set", "the reports could not be served")
	env[top.EnvVar(topology.ReportsBucket)] = "reports"
	delete(env, top.EnvVar(topology.AudienceTable))
	_, err = setup(context.Background(), getenv, quiet)
	require.ErrorContains(t, err, "DCRM_AUDIENCES_TABLE is not set", "the audiences could not be kept")
}

// The history of u-1 holds the events of both devices, newest first, paged with an opaque cursor,
// whichever of its profile ids is asked; bad parameters are a 400, an unknown profile a 404.
func TestHistory(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	status, body := call(t, f.h, get("/v1/profiles/"+f.merged+"/events", nil, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, f.live, body["profileId"])
	ids := func(body map[string]any) []string {
		var out []string
		for _, tp := range body["touchpoints"].([]any) {
			out = append(out, tp.(map[string]any)["messageId"].(string))
		}
		return out
	}
	require.Equal(t, []string{"m3", "m2", "m1"}, ids(body))
	require.NotContains(t, body, "next")

	status, first := call(t, f.h, get("/v1/profiles/"+f.live+"/events", map[string]string{"limit": "2"}, auth))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []string{"m3", "m2"}, ids(first))
	cursor, _ := first["next"].(string)
	require.NotEmpty(t, cursor)
	status, second := call(t, f.h, get("/v1/profiles/"+f.live+"/events", map[string]string{"limit": "2", "cursor": cursor}, auth))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []string{"m1"}, ids(second))
	require.NotContains(t, second, "next")

	status, body = call(t, f.h, get("/v1/profiles/"+f.live+"/events", map[string]string{"type": "page"}, auth))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []string{"m2"}, ids(body))
	tp := body["touchpoints"].([]any)[0].(map[string]any)
	require.Equal(t, f.merged, tp["profileId"])
	require.Equal(t, "2025-02-01T09:05:00Z", tp["timestamp"])

	for _, q := range []map[string]string{{"limit": "0"}, {"limit": "x"}, {"limit": "501"}, {"cursor": "garbage"}, {"page": "2"}} {
		status, body = call(t, f.h, get("/v1/profiles/"+f.live+"/events", q, auth))
		require.Equal(t, http.StatusBadRequest, status, q)
		require.NotEmpty(t, body["error"])
	}
	status, _ = call(t, f.h, get("/v1/profiles/prf_nobody/events", nil, auth))
	require.Equal(t, http.StatusNotFound, status)
	status, _ = call(t, f.h, get("/v1/profiles/"+f.live+"/nothing", nil, auth))
	require.Equal(t, http.StatusNotFound, status)
}

// The export of u-1 is one JSON document with the profile, both devices' identifiers and the
// history, paged like /events.
func TestExport(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	status, body := call(t, f.h, get("/v1/profiles/"+f.merged+"/export", nil, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, f.live, body["profileId"])
	require.Equal(t, f.live, body["profile"].(map[string]any)["profileId"])
	require.Equal(t, "ann@example.com", body["profile"].(map[string]any)["traits"].(map[string]any)["email"])
	require.Equal(t, []any{f.merged}, body["mergedProfiles"])
	require.Equal(t, []any{
		map[string]any{"type": "anonymousId", "value": "a-desk"},
		map[string]any{"type": "anonymousId", "value": "a-phone"},
		map[string]any{"type": "userId", "value": "u-1"},
	}, body["identifiers"])
	var ids []string
	for _, tp := range body["touchpoints"].([]any) {
		ids = append(ids, tp.(map[string]any)["messageId"].(string))
	}
	require.Equal(t, []string{"m3", "m2", "m1"}, ids)
	require.NotContains(t, body, "next", "the whole history fits in one page")

	status, body = call(t, f.h, get("/v1/profiles/"+f.live+"/export", map[string]string{"limit": "2"}, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["touchpoints"], 2)
	status, body = call(t, f.h, get("/v1/profiles/"+f.live+"/export", map[string]string{"limit": "2", "cursor": body["next"].(string)}, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "m1", body["touchpoints"].([]any)[0].(map[string]any)["messageId"])
	require.NotContains(t, body, "next")

	status, _ = call(t, f.h, get("/v1/profiles/prf_nobody/export", nil, auth))
	require.Equal(t, http.StatusNotFound, status)
	req := get("/v1/profiles/"+f.live+"/export", nil, auth)
	req.RouteKey, req.RequestContext.HTTP.Method = "POST /v1/profiles/{profileId}/export", http.MethodPost
	status, _ = call(t, f.h, req)
	require.Equal(t, http.StatusNotFound, status, "no such route")
	status, body = call(t, f.h, get("/v1/profiles/"+f.live+"/export", map[string]string{"type": "page"}, auth))
	require.Equal(t, http.StatusBadRequest, status, "an export is whole")
	require.Contains(t, body["error"], "type is not a parameter")
}

// DELETE erases the person (both devices' profiles, identifiers and history); after it every
// route answers 404 for them, and the other visitor is untouched.
func TestErase(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	del := func(id string) (int, map[string]any) {
		req := get("/v1/profiles/"+id, nil, auth)
		req.RouteKey, req.RequestContext.HTTP.Method = "DELETE /v1/profiles/{profileId}", http.MethodDelete
		return call(t, f.h, req)
	}
	status, body := del(f.merged)
	require.Equal(t, http.StatusOK, status, body)
	done := map[string]any{"profileId": f.live, "state": "complete", "startedAt": "2025-03-01T12:00:00Z", "completedAt": "2025-03-01T12:00:00Z",
		"profilesErased": 2.0, "identifiersTombstoned": 3.0, "touchpointsDeleted": 3.0}
	require.Equal(t, done, body)

	for _, id := range []string{f.live, f.merged} {
		for _, path := range []string{"/v1/profiles/" + id, "/v1/profiles/" + id + "/events", "/v1/profiles/" + id + "/export"} {
			status, body := call(t, f.h, get(path, nil, auth))
			require.Equal(t, http.StatusNotFound, status, path)
			require.Equal(t, "profile not found", body["error"])
		}
		status, body := del(id)
		require.Equal(t, http.StatusOK, status, "erasing again answers the completed erasure")
		require.Equal(t, done, body)
	}
	for _, q := range []map[string]string{{"userId": "u-1"}, {"anonymousId": "a-desk"}, {"anonymousId": "a-phone"}} {
		status, _ := call(t, f.h, get("/v1/profiles", q, auth))
		require.Equal(t, http.StatusNotFound, status, q)
	}
	status, body = call(t, f.h, get("/v1/profiles", map[string]string{"anonymousId": "a-other"}, auth))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, f.anon, body["profileId"])

	status, body = call(t, &handler{keys: allow{}, profiles: down{}, log: quiet}, func() events.APIGatewayV2HTTPRequest {
		req := get("/v1/profiles/p1", nil, "Bearer k")
		req.RouteKey, req.RequestContext.HTTP.Method = "DELETE /v1/profiles/{profileId}", http.MethodDelete
		return req
	}())
	require.Equal(t, http.StatusServiceUnavailable, status, body)
}

// newExportsBucket is an exports bucket on an S3 server of the test's own (the local host's, in
// the test's process).
func newExportsBucket(t *testing.T) objectstore.Bucket {
	t.Helper()
	srv, err := s3server.New(t.TempDir(), s3server.Options{})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	b := objectstore.Bucket{Client: localaws.Endpoints{S3: hs.URL}.S3Client(), Name: "exports"}
	_, err = b.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b.Name)})
	require.NoError(t, err)
	return b
}
