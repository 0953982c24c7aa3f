//go:build !cgo

package main

import (
	"context"
	"errors"
	"io"
)

// queryArchive needs DuckDB, which needs cgo: this dcrm was built without it.
func queryArchive(context.Context, archiveSource, string, string, io.Writer, io.Writer) error {
	return errors.New("this dcrm was built without cgo, and dcrm sql needs it for DuckDB: build it with a C compiler (CGO_ENABLED=1), as `make` does")
}
