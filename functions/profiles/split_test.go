package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/openapi"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

func post(path, body, auth string) events.APIGatewayV2HTTPRequest {
	req := get(path, nil, auth)
	req.RequestContext.HTTP.Method = http.MethodPost
	req.RouteKey = "POST /v1/profiles/{profileId}/split"
	req.Body = body
	return req
}

// recorder keeps what the handler publishes, for tests that check that nothing is.
type recorder struct{ sent []message.Message }

func (r *recorder) Send(_ context.Context, m message.Message) error {
	r.sent = append(r.sent, m)
	return nil
}

// The merge log of u-1 names the phone's profile, joined by the login m3 through the phone's
// anonymous id, whichever of the two profile ids is asked.
func TestMerges(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	want := map[string]any{"profileId": f.live, "merges": []any{map[string]any{
		"from": f.merged, "into": f.live, "at": "2025-03-01T12:00:00Z", "messageId": "m3",
		"via": "anonymousId:a-phone", "trusted": false,
	}}}
	for _, id := range []string{f.live, f.merged} {
		status, body := call(t, f.h, get("/v1/profiles/"+id+"/merges", nil, auth))
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, want, body)
	}
	status, body := call(t, f.h, get("/v1/profiles/"+f.anon+"/merges", nil, auth))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"profileId": f.anon, "merges": []any{}}, body, "no merges is an empty list")

	status, body = call(t, f.h, get("/v1/profiles/prf_nobody/merges", nil, auth))
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "profile not found", body["error"])
	_, err := f.store.Erase(context.Background(), f.live)
	require.NoError(t, err)
	for _, id := range []string{f.live, f.merged} {
		status, _ = call(t, f.h, get("/v1/profiles/"+id+"/merges", nil, auth))
		require.Equal(t, http.StatusNotFound, status, "an erased person has no merges to show")
	}
}

// Splitting the phone off u-1 gives it back its anonymous id and the page viewed on it after the
// login, answers what moved, and publishes profile.split; repeating the request changes nothing
// more and publishes the same message again.
func TestSplit(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	_, err := f.store.Record(context.Background(), profile.Activity{MessageID: "m5", Type: beacon.Page,
		AnonymousID: "a-phone", At: time.Date(2025, 2, 1, 9, 10, 0, 0, time.UTC)})
	require.NoError(t, err)

	status, body := call(t, f.h, post("/v1/profiles/"+f.live+"/split", `{"profileId": "`+f.merged+`"}`, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, map[string]any{"profileId": f.live, "splitId": f.merged, "identifiers": 1.0, "touchpoints": 1.0}, body)
	var m message.ProfileSplit
	require.NoError(t, json.Unmarshal(f.message(t, message.TypeProfileSplit), &m))
	require.Equal(t, message.NewProfileSplit(f.live, f.merged, 1, 1, now), m)

	status, body = call(t, f.h, get("/v1/profiles", map[string]string{"anonymousId": "a-phone"}, auth))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, f.merged, body["profileId"], "the phone resolves to its own profile again")
	status, body = call(t, f.h, get("/v1/profiles/"+f.merged+"/events", nil, auth))
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["touchpoints"], 2, "m2 and m5 went back to the phone")
	status, body = call(t, f.h, get("/v1/profiles/"+f.live+"/merges", nil, auth))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []any{}, body["merges"])

	// Repeated (say after a failed publication): done already, nothing moves, same messageId.
	status, body = call(t, f.h, post("/v1/profiles/"+f.live+"/split", `{"profileId": "`+f.merged+`"}`, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, 0.0, body["touchpoints"])
	var again message.ProfileSplit
	require.NoError(t, json.Unmarshal(f.message(t, message.TypeProfileSplit), &again))
	require.Equal(t, m.MessageID, again.MessageID)
	require.Zero(t, again.Touchpoints)
}

