package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activation"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/objectstore"
	"github.com/dcrm-project/dcrm/shared/profilestore"
)

// The activation routes read the members index (profilestore's AudienceMembers table) and write
// exports to the exports bucket (README.md, "Audience members and exports").

// memberReader pages through an audience's members (profilestore.Store).
type memberReader interface {
	Members(ctx context.Context, audienceID, cursor string, limit int) ([]activation.Member, string, error)
}

// exportBucket is where exports are written and read back (objectstore.Bucket).
type exportBucket interface {
	Put(ctx context.Context, key string, body []byte) error
	Get(ctx context.Context, key string, limit int64) ([]byte, error)
}

// linker makes a time-limited link to an object of the exports bucket (S3's presigned GET).
type linker interface {
	Link(ctx context.Context, key string, ttl time.Duration) (string, error)
}

const (
	defaultMembersPage = 100
	exportPage         = profilestore.MaxMembersPage
	linkTTL            = time.Hour
	maxManifest        = 64 << 10
)

// maxExportMembers bounds an export made inside the request (the function's 10 s and 256 MB):
// pages of 1,000 strongly consistent reads and the files built in memory. A larger audience is
// refused (409) until the asynchronous export (README.md) is built. A variable for the tests.
var maxExportMembers = 50_000

var exportIDPattern = regexp.MustCompile(`^exp_[0-9]{8}T[0-9]{6}Z_[0-9a-f]{8}$`)

// memberView is a member as the members route answers it: the identifiers and consent only for a
// key with the export scope.
type memberView struct {
	ProfileID string   `json:"profileId"`
	Since     string   `json:"since"`
	UserID    string   `json:"userId,omitempty"`
	Emails    []string `json:"emailSha256,omitempty"`
	Phones    []string `json:"phoneSha256,omitempty"`
	Marketing string   `json:"marketingConsent,omitempty"`
}

type membersPage struct {
	AudienceID string       `json:"audienceId"`
	Members    []memberView `json:"members"`
	Next       string       `json:"next,omitempty"`
}

// listMembers serves GET /v1/audiences/{audienceId}/members?limit=&cursor=.
func (h *handler) listMembers(ctx context.Context, r request) (any, error) {
	id, err := h.definedAudience(ctx, r)
	if err != nil {
		return nil, err
	}
	limit := defaultMembersPage
	for k, v := range r.QueryStringParameters {
		switch k {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > profilestore.MaxMembersPage {
				return nil, badRequest(fmt.Sprintf("limit must be a whole number from 1 to %d", profilestore.MaxMembersPage))
			}
			limit = n
		case "cursor":
		default:
			return nil, badRequest(fmt.Sprintf("unknown parameter %q: use limit or cursor", k))
		}
	}
	ms, next, err := h.members.Members(ctx, id, r.QueryStringParameters["cursor"], limit)
	if err != nil {
		return nil, membersError(err)
	}
	identifiers := r.key.Allows(keystore.Export)
	page := membersPage{AudienceID: id, Members: make([]memberView, len(ms)), Next: next}
	for i, m := range ms {
		row := activation.RowOf(m)
		v := memberView{ProfileID: row.ProfileID, Since: row.Since, UserID: row.UserID}
		if identifiers {
			v.Emails, v.Phones, v.Marketing = row.Emails, row.Phones, row.Marketing
		}
		page.Members[i] = v
	}
	return page, nil
}

// definedAudience reads the audienceId path parameter and checks that the audience is defined.
func (h *handler) definedAudience(ctx context.Context, r request) (string, error) {
	id, err := audienceID(r)
	if err != nil {
		return "", err
	}
	if _, err := h.audiences.Get(ctx, id); err != nil {
		return "", audienceError(id, err)
	}
	return id, nil
}

func membersError(err error) error {
	if errors.Is(err, profilestore.ErrBadCursor) {
		return badRequest("cursor is not one this API returned; start again without it")
	}
	return retryable{"the audience's members are unavailable right now; try again", err}
}

// exportFile is a file of an export, as its manifest lists it.
type exportFile struct {
	Name  string `json:"name"`
	Key   string `json:"key"`
	Rows  int    `json:"rows"`
	Bytes int    `json:"bytes"`
	URL   string `json:"url,omitempty"` // a link valid for an hour, added when answered
}

// exportManifest is what an export is: written last, beside its files, as manifest.json.
type exportManifest struct {
	ExportID   string       `json:"exportId"`
	AudienceID string       `json:"audienceId"`
	Purpose    string       `json:"purpose"`
	State      string       `json:"state"`
	CreatedAt  time.Time    `json:"createdAt"`
	ExpiresAt  time.Time    `json:"expiresAt"`
	Members    int          `json:"members"`
	Files      []exportFile `json:"files"`
}

type exportCreated struct{ exportManifest }

func (exportCreated) status() int { return http.StatusCreated }

func exportPrefix(audienceID, exportID string) string {
	return topology.ExportsPrefix + audienceID + "/" + exportID + "/"
}

// startExport serves POST /v1/audiences/{audienceId}/exports: it pages through the members
// (at most maxExportMembers), writes the files and then the manifest, and answers the manifest
// (201) with links to the files.
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
	files := activation.NewFiles(purpose)
	n, cursor := 0, ""
	for {
		ms, next, err := h.members.Members(ctx, id, cursor, exportPage)
		if err != nil {
			return nil, membersError(err)
		}
		for _, m := range ms {
			if err := files.Add(m); err != nil {
				return nil, err
			}
		}
		n += len(ms)
		if n > maxExportMembers {
			return nil, conflict(fmt.Sprintf("audience %q has more than %d members, more than an export made within a request may hold; nothing was written", id, maxExportMembers))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	out, err := files.Finish()
	if err != nil {
		return nil, err
	}
	now := h.clock().UTC()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	m := exportManifest{ExportID: "exp_" + now.Format("20060102T150405Z") + "_" + hex.EncodeToString(suffix), AudienceID: id,
		Purpose: string(purpose), State: "complete", CreatedAt: now, ExpiresAt: now.Add(topology.ExportRetention), Members: n}
	prefix := exportPrefix(id, m.ExportID)
	for _, f := range out {
		if err := h.exports.Put(ctx, prefix+f.Name, f.Body); err != nil {
			return nil, retryable{"the export could not be written; try again", err}
		}
		m.Files = append(m.Files, exportFile{Name: f.Name, Key: prefix + f.Name, Rows: f.Rows, Bytes: len(f.Body)})
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := h.exports.Put(ctx, prefix+"manifest.json", body); err != nil {
		return nil, retryable{"the export could not be written; try again", err}
	}
	return exportCreated{h.linked(ctx, m)}, nil
}

// getExport serves GET /v1/audiences/{audienceId}/exports/{exportId}: the manifest, with fresh
// links.
func (h *handler) getExport(ctx context.Context, r request) (any, error) {
	exportID := r.PathParameters["exportId"]
	if !exportIDPattern.MatchString(exportID) {
		return nil, badRequest("exportId is not one this API made (exp_<time>_<8 hex>)")
	}
	id, err := h.definedAudience(ctx, r)
	if err != nil {
		return nil, err
	}
	body, err := h.exports.Get(ctx, exportPrefix(id, exportID)+"manifest.json", maxManifest)
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
	return h.linked(ctx, m), nil
}

// linked adds links to the files of m, when the handler can make them.
func (h *handler) linked(ctx context.Context, m exportManifest) exportManifest {
	if h.links == nil {
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
