package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/aws/smithy-go"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activation"
	"github.com/dcrm-project/dcrm/shared/objectstore"
	"github.com/dcrm-project/dcrm/shared/profilestore"
)

// Audience exports, asynchronous (README.md, "Audience members and exports"). The POST writes the
// export's manifest (state running) and invokes this function asynchronously with the export's
// step 0. A step reads the manifest, resumes from its checkpoint, pages through the members index
// until its page budget or its deadline, streams each file into a multipart upload (a part once a
// file holds partBytes), and saves its progress: the bytes of each file not yet in a part go to a
// pending object of the step, then the manifest takes the new cursor, parts, pending objects and
// counts in one conditional write (If-Match the version the step read), which is the step's
// commit. Then it invokes the next step. The step that reads the last page completes the uploads
// and marks the manifest done.
//
// Exactly once: a step's rows are in the manifest only through its commit, which names the parts
// and pending objects holding them. A step that crashed before its commit is retried by Lambda
// from the same checkpoint: it uploads the same part numbers again (each replaces the one of the
// crashed run) and writes pending objects under a key of its own, so rows after the checkpoint's
// cursor are written once. Two runs of one step (an event delivered twice, a retry of a step whose
// successor was already sent) both start from the one checkpoint; only the first commit holds, the
// other is refused (ErrChanged) and stops without invoking anything.

// exportBucket is where exports are written and read back (objectstore.Bucket).
type exportBucket interface {
	Put(ctx context.Context, key string, body []byte) error
	Get(ctx context.Context, key string, limit int64) ([]byte, error)
	GetVersion(ctx context.Context, key string, limit int64) ([]byte, string, error)
	PutIf(ctx context.Context, key string, body []byte, etag string) (string, error)
	Size(ctx context.Context, key string) (int64, error)
	Delete(ctx context.Context, key string) error
	StartUpload(ctx context.Context, key string) (string, error)
	UploadPart(ctx context.Context, key, uploadID string, n int, body []byte) (objectstore.Part, error)
	CompleteUpload(ctx context.Context, key, uploadID string, parts []objectstore.Part) error
	AbortUpload(ctx context.Context, key, uploadID string) error
}