// A failed request publishes nothing and says why: 404 for an unknown profile, 409 for a profile
// that is not merged into this one, 400 for a body that does not name one, 405 for another method.
func TestSplitRefusals(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	rec := &recorder{}
	f.h.updates = rec

	status, body := call(t, f.h, post("/v1/profiles/prf_nobody/split", `{"profileId": "`+f.merged+`"}`, auth))
	require.Equal(t, http.StatusNotFound, status, body)
	require.Equal(t, "profile not found", body["error"])

	for name, pair := range map[string][2]string{
		"another live profile":     {f.live, f.anon},
		"the live profile itself":  {f.live, f.live},
		"the other way round":      {f.anon, f.merged},
		"a profile that never was": {f.live, "prf_nobody"},
	} {
		status, body := call(t, f.h, post("/v1/profiles/"+pair[0]+"/split", `{"profileId": "`+pair[1]+`"}`, auth))
		require.Equal(t, http.StatusConflict, status, name)
		require.Contains(t, body["error"], "not merged into this one", name)
	}

	for body, msg := range map[string]string{
		``:                                      "empty",
		`[]`:                                    "not a JSON object",
		`{"profileId": 5}`:                      "profileId must be a string",
		`{"profileId": "x"`:                     "not valid JSON",
		`{}`:                                    "profileId is missing",
		`{"profileId": null}`:                   "profileId is missing",
		`{"profileId": ""}`:                     "profileId is empty",
		`{"profileId": "x", "into": "y"}`:       `unknown field "into"`,
		`{"profileId": "x"} {"profileId": "y"}`: "more than one JSON value",
		`{"ProfileID": "x"}`:                    `unknown field "ProfileID"`,
		`{"profileId": "` + strings.Repeat("p", 513) + `"}`:  "profileId longer than 512 bytes",
		`{"profileId": "` + strings.Repeat("p", 5000) + `"}`: "body larger than 4096 bytes",
	} {
		status, got := call(t, f.h, post("/v1/profiles/"+f.live+"/split", body, auth))
		require.Equal(t, http.StatusBadRequest, status, body)
		require.Contains(t, got["error"], msg, body)
		require.Error(t, openapi.ValidateRequest("POST", "/v1/profiles/{profileId}/split", "", []byte(body)), "the document refuses %s too", body)
	}
	req := post("/v1/profiles/"+f.live+"/split", "not base64!", auth)
	req.IsBase64Encoded = true
	status, body = call(t, f.h, req)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "body is not valid base64", body["error"])
	req = post("/v1/profiles/"+f.live+"/split", base64.StdEncoding.EncodeToString([]byte(`{"profileId": "`+f.anon+`"}`)), auth)
	req.IsBase64Encoded = true
	status, _ = call(t, f.h, req)
	require.Equal(t, http.StatusConflict, status, "a base64 body is read")

	require.Empty(t, rec.sent, "a refused split is not published")

	status, _ = call(t, f.h, get("/v1/profiles", map[string]string{"anonymousId": "a-phone"}, auth))
	require.Equal(t, http.StatusOK, status)
	merges, err := f.store.Merges(context.Background(), f.live)
	require.NoError(t, err)
	require.Len(t, merges, 1, "the merge is still there")
}

// When the queue is down the split is done but reported as a 503, so the caller repeats it and the
// repeat publishes.
func TestSplitPublishedOnRepeat(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	f.h.updates = broken{}
	status, body := call(t, f.h, post("/v1/profiles/"+f.live+"/split", `{"profileId": "`+f.merged+`"}`, auth))
	require.Equal(t, http.StatusServiceUnavailable, status, body)

	f.h.updates = f.updates
	status, body = call(t, f.h, post("/v1/profiles/"+f.live+"/split", `{"profileId": "`+f.merged+`"}`, auth))
	require.Equal(t, http.StatusOK, status, body)
	var m message.ProfileSplit
	require.NoError(t, json.Unmarshal(f.message(t, message.TypeProfileSplit), &m))
	require.Equal(t, message.NewProfileSplit(f.live, f.merged, 0, 0, now).MessageID, m.MessageID)
	require.Equal(t, f.merged, m.SplitID)
}

// contended is a store whose profile keeps changing under the split.
type contended struct{ down }

func (contended) Split(_ context.Context, id, from string) (recording.Separation, error) {
	return recording.Separation{}, fmt.Errorf("split %s from %s: %w", from, id, recording.ErrContention)
}

func TestSplitContentionIsRetryable(t *testing.T) {
	rec := &recorder{}
	h := &handler{keys: allow{}, profiles: contended{}, updates: rec, now: func() time.Time { return now }, log: quiet}
	resp := serve(t, h, post("/v1/profiles/p1/split", `{"profileId": "p0"}`, "Bearer k"))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, resp.Body)
	require.Equal(t, "1", resp.Headers["retry-after"])
	require.Contains(t, resp.Body, "try again")
	require.Empty(t, rec.sent)

	status, _ := call(t, &handler{keys: allow{}, profiles: down{}, log: quiet}, get("/v1/profiles/p1/merges", nil, "Bearer k"))
	require.Equal(t, http.StatusServiceUnavailable, status)
}

// A split reads the history it divides at once, so a person whose history is longer than that is
// refused with a 422 that says why, and nothing changes.
func TestSplitOfAHistoryTooLong(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	for i := range 2 {
		_, err := f.store.Record(context.Background(), profile.Activity{MessageID: fmt.Sprintf("desk%d", i), Type: beacon.Page,
			AnonymousID: "a-desk", At: now.Add(-time.Duration(i) * time.Minute)})
		require.NoError(t, err)
	}
	f.h.profiles = recording.New(profilestore.New(f.db, f.tables), recording.WithTombstoneKey(testKey),
		recording.WithClock(func() time.Time { return now }), recording.WithSplitLimit(2))
	status, body := call(t, f.h, post("/v1/profiles/"+f.live+"/split", `{"profileId":"`+f.merged+`"}`, auth))
	require.Equal(t, http.StatusUnprocessableEntity, status, body)
	require.Contains(t, body["error"], "too long to split")
	status, body = call(t, f.h, get("/v1/profiles/"+f.merged+"/merges", nil, auth))
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["merges"], 1, "still merged")
}
