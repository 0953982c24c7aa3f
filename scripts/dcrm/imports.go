package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/importing"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// importFile uploads a file to the import bucket under its kind's prefix, its options as the
// upload's metadata (functions/import reads them), and waits for the import's report:
//
//	dcrm import FILE --kind KIND [--map field=Column,…] [--time-layout L] [--timezone Z]
//	     [--currency C] [--nulls V,…] [--comma C] [--format csv|jsonl] [--key KEY] [--no-wait]
//
// The options are checked here first, as the import would, so a mistake is said at once.
func importFile(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kind := fs.String("kind", "", "what the rows are: "+kindNames())
	opts := map[string]*string{}
	for _, name := range importing.Options {
		opts[name] = fs.String(name, "", "the import's "+name+" (see shared/importing)")
	}
	key := fs.String("key", "", "where in the import bucket (default KIND/<time>-<file name>)")
	noWait := fs.Bool("no-wait", false, "upload and return, without waiting for the report")
	wait := fs.Duration("timeout", 30*time.Minute, "how long to wait for the report")
	files, err := parseInterleaved(fs, args)
	if err != nil || len(files) != 1 || *kind == "" {
		return fmt.Errorf("%w (dcrm import FILE --kind KIND …)", errUsage)
	}
	file := files[0]
	k, err := importing.ParseKind(*kind)
	if err != nil {
		return err
	}
	spec := importing.Spec{Kind: k}
	meta := map[string]string{}
	for _, name := range importing.Options {
		if v := *opts[name]; v != "" {
			if err := spec.SetOption(name, v); err != nil {
				return err
			}
			meta["dcrm-"+name] = v
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if *key == "" {
		*key = fmt.Sprintf("%s/%s-%s", k, time.Now().UTC().Format("20060102T150405Z"), filepath.Base(file))
	}
	if !strings.HasPrefix(*key, string(k)+"/") {
		return fmt.Errorf("--key %s is not under the kind's prefix %s/", *key, k)
	}
	c, bucket, err := importBucket(ctx)
	if err != nil {
		return err
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(*key), Body: f, Metadata: meta}); err != nil {
		return fmt.Errorf("upload %s: %w", file, err)
	}
	fmt.Fprintf(out, "uploaded %s to %s\n", file, *key)
	if *noWait {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	for {
		rep, found, err := readReport(ctx, c, bucket, *key)
		if err != nil {
			return err
		}
		if found && rep.State != importing.StateRunning {
			writeReport(out, rep)
			if rep.State == importing.StateFailed {
				return errors.New("the import failed")
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no report of %s yet (dcrm import status %s): %w", *key, *key, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// importStatus prints the report of an import: dcrm import status KEY.
func importStatus(ctx context.Context, args []string, out io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("%w (dcrm import status KEY)", errUsage)
	}
	c, bucket, err := importBucket(ctx)
	if err != nil {
		return err
	}
	rep, found, err := readReport(ctx, c, bucket, args[0])
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("no report of %s: it was not imported (yet)", args[0])
	}
	writeReport(out, rep)
	return nil
}

func importBucket(ctx context.Context) (*s3.Client, string, error) {
	bucket := os.Getenv(topology.Default().EnvVar(topology.ImportBucket))
	if bucket == "" {
		return nil, "", fmt.Errorf("%s is not set (source .dcrm/local.env, or the stack's output)", topology.Default().EnvVar(topology.ImportBucket))
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, "", err
	}
	return localaws.S3Client(cfg), bucket, nil
}

func readReport(ctx context.Context, c *s3.Client, bucket, key string) (importing.Report, bool, error) {
	var rep importing.Report
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(importing.ReportKey(key))})
	var missing *s3types.NoSuchKey
	if errors.As(err, &missing) {
		return rep, false, nil
	}
	if err != nil {
		return rep, false, fmt.Errorf("read the report of %s: %w", key, err)
	}
	defer obj.Body.Close()
	if err := json.NewDecoder(obj.Body).Decode(&rep); err != nil {
		return rep, false, fmt.Errorf("read the report of %s: %w", key, err)
	}
	return rep, true, nil
}

// writeReport prints a report for a person, then the report as JSON.
func writeReport(out io.Writer, rep importing.Report) {
	fmt.Fprintf(out, "%s: %s; %d rows: %d imported, %d rejected, %d duplicates; %d events, %d spend records\n",
		rep.Key, rep.State, rep.Rows, rep.Imported, rep.Rejected, rep.Duplicates, rep.Events, rep.Spend)
	if rep.Error != "" {
		fmt.Fprintln(out, "error:", rep.Error)
	}
	if len(rep.UnknownColumns) > 0 {
		fmt.Fprintln(out, "columns no field reads:", strings.Join(rep.UnknownColumns, ", "))
	}
	if rep.Rejected > 0 {
		fmt.Fprintf(out, "the rejected rows' lines and reasons are on the failed-events queue (%d of them; dcrm replay lists them)\n", rep.RejectionsSent)
	}
}

func kindNames() string {
	var names []string
	for _, k := range importing.AllKinds {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}
