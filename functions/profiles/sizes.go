package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/dcrm-project/dcrm/shared/audiencestore"
)

// Audience sizes: every scoring run counts each audience's members as it scans the profiles and
// keeps the counts by run in the Audiences table (audiencestore.RecordSizes); these read them.

const (
	// defaultSizeDays is the days of runs GET …/sizes answers without ?days=.
	defaultSizeDays = 30
	// latestSizeDays is the days of runs read for an audience's size: today's and yesterday's
	// (UTC), so that a run finishing over midnight is seen; a size older than that is not shown.
	latestSizeDays = 2
)

// audienceSizes serves GET /v1/audiences/{audienceId}/sizes?days=: the members each scoring run
// of the last days counted, oldest first.
func (h *handler) audienceSizes(ctx context.Context, r request) (any, error) {
	days := defaultSizeDays
	for k, v := range r.QueryStringParameters {
		if k != "days" {
			return nil, badRequest(fmt.Sprintf("unknown parameter %q: use days", k))
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audiencestore.MaxSizeDays {
			return nil, badRequest(fmt.Sprintf("days must be a whole number from 1 to %d", audiencestore.MaxSizeDays))
		}
		days = n
	}
	id, err := h.definedAudience(ctx, r)
	if err != nil {
		return nil, err
	}
	sizes, err := h.audiences.Sizes(ctx, id, days, h.clock())
	if err != nil {
		return nil, audienceError(id, err)
	}
	return audienceSizesOf(id, sizes), nil
}

// latestSize is the members of audience id that the latest whole scoring run of the last
// latestSizeDays counted; nil when none did.
func (h *handler) latestSize(ctx context.Context, id string) (*int64, error) {
	sizes, err := h.audiences.Sizes(ctx, id, latestSizeDays, h.clock())
	if err != nil {
		return nil, err
	}
	for i := len(sizes) - 1; i >= 0; i-- {
		if !sizes[i].Partial {
			n := sizes[i].Members
			return &n, nil
		}
	}
	return nil, nil
}
