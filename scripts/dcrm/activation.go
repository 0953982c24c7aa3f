package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"
)

// The activation commands read an audience's members, export them to files and show the
// audience's size by scoring run, through the profile API (functions/profiles): members and
// sizes need the read scope (the members' hashed identifiers and consent the export scope too),
// export the export scope.

// membersPage is a page of GET /v1/audiences/{audienceId}/members.
type membersPage struct {
	Members []json.RawMessage `json:"members"`
	Next    string            `json:"next"`
}

// member is what the table shows of a member.
type member struct {
	ProfileID string    `json:"profileId"`
	Since     time.Time `json:"since"`
	UserID    string    `json:"userId"`
	Emails    []string  `json:"emailSha256"`
	Phones    []string  `json:"phoneSha256"`
	Marketing string    `json:"marketingConsent"`
}

// maxMembersPage is the largest page the members route answers (a variable for the tests).
var maxMembersPage = 1000

// audienceMembers runs `dcrm audience members ID [--limit N] [--json]`: it pages through the
// members (all of them, or the first N) and prints a table (how many hashed emails and phones
// each has: none are answered to a key without the export scope), or JSON Lines as the API
// answers each member (the hashes themselves).
func audienceMembers(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audience members", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	limit := fs.Int("limit", 0, "at most this many members (default all)")
	asJSON := fs.Bool("json", false, "JSON Lines, one member a line")
	ids, err := parseInterleaved(fs, args)
	if err != nil || len(ids) != 1 || *limit < 0 {
		return errUsage
	}
	var w *tabwriter.Writer
	if !*asJSON {
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PROFILE ID\tSINCE\tUSER ID\tMARKETING\tEMAILS\tPHONES")
	}
	n, cursor := 0, ""
	for *limit == 0 || n < *limit {
		size := maxMembersPage
		if *limit > 0 {
			size = min(size, *limit-n)
		}
		q := url.Values{"limit": {strconv.Itoa(size)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		answer, err := callAPI(ctx, http.MethodGet, audiencePath(ids[0])+"/members?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		var page membersPage
		if err := json.Unmarshal(answer, &page); err != nil {
			return fmt.Errorf("read the answer: %w", err)
		}
		for _, raw := range page.Members {
			n++
			if *asJSON {
				if _, err := fmt.Fprintf(out, "%s\n", raw); err != nil {
					return err
				}
				continue
			}
			var m member
			if err := json.Unmarshal(raw, &m); err != nil {
				return fmt.Errorf("read the answer: %w", err)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\n", m.ProfileID, m.Since.UTC().Format(time.RFC3339), textOrDash(m.UserID), textOrDash(m.Marketing),
				len(m.Emails), len(m.Phones))
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if w != nil {
		if err := w.Flush(); err != nil {
			return err
		}
		if n == 0 {
			_, err := fmt.Fprintf(out, "no members in %s\n", ids[0])
			return err
		}
	}
	return nil
}

func textOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// exportWait bounds how long `dcrm audience export` waits for an export to be done, and
// exportPoll is how often it asks; variables for the tests.
var (
	exportWait = 30 * time.Minute
	exportPoll = time.Second
)

// exportManifest is an export as the profile API answers it.
type exportManifest struct {
	ExportID  string    `json:"exportId"`
	Purpose   string    `json:"purpose"`
	State     string    `json:"state"`
	Reason    string    `json:"reason"`
	AsOf      time.Time `json:"asOf"`
	Members   int       `json:"members"`
	Steps     int       `json:"steps"`
	ExpiresAt time.Time `json:"expiresAt"`
	Files     []struct {
		Name string `json:"name"`
		Rows int    `json:"rows"`
		URL  string `json:"url"`
	} `json:"files"`
}

// exportAudience runs `dcrm audience export ID [--purpose seed|suppression|all] [--no-wait]
// [--wait DURATION]`: it starts an export, which the profile function carries on asynchronously,
// waits for it to be done (showing its progress on stderr; at most --wait) and prints what it
// wrote, each file with its link (valid for an hour). With --no-wait it prints the export's id
// and how to ask for it.
func exportAudience(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audience export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	purpose := fs.String("purpose", "seed", "seed (leaves out who refused marketing), suppression (everyone) or all (both)")
	noWait := fs.Bool("no-wait", false, "print the export's id without waiting for it to be done")
	wait := fs.Duration("wait", exportWait, "how long to wait for the export to be done")
	ids, err := parseInterleaved(fs, args)
	if err != nil || len(ids) != 1 {
		return errUsage
	}
	switch *purpose {
	case "seed", "suppression", "all":
	default:
		return fmt.Errorf("--purpose %q: want seed, suppression or all", *purpose)
	}
	body, err := json.Marshal(map[string]string{"purpose": *purpose})
	if err != nil {
		return err
	}
	answer, err := callAPI(ctx, http.MethodPost, audiencePath(ids[0])+"/exports", body)
	if err != nil {
		return err
	}
	var m exportManifest
	if err := json.Unmarshal(answer, &m); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	path := audiencePath(ids[0]) + "/exports/" + m.ExportID
	if *noWait {
		fmt.Fprintf(out, "export %s of %s: %s; GET %s shows its state and, once done, its files\n", m.ExportID, ids[0], m.State, path)
		return nil
	}
	deadline := time.Now().Add(*wait)
	shown := -1
	for m.State == "running" {
		if m.Members != shown {
			fmt.Fprintf(os.Stderr, "export %s: running, %d members read in %d steps\n", m.ExportID, m.Members, m.Steps)
			shown = m.Members
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("export %s still running after %v (%d members read); GET %s shows its state", m.ExportID, *wait, m.Members, path)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(exportPoll):
		}
		if answer, err = callAPI(ctx, http.MethodGet, path, nil); err != nil {
			return err
		}
		if err := json.Unmarshal(answer, &m); err != nil {
			return fmt.Errorf("read the answer: %w", err)
		}
	}
	if m.State != "done" {
		return fmt.Errorf("export %s %s: %s", m.ExportID, m.State, m.Reason)
	}
	fmt.Fprintf(out, "export %s of %s: %d members, purpose %s, as of %s, kept until %s; links valid for an hour\n",
		m.ExportID, ids[0], m.Members, m.Purpose, m.AsOf.UTC().Format(time.RFC3339), m.ExpiresAt.UTC().Format(time.RFC3339))
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FILE\tROWS\tLINK")
	for _, f := range m.Files {
		fmt.Fprintf(w, "%s\t%d\t%s\n", f.Name, f.Rows, textOrDash(f.URL))
	}
	return w.Flush()
}

// audienceSizes runs `dcrm audience sizes ID [--days N]`: the members each scoring run counted,
// oldest first.
func audienceSizes(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audience sizes", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	days := fs.Int("days", 30, "days of runs, 1 to 90")
	ids, err := parseInterleaved(fs, args)
	if err != nil || len(ids) != 1 {
		return errUsage
	}
	answer, err := callAPI(ctx, http.MethodGet, audiencePath(ids[0])+"/sizes?days="+strconv.Itoa(*days), nil)
	if err != nil {
		return err
	}
	var list struct {
		Sizes []struct {
			At      time.Time `json:"at"`
			Members int64     `json:"members"`
			Partial bool      `json:"partial"`
		} `json:"sizes"`
	}
	if err := json.Unmarshal(answer, &list); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if len(list.Sizes) == 0 {
		_, err := fmt.Fprintf(out, "no scoring run counted %s in the last %d days\n", ids[0], *days)
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RUN\tMEMBERS\t")
	for _, s := range list.Sizes {
		note := ""
		if s.Partial {
			note = "partial: some parts of the run have not counted yet"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\n", s.At.UTC().Format(time.RFC3339), s.Members, note)
	}
	return w.Flush()
}
