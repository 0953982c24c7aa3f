package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

// The erasure pass.
//
// The profile API leaves a request under erasures/pending/ when it erases a person
// (archive.Erasure). Once a day (the archive-erasure schedule) this function takes every pending
// request at once and, table by table and then the feed's delivered objects, finds the files that
// hold a row of any of their profile ids — reading only the person columns of each file — and
// writes those files again without the rows. The cost of a pass is the reading of those columns,
// the same for one request as for a hundred. The requests are then moved to erasures/done/, with
// what was removed.
//
// The pass keeps its place in erasures/pass.json: the requests it took, the stage and the last key
// done, and what it removed so far. An invocation that runs out of time, or fails, leaves it there;
// the next one (Lambda's retries of the run, or the next day's run) goes on from it with the same
// requests, so a pass interrupted and run again removes and counts each row once.

// passKey is where a pass under way keeps its place.
const passKey = archive.ErasurePrefix + "pass.json"

// The pass's stages, in order: the tables, then the feed's delivered objects.
var passStages = []string{archive.EventsTable, archive.ProfilesTable, archive.IdentifiersTable, archive.MergesTable, archive.ErasureIncoming}

// stageFinish is the stage of a pass whose files are done: its requests are being moved to done.
const stageFinish = "finish"

// Defaults of the pass.
const (
	// defaultSettle is how old a request must be for a pass to take it. Whatever may still write a
	// row of the person once the request is there has written it by then: an archive or snapshot
	// invocation that began before it (Lambda runs one for 15 minutes at most), an object of the
	// feed with events stitched before it (Firehose holds them 15 minutes at most). Later objects
	// and invocations read the request themselves.
	defaultSettle = 30 * time.Minute
	// defaultReserve is the time an invocation keeps to finish the file under way and save its
	// place before Lambda's timeout.
	defaultReserve = time.Minute
	// defaultScanners is how many files are read at once: the person columns of a file are a few
	// ranged GETs, each some tens of milliseconds of waiting.
	defaultScanners = 32
	// defaultListPage is how many keys a listing returns at a time (S3's most): the pass saves its
	// place after each page.
	defaultListPage = 1000
)

// doneWindow is how long after its pass a request still filters what this function archives:
// events of the person that reach the feed late (Firehose retries a delivery for up to a day; an
// invocation is retried for up to 6 hours) or an object of the feed archived again while it is
// kept.
const doneWindow = topology.ArchiveIncomingRetention + 24*time.Hour

// settingSettle overrides defaultSettle (a Go duration; the stack tests take requests at once).
const settingSettle = topology.SettingErasureSettle

// passConfig tunes the pass; zero values are the defaults.
type passConfig struct {
	settle   time.Duration
	reserve  time.Duration
	scanners int
	listPage int
}

func (c passConfig) withDefaults() passConfig {
	if c.settle == 0 {
		c.settle = defaultSettle
	}
	if c.reserve == 0 {
		c.reserve = defaultReserve
	}
	if c.scanners <= 0 {
		c.scanners = defaultScanners
	}
	if c.listPage <= 0 {
		c.listPage = defaultListPage
	}
	return c
}

// passState is a pass under way, as kept at passKey.
type passState struct {
	StartedAt time.Time         `json:"startedAt"`
	Erasures  []archive.Erasure `json:"erasures"` // the requests it took, by id
	Stage     string            `json:"stage"`
	After     string            `json:"after,omitempty"` // the stage's last key done
	// FinishedAt is when the last stage was done: the day of the requests' done keys.
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Removed is what was removed so far, by erasure id and table.
	Removed map[string]map[string]archive.Removed `json:"removed"`
	// Counted are the files whose removed rows are counted in Removed: a file counted, then
	// interrupted before it was written, is written again but not counted again.
	Counted []string `json:"counted,omitempty"`
}

// passSummary is what a run of the pass answers.
type passSummary struct {
	Mode      string   `json:"mode"`              // "erasure"
	Erasures  []string `json:"erasures"`          // the requests of the pass (ids)
	Resumed   bool     `json:"resumed,omitempty"` // it went on with a pass an earlier invocation began
	Finished  bool     `json:"finished"`
	Waiting   int      `json:"waiting,omitempty"` // pending requests too recent for this pass
	Stage     string   `json:"stage,omitempty"`   // where an unfinished pass stopped
	Scanned   int      `json:"scanned"`           // files read by this invocation
	Rewritten int      `json:"rewritten"`         // files written again or deleted by this invocation
	// Removed is what the whole pass removed, by table.
	Removed map[string]archive.Removed `json:"removed,omitempty"`
}

