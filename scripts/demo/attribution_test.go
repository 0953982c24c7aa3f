package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/attribution"
)

// A report's attribution.csv, cut down: two goals, both levels, models the table shows and some it
// does not, empty cells, a quoted campaign name.
const cannedAttribution = `goal,by,model,name,conversions,value,removal_effect,spend,cpa,roas
order,channel,first-touch,email,0,0,,,,
order,channel,first-touch,organic search,2,355,,,,
order,channel,first-touch,paid search,1,89,,120,120,0.7416666666666667
order,channel,first-touch,paid social,1,59,,,,
order,channel,last-touch,email,2,299,,,,
order,channel,last-touch,organic search,0,0,,,,
order,channel,last-touch,paid search,0,0,,120,,0
order,channel,last-touch,paid social,1,59,,,,
order,channel,last-non-direct,email,2,299,,,,
order,channel,linear,email,1,149.5,,,,
order,channel,linear,organic search,1.3333333333333333,153.33333333333334,,,,
order,channel,linear,paid search,0.5,44.5,,,,
order,channel,linear,paid social,1.1666666666666667,100.66666666666667,,,,
order,channel,markov,email,1.254,181.75,0.61,,,
order,channel,markov,organic search,1.1,190.2,0.55,,,
order,channel,markov,paid search,0.4,31.02,0.2,120,300,0.258375
order,channel,markov,paid social,1.246,95.04,0.6,,,
order,channel,shapley,email,1.5,200,,,,
order,campaign,first-touch,"paid search / trail-shoes, brand",1,89,,,,
sign-up,channel,first-touch,email,7,0,,,,
sign-up,channel,markov,email,7,0,1,,,
`

func TestAttributionTable(t *testing.T) {
	tab, err := ParseAttribution(strings.NewReader(cannedAttribution), "order", "channel")
	if err != nil {
		t.Fatal(err)
	}
	// The models the report has, in the order of the reports; shapley and last-non-direct are not
	// the table's, position-based and time-decay are not in this report.
	if want := []string{"first-touch", "last-touch", "linear", "markov"}; !slices.Equal(tab.Models, want) {
		t.Errorf("models %q, want %q", tab.Models, want)
	}
	var names []string
	for _, r := range tab.Rows {
		names = append(names, r.Name)
	}
	if want := []string{"email", "paid social", "organic search", "paid search"}; !slices.Equal(names, want) {
		t.Errorf("rows %q, want them by markov credit %q", names, want)
	}
	if got, ok := tab.Total("first-touch"); !ok || got != 4 {
		t.Errorf("first-touch total %v %v, want 4", got, ok)
	}
	if _, ok := tab.Total("time-decay"); ok {
		t.Error("time-decay total given for a report without it")
	}
	want := `channel         first-touch  last-touch  linear  markov  value (markov)
email                  0.00        2.00    1.00    1.25          181.75
paid social            1.00        1.00    1.17    1.25           95.04
organic search         2.00        0.00    1.33    1.10          190.20
paid search            1.00        0.00    0.50    0.40           31.02
total                  4.00        3.00    4.00    4.00          498.01
`
	if got := tab.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}

	// The other level and goal are read as well; columns are found by name.
	camp, err := ParseAttribution(strings.NewReader(cannedAttribution), "order", "campaign")
	if err != nil || len(camp.Rows) != 1 || camp.Rows[0].Name != "paid search / trail-shoes, brand" {
		t.Errorf("campaign level: %+v %v", camp, err)
	}
	reordered := "name,model,by,goal,value,conversions\nemail,markov,channel,order,3.5,0.25\n"
	if r, err := ParseAttribution(strings.NewReader(reordered), "order", "channel"); err != nil || r.Rows[0].Value != 3.5 || r.Rows[0].Conversions["markov"] != 0.25 {
		t.Errorf("reordered columns: %+v %v", r, err)
	}

	for name, bad := range map[string]string{
		"no such goal":   strings.Replace(cannedAttribution, "order,", "refund,", -1),
		"missing column": "goal,by,model,name,value\norder,channel,markov,email,1\n",
		"bad number":     "goal,by,model,name,conversions,value\norder,channel,markov,email,x,1\n",
		"empty":          "",
	} {
		if _, err := ParseAttribution(strings.NewReader(bad), "order", "channel"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The table's models are named as shared/attribution names them, so that the report's rows match.
func TestAttributionModelNames(t *testing.T) {
	var names []string
	for _, m := range attribution.Models() {
		names = append(names, m.Name)
	}
	for _, m := range append(tableModels, sortModel) {
		if !slices.Contains(names, m) {
			t.Errorf("model %q is not one of shared/attribution's %q", m, names)
		}
	}
}

// Get sends the profile API key, returns a 200's body, says "not yet" on a 404 and refuses a body
// larger than it reads.
func TestAttributionReportGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pk_test" {
			http.Error(w, "unauthorised", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/v1/reports/latest/attribution.csv":
			w.Write([]byte(cannedAttribution))
		case "/huge":
			w.Write(make([]byte, maxGetBytes+1))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c := Client{API: srv.URL, ProfileKey: "pk_test", HTTP: &http.Client{Timeout: 10 * time.Second}}
	if body, err := c.Get(ctx, "/v1/reports/latest/attribution.csv"); err != nil || body != cannedAttribution {
		t.Errorf("report: %q %v", body, err)
	}
	if _, err := c.Get(ctx, "/v1/reports/latest/none.csv"); !errors.Is(err, errNotYet) {
		t.Errorf("404: %v, want errNotYet", err)
	}
	if _, err := c.Get(ctx, "/huge"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized body: %v", err)
	}
	c.ProfileKey = "pk_other"
	if _, err := c.Get(ctx, "/v1/reports/latest/attribution.csv"); err == nil || errors.Is(err, errNotYet) || !strings.Contains(err.Error(), "401") {
		t.Errorf("401: %v", err)
	}
}
