package main

import (
	"io"
	"log"
	"strconv"
	"strings"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/pii"
)

// claimed is what the stitcher will read of an event once it has travelled in a stream record.
func claimed(t *testing.T, e beacon.Event) ([]identity.ID, []string) {
	t.Helper()
	rec, err := beacon.EncodeRecord([]beacon.Event{e})
	require.NoError(t, err)
	evs, err := beacon.DecodeRecord(rec)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	return identity.Claims(evs[0])
}

// A mobile SDK's device ids and external ids travel on the stream in the event's context; the
// email among the external ids travels only as its hash.
func TestMobileIdentifiersReachTheStream(t *testing.T) {
	h, _, st := newHandler()
	body := `{"batch":[{"type":"screen","name":"Home","anonymousId":"3C2E4C1B-5A0D-4F52-9E1B-0D1F7B9A8C11","messageId":"m-1",
		"context":{"library":{"name":"analytics-swift","version":"1.5.11"},
			"device":{"id":"B5372DB0-C21E-11E4-8DFC-AA07A5B093DB","advertisingId":"7A3CBEA0-BDF5-11E4-8DFC-AA07A5B093DB",
			          "adTrackingEnabled":true,"manufacturer":"Apple","model":"iPhone14,2","type":"ios"},
			"externalIds":[{"id":"123","type":"crm_id","collection":"users","encoding":"none"},
			               {"id":" Ann@Example.com ","type":"email","collection":"users","encoding":"none"}]}}]}`
	resp := answer(t, h, post("/v1/batch", body, "authorization", basic(browserKey)))
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	require.Len(t, st.events, 1)

	rec := records(t, st)
	assert.NotContains(t, strings.ToLower(rec), "ann@example.com", "the raw email must not reach the stream")
	ids, skipped := claimed(t, st.events[0])
	assert.Empty(t, skipped)
	assert.Equal(t, []identity.ID{
		{Kind: identity.EmailSHA256, Value: pii.Hash("ann@example.com")},
		{Kind: identity.External, Value: "crm_id:123"},
		{Kind: identity.Device, Value: "b5372db0-c21e-11e4-8dfc-aa07a5b093db"},
		{Kind: identity.Advertising, Value: "7a3cbea0-bdf5-11e4-8dfc-aa07a5b093db"},
	}, ids)
	assert.False(t, st.events[0].Trusted, "a mobile app's key is a browser key: its claims join nothing")
}

// Segment's Go SDK, from a back end, sends the device id in context.device and external ids as an
// extension of the context.
func TestServerIdentifiersFromSegmentGoSDK(t *testing.T) {
	h, _, st := newHandler()
	srv := serve(t, h)
	var got outcomes
	client, err := analytics.NewWithConfig(serverKey, analytics.Config{
		Endpoint: srv.URL, Interval: time.Hour, Callback: &got,
		RetryAfter: func(int) time.Duration { return time.Millisecond },
		Logger:     analytics.StdLogger(log.New(io.Discard, "", 0)),
	})
	require.NoError(t, err)
	require.NoError(t, client.Enqueue(analytics.Track{UserId: "48213", Event: "Order Completed", Context: &analytics.Context{
		Device: analytics.DeviceInfo{Id: "e3a1c0de-0000-4bbb-8ccc-1234567890ab"},
		Extra: map[string]any{"externalIds": []map[string]string{
			{"id": "C-77", "type": "loyalty_card", "collection": "users", "encoding": "none"},
			{"id": "acme", "type": "company", "collection": "accounts", "encoding": "none"},
		}},
	}}))
	require.NoError(t, client.Close())
	require.Empty(t, got.failures)
	require.Len(t, st.events, 1)
	assert.True(t, st.events[0].Trusted)

	ids, skipped := claimed(t, st.events[0])
	assert.Equal(t, []identity.ID{
		{Kind: identity.External, Value: "loyalty_card:C-77"},
		{Kind: identity.Device, Value: "e3a1c0de-0000-4bbb-8ccc-1234567890ab"},
	}, ids)
	assert.Equal(t, []string{`context.externalIds[1]: collection "accounts": not a person's id`}, skipped)
}

// A visitor who follows a decorated link from the site's other domain brings that domain's
// anonymous id, which the stitcher reads as a claim beside the event's own.
func TestLinkerIsClaimed(t *testing.T) {
	h, _, st := newHandler()
	dl := "anon-on-a." + strconv.FormatInt(clock.Unix()+60, 10)
	body := `{"type":"page","anonymousId":"anon-on-b","context":{"page":{"url":"https://shop.example/?_dl=` + dl + `"}}}`
	resp := answer(t, h, from(post("/v1/page", body, "authorization", basic(browserKey), "origin", "https://shop.example"), "203.0.113.7", chromeUA))
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	require.Len(t, st.events, 1)

	ids, skipped := claimed(t, st.events[0])
	assert.Empty(t, skipped)
	assert.Equal(t, []identity.ID{identity.AnonymousID("anon-on-a")}, ids)
}
