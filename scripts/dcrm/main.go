// Command dcrm is the operator's tool: manage sources and keys, look up a profile, run a schedule
// now. It talks to the local stack or to AWS through the same SDK configuration (AWS_REGION,
// AWS_ENDPOINT_URL_*, credentials) and the DCRM_* variables that `make up` writes to .dcrm/local.env.
//
//	dcrm source add --name NAME [--origin URL]... [--trusted] [--keep-raw-pii] [--phone-country-code N]
//	                [--rate EVENTS_PER_SECOND]                   prints a new write key
//	dcrm apikey add --name NAME --scopes read,export,… [--expires DATE|90d]
//	                                                             prints a new profile-API key
//	dcrm apikey list                                             the profile-API keys (never the keys)
//	dcrm apikey revoke KEY_ID                                    the profile API refuses the key within 30 s
//	dcrm profile get (PROFILE_ID | --user-id ID | --anonymous-id ID)
//	dcrm profile (events | export | erase) PROFILE_ID              history, data-subject export, erasure
//	dcrm profile merges PROFILE_ID                               how the profiles merged into it joined
//	dcrm profile split PROFILE_ID --from MERGED_ID               undoes the merge of MERGED_ID into it
//	dcrm audience add FILE                                       defines an audience, or replaces its definition
//	dcrm audience list | show ID | rm ID                         the audiences; one's definition; removes one
//	dcrm audience members ID [--limit N] [--json]                its members, as a table or JSON Lines
//	dcrm audience export ID [--purpose seed|suppression|all] [--no-wait | --wait D]  exports its members; prints the files' links
//	dcrm audience sizes ID [--days N]                            its members at each scoring run
//	dcrm trait add FILE|-                                        defines a computed trait, or replaces its definition
//	dcrm trait list | show ID | rm ID                            the computed traits; one's definition; removes one
//	dcrm user add NAME --role viewer|marketer|operator|admin     a console user (the local pool, or Cognito's)
//	dcrm user list | rm NAME                                     the console's users; removes one
//	dcrm schedule run NAME [--at TIME]                           invokes the schedule's function (as of TIME)
//	dcrm replay [--dry-run] [--max N] [--forget-lost] [--queue URL]  replays the failed-events queue
//	dcrm tombstone lift --identifier TYPE:VALUE                  lets an erased identifier be recorded again
//	dcrm rfm --orders FILE --as-of YYYY-MM-DD [--segments FILE] [--convention r|ntile] [--out FILE]
//	                                                             RFM scores and segments per customer (CSV)
//	dcrm fit --transactions FILE --calibration-end YYYY-MM-DD [--horizon 52] [--unit week|day]
//	         [--discount-rate 0.1] [--margin 1] [--out FILE] [--models FILE] [--date-format LAYOUT]
//	                                                             BG/NBD, Pareto/NBD and Gamma-Gamma fits; P(alive),
//	                                                             forecasts and CLV per customer (CSV), parameters on stderr
//	dcrm attribute --paths FILE [--model NAME] [--direct CHANNELS] [--half-life 7d] [--out FILE] [--spend FILE [--from DAY] [--to DAY]] [--svg FILE]
//	                                                             conversions and value per channel by each attribution model (CSV)
//	dcrm import FILE --kind KIND [--map field=Column,…] [--time-layout L] [--timezone Z] [--currency C]
//	     [--nulls V,…] [--comma C] [--format csv|jsonl] [--key KEY] [--no-wait]
//	                                                             uploads a file to the import bucket, waits for its report
//	dcrm import status KEY                                       an import's report
//	dcrm sql ("SELECT …" | --saved NAME | --file FILE | --list) [--format csv|table|jsonl]
//	         [--since DATE] [--bucket B] [--prefix P] [--cache DIR]  SQL on the event archive, as Athena runs it
//	dcrm seed-local --resources FILE --out FILE                  seeds the local stack's credentials
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

