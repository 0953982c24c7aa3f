package profile

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Membership is an audience (package audience) the person is in: recording keeps the list on
// the profile, evaluating the audiences when their inputs change (an event, a scoring run, a window
// expiring).
type Membership struct {
	Audience string    `json:"audience"` // the audience's id
	Since    time.Time `json:"since"`    // when the person entered it
}

// InAudience tells whether the profile's memberships hold audience id.
func (p Profile) InAudience(id string) bool {
	_, ok := slices.BinarySearchFunc(p.Audiences, id, func(m Membership, id string) int { return strings.Compare(m.Audience, id) })
	return ok
}

// AudienceIDs lists the ids of the audiences the person is in, sorted.
func (p Profile) AudienceIDs() []string {
	ids := make([]string, len(p.Audiences))
	for i, m := range p.Audiences {
		ids[i] = m.Audience
	}
	return ids
}

// MaxEventTimes bounds the times EventTimes keeps per name: the newest are kept. A count over a
// window holding more events is a lower bound (it reads at least MaxEventTimes).
const MaxEventTimes = 200

// AddEventTimes adds times to the list of name (an EventKey) in m, keeping it sorted, at most
// MaxEventTimes (the newest), and returns m (made when nil). Two events at one time are two times:
// the caller adds each event once. Adding no times
// still records that the name is counted.
func AddEventTimes(m map[string][]time.Time, name string, times ...time.Time) map[string][]time.Time {
	if m == nil {
		m = map[string][]time.Time{}
	} else {
		m = maps.Clone(m) // a profile's maps are shared with its clones' callers: never changed in place
	}
	list := append(slices.Clone(m[name]), times...)
	for i := range list {
		list[i] = list[i].UTC().Truncate(time.Millisecond) // as events carry times, and as stores keep them
	}
	slices.SortFunc(list, func(a, b time.Time) int { return a.Compare(b) })
	if len(list) > MaxEventTimes {
		list = list[len(list)-MaxEventTimes:]
	}
	if list == nil {
		list = []time.Time{}
	}
	m[name] = list
	return m
}

// PruneEventTimes keeps, of m, only the names in windows, each with the times after now − its
// window; it returns a new map (nil when windows is empty).
func PruneEventTimes(m map[string][]time.Time, windows map[string]time.Duration, now time.Time) map[string][]time.Time {
	if len(windows) == 0 {
		return nil
	}
	out := make(map[string][]time.Time, len(windows))
	for name, w := range windows {
		times, ok := m[name]
		if !ok {
			continue // never counted: the caller seeds it
		}
		from := now.Add(-w)
		i, _ := slices.BinarySearchFunc(times, from, func(t, from time.Time) int {
			if t.After(from) {
				return 1
			}
			return -1
		})
		out[name] = slices.Clone(times[i:])
		if out[name] == nil {
			out[name] = []time.Time{}
		}
	}
	return out
}
