// Package schedule is what a function run on a schedule is invoked with: the schedule's name and
// the time of the run, as {"schedule": "score", "time": "2025-03-15T12:00:00Z"}. EventBridge
// Scheduler sends it in AWS (the CDK app makes it the schedule's target input and Scheduler fills
// in the time), the local host sends it on the same periods, and the operator's "run now" sends it
// with the current time; all three build it with Input. The functions read it with Parse, which
// refuses anything else. Samples: events/scheduler.
package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// ErrInvalid is the error of input that is not a run of a schedule the function runs.
var ErrInvalid = errors.New("not a scheduled run")

// Event is one run of a schedule.
type Event struct {
	// Schedule is the schedule's name (topology.Schedule.Name).
	Schedule string `json:"schedule"`
	// Time is the time the run is for: the scheduled time, the same on every retry of the run, so
	// that what a function computes as of it comes out the same.
	Time time.Time `json:"time"`
}

// Input is the JSON object of a run of the named schedule. at is the run's time as RFC 3339 text,
// or a placeholder that the sender replaces at each run: the CDK app passes EventBridge
// Scheduler's <aws.scheduler.scheduled-time>, which Scheduler fills in as 2025-03-15T12:00:00Z.
func Input(name, at string) map[string]string {
	return map[string]string{"schedule": name, "time": at}
}

// Payload is the encoded Input of a run at a known time, in whole seconds as Scheduler gives it:
// what the local host and the operator send.
func Payload(name string, at time.Time) []byte {
	b, err := json.Marshal(Input(name, at.UTC().Format(time.RFC3339)))
	if err != nil {
		panic(err) // a map of strings always encodes
	}
	return b
}

// Parse reads a run of one of the named schedules, those the receiving function runs. It refuses
// anything else with an error wrapping ErrInvalid: input that is not a JSON object, a field other
// than schedule and time, a missing or other schedule, a missing time or one not in RFC 3339.
func Parse(raw []byte, names ...string) (Event, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return Event{}, fmt.Errorf(`%w: want a JSON object {"schedule": …, "time": …}`, ErrInvalid)
	}
	var name, at string
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		var dst *string
		switch key {
		case "schedule":
			dst = &name
		case "time":
			dst = &at
		default:
			return Event{}, fmt.Errorf("%w: unknown field %q", ErrInvalid, key)
		}
		if err := json.Unmarshal(fields[key], dst); err != nil {
			return Event{}, fmt.Errorf("%w: %s is not a string", ErrInvalid, key)
		}
	}
	switch {
	case name == "":
		return Event{}, fmt.Errorf("%w: no schedule", ErrInvalid)
	case !slices.Contains(names, name):
		return Event{}, fmt.Errorf("%w: schedule %q is not one this function runs (%s)", ErrInvalid, name, strings.Join(names, ", "))
	case at == "":
		return Event{}, fmt.Errorf("%w: schedule %s: no time", ErrInvalid, name)
	}
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return Event{}, fmt.Errorf("%w: schedule %s: time %q is not RFC 3339 (2025-03-15T12:00:00Z)", ErrInvalid, name, at)
	}
	return Event{Schedule: name, Time: t.UTC()}, nil
}
