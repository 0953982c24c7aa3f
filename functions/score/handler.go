package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activity"
	"github.com/dcrm-project/dcrm/shared/fanout"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/schedule"
	"github.com/dcrm-project/dcrm/shared/scoring"
)

// modelName is the name of the models document in the Models table.
const modelName = "scoring"

type profileStore interface {
	ScanSegment(ctx context.Context, segment, total int, fn func(context.Context, profile.Profile) (bool, error), unreadable func(id string, err error)) error
	CountProfiles(ctx context.Context) (int64, error)
	SaveScore(ctx context.Context, id string, sc profile.Score) error
	SaveScoreWithAlert(ctx context.Context, id string, sc profile.Score, previous, at time.Time) error
}

// sizeRecorder keeps the audiences' sizes each part of a run counted (audiencestore.Store).
type sizeRecorder interface {
	RecordSizes(ctx context.Context, run time.Time, index, parts int, counts map[string]int64) error
}

// membershipKeeper evaluates a profile's audiences and records what changed (recording.Engine),
// with the definitions in force.
type membershipKeeper interface {
	recording.AudienceSource
	Reevaluate(ctx context.Context, id string, now time.Time) ([]recording.AudienceChange, error)
}

type modelStore interface {
	Load(ctx context.Context, name string, doc any) (profilestore.ModelInfo, error)
	Save(ctx context.Context, name string, doc any, info profilestore.ModelInfo) error
	Version(ctx context.Context, name string) (int, error)
}

type sender interface {
	Send(ctx context.Context, m message.Message) error
}

// activityLog keeps what was sent for the console (activitystore.Store).
type activityLog interface {
	Write(ctx context.Context, e activity.Entry) error
}

// sizing says how a run divides its work.
type sizing struct {
	PartSize   int // profiles one invocation scores (DCRM_SCORE_PART)
	Segments   int // parallel scan segments per invocation
	Workers    int // profiles scored and saved at once per invocation (saves wait on the network)
	FitSample  int // buyers, and visitors, a fit samples (DCRM_FIT_SAMPLE)
	FitSegment int // profiles per scan segment when a fit picks segments at random
	FitReaders int // segments a fit reads at once
}

var defaultSizing = sizing{PartSize: 200_000, Segments: 4, Workers: 16, FitSample: 20_000, FitSegment: 5_000, FitReaders: 8}

type handler struct {
	store  profileStore
	models modelStore
	// audiences are the audience definitions, whose look-alike seeds the daily fit trains; nil:
	// none.
	audiences audienceLister
	alerts    sender // the alerts queue
	// activity logs each lapse alert as it is sent (for whom, why); nil: not logged.
	activity activityLog
	// members keeps audience membership on the profiles a run finds stale (recording.Stale): a
	// definition added, changed or removed, or a score rules read that changed; nil: none kept.
	members membershipKeeper
	sizes   sizeRecorder   // nil: sizes not kept
	parts   fanout.Invoker // nil: every part is scored here
	cfg     scoring.Config
	size    sizing
	log     *slog.Logger

	mu     sync.Mutex
	cached *scoring.Models // the models this container last loaded
}

// summary is what an invocation returns.
type summary struct {
	Mode         string    `json:"mode"` // fit, score (a run: planned, or scored at once), part
	AsOf         time.Time `json:"asOf"`
	ModelVersion int       `json:"modelVersion"`
	Parts        int       `json:"parts,omitempty"` // invocations a run was divided into
	Scored       int64     `json:"scored"`
	Written      int64     `json:"written"`
	Skipped      int64     `json:"skipped"`           // scores not written: nothing decisive changed (scoring.Config.Write)
	Partial      int64     `json:"partial,omitempty"` // profiles with a part of their score left out (logged)
	Failed       int64     `json:"failed,omitempty"`  // profiles that could not be read, scored or saved (logged), skipped
	AlertsSent   int64     `json:"alertsSent"`
	// AlertsNotLogged counts the alerts sent that the activity log could not take (logged): sent
	// and recorded all the same.
	AlertsNotLogged int64 `json:"alertsNotLogged,omitempty"`
	// AudiencesEntered and AudiencesExited count the membership changes the run recorded.
	AudiencesEntered int64       `json:"audiencesEntered,omitempty"`
	AudiencesExited  int64       `json:"audiencesExited,omitempty"`
	Fit              *fitSummary `json:"fit,omitempty"`
	FirstFit         *fitSummary `json:"firstFit,omitempty"` // a run that had to fit first, there being no models
}

// handle runs what the event asks for: a run of the fit or score schedule (schedule.Event), or a
// part of a score run that the run's planner sent (fanout.Event). Anything else is refused with an
// error and runs nothing: input nobody meant for this function must not start a run. Scores are
// computed as of the run's time, so a retried invocation computes the same figures.
func (h *handler) handle(ctx context.Context, raw json.RawMessage) (summary, error) {
	if p, ok, err := fanout.Read(raw); ok {
		if err != nil {
			return summary{Mode: "part"}, err
		}
		return h.scorePart(ctx, p)
	}
	run, err := schedule.Parse(raw, topology.FitSchedule, topology.ScoreSchedule)
	if err != nil {
		return summary{}, fmt.Errorf("read event: %w", err)
	}
	if run.Schedule == topology.FitSchedule {
		return h.fit(ctx, run.Time)
	}
	return h.run(ctx, run.Time)
}

