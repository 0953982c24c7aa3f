package memstore_test

import (
	"testing"

	"github.com/dcrm-project/dcrm/shared/memstore"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
)

func newStore(*testing.T) recording.Storage { return memstore.New() }

func TestStorageGuarantees(t *testing.T) { recordingtest.Storage(t, newStore) }

func TestMembersIndex(t *testing.T) {
	recordingtest.MembersIndex(t, func(*testing.T) recordingtest.MemberIndexer { return memstore.New() }, 300)
}