// errUnfinished is the error of a run that stopped before its pass was done (out of time): the
// run is retried, and goes on from where it stopped.
var errUnfinished = errors.New("erasure pass unfinished")

// erasurePass runs the pass: it goes on with a pass under way, or begins one with the requests
// pending for longer than the settling time; with none, it does nothing. The run's time does not
// matter: a run retried late takes what is old enough then.
func (h *handler) erasurePass(ctx context.Context, _ schedule.Event) (passSummary, error) {
	cfg := h.pass.withDefaults()
	sum := passSummary{Mode: "erasure"}
	st, err := h.loadPass(ctx)
	if err != nil {
		return sum, err
	}
	if st != nil {
		sum.Resumed = true
	} else {
		pending, err := h.readRequests(ctx, archive.ErasurePendingPrefix, "")
		if err != nil {
			return sum, err
		}
		st = &passState{StartedAt: h.now().UTC(), Stage: passStages[0], Removed: map[string]map[string]archive.Removed{}}
		for _, e := range pending {
			if e.RequestedAt.After(h.now().Add(-cfg.settle)) {
				sum.Waiting++
				continue
			}
			st.Erasures = append(st.Erasures, e)
		}
		if len(st.Erasures) == 0 {
			sum.Finished = true
			h.log.InfoContext(ctx, "no erasure to pass", slog.Int("waiting", sum.Waiting))
			return sum, nil
		}
		if err := h.savePass(ctx, st); err != nil {
			return sum, err
		}
	}
	for _, e := range st.Erasures {
		sum.Erasures = append(sum.Erasures, e.ID())
	}
	p := &passRun{h: h, cfg: cfg, st: st, erased: archive.NewErasedIDs(st.Erasures...), sum: &sum,
		counted: map[string]bool{}}
	for _, k := range st.Counted {
		p.counted[k] = true
	}
	err = p.files(ctx)
	if err == nil {
		err = p.finish(ctx)
	}
	sum.Removed = p.totals()
	attrs := []any{slog.Any("erasures", sum.Erasures), slog.Bool("resumed", sum.Resumed), slog.Int("scanned", sum.Scanned),
		slog.Int("rewritten", sum.Rewritten), slog.Any("removed", sum.Removed)}
	if err != nil {
		sum.Stage = st.Stage
		h.log.WarnContext(ctx, "erasure pass stopped", append(attrs, slog.String("stage", st.Stage), slog.String("after", st.After),
			slog.String("error", err.Error()))...)
		return sum, err
	}
	sum.Finished = true
	h.log.InfoContext(ctx, "erasure pass done", attrs...)
	return sum, nil
}

// passRun is one invocation's work on a pass.
type passRun struct {
	h       *handler
	cfg     passConfig
	st      *passState
	erased  *archive.ErasedIDs
	sum     *passSummary
	counted map[string]bool
	worked  bool // this invocation has done a page: it may stop for time
}

// files goes through the stages from where the pass is.
func (p *passRun) files(ctx context.Context) error {
	for i := slices.Index(passStages, p.st.Stage); i >= 0 && i < len(passStages); {
		if p.worked && !p.timeLeft(ctx) {
			return fmt.Errorf("%w: stopped in %s after %q, to go on at the next invocation", errUnfinished, p.st.Stage, p.st.After)
		}
		keys, more, err := p.h.files.List(ctx, p.h.bucket, stagePrefix(p.st.Stage), p.st.After, p.cfg.listPage)
		if err != nil {
			return fmt.Errorf("list %s: %w", p.st.Stage, err)
		}
		if err := p.page(ctx, keys); err != nil {
			return err
		}
		p.worked = true
		if len(keys) > 0 {
			p.st.After = keys[len(keys)-1].Key
		}
		if !more {
			i++
			p.st.Stage, p.st.After = stageFinish, ""
			if i < len(passStages) {
				p.st.Stage = passStages[i]
			}
		}
		if err := p.h.savePass(ctx, p.st); err != nil {
			return err
		}
	}
	return nil
}

func (p *passRun) timeLeft(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > p.cfg.reserve
}

func stagePrefix(stage string) string {
	if stage == archive.ErasureIncoming {
		return topology.ArchiveIncomingPrefix
	}
	t, _ := archive.TableNamed(stage)
	return t.Prefix
}

