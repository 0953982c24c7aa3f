package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/fanout"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

// profileTable is what the snapshot reads of the Profiles table (profilestore.ProfileTable).
type profileTable interface {
	CountProfiles(ctx context.Context) (int64, error)
	ScanRecords(ctx context.Context, segment, total int, fn func(context.Context, recording.Record) (bool, error), unreadable func(id string, err error)) error
	Links(ctx context.Context, ids []string) (map[string]profilestore.Link, error)
}

// identityTable is what the snapshot reads of the Identities table (profilestore.IdentityTable).
type identityTable interface {
	ScanEntries(ctx context.Context, segment, total int, kind identity.Kind, fn func(context.Context, recording.Entry) (bool, error)) error
}

// sizing says how a run divides its work and how large its files grow.
type sizing struct {
	PartProfiles int // profiles (items of the Profiles table) one invocation reads (DCRM_SNAPSHOT_PART)
	// FileRows is the most rows a profiles file holds; identifiers and merges files, whose rows
	// are a few short strings, hold fileRowsFactor times as many.
	FileRows int
	Resolve  int // user ids whose profiles are followed at once (one read per unknown profile per merge)
	Known    int // profiles' links a part keeps, read to follow merges
}

const fileRowsFactor = 5

var defaultSizing = sizing{PartProfiles: 200_000, FileRows: 100_000, Resolve: 1_000, Known: 200_000}

// settingPart is the environment variable of sizing.PartProfiles.
const settingPart = topology.SettingSnapshotPart

type handler struct {
	profiles   profileTable
	identities identityTable
	files      objects        // the archive bucket
	parts      fanout.Invoker // nil: every part is written here
	size       sizing
	log        *slog.Logger
}

// The snapshot's tables.
var (
	profilesTable    = tableNamed(archive.ProfilesTable)
	identifiersTable = tableNamed(archive.IdentifiersTable)
	mergesTable      = tableNamed(archive.MergesTable)
	snapshotTables   = []archive.Table{profilesTable, identifiersTable, mergesTable}
)

func tableNamed(name string) archive.Table {
	t, ok := archive.TableNamed(name)
	if !ok {
		panic("archive: no table " + name)
	}
	return t
}

// summary is what an invocation returns.
type summary struct {
	Mode        string    `json:"mode"` // snapshot (a run: planned, or written at once), part
	AsOf        time.Time `json:"asOf"`
	Date        string    `json:"dt"`              // the partition written: the run's UTC date
	Parts       int       `json:"parts,omitempty"` // invocations the run was divided into
	Removed     int       `json:"removed,omitempty"`
	Profiles    int64     `json:"profiles"`    // rows written
	Identifiers int64     `json:"identifiers"` // rows written
	Merges      int64     `json:"merges"`      // rows written
	Files       int       `json:"files"`
	Unreadable  int64     `json:"unreadable,omitempty"` // profile items that could not be read (logged), left out
	// LeftOut counts the user ids of the Identities table left out, by where their profiles'
	// merges ended: erased, dangling, loop, tooFar (logged).
	LeftOut map[string]int64 `json:"leftOut,omitempty"`
	Reads   int              `json:"reads,omitempty"` // profiles read to follow user ids' merges
}

func (s *summary) leaveOut(f fate) {
	if s.LeftOut == nil {
		s.LeftOut = map[string]int64{}
	}
	s.LeftOut[f.String()]++
}

// add adds what a part wrote to a run's summary.
func (s *summary) add(o summary) {
	s.Profiles, s.Identifiers, s.Merges, s.Files = s.Profiles+o.Profiles, s.Identifiers+o.Identifiers, s.Merges+o.Merges, s.Files+o.Files
	s.Unreadable, s.Reads, s.Removed = s.Unreadable+o.Unreadable, s.Reads+o.Reads, s.Removed+o.Removed
	for k, v := range o.LeftOut {
		if s.LeftOut == nil {
			s.LeftOut = map[string]int64{}
		}
		s.LeftOut[k] += v
	}
}

// maxLogged bounds the profiles, and the user ids, an invocation logs one by one; the summary
// counts them all.
const maxLogged = 20

// handle runs what the event asks for: a run of the snapshot schedule (schedule.Event), or a part
// of a run that the run's planner sent (fanout.Event). Anything else is refused with an error and
// runs nothing. The snapshot's date is the run's (UTC), so a retried invocation writes the same
// partition.
func (h *handler) handle(ctx context.Context, raw json.RawMessage) (summary, error) {
	if p, ok, err := fanout.Read(raw); ok {
		if err != nil {
			return summary{Mode: "part"}, err
		}
		return h.part(ctx, p)
	}
	run, err := schedule.Parse(raw, topology.SnapshotSchedule)
	if err != nil {
		return summary{}, fmt.Errorf("read event: %w", err)
	}
	return h.run(ctx, run.Time)
}