// linker makes a time-limited link to an object of the exports bucket (S3's presigned GET).
type linker interface {
	Link(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// invoker starts an asynchronous invocation of this function (fanout.Lambda).
type invoker interface {
	InvokeAsync(ctx context.Context, payload []byte) error
}

const (
	linkTTL = time.Hour
	// maxManifest bounds a manifest read: its checkpoint lists every part uploaded (~60 bytes
	// each; 10 M members make ~1,500 parts of 5 MiB over the files).
	maxManifest = 4 << 20
)

// Export states, as the manifest's state says.
const (
	stateRunning = "running"
	stateDone    = "done"
	stateFailed  = "failed"
)

// Settings of the export steps (the function's environment; topology's profiles entry).
const (
	settingExportPage      = "DCRM_EXPORT_PAGE"       // members per page read, 1–1000
	settingExportStepPages = "DCRM_EXPORT_STEP_PAGES" // pages one step reads at most
	settingExportPartBytes = "DCRM_EXPORT_PART_BYTES" // a file's bytes that make a part (S3: ≥ 5 MiB)
	settingExportReserve   = "DCRM_EXPORT_RESERVE"    // time left before the deadline when a step stops reading (Go duration)
)

// exportSettings bound one export step.
type exportSettings struct {
	page      int           // members per page
	stepPages int           // pages one step reads at most
	partBytes int           // a file uploads a part once it holds this many bytes
	reserve   time.Duration // a step stops reading when less than this is left before its deadline
}

// defaultExportSettings: in the function's 10 s, a step reads for up to ~6 s (in AWS a page of
// 1,000 consistent reads takes some 50–100 ms) and keeps 4 s to write what it holds (at most
// one part's worth per file) and its manifest.
var defaultExportSettings = exportSettings{page: profilestore.MaxMembersPage, stepPages: 100, partBytes: objectstore.MinPartSize, reserve: 4 * time.Second}

var exportIDPattern = regexp.MustCompile(`^exp_[0-9]{8}T[0-9]{6}Z_[0-9a-f]{8}$`)

// exportFile is a file of an export, as its manifest lists it.
type exportFile struct {
	Name  string `json:"name"`
	Key   string `json:"key"`
	Rows  int    `json:"rows"`
	Bytes int64  `json:"bytes"`
	URL   string `json:"url,omitempty"` // a link valid for an hour, added when answered
}

// exportManifest is what an export is, kept as manifest.json beside its files: written running
// by the POST, carried on by each step, done (with its files) or failed (with its reason) last.
type exportManifest struct {
	ExportID   string `json:"exportId"`
	AudienceID string `json:"audienceId"`
	Purpose    string `json:"purpose"`
	State      string `json:"state"`
	Reason     string `json:"reason,omitempty"`
	// AsOf is when the export began reading the members index; it reads page after page until
	// CompletedAt. A person erased (or who left) after AsOf may be in the files, if their page
	// was read before.
	AsOf        time.Time    `json:"asOf"`
	CreatedAt   time.Time    `json:"createdAt"`
	UpdatedAt   time.Time    `json:"updatedAt"`
	CompletedAt *time.Time   `json:"completedAt,omitempty"`
	ExpiresAt   time.Time    `json:"expiresAt"`
	Members     int          `json:"members"` // read so far
	Steps       int          `json:"steps"`   // steps that saved their progress
	Files       []exportFile `json:"files"`   // when done
	// Progress is the checkpoint of a running export; stored, never answered.
	Progress *exportProgress `json:"progress,omitempty"`
}

// exportProgress is where the next step of a running export starts.
type exportProgress struct {
	Cursor    string         `json:"cursor"`              // the members cursor after the last page read
	Finishing bool           `json:"finishing,omitempty"` // every page read: the uploads are to complete
	Files     []fileProgress `json:"files"`
}

// fileProgress is what a file holds at the checkpoint: its uploaded parts, then its pending bytes.
type fileProgress struct {
	Name     string             `json:"name"`
	UploadID string             `json:"uploadId,omitempty"` // "" until the file's first part
	Parts    []objectstore.Part `json:"parts,omitempty"`
	Rows     int                `json:"rows"`
	Bytes    int64              `json:"bytes"`             // in parts and pending
	Pending  string             `json:"pending,omitempty"` // the object holding the bytes not in a part
}

// public is the manifest as answered: without the checkpoint.
func (m exportManifest) public() exportManifest {
	m.Progress = nil
	if m.Files == nil {
		m.Files = []exportFile{}
	}
	return m
}

// exportAccepted is the POST's answer: the export runs (202).
type exportAccepted struct{ exportManifest }

func (exportAccepted) status() int { return http.StatusAccepted }

// exportStep is the payload of an asynchronous invocation that carries an export on:
// {"export": {"audienceId": "vip", "exportId": "exp_…", "step": 3}}.
type exportStep struct {
	AudienceID string `json:"audienceId"`
	ExportID   string `json:"exportId"`
	Step       int    `json:"step"`
}

type stepEvent struct {
	Export *exportStep `json:"export"`
}

func exportPrefix(audienceID, exportID string) string {
	return topology.ExportsPrefix + audienceID + "/" + exportID + "/"
}

func manifestKey(audienceID, exportID string) string {
	return exportPrefix(audienceID, exportID) + "manifest.json"
}

// startExport serves POST /v1/audiences/{audienceId}/exports: it checks the audience and the
// purpose, writes the manifest (running), invokes the export's first step and answers the
// manifest (202).
func (h *handler) startExport(ctx context.Context, r request) (any, error) {
	id, err := h.definedAudience(ctx, r)
	if err != nil {
		return nil, err
	}
	purpose := activation.Seed
	raw, err := requestBody(r.APIGatewayV2HTTPRequest, 4<<10)
	if err != nil {
		return nil, err
	}
	if len(raw) > 0 {
		var body struct {
			Purpose string `json:"purpose"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || dec.More() {
			return nil, badRequest(`the body is {"purpose": "seed" | "suppression" | "all"}, or empty`)
		}
		if purpose, err = activation.ParsePurpose(body.Purpose); err != nil {
			return nil, badRequest(err.Error())
		}
	}
	if h.steps == nil {
		return nil, retryable{"exports cannot start here: the function cannot invoke itself", errors.New("no asynchronous invocation")}
	}
	now := h.clock().UTC()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	m := exportManifest{ExportID: "exp_" + now.Format("20060102T150405Z") + "_" + hex.EncodeToString(suffix), AudienceID: id,
		Purpose: string(purpose), State: stateRunning, AsOf: now, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(topology.ExportRetention),
		Progress: &exportProgress{}}
	for _, name := range activation.NewStream(purpose, false).Names() {
		m.Progress.Files = append(m.Progress.Files, fileProgress{Name: name})
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	key := manifestKey(id, m.ExportID)
	etag, err := h.exports.PutIf(ctx, key, body, "")
	if err != nil {
		return nil, retryable{"the export could not be started; try again", err}
	}
	if err := h.sendStep(ctx, exportStep{AudienceID: id, ExportID: m.ExportID}); err != nil {
		h.fail(ctx, m, etag, "the export's first step could not be invoked; start another")
		return nil, retryable{"the export could not be started; try again", err}
	}
	return exportAccepted{m.public()}, nil
}

// getExport serves GET /v1/audiences/{audienceId}/exports/{exportId}: the manifest, with fresh
// links once the export is done.
func (h *handler) getExport(ctx context.Context, r request) (any, error) {
	exportID := r.PathParameters["exportId"]
	if !exportIDPattern.MatchString(exportID) {
		return nil, badRequest("exportId is not one this API made (exp_<time>_<8 hex>)")
	}
	id, err := h.definedAudience(ctx, r)
	if err != nil {
		return nil, err
	}
	body, err := h.exports.Get(ctx, manifestKey(id, exportID), maxManifest)
	switch {
	case errors.Is(err, objectstore.ErrNotFound):
		return nil, notFound(fmt.Sprintf("no export %s of audience %q (exports are kept %d days)", exportID, id, int(topology.ExportRetention.Hours()/24)))
	case err != nil:
		return nil, retryable{"exports are unavailable right now; try again", err}
	}
	var m exportManifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, unservable{"the export's manifest cannot be read", err}
	}
	return h.linked(ctx, m.public()), nil
}

// linked adds links to the files of m, when the handler can make them.
func (h *handler) linked(ctx context.Context, m exportManifest) exportManifest {
	if h.links == nil || m.State != stateDone {
		return m
	}
	ttl := min(linkTTL, time.Until(m.ExpiresAt))
	if ttl <= 0 {
		return m
	}
	for i, f := range m.Files {
		if url, err := h.links.Link(ctx, f.Key, ttl); err == nil {
			m.Files[i].URL = url
		}
	}
	return m
}

// sendStep invokes this function asynchronously with an export's step.
func (h *handler) sendStep(ctx context.Context, s exportStep) error {
	payload, err := json.Marshal(stepEvent{Export: &s})
	if err != nil {
		return err
	}
	if err := h.steps.InvokeAsync(ctx, payload); err != nil {
		return fmt.Errorf("send step %d of export %s: %w", s.Step, s.ExportID, err)
	}
	return nil
}

// stepDone is what a step returns (and logs).
type stepDone struct {
	ExportID string `json:"exportId"`
	Step     int    `json:"step"`
	Outcome  string `json:"outcome"` // saved, done, failed, stale, resent, lost
	Members  int    `json:"members"` // read by this step
	Pages    int    `json:"pages"`
	Parts    int    `json:"parts"` // uploaded by this step
}

// permanent is a failure that retrying the step cannot cure: the export fails with the reason.
type permanent struct{ reason string }

func (p permanent) Error() string { return p.reason }

// runStep carries an export on by one step (see the top of this file). An error is one a retry
// may cure (Lambda retries the invocation); what no retry can cure marks the export failed.
func (h *handler) runStep(ctx context.Context, s exportStep) (stepDone, error) {
	out := stepDone{ExportID: s.ExportID, Step: s.Step}
	if !exportIDPattern.MatchString(s.ExportID) || !audienceIDPattern.MatchString(s.AudienceID) || s.Step < 0 {
		out.Outcome = "stale"
		h.log.ErrorContext(ctx, "export step refused: not one this function sends", slog.Any("step", s))
		return out, nil
	}
	key := manifestKey(s.AudienceID, s.ExportID)
	raw, etag, err := h.exports.GetVersion(ctx, key, maxManifest)
	if errors.Is(err, objectstore.ErrNotFound) {
		out.Outcome = "stale" // expired, or never written
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("read manifest: %w", err)
	}
	var m exportManifest
	if err := json.Unmarshal(raw, &m); err != nil || m.Progress == nil && m.State == stateRunning {
		out.Outcome = "failed"
		h.log.ErrorContext(ctx, "export manifest unreadable", slog.String("key", key))
		return out, nil
	}
	switch {
	case m.State != stateRunning:
		out.Outcome = "stale"
		return out, nil
	case m.Steps == s.Step+1:
		// This step saved its progress and may not have sent the next (a retry after a crash, or
		// after the invocation failed): send it. Were it sent already, the two runs start from the
		// same checkpoint and only one commits.
		out.Outcome = "resent"
		return out, h.sendStep(ctx, exportStep{AudienceID: s.AudienceID, ExportID: s.ExportID, Step: m.Steps})
	case m.Steps != s.Step:
		out.Outcome = "stale"
		return out, nil
	}
	err = h.carryOn(ctx, &m, &etag, &out)
	var perm permanent
	switch {
	case errors.As(err, &perm):
		out.Outcome = "failed"
		h.fail(ctx, m, etag, perm.reason)
		return out, nil
	case errors.Is(err, objectstore.ErrChanged):
		out.Outcome = "lost" // another run of this step committed first
		return out, nil
	}
	return out, err
}

// carryOn reads pages from m's checkpoint, saves the progress and sends the next step, or
// finishes the export.
func (h *handler) carryOn(ctx context.Context, m *exportManifest, etag *string, out *stepDone) error {
	cfg := h.exportCfg
	if cfg == (exportSettings{}) {
		cfg = defaultExportSettings
	}
	if m.Progress.Finishing {
		return h.finish(ctx, m, *etag, out)
	}
	purpose, err := activation.ParsePurpose(m.Purpose)
	if err != nil {
		return permanent{"the manifest's purpose is not one: " + err.Error()}
	}
	prefix := exportPrefix(m.AudienceID, m.ExportID)
	stream := activation.NewStream(purpose, m.Steps == 0)
	files := map[string]*fileProgress{}
	var oldPending []string
	for i := range m.Progress.Files {
		f := &m.Progress.Files[i]
		files[f.Name] = f
		if f.Pending == "" {
			continue
		}
		body, err := h.exports.Get(ctx, f.Pending, int64(max(cfg.partBytes, objectstore.MinPartSize))*2)
		if errors.Is(err, objectstore.ErrNotFound) {
			return permanent{fmt.Sprintf("the pending bytes of %s are gone (%s)", f.Name, f.Pending)}
		}
		if err != nil {
			return fmt.Errorf("read pending %s: %w", f.Pending, err)
		}
		if err := stream.Resume(f.Name, body); err != nil {
			return permanent{err.Error()}
		}
		f.Bytes -= int64(len(body)) // counted again as the stream hands them on
		oldPending = append(oldPending, f.Pending)
	}
	started := []*fileProgress{} // uploads this run started, aborted if it loses its commit
	upload := func(f *fileProgress) error {
		if f.UploadID == "" {
			id, err := h.exports.StartUpload(ctx, prefix+f.Name)
			if err != nil {
				return err
			}
			f.UploadID = id
			started = append(started, f)
		}
		n := len(f.Parts) + 1
		if n > objectstore.MaxParts {
			return permanent{fmt.Sprintf("%s would need more than %d parts", f.Name, objectstore.MaxParts)}
		}
		p, err := h.exports.UploadPart(ctx, prefix+f.Name, f.UploadID, n, stream.Take(f.Name))
		if err != nil {
			return err
		}
		f.Parts = append(f.Parts, p)
		out.Parts++
		return nil
	}
	deadline, bounded := ctx.Deadline()
	began := h.clock()
	cursor, end := m.Progress.Cursor, false
	for out.Pages < cfg.stepPages && (!bounded || time.Until(deadline) > cfg.reserve) {
		ms, next, err := h.members.Members(ctx, m.AudienceID, cursor, cfg.page)
		if errors.Is(err, profilestore.ErrBadCursor) {
			return permanent{"the members index refused the export's cursor"}
		}
		if err != nil {
			return fmt.Errorf("read members: %w", err)
		}
		before := map[string]int{}
		for _, name := range stream.Names() {
			before[name] = stream.Rows(name)
		}
		for _, mem := range ms {
			if err := stream.Add(mem); err != nil {
				return permanent{err.Error()}
			}
		}
		for _, name := range stream.Names() {
			f := files[name]
			f.Rows += stream.Rows(name) - before[name]
			if stream.Pending(name) >= cfg.partBytes {
				f.Bytes += int64(stream.Pending(name))
				if err := upload(f); err != nil {
					return err
				}
			}
		}
		out.Pages++
		out.Members += len(ms)
		m.Members += len(ms)
		cursor = next
		if next == "" {
			end = true
			break
		}
	}
	// The checkpoint: what each file holds beyond its parts goes to a pending object of this run
	// (a key of its own: another run of this step cannot overwrite it), then the manifest.
	run := make([]byte, 4)
	_, _ = rand.Read(run)
	for _, name := range stream.Names() {
		f := files[name]
		f.Pending = ""
		if n := stream.Pending(name); n > 0 {
			f.Bytes += int64(n)
			f.Pending = fmt.Sprintf("%spending/%d-%s/%s", prefix, m.Steps+1, hex.EncodeToString(run), name)
			if err := h.exports.Put(ctx, f.Pending, stream.Take(name)); err != nil {
				return fmt.Errorf("write pending %s: %w", f.Pending, err)
			}
		}
	}
	m.Progress.Cursor, m.Progress.Finishing = cursor, end
	m.Steps++
	m.UpdatedAt = h.clock().UTC()
	next, err := h.putManifest(ctx, *m, *etag)
	if errors.Is(err, objectstore.ErrChanged) {
		for _, f := range started { // this run's uploads, which no manifest names
			_ = h.exports.AbortUpload(ctx, prefix+f.Name, f.UploadID)
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	*etag = next
	for _, k := range oldPending { // the last checkpoint's, which no step reads again
		_ = h.exports.Delete(ctx, k)
	}
	took := h.clock().Sub(began)
	h.log.InfoContext(ctx, "export step saved", slog.String("exportId", m.ExportID), slog.Int("step", m.Steps),
		slog.Int("members", out.Members), slog.Int("pages", out.Pages), slog.Int("parts", out.Parts),
		slog.Int64("ms", took.Milliseconds()), slog.Float64("membersPerSecond", float64(out.Members)/max(took.Seconds(), 1e-3)))
	if end {
		return h.finish(ctx, m, next, out)
	}
	out.Outcome = "saved"
	return h.sendStep(ctx, exportStep{AudienceID: m.AudienceID, ExportID: m.ExportID, Step: m.Steps})
}

// finish completes each file (its pending bytes the last part of its upload, or the whole file
// when it has no upload) and marks the export done. Run again, it finds the completed files
// there (an upload no longer in progress whose object has the bytes counted).
func (h *handler) finish(ctx context.Context, m *exportManifest, etag string, out *stepDone) error {
	prefix := exportPrefix(m.AudienceID, m.ExportID)
	for _, f := range m.Progress.Files {
		key := prefix + f.Name
		var tail []byte
		if f.Pending != "" {
			b, err := h.exports.Get(ctx, f.Pending, f.Bytes)
			if errors.Is(err, objectstore.ErrNotFound) && f.UploadID != "" && h.completed(ctx, key, f.Bytes) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read pending %s: %w", f.Pending, err)
			}
			tail = b
		}
		if f.UploadID == "" {
			if err := h.exports.Put(ctx, key, tail); err != nil {
				return fmt.Errorf("write %s: %w", key, err)
			}
			continue
		}
		parts := f.Parts
		if len(tail) > 0 {
			p, err := h.exports.UploadPart(ctx, key, f.UploadID, len(parts)+1, tail)
			if errors.Is(err, objectstore.ErrNoSuchUpload) && h.completed(ctx, key, f.Bytes) {
				continue
			}
			if err != nil {
				return err
			}
			parts = append(parts, p)
		}
		err := h.exports.CompleteUpload(ctx, key, f.UploadID, parts)
		switch {
		case errors.Is(err, objectstore.ErrNoSuchUpload) && h.completed(ctx, key, f.Bytes):
		case errors.Is(err, objectstore.ErrNoSuchUpload):
			return permanent{fmt.Sprintf("the upload of %s is gone before it completed", f.Name)}
		case refused(err):
			return permanent{fmt.Sprintf("S3 refused to complete %s: %v", f.Name, err)}
		case err != nil:
			return err
		}
	}
	done := h.clock().UTC()
	pending := m.Progress.Files
	m.State, m.CompletedAt, m.UpdatedAt, m.Files = stateDone, &done, done, nil
	for _, f := range pending {
		m.Files = append(m.Files, exportFile{Name: f.Name, Key: prefix + f.Name, Rows: f.Rows, Bytes: f.Bytes})
	}
	m.Progress = nil
	if _, err := h.putManifest(ctx, *m, etag); err != nil {
		return err
	}
	for _, f := range pending {
		if f.Pending != "" {
			_ = h.exports.Delete(ctx, f.Pending)
		}
	}
	out.Outcome = stateDone
	h.log.InfoContext(ctx, "export done", slog.String("exportId", m.ExportID), slog.String("audienceId", m.AudienceID),
		slog.Int("members", m.Members), slog.Int("steps", m.Steps))
	return nil
}

// completed tells whether key is an object of the given size: the file a run before completed.
func (h *handler) completed(ctx context.Context, key string, size int64) bool {
	n, err := h.exports.Size(ctx, key)
	return err == nil && n == size
}

// refused tells whether S3 refused a completion for what it was sent (parts missing, out of order
// or too small): no retry changes that.
func refused(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "InvalidPart", "InvalidPartOrder", "EntityTooSmall":
		return true
	}
	return false
}

// putManifest writes m at the version etag names and returns its new version.
func (h *handler) putManifest(ctx context.Context, m exportManifest, etag string) (string, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return h.exports.PutIf(ctx, manifestKey(m.AudienceID, m.ExportID), body, etag)
}

// fail marks the export failed with the reason (when its manifest is still at etag) and gives its
// uploads up.
func (h *handler) fail(ctx context.Context, m exportManifest, etag, reason string) {
	h.log.ErrorContext(ctx, "export failed", slog.String("exportId", m.ExportID), slog.String("audienceId", m.AudienceID), slog.String("reason", reason))
	if m.Progress != nil {
		for _, f := range m.Progress.Files {
			if f.UploadID != "" {
				_ = h.exports.AbortUpload(ctx, exportPrefix(m.AudienceID, m.ExportID)+f.Name, f.UploadID)
			}
		}
	}
	now := h.clock().UTC()
	m.State, m.Reason, m.UpdatedAt, m.CompletedAt, m.Progress = stateFailed, reason, now, &now, nil
	if _, err := h.putManifest(ctx, m, etag); err != nil {
		h.log.ErrorContext(ctx, "export failure not recorded", slog.String("exportId", m.ExportID), slog.String("error", err.Error()))
	}
}
