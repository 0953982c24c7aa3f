package profilestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// Scores.
//
// The score fields of a profile (the "scores" map and lapseAlertedAt) are owned by the score
// function: SaveScore writes them and nothing else, without changing the version, and recording
// never writes them, so neither overwrites the other. The attributes of the first scoring model (recencyDays, frequency,
// recencyScore, frequencyScore, score, segment, scoredAt) are removed as scores are saved.

// scoreItem is profile.Score as stored. The nested items have the fields of their profile types in
// the same order, so that they convert to and from them.
type scoreItem struct {
	ScoredAt     time.Time          `dynamo:"scoredAt"`
	ModelVersion int                `dynamo:"modelVersion,omitempty"`
	FirstOrderAt time.Time          `dynamo:"firstOrderAt,omitempty"`
	RFM          *rfmItem           `dynamo:"rfm,omitempty"`
	Value        *valueItem         `dynamo:"value,omitempty"`
	Lapse        *lapseItem         `dynamo:"lapse,omitempty"`
	NextActions  []actionItem       `dynamo:"nextActions,omitempty"`
	Cluster      string             `dynamo:"cluster,omitempty"`
	Lookalikes   map[string]float64 `dynamo:"lookalikes,omitempty"`
	// LookalikeRanks are kept as numbers, one per seed, as the score's lookalikes are.
	LookalikeRanks map[string]int `dynamo:"lookalikeRanks,omitempty"`
}

type rfmItem struct {
	Variant     string  `dynamo:"variant"`
	RecencyDays int     `dynamo:"recencyDays"`
	Frequency   int     `dynamo:"frequency"`
	Monetary    float64 `dynamo:"monetary"`
	R           int     `dynamo:"r"`
	F           int     `dynamo:"f"`
	M           int     `dynamo:"m"`
	Score       int     `dynamo:"score"`
	Segment     string  `dynamo:"segment"`
}

type valueItem struct {
	PAlive            float64 `dynamo:"pAlive"`
	PAlivePareto      float64 `dynamo:"pAlivePareto,omitempty"`
	ExpectedPurchases float64 `dynamo:"expectedPurchases"`
	ExpectedSpend     float64 `dynamo:"expectedSpend"`
	CLV               float64 `dynamo:"clv"`
	CLVPareto         float64 `dynamo:"clvPareto,omitempty"`
	HorizonWeeks      float64 `dynamo:"horizonWeeks"`
}

type lapseItem struct {
	Risk           float64 `dynamo:"risk"`
	PAlive         float64 `dynamo:"pAlive"`
	Activity       float64 `dynamo:"activity"`
	RecentVisits   int     `dynamo:"recentVisits"`
	ExpectedVisits float64 `dynamo:"expectedVisits"`
	Above          bool    `dynamo:"above"`
}

type actionItem struct {
	Kind     string  `dynamo:"kind"`
	Case     string  `dynamo:"case,omitempty"`
	Product  string  `dynamo:"product,omitempty"`
	Category string  `dynamo:"category,omitempty"`
	Form     string  `dynamo:"form,omitempty"`
	Score    float64 `dynamo:"score"`
	Reason   string  `dynamo:"reason"`
}

// legacyScoreFields are the attributes of the first scoring model.
// ErrChanged is returned by a write conditional on what was read (SaveScoreWithAlert,
// ModelStore.Save) when it changed since.
var ErrChanged = errors.New("changed since it was read")

var legacyScoreFields = []string{"recencyDays", "frequency", "recencyScore", "frequencyScore", "score", "segment", "scoredAt"}

func newScoreItem(sc profile.Score) *scoreItem {
	it := &scoreItem{ScoredAt: sc.ScoredAt.UTC(), ModelVersion: sc.ModelVersion, FirstOrderAt: sc.FirstOrderAt.UTC(), Cluster: sc.Cluster,
		Lookalikes: sc.Lookalikes, LookalikeRanks: sc.LookalikeRanks}
	if sc.RFM != nil {
		r := rfmItem(*sc.RFM)
		it.RFM = &r
	}
	if sc.Value != nil {
		v := valueItem(*sc.Value)
		it.Value = &v
	}
	if sc.Lapse != nil {
		l := lapseItem(*sc.Lapse)
		it.Lapse = &l
	}
	for _, a := range sc.NextActions {
		it.NextActions = append(it.NextActions, actionItem(a))
	}
	return it
}

func (it *scoreItem) score() *profile.Score {
	if it == nil || it.ScoredAt.IsZero() {
		return nil
	}
	sc := &profile.Score{ScoredAt: it.ScoredAt, ModelVersion: it.ModelVersion, FirstOrderAt: it.FirstOrderAt, Cluster: it.Cluster,
		Lookalikes: it.Lookalikes, LookalikeRanks: it.LookalikeRanks}
	if it.RFM != nil {
		r := profile.RFMScore(*it.RFM)
		sc.RFM = &r
	}
	if it.Value != nil {
		v := profile.Value(*it.Value)
		sc.Value = &v
	}
	if it.Lapse != nil {
		l := profile.LapseRisk(*it.Lapse)
		sc.Lapse = &l
	}
	for _, a := range it.NextActions {
		sc.NextActions = append(sc.NextActions, profile.NextAction(a))
	}
	return sc
}