func date(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// run is a daily run: the plan (one part per PartProfiles items of the Profiles table, each one
// scan segment of both tables), the day's files of another plan deleted, then the parts written
// here (one) or sent out (more).
func (h *handler) run(ctx context.Context, asOf time.Time) (summary, error) {
	sum := summary{Mode: "snapshot", AsOf: asOf, Date: date(asOf)}
	count, err := h.profiles.CountProfiles(ctx)
	if err != nil {
		return sum, err
	}
	parts := fanout.Plan(count, h.size.PartProfiles, 1, asOf)
	sum.Parts = len(parts)
	_, total := parts[0].ScanSegments()
	if sum.Removed, err = h.removeOtherRuns(ctx, sum.Date, total); err != nil {
		return sum, err
	}
	if len(parts) > 1 && h.parts != nil {
		if err := fanout.Send(ctx, h.parts, parts); err != nil {
			return sum, err
		}
		h.log.InfoContext(ctx, "snapshot planned", slog.String("dt", sum.Date), slog.Int64("profiles", count),
			slog.Int("parts", len(parts)), slog.Int("removed", sum.Removed))
		return sum, nil
	}
	if len(parts) > 1 {
		h.log.WarnContext(ctx, "no way to fan out: writing every part here", slog.Int("parts", len(parts)))
	}
	for _, p := range parts {
		written, err := h.write(ctx, p)
		sum.add(written)
		if err != nil {
			return sum, err
		}
	}
	h.log.InfoContext(ctx, "snapshot written", summaryAttrs(sum)...)
	return sum, nil
}

// part writes one part of a run.
func (h *handler) part(ctx context.Context, p fanout.Part) (summary, error) {
	sum := summary{Mode: "part", AsOf: p.AsOf, Date: date(p.AsOf), Parts: p.Parts}
	if err := p.Valid(); err != nil {
		return sum, err
	}
	written, err := h.write(ctx, p)
	sum.add(written)
	if err != nil {
		return sum, fmt.Errorf("snapshot part %d of %d: %w", p.Index, p.Parts, err)
	}
	h.log.InfoContext(ctx, "part written", append(summaryAttrs(sum), slog.Int("part", p.Index))...)
	return sum, nil
}

func summaryAttrs(s summary) []any {
	return []any{slog.String("mode", s.Mode), slog.String("dt", s.Date), slog.Int("parts", s.Parts),
		slog.Int64("profiles", s.Profiles), slog.Int64("identifiers", s.Identifiers), slog.Int64("merges", s.Merges),
		slog.Int("files", s.Files), slog.Int("removed", s.Removed), slog.Int64("unreadable", s.Unreadable), slog.Any("leftOut", s.LeftOut)}
}

// write writes the part's scan segments.
func (h *handler) write(ctx context.Context, p fanout.Part) (summary, error) {
	var sum summary
	segs, total := p.ScanSegments()
	for _, seg := range segs {
		if err := h.segment(ctx, date(p.AsOf), seg, total, &sum); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// segment writes the rows of one scan segment of both tables: the live profiles of the Profiles
// table's segment with their identifiers and the profiles merged into them, then the user ids of
// the Identities table's segment that an alias linked to a live profile (followed there through its
// merges). A profile item that cannot be read is logged, counted and left out; a scan that fails,
// or a file that cannot be put, stops the part (Lambda runs it again).
func (h *handler) segment(ctx context.Context, dt string, seg, total int, sum *summary) error {
	out := segmentFiles{
		profiles: newSink[archive.Profile](profilesTable, dt, seg, total, h.size.FileRows, h.files.Put),
		ids:      newSink[archive.Identifier](identifiersTable, dt, seg, total, h.size.FileRows*fileRowsFactor, h.files.Put),
		merges:   newSink[archive.Merge](mergesTable, dt, seg, total, h.size.FileRows*fileRowsFactor, h.files.Put),
	}
	if err := h.writeProfiles(ctx, seg, total, out, sum); err != nil {
		return err
	}
	if err := h.writeLinkedUserIDs(ctx, seg, total, out.ids, sum); err != nil {
		return err
	}
	return h.finish(ctx, dt, seg, total, out, sum)
}

// segmentFiles are the sinks of a segment's tables.
type segmentFiles struct {
	profiles *sink[archive.Profile]
	ids      *sink[archive.Identifier]
	merges   *sink[archive.Merge]
}

// writeProfiles writes the rows of the live profiles of the Profiles table's segment.
func (h *handler) writeProfiles(ctx context.Context, seg, total int, out segmentFiles, sum *summary) error {
	return h.profiles.ScanRecords(ctx, seg, total, func(ctx context.Context, r recording.Record) (bool, error) {
		p, ids, merges := profileRows(r)
		if err := out.profiles.add(ctx, p); err != nil {
			return false, err
		}
		if err := out.ids.add(ctx, ids...); err != nil {
			return false, err
		}
		return true, out.merges.add(ctx, merges...)
	}, func(id string, err error) {
		sum.Unreadable++
		if sum.Unreadable <= maxLogged {
			h.log.ErrorContext(ctx, "profile left out of the snapshot", slog.String("profileId", id), slog.String("reason", err.Error()))
		}
	})
}

// writeLinkedUserIDs writes the user ids of the Identities table's segment that an alias linked to
// a live profile, their profiles followed through their merges Resolve user ids at a time.
func (h *handler) writeLinkedUserIDs(ctx context.Context, seg, total int, ids *sink[archive.Identifier], sum *summary) error {
	res := newResolver(h.profiles.Links, h.size.Known)
	defer func() { sum.Reads += res.reads }()
	var batch []recording.Entry
	linked := func(ctx context.Context) error {
		pids := make([]string, len(batch))
		for i, e := range batch {
			pids[i] = e.ProfileID
		}
		ends, err := res.resolve(ctx, pids)
		if err != nil {
			return err
		}
		for _, e := range batch {
			end := ends[e.ProfileID]
			if row, ok := linkedUserID(e.ID, end); ok {
				if err := ids.add(ctx, row); err != nil {
					return err
				}
			} else if end.fate != alive {
				sum.leaveOut(end.fate)
				if sum.LeftOut[end.fate.String()] <= maxLogged {
					h.log.WarnContext(ctx, "user id left out of the snapshot", slog.String("profileId", e.ProfileID),
						slog.String("endsAt", end.ID), slog.String("reason", end.fate.String()))
				}
			}
		}
		batch = batch[:0]
		return nil
	}
	err := h.identities.ScanEntries(ctx, seg, total, identity.User, func(ctx context.Context, e recording.Entry) (bool, error) {
		batch = append(batch, e)
		if len(batch) >= max(h.size.Resolve, 1) {
			return true, linked(ctx)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	return linked(ctx)
}

// finish puts the segment's last files, counts what was written, and deletes the files an earlier
// attempt of the part wrote past the ones written now.
func (h *handler) finish(ctx context.Context, dt string, seg, total int, out segmentFiles, sum *summary) error {
	for _, s := range []finisher{out.profiles, out.ids, out.merges} {
		if err := s.flush(ctx); err != nil {
			return err
		}
		t, files, rows := s.written()
		sum.Files += files
		switch t.Name {
		case archive.ProfilesTable:
			sum.Profiles += rows
		case archive.IdentifiersTable:
			sum.Identifiers += rows
		case archive.MergesTable:
			sum.Merges += rows
		}
		removed, err := h.remove(ctx, partition(t, dt)+partPrefix(seg, total), func(name string) bool {
			s, tot, n, ok := parsePartName(name)
			return ok && s == seg && tot == total && n < files
		})
		sum.Removed += removed
		if err != nil {
			return err
		}
	}
	return nil
}

// removeOtherRuns deletes the files of the day's partitions of the snapshot's tables that are not
// part files of a scan of total segments: those of a run of another plan (or any other file).
func (h *handler) removeOtherRuns(ctx context.Context, dt string, total int) (int, error) {
	n := 0
	for _, t := range snapshotTables {
		removed, err := h.remove(ctx, partition(t, dt), func(name string) bool {
			_, tot, _, ok := parsePartName(name)
			return ok && tot == total
		})
		n += removed
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// remove deletes the archive's files (archive.ParseKey) under prefix that keep refuses, and
// returns how many it deleted. Other objects are left alone.
func (h *handler) remove(ctx context.Context, prefix string, keep func(name string) bool) (int, error) {
	keys, err := h.files.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", prefix, err)
	}
	n := 0
	for _, k := range keys {
		if _, _, name, ok := archive.ParseKey(k); !ok || keep(name) {
			continue
		}
		if err := h.files.Delete(ctx, k); err != nil {
			return n, fmt.Errorf("delete %s: %w", k, err)
		}
		n++
	}
	return n, nil
}
