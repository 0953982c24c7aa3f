package main

import (
	"context"
	"sync"
	"time"

	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// traitsTTL is how long an instance trusts the computed-trait definitions it read: a profile's
// view reads them, and a page of profiles should not read the table each time.
const traitsTTL = 60 * time.Second

// traitSet remembers the computed-trait definitions for traitsTTL.
type traitSet struct {
	mu    sync.Mutex
	set   *computed.Set
	until time.Time
}

// values are the computed traits' values kept on p at now (recording.Traits); nil when none is
// defined. When the definitions cannot be read the view goes without them rather than failing.
func (h *handler) computedValues(ctx context.Context, p profile.Profile, now time.Time) map[string]any {
	if h.audiences == nil || h.traits == nil {
		return nil
	}
	c := h.traits
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.until) {
		defs, err := h.audiences.Traits(ctx)
		if err != nil {
			return nil
		}
		c.set = nil
		if len(defs) > 0 {
			if c.set, err = computed.NewSet(defs); err != nil {
				return nil
			}
		}
		c.until = now.Add(traitsTTL)
	}
	return recording.Traits(c.set, p, now)
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
