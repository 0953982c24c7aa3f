package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/pii"
)

// rawPersonalData are the raw values the events of these tests carry; none may be written.
var rawPersonalData = []string{"ann@", "Ann@", "ann%40", "bob@", "7700", "7946", "Lovelace", "Ada Street"}

// personal is an identify carrying personal data where the first redaction never looked, as an
// endpoint that did not know every rule put it on the stream.
func personal(id string, minute int) beacon.Event {
	e := beaconEvent(beacon.Identify, id, anon1, "", minute)
	e.Traits = json.RawMessage(`{"Email":"Ann@Example.com","contact":{"email":"ann@work.example","mobile":"+44 7700 900123"},"name":"Ada Lovelace","plan":"gold"}`)
	e.Context = json.RawMessage(`{"Traits":{"email":"ann@example.com"},"page":{"url":"https://shop.example/?email=ann%40example.com"}}`)
	e.Properties = json.RawMessage(`{"email":"bob@example.org","phone":"020 7946 0000","address":{"street":"1 Ada Street","city":"Leeds"}}`)
	return e
}

// assertNoPersonalData fails when what was written holds a raw value.
func assertNoPersonalData(t *testing.T, where string, written any) {
	t.Helper()
	b, err := json.Marshal(written)
	require.NoError(t, err)
	for _, raw := range rawPersonalData {
		require.NotContains(t, string(b), raw, "%s keeps raw personal data: %s", where, b)
	}
}

// An event that reached the stream unredacted is redacted before stitch keeps anything of it: the
// profile item, the identities and the touchpoint (the history) hold hashes and "[redacted]".
func TestEventsAreRedactedBeforeTheyAreKept(t *testing.T) {
	st := newStack(t)
	require.Empty(t, st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{record(t, "1", personal("m1", 0))}}).BatchItemFailures)

	assertNoPersonalData(t, "the profiles table", st.items(t, st.tables.Profiles))
	assertNoPersonalData(t, "the identities table", st.items(t, st.tables.Identities))
	assertNoPersonalData(t, "the touchpoints table", st.items(t, st.tables.Touchpoints))

	p, err := st.store.Lookup(context.Background(), identity.AnonymousID(anon1))
	require.NoError(t, err)
	require.Equal(t, "gold", p.Traits["plan"], "what is not personal is kept")
	require.Equal(t, "[redacted]", p.Traits["name"])
	require.Equal(t, map[string]any{"email": "sha256:" + pii.Hash("ann@work.example"), "mobile": "[redacted]"}, p.Traits["contact"])
	// traits.Email was not hashed into "hashed" by that endpoint, so it is hashed in place.
	require.Equal(t, "sha256:"+pii.Hash("ann@example.com"), p.Traits["Email"])

	// An event whose source keeps raw personal data is kept as sent.
	kept := personal("m2", 1)
	kept.RawPII = true
	require.Empty(t, st.run(t, events.KinesisEvent{Records: []events.KinesisEventRecord{record(t, "2", kept)}}).BatchItemFailures)
	p, err = st.store.Lookup(context.Background(), identity.AnonymousID(anon1))
	require.NoError(t, err)
	require.Equal(t, "Ada Lovelace", p.Traits["name"])
}

// Stitch's failed events, and its logs, hold no raw personal data, whatever the source keeps: an
// event it can never record, a record it cannot read, a reason that quotes a value.
func TestFailedEventsAndLogsAreRedacted(t *testing.T) {
	st := newStack(t)
	var logs bytes.Buffer
	st.h.log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	invalid := personal("m1", 0)
	invalid.AnonymousID = "" // no identifier: never recorded
	invalid.RawPII = true
	data, err := beacon.EncodeRecord([]beacon.Event{invalid})
	require.NoError(t, err)
	batch := events.KinesisEvent{Records: []events.KinesisEventRecord{
		poison("1", string(data)),
		poison("2", `{"type":"identify","traits":{"email":"ann@example.com","phone":"+44 7700 900123"},"cut short`),
		poison("3", `{"type":"ann@example.com","messageId":"m3","userId":"u","timestamp":"2025-02-01T09:00:00Z","properties":{"tel":"07700 900123"}}`),
	}}
	require.Empty(t, st.run(t, batch).BatchItemFailures)

	got := st.failedMessages(t, 3)
	for _, f := range got {
		assertNoPersonalData(t, "a failed event", map[string]string{"data": string(f.Data), "reason": f.Reason})
	}
	require.Contains(t, string(got[0].Data), `"Email":"sha256:`+pii.Hash("ann@example.com")+`"`, "hashes stay comparable")
	require.Contains(t, got[2].Reason, `"sha256:`+pii.Hash("ann@example.com")+`"`)
	require.NotEmpty(t, logs.String())
	for _, raw := range rawPersonalData {
		require.NotContains(t, logs.String(), raw, "the log keeps raw personal data")
	}
	require.True(t, strings.Contains(logs.String(), "record set aside"))
}
