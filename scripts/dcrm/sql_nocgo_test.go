//go:build !cgo

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSQLWithoutCgo(t *testing.T) {
	t.Setenv(archiveBucketVar, "dcrm-archive")
	err := run(context.Background(), []string{"sql", "SELECT 1"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "cgo") {
		t.Errorf("err = %v, want a clear word that dcrm sql needs cgo", err)
	}
}
