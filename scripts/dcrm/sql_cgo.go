//go:build cgo

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/dcrm-project/dcrm/scripts/dcrm/lake"
)

// queryArchive runs the query on a local copy of the archive with DuckDB (package lake).
func queryArchive(ctx context.Context, src archiveSource, query, format string, out, notes io.Writer) error {
	client, err := archiveClient(ctx)
	if err != nil {
		return err
	}
	l, err := lake.Open(ctx, client, lake.Source{Bucket: src.bucket, Prefix: src.prefix, Cache: src.cache, Since: src.since})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(notes, "archive s3://%s/%s: %d files fetched, %d from the cache (%s)\n", src.bucket, src.prefix, l.Fetched, l.Cached, src.cache)
	return l.Query(ctx, query, format, out)
}
