package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/alert"
	"github.com/dcrm-project/dcrm/shared/alertqueue"
	"github.com/dcrm-project/dcrm/shared/lapse"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/profile"
)

var at = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// lapseAlert is the alert the score function sends for p, unseen for 40 days.
func lapseAlert(p profile.Profile) alert.Lapse {
	sc := profile.Score{Value: &profile.Value{PAlive: 0.12, CLV: 35.2}}
	a := lapse.Alert{ProfileID: p.ID, UserID: p.UserID, At: p.LastSeen.Add(40 * 24 * time.Hour),
		Risk: lapse.Risk{Score: 0.88, PAlive: 0.12}, Value: 35.2, Reason: "lapse risk 0.88: P(alive) 0.12; value 35.20"}
	return alert.NewLapse(p, sc, a, time.Time{})
}

// The consumer handles every message type dcrm sends, drops a redelivery by its id, and leaves a
// message it cannot check on the queue (for the dead-letter queue), saying why.
func TestConsumerChecksRoutesAndDropsRepeats(t *testing.T) {
	e := localawstest.Reachable(t)
	for k, v := range e.Environment() {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	alerts, updates := localawstest.NewQueue(t), localawstest.NewQueue(t)
	p := profile.Profile{ID: "prf_1", UserID: "u-1", AnonymousIDs: []string{"a-1"}, FirstSeen: at, LastSeen: at, UpdatedAt: at}
	sent := map[string][]alert.Message{
		alerts: {lapseAlert(p), alert.NewFailedEvent("stitch", "invalid", []byte(`{}`), at)},
		updates: {
			alert.NewProfileUpdated(p, 3, alert.ProfileChanges{Events: 2}),
			alert.NewProfileMerged("prf_0", "prf_1", at),
			alert.NewProfileMerged("prf_0", "prf_1", at), // a redelivery
			alert.NewProfileSplit("prf_1", "prf_0", 1, 2, at),
			alert.NewProfileConsent("prf_1", map[string]profile.Consent{profile.PurposeMarketing: {Granted: true, At: at}}),
			alert.NewProfileErased("prf_1", []string{"prf_0"}, at),
		},
	}
	for url, ms := range sent {
		q := alertqueue.New(e.SQSClient(), url)
		for _, m := range ms {
			require.NoError(t, q.Send(ctx, m))
		}
	}
	// A body its schema refuses, sent by hand.
	_, err := e.SQSClient().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(updates), MessageBody: aws.String(`{"type":"profile.merged","version":1}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			alertqueue.AttrType:    {DataType: aws.String("String"), StringValue: aws.String(alert.TypeProfileMerged)},
			alertqueue.AttrVersion: {DataType: aws.String("Number"), StringValue: aws.String("1")},
		}})
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"--queue", alerts, "--queue", updates, "--once", "--wait", "1s",
		"--schemas", filepath.Join("..", "..", "events", "schemas")}, &out))

	outcomes := map[string]int{}
	handled := map[string]int{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var r report
		require.NoError(t, dec.Decode(&r))
		outcomes[r.Outcome]++
		if r.Outcome == "handled" {
			handled[r.Type]++
		}
		if r.Outcome == "rejected" {
			require.Contains(t, r.Reason, "does not match profile.merged v1")
		}
	}
	require.Equal(t, map[string]int{"handled": 7, "repeat": 1, "rejected": 1}, outcomes)
	require.Equal(t, map[string]int{alert.TypeLapse: 1, alert.TypeFailedEvent: 1, alert.TypeProfileUpdated: 1, alert.TypeProfileMerged: 1,
		alert.TypeProfileSplit: 1, alert.TypeProfileConsent: 1, alert.TypeProfileErased: 1}, handled)

	// The rejected message is still on the queue, in flight until its visibility timeout ends;
	// nothing else is left to receive.
	attrs, err := e.SQSClient().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(updates),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	require.NoError(t, err)
	require.Equal(t, "1", attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	for _, url := range []string{alerts, updates} {
		left, err := e.SQSClient().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		require.NoError(t, err)
		require.Empty(t, left.Messages)
	}
}

func TestSchemasAreIndexedByTypeAndVersion(t *testing.T) {
	s, err := loadSchemas(filepath.Join("..", "..", "events", "schemas"))
	require.NoError(t, err)
	require.Contains(t, s, key(alert.TypeProfileUpdated, alert.ProfileUpdatedVersion))
	require.ErrorContains(t, s.check("nope", 1, []byte(`{}`)), `no schema for type "nope" version 1`)
	require.ErrorContains(t, s.check(alert.TypeProfileMerged, 1, []byte(`not json`)), "not JSON")
	_, err = loadSchemas(t.TempDir())
	require.ErrorContains(t, err, "no JSON Schemas")
}
