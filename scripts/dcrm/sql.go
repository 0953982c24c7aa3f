package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dcrm-project/dcrm/shared/archive"
)

// Where `dcrm sql` finds the archive unless its flags say otherwise.
const (
	archiveBucketVar = "DCRM_ARCHIVE_BUCKET" // the archive bucket's name
	archivePrefixVar = "DCRM_ARCHIVE_PREFIX" // the archive's root in the bucket ("" for the bucket's root)
	archiveCacheVar  = "DCRM_ARCHIVE_CACHE"  // the local copy of the archive's files
)

// maxQueryBytes bounds a query read from the command line or a file.
const maxQueryBytes = 1 << 20

// sqlQuery is `dcrm sql`: a query (the argument, a saved query, or a file) run on a local copy of
// the archive bucket with the Athena tables' names; its rows printed as CSV (or --format table,
// jsonl). What was fetched goes to notes.
func sqlQuery(ctx context.Context, args []string, out, notes io.Writer) error {
	fs := flag.NewFlagSet("sql", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	saved := fs.String("saved", "", "run a saved query by name (--list lists them)")
	file := fs.String("file", "", "run the query in this file")
	list := fs.Bool("list", false, "list the saved queries")
	format := fs.String("format", "csv", "csv (with a header line), table or jsonl")
	bucket := fs.String("bucket", os.Getenv(archiveBucketVar), "the archive bucket (default $"+archiveBucketVar+")")
	prefix := fs.String("prefix", os.Getenv(archivePrefixVar), "the archive's root in the bucket (default $"+archivePrefixVar+")")
	cache := fs.String("cache", os.Getenv(archiveCacheVar), "the local copy of the archive (default $"+archiveCacheVar+", else the user's cache folder)")
	since := fs.String("since", "", "read only the partitions of this date (YYYY-MM-DD) and later: older files are not fetched")
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return errUsage
	}
	if *list {
		for _, q := range archive.SavedQueries() {
			fmt.Fprintf(out, "%s\t%s\n", q.Name, q.Description)
		}
		return nil
	}
	sources := len(positional)
	if *saved != "" {
		sources++
	}
	if *file != "" {
		sources++
	}
	if sources != 1 || len(positional) > 1 {
		return errUsage
	}
	var query string
	switch {
	case *saved != "":
		q, ok := archive.SavedQueryNamed(*saved)
		if !ok {
			var names []string
			for _, q := range archive.SavedQueries() {
				names = append(names, q.Name)
			}
			return fmt.Errorf("no saved query %q (saved: %s)", *saved, strings.Join(names, ", "))
		}
		query = q.SQL
	case *file != "":
		b, err := readBounded(*file)
		if err != nil {
			return err
		}
		query = string(b)
	default:
		query = positional[0]
	}
	if len(query) > maxQueryBytes {
		return fmt.Errorf("the query is %d bytes; at most %d", len(query), maxQueryBytes)
	}
	if *bucket == "" {
		return fmt.Errorf("no archive bucket: set %s or pass --bucket (the local stack writes it to .dcrm/local.env)", archiveBucketVar)
	}
	if *prefix != "" && !strings.HasSuffix(*prefix, "/") {
		*prefix += "/"
	}
	if *cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no cache folder: pass --cache or set %s (%v)", archiveCacheVar, err)
		}
		*cache = filepath.Join(dir, "dcrm", "archive")
	}
	if *format != "csv" && *format != "table" && *format != "jsonl" {
		return fmt.Errorf("--format %q: want csv, table or jsonl", *format)
	}

	if _, err := time.Parse(time.DateOnly, *since); *since != "" && err != nil {
		return fmt.Errorf("--since %q: want YYYY-MM-DD", *since)
	}
	return queryArchive(ctx, archiveSource{*bucket, *prefix, *cache, *since}, query, *format, out, notes)
}

// archiveSource is where `dcrm sql` reads the archive: the bucket, the archive's root in it, and
// the local cache of its files.
type archiveSource struct {
	bucket, prefix, cache, since string
}

// archiveClient is an S3 client from the SDK's standard configuration. A local S3 server
// (AWS_ENDPOINT_URL_S3) is addressed by path, as local servers expect.
func archiveClient(ctx context.Context) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	local := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = local }), nil
}

// readBounded reads a query file of at most maxQueryBytes.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxQueryBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxQueryBytes {
		return nil, fmt.Errorf("%s: over %d bytes", path, maxQueryBytes)
	}
	return b, nil
}
