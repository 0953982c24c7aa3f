//go:build cgo

// Package lake runs SQL on the event archive (package archive) with an embedded DuckDB: it copies
// the archive's Parquet files from the bucket to a local cache (by ETag: a file already there is
// not fetched again), and makes views with the Athena tables' names, columns and types over them,
// plus macros for the Trino functions that DuckDB names differently, so that a query written
// here runs on Athena unchanged.
//
// DuckDB needs cgo: only the dcrm command imports this package, never a function.
package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/duckdb/duckdb-go/v2" // the "duckdb" database/sql driver

	"github.com/dcrm-project/dcrm/shared/archive"
)

// S3 is the part of the S3 API the lake reads the archive with (*s3.Client).
type S3 interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Lake is an open DuckDB database whose views read a cached copy of the archive.
type Lake struct {
	db    *sql.DB
	since string
	// Fetched and Cached count the files of the last Sync: downloaded, and found in the cache.
	Fetched, Cached int
}

// trinoMacros are Trino functions, as Athena runs them, that DuckDB lacks or names differently.
// DuckDB expands a macro into its body, so an aggregate inside one stays an aggregate.
var trinoMacros = []string{
	// json_extract_scalar(json, path): the value at a JSONPath as text (Trino: NULL for an
	// object or an array; DuckDB's json_extract_string returns their JSON text).
	`json_extract_scalar(j, p) AS json_extract_string(j, p)`,
	// from_iso8601_timestamp(text): Trino returns a timestamp with time zone.
	`from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)`,
	// to_iso8601(timestamp): milliseconds and a Z, as Trino writes a UTC timestamp.
	`to_iso8601(t) AS strftime(CAST(t AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%gZ')`,
	// date_format(timestamp, format): Trino takes MySQL's specifiers, which agree with strftime's
	// for %Y %m %d %H %j %a %b %p but not for minutes (%i), seconds (%s) or %M (the month's
	// name): queries meant for both engines use only the first kind (DuckDB wants the format a
	// constant, so it cannot be translated here).
	`date_format(t, f) AS strftime(CAST(t AS TIMESTAMP), f)`,
	`regexp_like(s, p) AS regexp_matches(s, p)`,
	`approx_distinct(x) AS approx_count_distinct(x)`,
}

// duckTypes are the DuckDB types of the archive's SQL types.
var duckTypes = map[string]string{
	archive.String: "VARCHAR", archive.BigInt: "BIGINT", archive.Double: "DOUBLE",
	archive.Boolean: "BOOLEAN", archive.Timestamp: "TIMESTAMP",
}

// Source is where the archive is and which part of it a query reads.
type Source struct {
	Bucket string
	Prefix string // the archive's root in the bucket: "" or ending in "/"
	Cache  string // the local folder files are copied to
	// Since (YYYY-MM-DD, optional) limits every table to the partitions of that date and later:
	// older files are neither listed nor fetched, and the views leave them out.
	Since string
}

// Open syncs the archive's files from the bucket into the cache and opens a database with the
// archive's views over them.
func Open(ctx context.Context, client S3, src Source) (*Lake, error) {
	bucket, prefix, cache := src.Bucket, src.Prefix, src.Cache
	if _, err := time.Parse(time.DateOnly, src.Since); src.Since != "" && err != nil {
		return nil, fmt.Errorf("since %q: want YYYY-MM-DD", src.Since)
	}
	l := &Lake{since: src.Since}
	if strings.Contains("/"+prefix+"/", "/../") || strings.Contains(bucket, "/") || bucket == ".." {
		return nil, fmt.Errorf("bucket %q, prefix %q: no '..' element, no '/' in the bucket", bucket, prefix)
	}
	root, err := filepath.Abs(filepath.Join(cache, bucket, filepath.FromSlash(prefix)))
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, t := range archive.Tables {
		found, err := l.sync(ctx, client, bucket, prefix, t, root)
		if err != nil {
			return nil, err
		}
		present[t.Name] = found
	}
	if l.db, err = sql.Open("duckdb", ""); err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	// One connection: the settings below (the time zone above all) hold for the session that runs
	// the query.
	l.db.SetMaxOpenConns(1)
	setup := []string{"SET TimeZone = 'UTC'"}
	for _, m := range trinoMacros {
		setup = append(setup, "CREATE MACRO "+m)
	}
	for _, t := range archive.Tables {
		setup = append(setup, view(t, root, present[t.Name], l.since))
	}
	// Queries may read the cache and nothing else of the machine; no extension is fetched.
	setup = append(setup,
		"SET allowed_directories = ["+quote(root+string(filepath.Separator))+"]",
		"SET enable_external_access = false",
		"SET autoinstall_known_extensions = false",
		"SET lock_configuration = true")
	for _, s := range setup {
		if _, err := l.db.ExecContext(ctx, s); err != nil {
			l.db.Close()
			return nil, fmt.Errorf("prepare the local archive (%s): %w", s, err)
		}
	}
	return l, nil
}

