package journey

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/archive"
)

const exampleConfig = `{
  "lookback": "14d",
  "goals": [
    {"name": "order", "event": "Order Completed", "value": {"property": ["revenue", "total"]}},
    {"name": "big order", "event": "order_completed", "where": [{"property": "properties.revenue", "op": ">=", "value": 100}], "value": {"property": "revenue"}},
    {"name": "newsletter", "event": "Form Submitted", "where": [{"property": "form_id", "op": "==", "value": "newsletter"}], "value": {"fixed": 2}},
    {"name": "whitepaper", "page": "Whitepaper Thanks"},
    {"name": "nested", "event": "Lead", "where": [{"property": "lead.score", "op": ">", "value": 5}, {"property": "test", "op": "!=", "value": true}]}
  ],
  "funnel": {"name": "checkout", "within": "12h", "steps": [{"event": "Product Viewed"}, {"name": "cart", "event": "Product Added"}]}
}`

func TestParseConfigAndMatch(t *testing.T) {
	c, err := ParseConfig([]byte(exampleConfig))
	require.NoError(t, err)
	require.Equal(t, 14*day, c.LookbackOrDefault())
	require.Equal(t, "cart", c.Funnel.Steps[1].Label())
	require.Equal(t, "Product Viewed", c.Funnel.Steps[0].Label())
	m := newMatcher(c)
	match := func(e archive.Event) map[string]float64 {
		convs, _ := m.match(&e)
		out := map[string]float64{}
		for _, cv := range convs {
			out[c.Goals[cv.Goal].Name] = cv.Value
		}
		return out
	}
	track := func(name, props string) archive.Event {
		return archive.Event{Type: "track", Event: name, Properties: props}
	}
	require.Equal(t, map[string]float64{"order": 120, "big order": 120}, match(track("Order Completed", `{"revenue": 120}`)))
	require.Equal(t, map[string]float64{"order": 80}, match(track("order completed", `{"revenue": "x", "total": "80"}`)))
	require.Equal(t, map[string]float64{"order": 0}, match(track("Order Completed", `{"revenue": -5}`)), "a negative value counts 0")
	require.Equal(t, map[string]float64{"newsletter": 2}, match(track("Form Submitted", `{"form_id": "newsletter"}`)))
	require.Empty(t, match(track("Form Submitted", `{"form_id": "contact"}`)))
	require.Empty(t, match(track("Form Submitted", `not json`)))
	require.Equal(t, map[string]float64{"whitepaper": 0}, match(archive.Event{Type: "page", Name: "Whitepaper Thanks"}))
	require.Empty(t, match(track("Whitepaper Thanks", "")), "a page goal is not a track event")
	require.Equal(t, map[string]float64{"nested": 0}, match(track("Lead", `{"lead": {"score": "7"}}`)))
	require.Empty(t, match(track("Lead", `{"lead": {"score": 7}, "test": true}`)))
	require.Empty(t, match(track("Lead", `{"lead": 7}`)))
	_, steps := m.match(&archive.Event{Type: "track", Event: "Product Added"})
	require.Equal(t, uint32(2), steps)
}

func TestConfigErrorsSayWhere(t *testing.T) {
	for doc, want := range map[string]string{
		`{}`: "no goals",
		`{"goals": [{"name": "a", "event": "x"}], "extra": 1}`:                                               `unknown field "extra"`,
		`{"goals": [{"name": "", "event": "x"}]}`:                                                            "goals[0]: name is empty",
		`{"goals": [{"name": "a"}]}`:                                                                         `goals[0] ("a"): want exactly one of event`,
		`{"goals": [{"name": "a", "event": "x", "page": "y"}]}`:                                              "want exactly one of event",
		`{"goals": [{"name": "a", "event": "x"}, {"name": "a", "event": "y"}]}`:                              `goals[1] ("a"): a goal of that name comes before`,
		`{"goals": [{"name": "a", "event": "x", "where": [{"property": "p", "op": "~", "value": 1}]}]}`:      `where[0]: op "~": want one of`,
		`{"goals": [{"name": "a", "event": "x", "where": [{"property": "p", "op": ">", "value": "1"}]}]}`:    "op >: value must be a number",
		`{"goals": [{"name": "a", "event": "x", "where": [{"property": "p", "op": "exists", "value": 1}]}]}`: "exists takes no value",
		`{"goals": [{"name": "a", "event": "x", "where": [{"property": "a..b", "op": "exists"}]}]}`:          "want a name such as",
		`{"goals": [{"name": "a", "event": "x", "value": {"fixed": -1}}]}`:                                   "fixed -1",
		`{"goals": [{"name": "a", "event": "x", "value": {"fixed": 1, "property": "r"}}]}`:                   "not both",
		`{"goals": [{"name": "a", "event": "x", "value": {"prop": "r"}}]}`:                                   "value: want",
		`{"lookback": "forever", "goals": [{"name": "a", "event": "x"}]}`:                                    `duration "forever"`,
		`{"lookback": "-2h", "goals": [{"name": "a", "event": "x"}]}`:                                        "lookback -2h0m0s",
		`{"lookback": "400d", "goals": [{"name": "a", "event": "x"}]}`:                                       "at most 366",
		`{"goals": [{"name": "a", "event": "---"}]}`:                                                         "no letters or digits",
		`{"goals": [{"name": "a", "event": "x"}], "funnel": {"name": "f", "steps": [{"event": "x"}]}}`:       "funnel: 1 steps",
		`{"goals": [{"name": "a", "event": "x"}]} {}`:                                                        "more than one JSON document",
	} {
		_, err := ParseConfig([]byte(doc))
		require.Error(t, err, doc)
		require.True(t, errors.Is(err, ErrConfig), doc)
		require.Contains(t, err.Error(), want, doc)
	}
}

// The default configuration is valid and survives JSON both ways.
func TestDefaultConfigRoundTrips(t *testing.T) {
	c := DefaultConfig()
	require.NoError(t, c.Validate())
	b, err := json.Marshal(c)
	require.NoError(t, err)
	back, err := ParseConfig(b)
	require.NoError(t, err)
	require.Equal(t, c, back)
	require.Contains(t, string(b), `"lookback":"30d"`)
}

// FuzzParseConfig: any input gives a configuration or ErrConfig, never a panic; one it takes
// writes back to JSON that it takes again, equal; and matching events with it never panics.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(exampleConfig))
	b, _ := json.Marshal(DefaultConfig())
	f.Add(b)
	f.Add([]byte(`{"goals":[{"name":"a","event":"x","where":[{"property":"p.q","op":"<=","value":1e308}]}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := ParseConfig(doc)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error without ErrConfig: %v", err)
			}
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("reparse %s: %v", out, err)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(out) {
			t.Fatalf("not stable:\n%s\n%s", out, again)
		}
		m := newMatcher(c)
		for _, g := range c.Goals {
			e := archive.Event{Type: "track", Event: g.Event, Properties: string(doc)}
			if g.Page != "" {
				e = archive.Event{Type: "page", Name: g.Page, Properties: string(doc)}
			}
			m.match(&e)
		}
	})
}
