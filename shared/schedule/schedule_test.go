package schedule_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/schedule"
)

// The samples under events/scheduler are what the schedules send, one per schedule, named after
// it: each is a run of its schedule, and sending that run again gives the same JSON.
func TestSamplesAreWhatTheSchedulesSend(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "scheduler", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		e, err := schedule.Parse(raw, name)
		require.NoError(t, err, file)
		require.Equal(t, name, e.Schedule)
		require.JSONEq(t, string(raw), string(schedule.Payload(name, e.Time)), file)
	}
}

func TestPayloadIsARunInWholeSeconds(t *testing.T) {
	at := time.Date(2025, 3, 15, 13, 0, 0, 999_000_000, time.FixedZone("CET", 3600))
	raw := schedule.Payload("score", at)
	require.JSONEq(t, `{"schedule":"score","time":"2025-03-15T12:00:00Z"}`, string(raw))
	e, err := schedule.Parse(raw, "fit", "score")
	require.NoError(t, err)
	require.Equal(t, schedule.Event{Schedule: "score", Time: time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC)}, e)
	encoded, err := json.Marshal(e)
	require.NoError(t, err)
	require.JSONEq(t, string(raw), string(encoded), "an Event encodes as the Input it was read from")
}

func TestParseRefusesWhatIsNotARun(t *testing.T) {
	const at = `"2025-03-15T12:00:00Z"`
	for _, tc := range []struct{ raw, why string }{
		{``, "JSON object"},
		{`not json`, "JSON object"},
		{`null`, "JSON object"},
		{`"run now"`, "JSON object"},
		{`[1,2]`, "JSON object"},
		{`{"schedule":"score","time":` + at + `} {}`, "JSON object"},
		{`{}`, "no schedule"},
		{`{"time":` + at + `}`, "no schedule"},
		{`{"schedule":"","time":` + at + `}`, "no schedule"},
		{`{"schedule":"triggers","time":` + at + `}`, `schedule "triggers" is not one this function runs (fit, score)`},
		{`{"schedule":"Score","time":` + at + `}`, `schedule "Score" is not one`},
		{`{"schedule":7,"time":` + at + `}`, "schedule is not a string"},
		{`{"schedule":"score"}`, "schedule score: no time"},
		{`{"schedule":"score","time":null}`, "schedule score: no time"},
		{`{"schedule":"score","time":"not a time"}`, `time "not a time" is not RFC 3339`},
		{`{"schedule":"score","time":"2025-03-15"}`, `time "2025-03-15" is not RFC 3339`},
		{`{"schedule":"score","time":1742040000}`, "time is not a string"},
		{`{"schedule":"score","time":` + at + `,"source":"dcrm.operator"}`, `unknown field "source"`},
		{`{"part":{"index":0,"parts":4,"segments":4,"asOf":` + at + `}}`, `unknown field "part"`},
		// The EventBridge-shaped envelope the schedules sent before.
		{`{"version":"0","detail-type":"Scheduled Event","source":"aws.scheduler","time":` + at + `,"detail":{"schedule":"score"}}`, `unknown field "detail"`},
	} {
		_, err := schedule.Parse([]byte(tc.raw), "fit", "score")
		require.ErrorIs(t, err, schedule.ErrInvalid, tc.raw)
		require.ErrorContains(t, err, tc.why, tc.raw)
	}
	_, err := schedule.Parse(schedule.Payload("score", time.Now()))
	require.ErrorIs(t, err, schedule.ErrInvalid, "a function that names no schedule runs none")
}

func ExampleParse() {
	e, err := schedule.Parse([]byte(`{"schedule": "fit", "time": "2025-03-15T06:00:00Z"}`), "fit", "score")
	fmt.Println(e.Schedule, e.Time, err)
	_, err = schedule.Parse([]byte(`{"source": "dcrm.demo"}`), "fit", "score")
	fmt.Println(err)
	// Output:
	// fit 2025-03-15 06:00:00 +0000 UTC <nil>
	// not a scheduled run: unknown field "source"
}
