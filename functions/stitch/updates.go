package main

import (
	"context"
	"log/slog"

	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// changes coalesces what a batch did to profiles, so that each changed profile is published once
// per batch (profile.updated at its latest version) and each merge once (profile.merged).
//
// Delivery is at least once: when a message cannot be sent, the batch is retried from the last
// record that changed the profile. On the retry that record is a duplicate, which reports the
// profile as it is now; its profile.updated is published again with the same messageId
// (profileId:version), so consumers drop it if the first one did arrive. The change summary of
// such a repeat is empty. A merge is announced once, when it happens; profile.updated carries all
// the profiles ever merged in (allMergedFrom), so a consumer that missed a profile.merged still
// learns of it.
type changes struct {
	byID   map[string]*pending
	order  []string // profile ids in the order first changed
	merges []merged
}

type pending struct {
	p       profile.Profile
	version int
	c       message.ProfileChanges
	last    int // the last record of the batch that changed the profile
}

type merged struct {
	from, into string
	at         int // the record of the batch that merged
}

func newChanges() *changes { return &changes{byID: map[string]*pending{}} }

// note takes in what recording an event of the i-th record did.
func (b *changes) note(i int, res recording.Result) {
	for _, from := range res.Merged {
		b.merges = append(b.merges, merged{from: from, into: res.ProfileID, at: i})
		delete(b.byID, from) // folded in: it is not updated again
	}
	if res.ProfileID == "" || res.Version < 1 {
		return
	}
	e := b.byID[res.ProfileID]
	if e == nil {
		e = &pending{}
		b.byID[res.ProfileID] = e
		b.order = append(b.order, res.ProfileID)
	}
	if res.Version >= e.version {
		e.p, e.version = res.Profile, res.Version
	}
	e.last = i
	if res.Duplicate {
		return
	}
	e.c.Events++
	e.c.IdentifiersAdded = append(e.c.IdentifiersAdded, res.Added...)
	e.c.TraitsChanged = append(e.c.TraitsChanged, res.TraitsChanged...)
	e.c.MergedFrom = append(e.c.MergedFrom, res.Merged...)
}

// publish sends the batch's messages to the profile-updates queue, ten to a call. It returns the
// index of the earliest record from which the batch must be retried because a message could not be
// sent, or -1.
func (h *handler) publish(ctx context.Context, b *changes) int {
	now := h.now()
	var (
		msgs []message.Message
		at   []int // the record each message is retried from
	)
	for _, m := range b.merges {
		msgs, at = append(msgs, message.NewProfileMerged(m.from, m.into, now)), append(at, m.at)
	}
	for _, id := range b.order {
		if e, ok := b.byID[id]; ok {
			msgs, at = append(msgs, updated(e.p, e.version, e.c)), append(at, e.last)
		}
	}
	if len(msgs) == 0 {
		return -1
	}
	retry := -1
	for i, err := range h.updates.SendAll(ctx, msgs) {
		if err == nil {
			continue
		}
		h.log.ErrorContext(ctx, "profile change not published; the batch is retried",
			slog.String("type", msgs[i].MessageType()), slog.String("error", err.Error()))
		if retry < 0 || at[i] < retry {
			retry = at[i]
		}
	}
	return retry
}

// updated is the profile.updated message of p at version, changed by c.
func updated(p profile.Profile, version int, c message.ProfileChanges) message.ProfileUpdated {
	return message.NewProfileUpdated(message.ProfileUpdated{
		ProfileID: p.ID, ProfileVersion: version, UserID: p.UserID, AnonymousIDs: p.AnonymousIDs,
		Counts: message.Counts(p.Counts), FirstSeen: p.FirstSeen, LastSeen: p.LastSeen, Impressions: p.Impressions.Count,
		AllMergedFrom: p.MergedFrom, Changes: c, UpdatedAt: p.UpdatedAt,
		Audiences: p.AudienceIDs(), Score: scoreBrief(p.Score),
	})
}

// scoreBrief is what profile.updated tells of a score; nil before the first.
func scoreBrief(sc *profile.Score) *message.ScoreBrief {
	if sc == nil {
		return nil
	}
	b := &message.ScoreBrief{ScoredAt: sc.ScoredAt, Cluster: sc.Cluster}
	if r := sc.RFM; r != nil {
		b.RFM, b.Segment = r.Score, r.Segment
	}
	if v := sc.Value; v != nil {
		b.CLV, b.PAlive = &v.CLV, &v.PAlive
	}
	if l := sc.Lapse; l != nil {
		b.LapseRisk = &l.Risk
	}
	if len(sc.NextActions) > 0 {
		b.NextAction = sc.NextActions[0].Kind
	}
	return b
}
