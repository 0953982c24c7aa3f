package recording_test

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/dcrm-project/dcrm/shared/memstore"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
)

// The engine's tests run here on the in-memory store; package profilestore runs the same tests on
// DynamoDB Local.

func inMemory(*testing.T) recording.Storage { return memstore.New() }

func TestBehaviour(t *testing.T) { recordingtest.Behaviour(t, inMemory) }

// propertyCases is how many random populations each property test tries per run: 1,000 in
// `make test`, 200 in `make unit` (-short), which must stay under a minute on two cores.
func propertyCases() int {
	if testing.Short() {
		return 200
	}
	return 1000
}

func TestProperties(t *testing.T) { recordingtest.Properties(t, inMemory, propertyCases()) }

func TestMain(m *testing.M) {
	// The property tests allocate many short-lived profiles; collecting garbage less often makes
	// them run about a third faster.
	debug.SetGCPercent(400)
	os.Exit(m.Run())
}

func TestAudienceProperties(t *testing.T) {
	recordingtest.AudienceProperties(t, inMemory, propertyCases()/5)
}
