package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
)

// The audience commands keep the audience definitions through the profile API
// (/v1/audiences, functions/profiles), with the key of DCRM_PROFILE_API_KEY: reading needs the
// read scope, add and rm the audiences scope.

// storedAudience is what the profile API answers of an audience.
type storedAudience struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Version    int             `json:"version"`
	UpdatedAt  time.Time       `json:"updatedAt"`
	UpdatedBy  string          `json:"updatedBy"`
	Definition json.RawMessage `json:"definition"`
}

// audienceCmd runs `dcrm audience add|list|show|rm|members|export|sizes`.
func audienceCmd(ctx context.Context, cmd string, args []string, out io.Writer) error {
	switch cmd {
	case "members":
		return audienceMembers(ctx, args, out)
	case "export":
		return exportAudience(ctx, args, out)
	case "sizes":
		return audienceSizes(ctx, args, out)
	}
	switch {
	case cmd == "add" && len(args) == 1:
		return addAudience(ctx, args[0], out)
	case cmd == "list" && len(args) == 0:
		return listAudiences(ctx, out)
	case cmd == "show" && len(args) == 1:
		return showAudience(ctx, args[0], out)
	case cmd == "rm" && len(args) == 1:
		return removeDefinition(ctx, audiencePath(args[0]), args[0], out)
	}
	return errUsage
}

func audiencePath(id string) string { return "/v1/audiences/" + url.PathEscape(id) }

// addAudience reads a definition file, checks it as the profile API will (audience.Parse, the
// size), and only then PUTs it under its id. It prints whether the audience was created or
// replaced, and its version.
func addAudience(ctx context.Context, file string, out io.Writer) error {
	raw, name, err := readDefinition(file, audiencestore.MaxDefinitionBytes)
	if err != nil {
		return err
	}
	def, err := audience.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	status, answer, err := callAPIStatus(ctx, http.MethodPut, audiencePath(def.ID), raw)
	if err != nil {
		return err
	}
	var a storedAudience
	if err := json.Unmarshal(answer, &a); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	what := "replaced"
	if status == http.StatusCreated {
		what = "created"
	}
	_, err = fmt.Fprintf(out, "%s %s (version %d)\n", what, a.ID, a.Version)
	return err
}

// listAudiences prints the audiences as a table: id, name, version, when last updated.
func listAudiences(ctx context.Context, out io.Writer) error {
	answer, err := callAPI(ctx, http.MethodGet, "/v1/audiences", nil)
	if err != nil {
		return err
	}
	var list struct {
		Audiences []storedAudience `json:"audiences"`
	}
	if err := json.Unmarshal(answer, &list); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if len(list.Audiences) == 0 {
		_, err := fmt.Fprintln(out, "no audiences defined (dcrm audience add FILE defines one)")
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tVERSION\tUPDATED")
	for _, a := range list.Audiences {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", a.ID, a.Name, a.Version, a.UpdatedAt.UTC().Format(time.RFC3339))
	}
	return w.Flush()
}

// showAudience prints the audience's definition as stored, which `dcrm audience add` takes back.
func showAudience(ctx context.Context, id string, out io.Writer) error {
	answer, err := callAPI(ctx, http.MethodGet, audiencePath(id), nil)
	if err != nil {
		return err
	}
	var a storedAudience
	if err := json.Unmarshal(answer, &a); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	return printJSON(out, a.Definition)
}
