package datasets

import (
	"os"
	"testing"
)

func TestTheSetsAreFound(t *testing.T) {
	if _, err := os.Stat(Path("README.md")); err != nil {
		t.Fatalf("the data sets' README: %v", err)
	}
	if _, err := os.Stat(OnlineRetail()); err != nil {
		t.Fatalf("online retail: %v", err)
	}
}
