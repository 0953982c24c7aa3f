package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/openapi"
	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/objectstore"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// now is the handler's clock in tests.
var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// message waits for the one next message on the profile-updates queue, checks its attributes and
// its schema, and returns its body.
func (f fixture) message(t *testing.T, typ string) []byte {
	t.Helper()
	var got []messagequeue.Delivery
	require.Eventually(t, func() bool {
		ds, err := f.updates.Receive(context.Background(), 10, 0)
		require.NoError(t, err)
		for _, d := range ds {
			require.NoError(t, f.updates.Delete(context.Background(), d))
		}
		got = append(got, ds...)
		return len(got) > 0
	}, 15*time.Second, 20*time.Millisecond)
	require.Len(t, got, 1)
	require.Equal(t, typ, got[0].Type)
	require.Equal(t, 1, got[0].Version)
	require.NoError(t, schemas.Validate(typ, 1, got[0].Body), "%s matches its schema: %s", typ, got[0].Body)
	return got[0].Body
}

func put(path, body, auth string) events.APIGatewayV2HTTPRequest {
	req := get(path, nil, auth)
	req.RequestContext.HTTP.Method = http.MethodPut
	req.RouteKey = "PUT /v1/profiles/{profileId}/consent"
	req.Body = body
	return req
}

func TestErasureIsAnnounced(t *testing.T) {
	f := newFixture(t)
	req := get("/v1/profiles/"+f.merged, nil, "Bearer "+f.apiKey)
	req.RouteKey, req.RequestContext.HTTP.Method = "DELETE /v1/profiles/{profileId}", http.MethodDelete
	status, body := call(t, f.h, req)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "complete", body["state"])
	var m message.ProfileErased
	require.NoError(t, json.Unmarshal(f.message(t, message.TypeProfileErased), &m))
	require.Equal(t, message.NewProfileErased(f.live, []string{f.merged}, now), m)

	// When the queue is down nothing is erased unannounced: the caller gets a 503 and repeats.
	g := newFixture(t)
	g.h.updates = broken{}
	req = get("/v1/profiles/"+g.live, nil, "Bearer "+g.apiKey)
	req.RouteKey, req.RequestContext.HTTP.Method = "DELETE /v1/profiles/{profileId}", http.MethodDelete
	status, _ = call(t, g.h, req)
	require.Equal(t, http.StatusServiceUnavailable, status)
	status, _ = call(t, g.h, get("/v1/profiles/"+g.live, nil, "Bearer "+g.apiKey))
	require.Equal(t, http.StatusOK, status, "the profile is still there")
}

// archiveBucket keeps what is put to a bucket (the archive, the reports), and reads it back as S3
// would.
type archiveBucket struct {
	mu      sync.Mutex
	objects map[string][]byte
	fail    error // every call's error, when set
}

func (b *archiveBucket) Get(_ context.Context, key string, limit int64) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	body, ok := b.objects[key]
	switch {
	case b.fail != nil:
		return nil, b.fail
	case !ok:
		return nil, fmt.Errorf("%s: %w", key, objectstore.ErrNotFound)
	case int64(len(body)) > limit:
		return nil, fmt.Errorf("%s: %w", key, objectstore.ErrTooLarge)
	}
	return slices.Clone(body), nil
}

func (b *archiveBucket) List(_ context.Context, prefix string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return nil, b.fail
	}
	var keys []string
	for k := range b.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // S3 lists keys in order
	return keys, nil
}

func (b *archiveBucket) Put(_ context.Context, key string, body []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.objects[key] = body
	return nil
}

// An erasure leaves its request for the archive's erasure pass, naming the person's profile and
// the one merged into it, before anything is erased. When the archive bucket cannot take it,
// nothing is erased or announced: the caller gets a 503 and repeats, which writes it again.
func TestErasureRequestsTheArchive(t *testing.T) {
	f := newFixture(t)
	f.archive.fail = errors.New("bucket down")
	status, body := call(t, f.h, erase(f.merged, "Bearer "+f.apiKey))
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	status, _ = call(t, f.h, get("/v1/profiles/"+f.live, nil, "Bearer "+f.apiKey))
	require.Equal(t, http.StatusOK, status, "the profile is still there")
	ds, err := f.updates.Receive(context.Background(), 10, 0)
	require.NoError(t, err)
	require.Empty(t, ds, "nothing announced")
	require.Empty(t, f.archive.objects)

	f.archive.fail = nil
	status, body = call(t, f.h, erase(f.merged, "Bearer "+f.apiKey))
	require.Equal(t, http.StatusOK, status, body)
	key := archive.NewErasure(f.live, nil, now).PendingKey()
	require.Equal(t, []string{key}, slices.Collect(maps.Keys(f.archive.objects)))
	e, err := archive.ReadErasure(f.archive.objects[key])
	require.NoError(t, err)
	require.Equal(t, archive.NewErasure(f.live, []string{f.merged}, now), e)
	require.NotContains(t, string(f.archive.objects[key]), "u-1", "profile ids only")
	f.message(t, message.TypeProfileErased)

	// Repeated once complete, the erasure writes nothing more.
	clear(f.archive.objects)
	status, _ = call(t, f.h, erase(f.live, "Bearer "+f.apiKey))
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, f.archive.objects)
}

func erase(id, auth string) events.APIGatewayV2HTTPRequest {
	req := get("/v1/profiles/"+id, nil, auth)
	req.RouteKey, req.RequestContext.HTTP.Method = "DELETE /v1/profiles/{profileId}", http.MethodDelete
	return req
}

