package main

import (
	"context"
	"time"

	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// computedValues are the computed traits' values kept on p at now (recording.Traits), with the
// definitions in force (h.definitions: membership.Source, the cache recording's functions use);
// nil when none is defined. When the definitions cannot be read the view goes without them rather
// than failing.
func (h *handler) computedValues(ctx context.Context, p profile.Profile, now time.Time) map[string]any {
	if h.definitions == nil {
		return nil
	}
	defs, err := h.definitions.Audiences(ctx)
	if err != nil {
		return nil
	}
	return recording.Traits(defs.Traits, p, now)
}

// viewWithTraits is the view of p with its computed traits' values.
func (h *handler) viewWithTraits(ctx context.Context, p profile.Profile, err error) (any, error) {
	if err != nil {
		return viewOf(p), err
	}
	v := viewOf(p)
	v.Computed = h.computedValues(ctx, p, h.clock())
	return v, nil
}
