package profile

import (
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
