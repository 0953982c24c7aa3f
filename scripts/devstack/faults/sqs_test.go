package faults_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/faults"
)

// SQS is down for a few seconds (connections dropped, then 503s) while stitch records events and
// publishes profile.updated messages: a message that cannot be sent has the batch retried from
// the last record that changed the profile, and the retry publishes the profile again under the
// same messageId (profileId:version). Consumers deduplicate by messageId (events/README.md), so
// the contract is at least once: every profile's latest version arrives, a repeat is the same
// message, and nothing is counted twice on the profile.
func TestSQSOutage(t *testing.T) {
	p := startPipeline(t)
	sends := []string{"SendMessage", "SendMessageBatch"}
	// The outage starts with stitch's first message, for five seconds.
	p.in.Add(faults.Rule{Name: "outage", Service: "sqs", Operations: sends, Times: 1, Drop: true, Hook: func(*http.Request) {
		p.in.Add(faults.Rule{Name: "refused", Service: "sqs", Operations: sends, For: 5 * time.Second, Probability: 0.5, Drop: true})
		p.in.Add(faults.Rule{Name: "unavailable", Service: "sqs", Operations: sends, For: 5 * time.Second, Error: faults.SQSUnavailable})
	}})
	p.wave(3)
	p.settled() // the profiles are written; their messages may still be waiting for SQS
	p.wave(1)   // sent during or after the outage, which ends by itself
	p.settled() // stitch is past every earlier batch, messages sent
	assert.Equal(t, 1, p.in.Fired("outage"))
	assert.Positive(t, p.in.Fired("refused")+p.in.Fired("unavailable"))
	p.noFailedEvents()

	// What the profile-updates queue holds: at least the latest version of each person's profile,
	// and any message sent twice is the same message.
	type update struct {
		MessageID      string `json:"messageId"`
		ProfileID      string `json:"profileId"`
		ProfileVersion int    `json:"profileVersion"`
		Counts         struct {
			Events int `json:"events"`
		} `json:"counts"`
	}
	latest := map[string]update{}
	byID := map[string]update{}
	repeats := 0
	for _, m := range p.drain(topology.ProfileUpdateQueue) {
		var u update
		require.NoError(t, json.Unmarshal(m, &u))
		if u.ProfileID == "" {
			continue // profile.merged
		}
		if seen, ok := byID[u.MessageID]; ok {
			repeats++
			assert.Equal(t, seen, u, "a message sent again is the same message")
		}
		byID[u.MessageID] = u
		if u.ProfileVersion > latest[u.ProfileID].ProfileVersion {
			latest[u.ProfileID] = u
		}
	}
	t.Logf("profile.updated messages: %d distinct, %d repeated", len(byID), repeats)
	for _, who := range p.people {
		v, _ := p.profile(who.devices[0])
		assert.Equal(t, len(who.sent), latest[v.ProfileID].Counts.Events, "%s: the latest version was published", who.userID)
	}
}
