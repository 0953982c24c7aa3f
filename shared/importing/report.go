package importing

import (
	"path"
	"time"
)

// Import states.
const (
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed" // the file could not be read or imported: Error says why
)

// Report is an import's status as the import function writes it (a JSON document beside the
// file, at ReportKey) and `dcrm import status` reads it.
type Report struct {
	Key        string    `json:"key"` // the file's key in the import bucket
	State      string    `json:"state"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	Status
	// Error says why the import failed, for a person; "" unless State is StateFailed.
	Error string `json:"error,omitempty"`
	// RejectionsSent are the rejected rows sent to the failed-events queue (at most
	// MaxRejectionsSent per file; the rest are counted in Rejected alone).
	RejectionsSent int64 `json:"rejectionsSent"`
}

// MaxRejectionsSent bounds the rejected rows of one file that go to the failed-events queue, one
// message each: a file of garbage costs a bounded number of messages, and its status says how
// many rows were refused.
const MaxRejectionsSent = 10_000

// ReportPrefix is where reports are kept in the import bucket: under no kind's prefix, so that
// writing one starts no import.
const ReportPrefix = "status/"

// ReportKey is the key of the report of the file at key.
func ReportKey(key string) string { return ReportPrefix + path.Clean("/" + key)[1:] + ".json" }