var errUsage = errors.New(`usage:
  dcrm source add --name NAME [--origin URL]... [--trusted] [--keep-raw-pii] [--phone-country-code N]
                  [--rate EVENTS_PER_SECOND]
  dcrm apikey add --name NAME --scopes SCOPE[,SCOPE]... [--expires DATE|90d]
      (scopes: read, export, erase, consent, split, audiences, admin)
  dcrm apikey list
  dcrm apikey revoke KEY_ID
  dcrm profile get (PROFILE_ID | --user-id ID | --anonymous-id ID)
  dcrm profile (events | export | erase | merges) PROFILE_ID
  dcrm profile split PROFILE_ID --from MERGED_ID
  dcrm audience add FILE
      (FILE: an audience definition, shared/audience's JSON, checked before it is sent)
  dcrm audience list | show ID | rm ID
  dcrm audience members ID [--limit N] [--json]
  dcrm audience export ID [--purpose seed|suppression|all] [--no-wait | --wait DURATION]
  dcrm audience sizes ID [--days N]
  dcrm trait add FILE|-
      (FILE: a computed-trait definition, shared/computed's JSON, checked before it is sent; -: standard input)
  dcrm trait list | show ID | rm ID
  dcrm user add NAME --role viewer|marketer|operator|admin [--email ADDRESS]
  dcrm user list | rm NAME
  dcrm schedule run NAME [--at RFC3339 | --at YYYY-MM-DD]
  dcrm replay [--dry-run] [--max N] [--forget-lost] [--queue URL]
  dcrm tombstone lift --identifier (email:ADDRESS | phone:+NUMBER | user:ID | anonymous:ID | TYPE:VALUE)
  dcrm rfm --orders FILE --as-of YYYY-MM-DD [--segments FILE] [--convention r|ntile] [--out FILE]
  dcrm fit --transactions FILE --calibration-end YYYY-MM-DD [--horizon 52] [--unit week|day]
           [--discount-rate 0.1] [--margin 1] [--out FILE] [--models FILE] [--date-format LAYOUT]
  dcrm attribute --paths FILE [--model NAME] [--direct CHANNEL[,CHANNEL]...] [--half-life 7d] [--out FILE]
                 [--spend FILE [--from YYYY-MM-DD] [--to YYYY-MM-DD]] [--svg FILE]
      (models: first-touch, last-touch, last-non-direct, linear, position-based, time-decay, markov,
       markov-conversions-only, shapley; default all)
  dcrm goals show | check FILE | set FILE
      (the conversion goals and funnel of the scheduled reports: shared/journey's configuration)
  dcrm import FILE --kind KIND [--map field=Column,...] [--time-layout L] [--timezone Z] [--currency C]
       [--nulls V,...] [--comma C] [--format csv|jsonl] [--key KEY] [--no-wait] [--timeout 30m]
      (kinds: customers, orders, returns, contacts, cases, consents, spend)
  dcrm import status KEY
  dcrm sql ("SELECT …" | --saved NAME | --file FILE | --list) [--format csv|table|jsonl]
           [--since YYYY-MM-DD] [--bucket BUCKET] [--prefix PREFIX] [--cache DIR]
  dcrm seed-local --resources FILE --out FILE`)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dcrm:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// parseInterleaved parses args with fs, flags before, between or after the positional arguments,
// which it returns in order.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional, rest = append(positional, fs.Arg(0)), fs.Args()[1:]
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	cmd := args[0]
	if len(args) > 1 && (cmd == "source" || cmd == "apikey" || cmd == "profile" || cmd == "schedule" || cmd == "tombstone" || cmd == "audience" || cmd == "trait" ||
		(cmd == "import" && args[1] == "status")) {
		cmd += " " + args[1]
		args = args[1:]
	}
	switch cmd {
	case "source add":
		return addSource(ctx, args[1:], out)
	case "apikey add", "apikey list", "apikey revoke":
		return apiKey(ctx, cmd, args[1:], out)
	case "profile get":
		return getProfile(ctx, args[1:], out)
	case "profile events", "profile export", "profile erase", "profile merges":
		return profileOf(ctx, strings.TrimPrefix(cmd, "profile "), args[1:], out)
	case "profile split":
		return splitProfile(ctx, args[1:], out)
	case "audience add", "audience list", "audience show", "audience rm", "audience members", "audience export", "audience sizes":
		return audienceCmd(ctx, strings.TrimPrefix(cmd, "audience "), args[1:], out)
	case "trait add", "trait list", "trait show", "trait rm":
		return traitCmd(ctx, strings.TrimPrefix(cmd, "trait "), args[1:], out)
	case "schedule run":
		return runSchedule(ctx, args[1:], out)
	case "replay":
		return replayFailed(ctx, args[1:], out)
	case "tombstone lift":
		return liftTombstone(ctx, args[1:], out)
	case "rfm":
		return rfmScores(args[1:], out, os.Stderr)
	case "fit":
		return fitBTYD(ctx, args[1:], out, os.Stderr)
	case "attribute":
		return attribute(args[1:], out, os.Stderr)
	case "goals":
		return goals(ctx, args[1:], out)
	case "sql":
		return sqlQuery(ctx, args[1:], out, os.Stderr)
	case "seed-local":
		return seedLocal(ctx, args[1:], out)
	case "import":
		return importFile(ctx, args[1:], out)
	case "import status":
		return importStatus(ctx, args[1:], out)
	case "user":
		return userCmd(ctx, args[1:], out)
	}
	return errUsage
}