// page reads a page of a stage's files, several at once, and writes those that hold an erased
// row again, one at a time, in key order.
func (p *passRun) page(ctx context.Context, objs []object) error {
	objs = slices.DeleteFunc(slices.Clone(objs), func(o object) bool { // only files of the table's layout
		if p.st.Stage == archive.ErasureIncoming {
			return false
		}
		t, _, _, ok := archive.ParseKey(o.Key)
		return !ok || t.Name != p.st.Stage
	})
	holds, err := scan(ctx, objs, p.cfg.scanners, func(ctx context.Context, o object) (bool, error) {
		return p.h.holds(ctx, p.st.Stage, o, p.erased)
	})
	p.sum.Scanned += len(objs)
	if err != nil {
		return err
	}
	for i, o := range objs {
		if holds[i] {
			if err := p.rewrite(ctx, o.Key); err != nil {
				return fmt.Errorf("rewrite %s: %w", o.Key, err)
			}
		}
	}
	return nil
}

// scan calls holds for each object, n at a time, and returns the answers in the objects' order;
// the first error stops it.
func scan(ctx context.Context, objs []object, n int, holds func(context.Context, object) (bool, error)) ([]bool, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := make([]bool, len(objs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, len(objs)) {
		wg.Go(func() {
			for i := range next {
				hit, err := holds(ctx, objs[i])
				if err != nil {
					cancel(fmt.Errorf("read %s: %w", objs[i].Key, err))
					continue
				}
				out[i] = hit
			}
		})
	}
feed:
	for i := range objs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// holds tells whether a file of a stage holds a row of an erased profile: of a table's file it
// reads the person columns (ranged GETs); a delivered object it reads whole. A file gone since the
// listing (a snapshot run replaced its day's files) holds nothing.
func (h *handler) holds(ctx context.Context, stage string, o object, erased *archive.ErasedIDs) (bool, error) {
	hit, err := h.scanFile(ctx, stage, o, erased)
	if errors.Is(err, errNoObject) {
		return false, nil
	}
	return hit, err
}

func (h *handler) scanFile(ctx context.Context, stage string, o object, erased *archive.ErasedIDs) (bool, error) {
	if stage == archive.ErasureIncoming {
		body, err := h.files.Open(ctx, h.bucket, o.Key)
		if err != nil {
			return false, err
		}
		defer body.Close()
		lines, err := decompressed(body)
		if err != nil {
			return false, err
		}
		_, n, err := archive.ScrubFeed(lines, nil, erased)
		return n > 0, err
	}
	t, _ := archive.TableNamed(stage)
	r := &rangeReader{ctx: ctx, files: h.files, bucket: h.bucket, key: o.Key, size: o.Size}
	return archive.Holds(r, o.Size, t, erased)
}

// rewrite writes a file again without its erased rows, counting them once per pass: the pass's
// place is saved with the count before the file is written, and a file counted already is written
// but not counted again. An events file gets the name of its new content and the old one is then
// deleted; a snapshot file or a delivered object keeps its key; one left without a row is deleted.
func (p *passRun) rewrite(ctx context.Context, key string) error {
	next, err := p.h.without(ctx, p.st.Stage, key, p.erased)
	if err != nil || next.rows.Total() == 0 {
		return err
	}
	if !p.counted[key] {
		for erasure, rows := range next.rows {
			byTable := p.st.Removed[erasure]
			if byTable == nil {
				byTable = map[string]archive.Removed{}
				p.st.Removed[erasure] = byTable
			}
			r := byTable[p.st.Stage]
			r.Files, r.Rows = r.Files+1, r.Rows+rows
			byTable[p.st.Stage] = r
		}
		p.counted[key] = true
		p.st.Counted = append(p.st.Counted, key)
		if err := p.h.savePass(ctx, p.st); err != nil {
			return err
		}
	}
	p.sum.Rewritten++
	return p.h.replace(ctx, key, next)
}

// replacement is a file's content without its erased rows.
type replacement struct {
	key  string // where it goes: the old key, or an events file's new name
	body []byte // nil: nothing is left
	rows archive.Removals
}

// without reads a file of a stage and makes it again without the erased rows; a file gone since
// it was read has nothing to remove.
func (h *handler) without(ctx context.Context, stage, key string, erased *archive.ErasedIDs) (replacement, error) {
	rc, err := h.files.Open(ctx, h.bucket, key)
	if errors.Is(err, errNoObject) {
		return replacement{}, nil
	}
	if err != nil {
		return replacement{}, err
	}
	defer rc.Close()
	if stage == archive.ErasureIncoming {
		return scrubbed(rc, key, erased)
	}
	body, err := io.ReadAll(rc)
	if err != nil {
		return replacement{}, err
	}
	t, dt, _, _ := archive.ParseKey(key)
	rw, err := archive.Rewrite(body, t, dt, erased)
	if err != nil {
		return replacement{}, err
	}
	out := replacement{key: key, rows: rw.Removed}
	if rw.File != nil {
		out.body = rw.File.Body
		if t.Name == archive.EventsTable {
			out.key = rw.File.Key // named by content, as every events file
		}
	}
	return out, nil
}

// scrubbed is a delivered object (gzipped, or not) without the lines of erased profiles, gzipped.
func scrubbed(r io.Reader, key string, erased *archive.ErasedIDs) (replacement, error) {
	lines, err := decompressed(r)
	if err != nil {
		return replacement{}, err
	}
	var plain, packed bytes.Buffer
	zw := gzip.NewWriter(&packed)
	removed, _, err := archive.ScrubFeed(lines, io.MultiWriter(zw, &plain), erased)
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return replacement{}, err
	}
	out := replacement{key: key, rows: removed}
	if len(bytes.TrimSpace(plain.Bytes())) > 0 {
		out.body = packed.Bytes()
	}
	return out, nil
}

// replace puts a file's replacement and deletes what it replaces.
func (h *handler) replace(ctx context.Context, key string, next replacement) error {
	if next.body != nil {
		if err := h.files.Put(ctx, h.bucket, next.key, bytes.NewReader(next.body)); err != nil {
			return fmt.Errorf("put %s: %w", next.key, err)
		}
	}
	if next.body == nil || next.key != key {
		if err := h.files.Delete(ctx, h.bucket, key); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
	}
	return nil
}

// scrubObject writes a delivered object again without the lines of erased profiles, as the pass
// does; it returns how many rows went.
func (h *handler) scrubObject(ctx context.Context, bucket, key string, erased *archive.ErasedIDs) (int64, error) {
	rc, err := h.files.Open(ctx, bucket, key)
	if err != nil {
		return 0, err
	}
	next, err := scrubbed(rc, key, erased)
	rc.Close()
	if err != nil || next.rows.Total() == 0 {
		return 0, err
	}
	return next.rows.Total(), h.replace(ctx, key, next)
}

// finish moves the pass's requests to done, with what the pass removed of each, and ends the pass.
// A request written again since the pass took it, naming profiles the pass did not remove (a
// merge into the person before the erasure began), stays pending for the next pass.
func (p *passRun) finish(ctx context.Context) error {
	if p.st.FinishedAt.IsZero() {
		p.st.FinishedAt = p.h.now().UTC()
		if err := p.h.savePass(ctx, p.st); err != nil {
			return err
		}
	}
	for _, e := range p.st.Erasures {
		done := e
		done.Done = &archive.ErasureDone{At: p.st.FinishedAt, Removed: map[string]archive.Removed{}}
		for _, stage := range passStages {
			done.Done.Removed[stage] = p.st.Removed[e.ID()][stage]
		}
		if err := p.h.putJSON(ctx, done.DoneKey(), done); err != nil {
			return err
		}
		now, err := p.h.readRequest(ctx, e.PendingKey())
		switch {
		case errors.Is(err, errNoObject):
			continue // moved by an earlier attempt
		case err != nil:
			return err
		}
		if extra := slices.DeleteFunc(now.ProfileIDs(), func(id string) bool { return slices.Contains(e.ProfileIDs(), id) }); len(extra) > 0 {
			p.h.log.WarnContext(ctx, "erasure request changed during the pass: left for the next", slog.String("erasure", e.ID()),
				slog.Int("newProfiles", len(extra)))
			continue
		}
		if err := p.h.files.Delete(ctx, p.h.bucket, e.PendingKey()); err != nil {
			return fmt.Errorf("delete %s: %w", e.PendingKey(), err)
		}
	}
	return p.h.files.Delete(ctx, p.h.bucket, passKey)
}

// totals is what the pass removed, by table.
func (p *passRun) totals() map[string]archive.Removed {
	out := map[string]archive.Removed{}
	for _, byTable := range p.st.Removed {
		for table, r := range byTable {
			t := out[table]
			t.Files, t.Rows = t.Files+r.Files, t.Rows+r.Rows
			out[table] = t
		}
	}
	return out
}

func (h *handler) loadPass(ctx context.Context) (*passState, error) {
	raw, err := h.read(ctx, passKey)
	if errors.Is(err, errNoObject) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the pass under way: %w", err)
	}
	var st passState
	if err := json.Unmarshal(raw, &st); err != nil || len(st.Erasures) == 0 ||
		(st.Stage != stageFinish && !slices.Contains(passStages, st.Stage)) {
		return nil, fmt.Errorf("the pass under way, %s, is not one this function wrote (%v): delete it to begin again", passKey, err)
	}
	if st.Removed == nil {
		st.Removed = map[string]map[string]archive.Removed{}
	}
	return &st, nil
}

