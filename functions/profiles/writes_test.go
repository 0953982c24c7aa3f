package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/openapi"
	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
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
