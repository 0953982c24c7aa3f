package main

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/pii"
)

// A refused request is logged with its reason, which may quote what the sender wrote: an email
// address there is hashed. The sender still reads its own value in the answer.
func TestRefusalsAreLoggedWithoutPersonalData(t *testing.T) {
	h, _, _ := newHandler()
	var logs bytes.Buffer
	h.log = slog.New(slog.NewJSONHandler(&logs, nil))
	resp := answer(t, h, post("/v1/batch", `{"batch":[{"type":"Ann.Lee@example.com","userId":"u"}]}`, "authorization", basic(serverKey)))
	require.Equal(t, 400, resp.StatusCode, resp.Body)
	assert.Contains(t, resp.Body, "Ann.Lee@example.com")
	assert.NotContains(t, logs.String(), "Ann.Lee@")
	assert.Contains(t, logs.String(), pii.HashedPrefix+pii.Hash("ann.lee@example.com"))
}