// An erasure short of time answers 202 with its progress; repeating the request goes on where
// it stopped, by either of the person's profile ids, until 200 and "complete"; repeating it after
// that answers the same. It is announced once, before it starts.
func TestErasureResumes(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	for i := range 6 {
		_, err := f.store.Record(context.Background(), profile.Activity{MessageID: fmt.Sprintf("late%d", i), Type: beacon.Page,
			AnonymousID: "a-phone", At: now.Add(-time.Duration(i) * time.Minute)})
		require.NoError(t, err)
	}
	f.h.profiles = recording.New(profilestore.New(f.db, f.tables), recording.WithTombstoneKey(testKey),
		recording.WithClock(func() time.Time { return now }), recording.WithErasureSteps(2, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // less than the reserve: one step a request
	defer cancel()

	var body map[string]any
	requests := 0
	for ; requests < 30; requests++ {
		resp := serveWithin(t, ctx, f.h, erase([]string{f.live, f.merged}[requests%2], auth))
		body = nil
		require.NoError(t, json.Unmarshal([]byte(resp.Body), &body))
		if resp.StatusCode == http.StatusOK {
			break
		}
		require.Equal(t, http.StatusAccepted, resp.StatusCode, resp.Body)
		require.Equal(t, "in progress", body["state"])
		require.NotContains(t, body, "completedAt")
		if requests == 0 {
			var m message.ProfileErased
			require.NoError(t, json.Unmarshal(f.message(t, message.TypeProfileErased), &m))
			require.Equal(t, f.live, m.ProfileID)
		}
		status, _ := call(t, f.h, get("/v1/profiles/"+f.live, nil, auth))
		require.Equal(t, http.StatusNotFound, status, "a person being erased is not served")
	}
	require.Greater(t, requests, 3, "it took several requests")
	require.Equal(t, map[string]any{"profileId": f.live, "state": "complete", "startedAt": "2025-03-01T12:00:00Z",
		"completedAt": "2025-03-01T12:00:00Z", "profilesErased": 2.0, "identifiersTombstoned": 3.0, "touchpointsDeleted": 9.0}, body)
	for _, id := range []string{f.live, f.merged} {
		again := serve(t, f.h, erase(id, auth))
		require.Equal(t, http.StatusOK, again.StatusCode, "a completed erasure answers what it did, not 404")
		require.JSONEq(t, mustJSON(t, body), again.Body)
	}
	ds, err := f.updates.Receive(context.Background(), 10, 0)
	require.NoError(t, err)
	require.Empty(t, ds, "announced once")
	status, _ := call(t, f.h, erase("prf_nobody", auth))
	require.Equal(t, http.StatusNotFound, status)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

type broken struct{}

func (broken) Send(context.Context, message.Message) error { return errors.New("queue down") }

func TestConsent(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.apiKey
	status, body := call(t, f.h, put("/v1/profiles/"+f.merged+"/consent",
		`{"analytics": true, "marketing": false, "source": "banner", "at": "2025-02-02T10:00:00Z"}`, auth))
	require.Equal(t, http.StatusOK, status, body)
	want := map[string]any{
		"analytics": map[string]any{"granted": true, "at": "2025-02-02T10:00:00Z", "source": "banner"},
		"marketing": map[string]any{"granted": false, "at": "2025-02-02T10:00:00Z", "source": "banner"},
	}
	require.Equal(t, map[string]any{"profileId": f.live, "consent": want}, body)
	var m message.ProfileConsent
	require.NoError(t, json.Unmarshal(f.message(t, message.TypeProfileConsent), &m))
	require.Equal(t, f.live, m.ProfileID)
	require.True(t, m.Consent["analytics"].Granted)

	// An older answer loses; one without "at" is given now and wins.
	status, body = call(t, f.h, put("/v1/profiles/"+f.live+"/consent", `{"marketing": true, "at": "2025-01-01T00:00:00Z"}`, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, want, body["consent"])
	again := f.message(t, message.TypeProfileConsent)
	var m2 message.ProfileConsent
	require.NoError(t, json.Unmarshal(again, &m2))
	require.Equal(t, m.MessageID, m2.MessageID, "the same state has the same messageId")

	status, body = call(t, f.h, put("/v1/profiles/"+f.live+"/consent", `{"marketing": true, "source": "crm"}`, auth))
	require.Equal(t, http.StatusOK, status, body)
	f.message(t, message.TypeProfileConsent)
	status, body = call(t, f.h, get("/v1/profiles/"+f.live, nil, auth))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"granted": true, "at": "2025-03-01T12:00:00Z", "source": "crm"},
		body["consent"].(map[string]any)["marketing"], "the profile shows the consent")

	for _, bad := range []string{``, `[]`, `{}`, `{"Analytics":true}`, `{"source":"x"}`, `{"analytics":"yes"}`, `{"analytics":true,"at":"yesterday"}`,
		`{"analytics":true,"sms":true}`, `{"analytics":true,"source":"` + string(bytes.Repeat([]byte("x"), 201)) + `"}`} {
		status, body := call(t, f.h, put("/v1/profiles/"+f.live+"/consent", bad, auth))
		require.Equal(t, http.StatusBadRequest, status, bad)
		require.NotEmpty(t, body["error"])
		require.Error(t, openapi.ValidateRequest("PUT", "/v1/profiles/{profileId}/consent", "", []byte(bad)), "the document refuses %s too", bad)
	}
	status, _ = call(t, f.h, put("/v1/profiles/prf_nobody/consent", `{"analytics":true}`, auth))
	require.Equal(t, http.StatusNotFound, status)

	f.h.updates = broken{}
	status, _ = call(t, f.h, put("/v1/profiles/"+f.live+"/consent", `{"analytics":false}`, auth))
	require.Equal(t, http.StatusServiceUnavailable, status, "an unpublished change is reported, so the caller repeats it")
}