func (h *handler) savePass(ctx context.Context, st *passState) error {
	if err := h.putJSON(ctx, passKey, st); err != nil {
		return fmt.Errorf("save the pass's place: %w", err)
	}
	return nil
}

func (h *handler) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := h.files.Put(ctx, h.bucket, key, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (h *handler) read(ctx context.Context, key string) ([]byte, error) {
	rc, err := h.files.Open(ctx, h.bucket, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func (h *handler) readRequest(ctx context.Context, key string) (archive.Erasure, error) {
	raw, err := h.read(ctx, key)
	if err != nil {
		return archive.Erasure{}, err
	}
	return archive.ReadErasure(raw)
}

// readRequests reads the erasure requests under prefix after startAfter, sorted by id. A request
// that is not one is logged and left where it is.
func (h *handler) readRequests(ctx context.Context, prefix, startAfter string) ([]archive.Erasure, error) {
	byID := map[string]archive.Erasure{}
	for more := true; more; {
		var objs []object
		var err error
		objs, more, err = h.files.List(ctx, h.bucket, prefix, startAfter, defaultListPage)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range objs {
			startAfter = o.Key
			if _, _, ok := archive.ErasureKeyID(o.Key); !ok {
				continue
			}
			e, err := h.readRequest(ctx, o.Key)
			switch {
			case errors.Is(err, archive.ErrErasure):
				h.log.ErrorContext(ctx, "not an erasure request: left alone", slog.String("key", o.Key), slog.String("error", err.Error()))
				continue
			case errors.Is(err, errNoObject):
				continue // moved since the listing
			case err != nil:
				return nil, fmt.Errorf("read %s: %w", o.Key, err)
			}
			byID[e.ID()] = e
		}
	}
	out := make([]archive.Erasure, 0, len(byID))
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		out = append(out, byID[id])
	}
	return out, nil
}

// recentErasures are the profile ids whose rows must not be archived: those of every pending
// request and of the requests done within doneWindow.
func (h *handler) recentErasures(ctx context.Context) (*archive.ErasedIDs, error) {
	pending, err := h.readRequests(ctx, archive.ErasurePendingPrefix, "")
	if err != nil {
		return nil, err
	}
	done, err := h.readRequests(ctx, archive.ErasureDonePrefix, archive.ErasuresDoneSince(h.now().Add(-doneWindow)))
	if err != nil {
		return nil, err
	}
	return archive.NewErasedIDs(append(pending, done...)...), nil
}

// maxPrefetch bounds what a rangeReader fetches at once for a column chunk (the memory of a scan):
// a larger chunk is read as the Parquet reader asks, ColumnReadBytes at a time.
const maxPrefetch = 16 << 20

// rangeReader reads an object through ranged GETs of at least archive.ColumnReadBytes, or of a
// whole column chunk when told of it (archive.Prefetcher), keeping the last one: the Parquet
// reader's small reads within it cost no request.
type rangeReader struct {
	ctx         context.Context
	files       objects
	bucket, key string
	size        int64

	mu    sync.Mutex
	block []byte
	at    int64
}

// Prefetch fetches the n bytes from off in one GET, unless they are held already or too many.
func (r *rangeReader) Prefetch(off, n int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < 0 || n <= 0 || n > maxPrefetch || off+n > r.size || r.holds(off, off+n) {
		return nil
	}
	return r.fetch(off, n)
}

func (r *rangeReader) holds(off, end int64) bool {
	return r.block != nil && off >= r.at && end <= r.at+int64(len(r.block))
}

func (r *rangeReader) fetch(off, n int64) error {
	block := make([]byte, n)
	if err := r.files.ReadRange(r.ctx, r.bucket, r.key, off, block); err != nil {
		return err
	}
	r.block, r.at = block, off
	return nil
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < 0 || off >= r.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.size)
	if !r.holds(off, end) {
		if err := r.fetch(off, min(max(end-off, archive.ColumnReadBytes), r.size-off)); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.block[off-r.at:end-r.at])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
