package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"text/tabwriter"

	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/computed"
)

// The trait commands keep the computed-trait definitions through the profile API (/v1/traits,
// functions/profiles), with the key of DCRM_PROFILE_API_KEY: reading needs the read scope, add and
// rm the audiences scope.

// stdin is what `dcrm trait add -` reads (a variable for the tests).
var stdin io.Reader = os.Stdin

// traitCmd runs `dcrm trait add|list|show|rm`.
func traitCmd(ctx context.Context, cmd string, args []string, out io.Writer) error {
	switch {
	case cmd == "add" && len(args) == 1:
		return addTrait(ctx, args[0], out)
	case cmd == "list" && len(args) == 0:
		return listTraits(ctx, out)
	case cmd == "show" && len(args) == 1:
		answer, err := callAPI(ctx, http.MethodGet, traitPath(args[0]), nil)
		if err != nil {
			return err
		}
		return printJSON(out, answer) // the definition as stored, which add takes back
	case cmd == "rm" && len(args) == 1:
		return removeDefinition(ctx, traitPath(args[0]), args[0], out)
	}
	return errUsage
}

func traitPath(id string) string { return "/v1/traits/" + url.PathEscape(id) }

// readDefinition reads an audience's or a computed trait's definition from a file, or standard
// input for "-", refusing one over max bytes (the profile API's bound) before sending it. name is
// what errors call the source.
func readDefinition(file string, max int) (raw []byte, name string, err error) {
	var in io.Reader = stdin
	name = "standard input"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, file, err
		}
		defer f.Close()
		in, name = f, file
	}
	if raw, err = io.ReadAll(io.LimitReader(in, int64(max)+1)); err != nil {
		return nil, name, fmt.Errorf("read %s: %w", name, err)
	}
	if len(raw) > max {
		return nil, name, fmt.Errorf("%s: over %d bytes: the profile API takes definitions of at most %d KiB", name, max, max>>10)
	}
	return raw, name, nil
}

// removeDefinition deletes the definition at path (an audience or a computed trait) and says so.
func removeDefinition(ctx context.Context, path, id string, out io.Writer) error {
	if _, _, err := callAPIStatus(ctx, http.MethodDelete, path, nil); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "removed %s\n", id)
	return err
}

// addTrait reads a definition from a file (or standard input for "-"), checks it as the profile
// API will (computed.Parse, the size), and only then PUTs it under its id. It prints whether the
// trait was created or replaced.
func addTrait(ctx context.Context, file string, out io.Writer) error {
	raw, name, err := readDefinition(file, audiencestore.MaxTraitBytes)
	if err != nil {
		return err
	}
	def, err := computed.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	status, _, err := callAPIStatus(ctx, http.MethodPut, traitPath(def.ID), raw)
	if err != nil {
		return err
	}
	what := "replaced"
	if status == http.StatusCreated {
		what = "created"
	}
	_, err = fmt.Fprintf(out, "%s %s\n", what, def.ID)
	return err
}

// listTraits prints the computed traits as a table: id, name, event, aggregate (of which
// property), window.
func listTraits(ctx context.Context, out io.Writer) error {
	answer, err := callAPI(ctx, http.MethodGet, "/v1/traits", nil)
	if err != nil {
		return err
	}
	var list struct {
		Traits []json.RawMessage `json:"traits"`
	}
	if err := json.Unmarshal(answer, &list); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if len(list.Traits) == 0 {
		_, err := fmt.Fprintln(out, "no computed traits defined (dcrm trait add FILE defines one)")
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tEVENT\tAGGREGATE\tWITHIN")
	for _, raw := range list.Traits {
		d, err := computed.Parse(raw)
		if err != nil {
			return fmt.Errorf("read the answer: %w", err)
		}
		aggregate, within := d.Aggregate, "all time"
		if d.Property != "" {
			aggregate += " " + d.Property
		}
		if d.Within != "" {
			within = d.Within
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Name, d.Event, aggregate, within)
	}
	return w.Flush()
}
