package audiencestore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/guregu/dynamo/v2"
)

// Audience sizes. Every hourly scoring run reads every profile, so it counts the members of each
// audience as it goes, at no cost of reads: each part of the run adds its counts to the item of
// the run's day (sizesPrefix + the UTC date), one write per part, under attributes named
// "<run time>|<audience id>"; "<run time>|#of" is how many parts the run has, "<run time>|#done"
// how many have added theirs, and "<run time>|#p<index>" marks a part's counts as added, so that
// a part retried (Lambda retries a failed one) does not add them twice. A run's sizes are whole
// when every part added its counts. A day's item holds at most 24 runs × (MaxAudiences + 3)
// numbers, some 150 KB at worst, within DynamoDB's 400 KB.

// sizesPrefix is the audienceId prefix of the day items. Audience ids are lower-case slugs.
const sizesPrefix = "#sizes#"

// MaxSizeDays bounds the days of history Sizes reads.
const MaxSizeDays = 90

// Size is an audience's member count at a run of the scoring schedule.
type Size struct {
	At      time.Time `json:"at"`
	Members int64     `json:"members"`
	// Partial is set while some parts of the run have not counted theirs (or failed): Members is
	// then a lower bound.
	Partial bool `json:"partial,omitempty"`
}

func sizesKey(day time.Time) string { return sizesPrefix + day.UTC().Format(time.DateOnly) }

func sizeName(run time.Time, what string) string {
	return run.UTC().Format(time.RFC3339) + "|" + what
}

// RecordSizes adds the member counts a part (index of parts) of the run at run found, by
// audience id. A part whose counts were added already adds nothing.
func (s *Store) RecordSizes(ctx context.Context, run time.Time, index, parts int, counts map[string]int64) error {
	marker := sizeName(run, "#p"+strconv.Itoa(index))
	u := s.table.Update("audienceId", sizesKey(run)).
		Set(quote(sizeName(run, "#of")), parts).
		Set(quote(marker), true).
		Add(quote(sizeName(run, "#done")), 1).
		If("attribute_not_exists($)", marker)
	for id, n := range counts {
		u.Add(quote(sizeName(run, id)), n)
	}
	err := u.Run(ctx)
	if dynamo.IsCondCheckFailed(err) {
		return nil // added before
	}
	if err != nil {
		return fmt.Errorf("record audience sizes of the run at %s: %w", run.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// quote makes an attribute name a path of its own (guregu/dynamo's quoting), whatever it holds.
func quote(name string) string { return "'" + name + "'" }

// Sizes returns the sizes of audience id at the runs of the days up to now, days of them (at most
// MaxSizeDays), oldest first.
func (s *Store) Sizes(ctx context.Context, id string, days int, now time.Time) ([]Size, error) {
	days = min(max(days, 1), MaxSizeDays)
	keys := make([]dynamo.Keyed, days)
	for i := range days {
		keys[i] = dynamo.Keys{sizesKey(now.AddDate(0, 0, -i))}
	}
	var items []map[string]any
	err := s.table.Batch("audienceId").Get(keys...).All(ctx, &items)
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, fmt.Errorf("read audience sizes: %w", err)
	}
	var out []Size
	for _, it := range items {
		for name, v := range it {
			run, what, ok := strings.Cut(name, "|")
			if !ok || what != "#of" {
				continue
			}
			at, err := time.Parse(time.RFC3339, run)
			if err != nil {
				continue
			}
			size := Size{At: at, Members: int64(number(it[run+"|"+id]))}
			size.Partial = number(it[run+"|#done"]) < number(v)
			out = append(out, size)
		}
	}
	slices.SortFunc(out, func(a, b Size) int { return a.At.Compare(b.At) })
	return out, nil
}

// number reads a number attribute as guregu/dynamo gives it in a map of any; 0 when absent.
func number(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	case int:
		return float64(n)
	}
	return 0
}
