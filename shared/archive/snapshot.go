package archive

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Profile is one row of the profiles table: a live profile as the daily snapshot found it. Each
// snapshot is a partition of its own (dt = the snapshot's date): a query reads one, usually the
// latest (`WHERE dt = (SELECT max(dt) FROM profiles)`).
type Profile struct {
	ProfileID      string     `parquet:"profileId" archive:"person"`
	UserID         string     `parquet:"userId,optional"`
	FirstSeen      *time.Time `parquet:"firstSeen,optional,timestamp(millisecond)"`
	LastSeen       *time.Time `parquet:"lastSeen,optional,timestamp(millisecond)"`
	UpdatedAt      *time.Time `parquet:"updatedAt,optional,timestamp(millisecond)"`
	Events         int64      `parquet:"events"`
	PageViews      int64      `parquet:"pageViews"`
	Visits         int64      `parquet:"visits"`
	EngagedSeconds int64      `parquet:"engagedSeconds"`
	LastChannel    string     `parquet:"lastChannel,optional"`
	// AcquisitionChannel is the channel of the person's first touch (profile.Acquisition),
	// FirstOrderChannel and LastOrderChannel the channels of the first and last orders, online or on
	// another sales channel (profile.FirstOrder, LastOrder); NULL when the profile has none.
	AcquisitionChannel string     `parquet:"acquisitionChannel,optional"`
	FirstOrderChannel  string     `parquet:"firstOrderChannel,optional"`
	LastOrderChannel   string     `parquet:"lastOrderChannel,optional"`
	OrderCount         int64      `parquet:"orderCount"`
	Revenue            float64    `parquet:"revenue"`
	FirstOrderAt       *time.Time `parquet:"firstOrderAt,optional,timestamp(millisecond)"`
	RFMSegment         string     `parquet:"rfmSegment,optional"`
	RFMScore           int64      `parquet:"rfmScore,optional"`
	PAlive             *float64   `parquet:"pAlive,optional"`
	CLV                *float64   `parquet:"clv,optional"`
	LapseRisk          *float64   `parquet:"lapseRisk,optional"`
	// Cluster is the name of the customer's group among the daily fit's clusters (score.cluster).
	Cluster string `parquet:"cluster,optional"`
	// Traits and Consent are JSON objects: the profile's traits (as recorded, personal data hashed
	// or redacted) and its latest consent per purpose.
	Traits  string `parquet:"traits,optional" archive:"json"`
	Consent string `parquet:"consent,optional" archive:"json"`
	Groups  string `parquet:"groups,optional" archive:"json"` // a JSON array of group ids
}

// Identifier is one row of the identifiers table: an identifier a live profile is known by, in
// the snapshot of that date. Email addresses and phone numbers are only ever their hashes
// (identity.EmailSHA256, identity.PhoneSHA256).
type Identifier struct {
	ProfileID string `parquet:"profileId" archive:"person"`
	Kind      string `parquet:"kind"` // an identity.Kind: anonymousId, userId, emailSha256, …
	Value     string `parquet:"value"`
}

// Merge is one row of the merges table: a profile id that was merged away and the live profile
// that holds its history at the snapshot's date, so that an event archived before a late merge is
// counted on the right person:
//
//	SELECT coalesce(m.profileId, e.profileId) AS profileId, …
//	FROM events e LEFT JOIN merges m
//	  ON m.mergedId = e.profileId AND m.dt = (SELECT max(dt) FROM merges)
type Merge struct {
	MergedID  string `parquet:"mergedId" archive:"person"`
	ProfileID string `parquet:"profileId" archive:"person"`
}

// FromProfile is the snapshot row of a live profile.
func FromProfile(p profile.Profile) Profile {
	r := Profile{
		ProfileID:          p.ID,
		UserID:             p.UserID,
		FirstSeen:          timeOrNil(p.FirstSeen),
		LastSeen:           timeOrNil(p.LastSeen),
		UpdatedAt:          timeOrNil(p.UpdatedAt),
		Events:             int64(p.Counts.Events),
		PageViews:          int64(p.Counts.PageViews),
		Visits:             int64(p.Visits),
		EngagedSeconds:     int64(p.EngagedSeconds),
		LastChannel:        p.LastChannel,
		AcquisitionChannel: p.Acquisition.Channel, FirstOrderChannel: p.FirstOrder.Channel, LastOrderChannel: p.LastOrder.Channel,
		OrderCount: int64(p.OrderCount),
		Revenue:    p.Revenue,
		Traits:     jsonObject(p.Traits),
		Consent:    jsonObject(p.Consent),
	}
	if len(p.Groups) > 0 {
		b, _ := json.Marshal(p.Groups)
		r.Groups = string(b)
	}
	if s := p.Score; s != nil {
		r.FirstOrderAt = timeOrNil(s.FirstOrderAt)
		if s.RFM != nil {
			r.RFMSegment, r.RFMScore = s.RFM.Segment, int64(s.RFM.Score)
		}
		if s.Value != nil {
			r.PAlive, r.CLV = &s.Value.PAlive, &s.Value.CLV
		}
		if s.Lapse != nil {
			r.LapseRisk = &s.Lapse.Risk
		}
		r.Cluster = s.Cluster
	}
	return r
}

// Identifiers are the identifiers rows of a profile known by ids.
func Identifiers(profileID string, ids []identity.ID) []Identifier {
	out := make([]Identifier, 0, len(ids))
	for _, id := range ids {
		out = append(out, Identifier{ProfileID: profileID, Kind: string(id.Kind), Value: id.Value})
	}
	return out
}

// Merges are the merges rows of a snapshot, from each merged-away profile's MergedInto: every id
// is followed to the end of its chain (a profile merged into one that was merged in turn), so
// each row names a live profile. A chain that loops (which the recording engine never makes) is
// left out rather than followed forever. Rows are sorted by mergedId.
func Merges(mergedInto map[string]string) []Merge {
	out := make([]Merge, 0, len(mergedInto))
	for id := range mergedInto {
		live, ok := id, false
		for range len(mergedInto) + 1 {
			next, merged := mergedInto[live]
			if !merged {
				ok = true
				break
			}
			live = next
		}
		if ok {
			out = append(out, Merge{MergedID: id, ProfileID: live})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MergedID < out[j].MergedID })
	return out
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// jsonObject is a map as JSON text, "" (NULL) when empty.
func jsonObject[V any](m map[string]V) string {
	if len(m) == 0 {
		return ""
	}
	b, err := json.Marshal(m)
	if err != nil {
		return ""
	}
	return string(b)
}