// modelsNow returns the current models, loading them when their version changed since this
// container last did; nil when none were fitted yet.
func (h *handler) modelsNow(ctx context.Context) (*scoring.Models, error) {
	v, err := h.models.Version(ctx, modelName)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if v == 0 {
		return nil, nil
	}
	if h.cached != nil && h.cached.Version == v {
		return h.cached, nil
	}
	var m scoring.Models
	info, err := h.models.Load(ctx, modelName, &m)
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("models version %d: %w", info.Version, err)
	}
	h.cached = &m
	return h.cached, nil
}

// counters add up what the workers of an invocation did.
type counters struct {
	scored, written, skipped, partial, sent, failed atomic.Int64
	notLogged                                       atomic.Int64
	entered, exited                                 atomic.Int64
	logged, failedLogged                            atomic.Int64 // partial scores and failures logged

	mu      sync.Mutex
	members map[string]int64 // by audience, the members of the profiles scored (nil: not counted)
}

// count counts a profile's memberships.
func (c *counters) count(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		c.members[id]++
	}
}

func (c *counters) into(s *summary) {
	s.Scored, s.Written, s.Skipped, s.Partial, s.AlertsSent = c.scored.Load(), c.written.Load(), c.skipped.Load(), c.partial.Load(), c.sent.Load()
	s.Failed, s.AlertsNotLogged = c.failed.Load(), c.notLogged.Load()
	s.AudiencesEntered, s.AudiencesExited = c.entered.Load(), c.exited.Load()
}

// maxLogged bounds the partial scores, and the failed profiles, an invocation logs one by one; the
// summary counts them all.
const maxLogged = 20

// skip reports a profile that could not be read, scored or saved: it is logged (the first
// maxLogged of an invocation) and counted, and the run goes on with the others. The next run
// tries it again.
func (h *handler) skip(ctx context.Context, c *counters, id string, err error) {
	c.failed.Add(1)
	if c.failedLogged.Add(1) <= maxLogged {
		h.log.ErrorContext(ctx, "profile not scored; skipped", slog.String("profileId", id), slog.String("reason", err.Error()))
	}
}

// scoreSafely is scoreOne, then keepAudiences, with a panic on one profile's data turned into
// that profile's error.
func (h *handler) scoreSafely(ctx context.Context, p profile.Profile, m *scoring.Models, asOf time.Time, aud *audiences, c *counters) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("score profile %s: %v", p.ID, r)
		}
	}()
	p, err = h.scoreOne(ctx, p, m, asOf, c)
	if err != nil {
		return err
	}
	ids, err := h.keepAudiences(ctx, p, aud, asOf, c)
	if err == nil && aud.read {
		c.count(ids)
	}
	return err
}

// audiences are the definitions in force for an invocation: read once, at its start.
type audiences struct {
	defs recording.AudienceSet
	read bool // false: none kept, or the definitions could not be read (logged)
}

// audiencesNow reads the definitions in force; when they cannot be read, the invocation scores
// without keeping membership (the next run does it), rather than not at all.
func (h *handler) audiencesNow(ctx context.Context) *audiences {
	if h.members == nil {
		return &audiences{}
	}
	s, err := h.members.Audiences(ctx)
	if err != nil {
		h.log.WarnContext(ctx, "audience definitions not read; membership left to the next run", slog.String("error", err.Error()))
		return &audiences{}
	}
	return &audiences{defs: s, read: true}
}

// keepAudiences evaluates the audiences of p, as scored, when what it keeps of them is stale, and
// returns the audiences it is in.
func (h *handler) keepAudiences(ctx context.Context, p profile.Profile, aud *audiences, asOf time.Time, c *counters) ([]string, error) {
	ids := p.AudienceIDs()
	if !aud.read || !recording.Stale(aud.defs, p, asOf) {
		return ids, nil
	}
	changes, err := h.members.Reevaluate(ctx, p.ID, asOf)
	for _, ch := range changes {
		if ch.Entered {
			c.entered.Add(1)
			ids = append(ids, ch.Audience)
		} else {
			c.exited.Add(1)
			ids = slices.DeleteFunc(ids, func(id string) bool { return id == ch.Audience })
		}
	}
	if err != nil {
		return nil, fmt.Errorf("keep audiences of %s: %w", p.ID, err)
	}
	return ids, nil
}

// recordSizes keeps the member counts of a part (index of parts) of the run at asOf, when the
// definitions were read: every audience defined, those without a member at 0.
func (h *handler) recordSizes(ctx context.Context, aud *audiences, c *counters, asOf time.Time, index, parts int) {
	if h.sizes == nil || !aud.read {
		return
	}
	counts := map[string]int64{}
	if aud.defs.Set != nil {
		for _, d := range aud.defs.Set.Definitions() {
			counts[d.ID] = 0
		}
	}
	c.mu.Lock()
	for id, n := range c.members {
		counts[id] += n
	}
	c.members = map[string]int64{}
	c.mu.Unlock()
	if err := h.sizes.RecordSizes(ctx, asOf, index, parts, counts); err != nil {
		// The sizes are a report: the run's scores stand without them.
		h.log.WarnContext(ctx, "audience sizes not recorded", slog.String("error", err.Error()))
	}
}