// scoreUpdate writes a score on a profile that exists and is not being erased: a score computed
// before an erasure never lands on its tombstone.
func (t *ProfileTable) scoreUpdate(id string, sc profile.Score) *dynamo.Update {
	return t.table.Update("profileId", id).Set("scores", newScoreItem(sc)).Remove(legacyScoreFields...).
		If("attribute_exists('profileId') AND attribute_not_exists('erasedAt')")
}

// SaveScore writes a profile's score, and nothing else. It returns profile.ErrNotFound for a
// profile that no longer exists or is being erased (since it was read).
func (t *ProfileTable) SaveScore(ctx context.Context, id string, sc profile.Score) error {
	err := t.scoreUpdate(id, sc).Run(ctx)
	if dynamo.IsCondCheckFailed(err) {
		return fmt.Errorf("save score of %s: %w", id, profile.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("save score of %s: %w", id, err)
	}
	return nil
}

// SaveScoreWithAlert writes a profile's score and records that a lapse alert was raised at, only
// if the profile's last lapse alert is still previous (zero: none), so that one crossing is
// recorded once. It returns ErrChanged otherwise (another run recorded it, or the profile is gone).
func (t *ProfileTable) SaveScoreWithAlert(ctx context.Context, id string, sc profile.Score, previous, at time.Time) error {
	u := t.scoreUpdate(id, sc).Set("lapseAlertedAt", at.UTC())
	if previous.IsZero() {
		u = u.If("attribute_not_exists('lapseAlertedAt')")
	} else {
		u = u.If("'lapseAlertedAt' = ?", previous.UTC())
	}
	err := u.Run(ctx)
	if dynamo.IsCondCheckFailed(err) {
		return fmt.Errorf("record lapse alert on %s: %w", id, ErrChanged)
	}
	if err != nil {
		return fmt.Errorf("record lapse alert on %s: %w", id, err)
	}
	return nil
}

// liveFilter keeps the profiles that hold a customer's history: not merged into another, not
// being erased.
const liveFilter = "attribute_not_exists('mergedInto') AND attribute_not_exists('erasedAt')"

// ScanSegment reads the live profiles of one segment of a parallel scan of total segments (at most
// 1,000,000), calling fn for each in turn until fn returns false or an error (which is returned).
// The order is the table's, by hash of the profile id: unrelated to what the profiles hold. An
// item that cannot be read as a profile (written by hand, or by a version that stored it
// otherwise) is passed to unreadable (when not nil) with its id and why, and skipped: one bad
// item does not stop the scan of the others.
func (t *ProfileTable) ScanSegment(ctx context.Context, segment, total int, fn func(context.Context, profile.Profile) (bool, error),
	unreadable func(profileID string, err error)) error {
	return t.scanLive(ctx, segment, total, func(ctx context.Context, it profileItem) (bool, error) { return fn(ctx, it.profile()) }, unreadable)
}

// scanLive is ScanSegment's scan, handing fn the items as read.
func (t *ProfileTable) scanLive(ctx context.Context, segment, total int, fn func(context.Context, profileItem) (bool, error),
	unreadable func(profileID string, err error)) error {
	iter := t.table.Scan().Filter(liveFilter).Segment(segment, total).Iter()
	var raw rawItem
	for iter.Next(ctx, &raw) {
		var it profileItem
		if err := dynamo.UnmarshalItem(raw.item, &it); err != nil {
			if unreadable != nil {
				var id string
				_ = dynamo.Unmarshal(raw.item["profileId"], &id)
				unreadable(id, fmt.Errorf("read profile item: %w", err))
			}
			raw = rawItem{}
			continue
		}
		more, err := fn(ctx, it)
		if err != nil || !more {
			return err
		}
		raw = rawItem{}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan profiles (segment %d of %d): %w", segment, total, err)
	}
	return nil
}

// rawItem is an item as DynamoDB returns it, decoded later, so that one that does not decode can
// be told apart from a scan that fails.
type rawItem struct{ item dynamo.Item }

func (r *rawItem) UnmarshalDynamoItem(item dynamo.Item) error {
	r.item = item
	return nil
}

// CountProfiles is the number of items in the Profiles table as DynamoDB last counted them (it
// recounts about every six hours): an estimate, merged and erased profiles included, for planning.
func (t *ProfileTable) CountProfiles(ctx context.Context) (int64, error) {
	d, err := t.table.Describe().Run(ctx)
	if err != nil {
		return 0, fmt.Errorf("describe profiles table: %w", err)
	}
	return d.Items, nil
}