// Close closes the database.
func (l *Lake) Close() error { return l.db.Close() }

// view is the CREATE VIEW of a table: its columns cast to the Athena types, then the partition
// key read from the files' paths. The files are read by name after an empty row of every column,
// so that a column missing from older files (or from all of them, or a table without files) is
// NULL, as Athena reads Parquet by name, and a column only newer files have is left out.
func view(t archive.Table, root string, hasFiles bool, since string) string {
	var cols, empty []string
	for _, c := range append(t.Columns, t.Partition) {
		cols = append(cols, fmt.Sprintf("CAST(%s AS %s) AS %s", ident(c.Name), duckTypes[c.Type], ident(c.Name)))
		empty = append(empty, fmt.Sprintf("CAST(NULL AS %s) AS %s", duckTypes[c.Type], ident(c.Name)))
	}
	from := "SELECT " + strings.Join(empty, ", ") + " WHERE false"
	if hasFiles {
		from += fmt.Sprintf(" UNION ALL BY NAME SELECT * FROM read_parquet(%s, hive_partitioning = true, hive_types = {%s: VARCHAR}, union_by_name = true)",
			quote(filepath.ToSlash(filepath.Join(root, t.Prefix, "*", "*.parquet"))), quote(t.Partition.Name))
	}
	where := ""
	if since != "" {
		where = " WHERE " + ident(t.Partition.Name) + " >= " + quote(since)
	}
	return fmt.Sprintf("CREATE VIEW %s AS SELECT %s FROM (%s)%s", ident(t.Name), strings.Join(cols, ", "), from, where)
}

func ident(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
func quote(s string) string    { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sync copies the table's files to root and removes cached files the bucket no longer has. It
// tells whether the table has any file.
func (l *Lake) sync(ctx context.Context, client S3, bucket, prefix string, t archive.Table, root string) (bool, error) {
	keep := map[string]bool{}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + t.Prefix)}
	if l.since != "" { // keys sort by date: list from the first partition wanted
		in.StartAfter = aws.String(prefix + t.Prefix + t.Partition.Name + "=" + l.since)
	}
	p := s3.NewListObjectsV2Paginator(client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("list s3://%s/%s%s: %w", bucket, prefix, t.Prefix, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			local, ok := localPath(root, t, key)
			if !ok {
				continue // not a file of the table's layout
			}
			keep[local] = true
			if err := l.fetch(ctx, client, bucket, aws.ToString(o.Key), aws.ToString(o.ETag), local); err != nil {
				return false, err
			}
		}
	}
	dir := filepath.Join(root, filepath.FromSlash(t.Prefix))
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || keep[strings.TrimSuffix(path, ".etag")] {
			return err
		}
		if dt := strings.TrimPrefix(filepath.Base(filepath.Dir(path)), t.Partition.Name+"="); dt < l.since {
			return nil // before the partitions listed: kept for a later query that wants them
		}
		return os.Remove(path)
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("clean the cache: %w", err)
	}
	return len(keep) > 0, nil
}

// localPath is where a key of the table is cached, when it is a file of the table's layout
// (archive.ParseKey): root/PREFIX/dt=DATE/NAME.parquet.
func localPath(root string, t archive.Table, key string) (string, bool) {
	kt, dt, name, ok := archive.ParseKey(key)
	if !ok || kt.Name != t.Name {
		return "", false
	}
	return filepath.Join(root, filepath.FromSlash(t.Prefix), t.Partition.Name+"="+dt, name), true
}

// fetch downloads the object to local unless the cache holds it at this ETag.
func (l *Lake) fetch(ctx context.Context, client S3, bucket, key, etag, local string) error {
	if etag != "" {
		if held, err := os.ReadFile(local + ".etag"); err == nil && string(held) == etag {
			if _, err := os.Stat(local); err == nil {
				l.Cached++
				return nil
			}
		}
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(local), ".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, out.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), local); err != nil {
		return err
	}
	l.Fetched++
	return os.WriteFile(local+".etag", []byte(etag), 0o600)
}