// scoreOne scores a profile, saves the score when it must be (scoring.Config.Write), and, when the customer
// crossed the lapse line, sends the alert and then records it with the score. A crash between the
// two sends the alert again on the next run, with the same alertId, rather than losing it. It
// returns the profile with its score as stored now.
func (h *handler) scoreOne(ctx context.Context, p profile.Profile, m *scoring.Models, asOf time.Time, c *counters) (profile.Profile, error) {
	sc, crossed, err := h.cfg.Rate(p, m, asOf)
	c.scored.Add(1)
	if err != nil {
		c.partial.Add(1)
		if c.logged.Add(1) <= maxLogged {
			h.log.WarnContext(ctx, "part of a score left out", slog.String("profileId", p.ID), slog.String("reason", err.Error()))
		}
	}
	scored := p
	scored.Score = &sc
	if crossed == nil {
		if !h.cfg.Write(p.ID, p.Score, sc) {
			c.skipped.Add(1)
			return p, nil
		}
		err := h.store.SaveScore(ctx, p.ID, sc)
		if errors.Is(err, profile.ErrNotFound) {
			return p, nil // erased since the scan read it
		}
		if err != nil {
			return p, err
		}
		c.written.Add(1)
		return scored, nil
	}
	alert := crossed.Message(p, sc, p.LapseAlertedAt)
	if err := h.alerts.Send(ctx, alert); err != nil {
		return p, fmt.Errorf("alert lapse of %s: %w", p.ID, err)
	}
	c.sent.Add(1)
	h.logSent(ctx, alert, c)
	err = h.store.SaveScoreWithAlert(ctx, p.ID, sc, p.LapseAlertedAt, asOf)
	if errors.Is(err, profilestore.ErrChanged) {
		// Another run recorded this crossing since the scan read the profile, or it was erased.
		h.log.InfoContext(ctx, "lapse alert recorded by another run", slog.String("profileId", p.ID))
		return p, nil
	}
	if err != nil {
		return p, err
	}
	c.written.Add(1)
	return scored, nil
}

// logSent writes the activity log's entry of a lapse alert sent, keyed by its alertId and time (a
// retried part, of the same run, writes the same entry again), with the threshold it crossed. The
// log is for people: an alert it could not take was sent all the same and is recorded, so a
// failure here is logged and counted, never a reason to send the alert again.
func (h *handler) logSent(ctx context.Context, alert message.Lapse, c *counters) {
	if h.activity == nil {
		return
	}
	if err := h.activity.Write(ctx, activity.FromLapse(alert, h.cfg.Lapse.Threshold, topology.AlertQueue)); err != nil {
		c.notLogged.Add(1)
		h.log.WarnContext(ctx, "lapse alert sent, not in the activity log", slog.String("profileId", alert.ProfileID),
			slog.String("alertId", alert.AlertID), slog.String("error", err.Error()))
	}
}

// scoreSegments scans the given segments of total, each in a goroutine of its own, and scores
// what they read with h.size.Workers workers. A profile that cannot be read, scored or saved is
// reported and skipped (skip); the others are scored. A scan that fails, or the end of the
// invocation's time, stops everything and is returned.
func (h *handler) scoreSegments(ctx context.Context, segments []int, total int, m *scoring.Models, asOf time.Time, c *counters) error {
	return h.scoreSegmentsWith(ctx, h.audiencesNow(ctx), segments, total, m, asOf, c)
}

// scoreSegmentsWith is scoreSegments with the audience definitions read.
func (h *handler) scoreSegmentsWith(ctx context.Context, aud *audiences, segments []int, total int, m *scoring.Models, asOf time.Time, c *counters) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.mu.Lock()
	if c.members == nil {
		c.members = map[string]int64{}
	}
	c.mu.Unlock()
	profiles := make(chan profile.Profile, 4*max(h.size.Workers, 1))
	var scans, workers sync.WaitGroup
	for _, seg := range segments {
		scans.Go(func() {
			err := h.store.ScanSegment(ctx, seg, total, func(ctx context.Context, p profile.Profile) (bool, error) {
				select {
				case profiles <- p:
					return true, nil
				case <-ctx.Done():
					return false, context.Cause(ctx)
				}
			}, func(id string, err error) { h.skip(ctx, c, id, err) })
			if err != nil {
				cancel(err)
			}
		})
	}
	for range max(h.size.Workers, 1) {
		workers.Go(func() {
			for p := range profiles {
				if ctx.Err() != nil {
					continue // drain
				}
				err := h.scoreSafely(ctx, p, m, asOf, aud, c)
				switch {
				case err == nil:
				case ctx.Err() != nil:
					cancel(err) // out of time: the part is retried
				default:
					h.skip(ctx, c, p.ID, err)
				}
			}
		})
	}
	scans.Wait()
	close(profiles)
	workers.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
