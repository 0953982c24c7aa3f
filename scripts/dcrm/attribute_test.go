package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/shared/datasets"
)

// pathDataset is ../shared/datasets/attribution/PathData.csv relative to the repository root: the
// demo data PathData of the R package ChannelAttribution 2.2.4 (10,000 aggregated paths over 12
// channels).
func pathDataset(t *testing.T) string {
	t.Helper()
	file := datasets.Path("attribution", "PathData.csv")
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the public data set PathData.csv must be in ../shared/datasets/attribution beside the repository: %v", err)
	}
	return file
}

// TestAttributeCommand runs every model on PathData through run, as `dcrm attribute` does, and finds
// figures of the package's validation (shared/attribution/validation_test.go) in the CSV, to full
// precision.
func TestAttributeCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"attribute", "--paths", pathDataset(t)}, &out); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"model", "channel", "conversions", "value", "removal_effect", "value_removal_effect"}; !slices.Equal(rows[0], want) {
		t.Fatalf("header %v, want %v", rows[0], want)
	}
	if len(rows) != 1+9*12 {
		t.Errorf("%d rows, want a header and 9 models × 12 channels", len(rows))
	}
	byKey := map[string]string{}
	for _, r := range rows[1:] {
		byKey[r[0]+" "+r[1]] = strings.Join(r[2:], ",")
	}
	for key, want := range map[string]string{
		"first-touch alpha":          "6308,19121.272355798723,,",
		"last-touch delta":           "5,10.972,,",
		"linear beta":                "2083.5001445890803,8954.266716607803,,",
		"markov alpha":               "5344.947682085163,18799.17062619157,0.5583994895077469,0.5229855895869646",
		"markov-conversions-only mi": "1.8929699432300542,6.126114716235315,0.0002021488263463346,0.00017416805507340159",
	} {
		if got := byKey[key]; got != want {
			t.Errorf("%s: %s, want %s", key, got, want)
		}
	}
}

// writeInput writes content to a new file name in dir and returns its path.
func writeInput(t *testing.T, dir, name, content string) string {
	t.Helper()
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestAttributeCommandOptions(t *testing.T) {
	dir := t.TempDir()
	in := writeInput(t, dir, "paths.csv", "path,total_conversions,total_conversion_value,total_null\n"+
		"\"Search > Direct\",2,20,1\n\"Email > Search > Direct\",1,12,0\n")
	out := filepath.Join(dir, "out.csv")
	var stdout, notes bytes.Buffer
	if err := attribute([]string{"--paths", in, "--model", "last-non-direct", "--out", out}, &stdout, &notes); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Direct is in the default direct set (any case): both paths go to Search.
	want := "model,channel,conversions,value,removal_effect,value_removal_effect\n" +
		"last-non-direct,Direct,0,0,,\nlast-non-direct,Email,0,0,,\nlast-non-direct,Search,3,32,,\n"
	if string(got) != want || stdout.Len() != 0 {
		t.Errorf("--out file:\n%s\nwant\n%s\nstandard output %q", got, want, stdout.String())
	}
	if !strings.Contains(notes.String(), "read 2 paths over 3 channels: 3 conversions, value 32, 1 journeys without conversion") {
		t.Errorf("notes: %q", notes.String())
	}

	// Both channels of the first path direct: its last touch, Direct; the second goes to Email.
	stdout.Reset()
	if err := attribute([]string{"--paths", in, "--model", "last-non-direct", "--direct", "direct,SEARCH"}, &stdout, &notes); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "last-non-direct,Direct,2,20,,\nlast-non-direct,Email,1,12,,\n") {
		t.Errorf("--direct direct,SEARCH:\n%s", stdout.String())
	}

	// Half-life: touches without times are one half-life apart whatever it is.
	stdout.Reset()
	if err := attribute([]string{"--paths", in, "--model", "time-decay", "--half-life", "36h"}, &stdout, &notes); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "time-decay,Email,0.14285714285714285,1.7142857142857142,,\n") {
		t.Errorf("time decay:\n%s", stdout.String())
	}
}

func TestAttributeCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := writeInput(t, dir, "bad.csv", "path,total_conversions\n\"a > b\",1\n\"a > > b\",2\n")
	empty := writeInput(t, dir, "empty.csv", "path,total_conversions\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"attribute"}, "usage"},
		{[]string{"attribute", "--paths", bad, "extra"}, "usage"},
		{[]string{"attribute", "--paths", bad}, "bad.csv: line 3: path touch 2: empty channel name: invalid input"},
		{[]string{"attribute", "--paths", empty}, "empty.csv: no paths"},
		{[]string{"attribute", "--paths", filepath.Join(dir, "missing.csv")}, "no such file"},
		{[]string{"attribute", "--paths", bad, "--model", "last-click"}, `model "last-click": want one of first-touch, last-touch`},
		{[]string{"attribute", "--paths", bad, "--half-life", "-2d"}, `--half-life "-2d": want a positive duration`},
	} {
		err := run(context.Background(), tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.want == "usage") != errors.Is(err, errUsage) {
			t.Errorf("%v: err %v, want %q", tc.args[1:], err, tc.want)
		}
	}
}

// With a spend file as the import writes it, each model's spend, CPA and ROAS per channel: last
// touch gives paid search 3 conversions worth 300 for 150 of spend in the window.
func TestAttributeCommandWithSpend(t *testing.T) {
	dir := t.TempDir()
	paths := writeInput(t, dir, "paths.csv", "path,total_conversions,total_conversion_value,total_null\n"+
		"email > paid search,3,300,0\npaid search > email,1,50,4\n")
	spend := writeInput(t, dir, "spend.jsonl", `{"date":"2026-11-01","channel":"paid search","cost":100,"currency":"EUR"}`+"\n"+
		`{"date":"2026-11-02","channel":"Paid_Search","cost":50,"currency":"EUR"}`+"\n"+
		`{"date":"2026-12-01","channel":"paid search","cost":999,"currency":"EUR"}`+"\n")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"attribute", "--paths", paths, "--model", "last-touch", "--spend", spend, "--to", "2026-11-30"}, &out); err != nil {
		t.Fatal(err)
	}
	want := "model,channel,spend,conversions,value,cpa,roas\n" +
		"last-touch,email,0,1,50,,\n" +
		"last-touch,paid search,150,3,300,50,2\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	bad := writeInput(t, dir, "bad.jsonl", `{"date":"2026-11-01","channel":"a","cost":1,"currency":"EUR"}`+"\n"+`{"date":"2026-11-01","channel":"a","cost":1,"currency":"GBP"}`+"\n")
	if err := run(context.Background(), []string{"attribute", "--paths", paths, "--spend", bad}, &out); err == nil || !strings.Contains(err.Error(), "one currency") {
		t.Errorf("two currencies: %v", err)
	}
}

// --svg draws the results: a well-formed SVG that names every channel of PathData and every model;
// with --spend, also the spend and return under markov.
func TestAttributeCommandSVG(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "attribution.svg")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"attribute", "--paths", pathDataset(t), "--svg", file}, &out); err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, file)
	for _, want := range []string{"alpha", "beta", "delta", "epsilon", "eta", "gamma", "iota", "kappa", "lambda", "mi", "theta", "zeta",
		"first-touch", "markov", "shapley", "Period: paths of PathData.csv (no dates)"} {
		if !slices.Contains(texts, want) {
			t.Errorf("the picture does not show %q", want)
		}
	}

	paths := writeInput(t, dir, "paths.csv", "path,total_conversions,total_conversion_value,total_null\n"+
		"email > paid search,3,300,0\npaid search > email,1,50,4\n")
	spend := writeInput(t, dir, "spend.jsonl", `{"date":"2026-11-01","channel":"paid search","cost":100,"currency":"EUR"}`+"\n")
	if err := run(context.Background(), []string{"attribute", "--paths", paths, "--spend", spend, "--svg", file}, &out); err != nil {
		t.Fatal(err)
	}
	texts = svgTexts(t, file)
	for _, want := range []string{"email", "paid search", "Spend and return under markov (EUR)", "Period: spend from 2026-11-01 to 2026-11-01; paths of paths.csv"} {
		if !slices.Contains(texts, want) {
			t.Errorf("the picture does not show %q in %q", want, texts)
		}
	}
}

// svgTexts decodes the whole SVG file, failing unless it is well-formed with an <svg> root, and
// returns the contents of its <text> elements.
func svgTexts(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	var texts []string
	var root string
	inText := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed: %v", file, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Space + " " + tok.Name.Local
			}
			if inText = tok.Name.Local == "text"; inText {
				texts = append(texts, "")
			}
		case xml.CharData:
			if inText {
				texts[len(texts)-1] += string(tok)
			}
		case xml.EndElement:
			inText = false
		}
	}
	if root != "http://www.w3.org/2000/svg svg" {
		t.Fatalf("root %q, want an svg element", root)
	}
	return texts
}
