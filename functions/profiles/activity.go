package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/activity"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
)

// The activity log (shared/activity, in the Activity table): the alerts and triggers the score
// and triggers functions sent (GET /v1/alerts), and the audit log of the changes made through this
// API, which handle writes (GET /v1/audit). README.md, "Alerts, triggers and the audit log".

// activityStore is the Activity table (activitystore.Store).
type activityStore interface {
	Write(ctx context.Context, e activity.Entry) error
	Page(ctx context.Context, q activity.Query) (activity.Page, error)
	Counts(ctx context.Context, day string, kinds []string) (map[string]int64, bool, error)
	Forget(ctx context.Context, ids []string, pseudonym func(string) string) (int, int, error)
	Contacts(ctx context.Context, ids []string, limit int) ([]activity.Entry, error)
}

// auditNote is what a route tells the audit log of its request: the profile ids it erased, which
// the entry names only by their pseudonym.
type auditNote struct {
	erased []string
}

// erase notes profile ids the request erased.
func (n *auditNote) erase(ids ...string) {
	if n != nil {
		n.erased = append(n.erased, ids...)
	}
}

// pseudonym is how the activity log names an erased profile: its keyed hash (hashkey, purpose
// "activity"), which tells whether an id is the one erased without saying which it was.
func (h *handler) pseudonym(id string) string {
	if h.pseudonymOf == nil {
		return "erased"
	}
	return "erased:" + h.pseudonymOf(id)
}

// forget removes what the activity log holds of erased profiles: their alerts and triggers, and
// their ids in the audit log (shared/activitystore's Forget).
func (h *handler) forget(ctx context.Context, ids []string) error {
	if h.activity == nil {
		return nil
	}
	deleted, rewritten, err := h.activity.Forget(ctx, ids, h.pseudonym)
	if err != nil {
		return fmt.Errorf("forget the activity of %v: %w", ids, err)
	}
	if deleted+rewritten > 0 {
		h.log.InfoContext(ctx, "activity of an erased person forgotten", slog.Int("deleted", deleted), slog.Int("rewritten", rewritten))
	}
	return nil
}

const activityUnavailable = "the activity log is unavailable right now; try again"

// activityQuery reads day (default today, UTC), limit, cursor and, where kinds is not nil, kind
// (one of kinds; absent: all of them).
func (h *handler) activityQuery(query map[string]string, kinds []string) (activity.Query, error) {
	q := activity.Query{Day: activity.Day(h.clock()), Limit: activity.DefaultLimit, Cursor: query["cursor"], Kinds: kinds}
	known := []string{"day", "limit", "cursor"}
	if kinds != nil {
		known = append(known, "kind")
	}
	for k, v := range query {
		switch k {
		case "day":
			if _, err := activity.ParseDay(v); err != nil {
				return q, badRequest(err.Error())
			}
			q.Day = v
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > activity.MaxLimit {
				return q, badRequest(fmt.Sprintf("limit must be a whole number from 1 to %d", activity.MaxLimit))
			}
			q.Limit = n
		case "cursor":
		case "kind":
			if kinds != nil {
				if !slices.Contains(kinds, v) {
					return q, badRequest(fmt.Sprintf("kind %q: want one of %s", v, strings.Join(kinds, ", ")))
				}
				q.Kinds = []string{v}
				continue
			}
			fallthrough
		default:
			return q, badRequest(fmt.Sprintf("unknown parameter %q: use %s", k, strings.Join(known, ", ")))
		}
	}
	return q, nil
}

// page reads a page of the activity log.
func (h *handler) page(ctx context.Context, q activity.Query) (activity.Page, error) {
	if h.activity == nil {
		return activity.Page{}, retryable{activityUnavailable, errors.New("no activity table")}
	}
	p, err := h.activity.Page(ctx, q)
	switch {
	case errors.Is(err, activity.ErrBadCursor):
		return p, badRequest("cursor is not one this API returned for this day and kind; start again without it")
	case err != nil:
		return p, retryable{activityUnavailable, err}
	}
	return p, nil
}

// listAlerts serves GET /v1/alerts?day=&kind=&limit=&cursor=: the alerts and triggers sent on a
// day, newest first; the first page also counts the day's by kind.
func (h *handler) listAlerts(ctx context.Context, r request) (any, error) {
	q, err := h.activityQuery(r.QueryStringParameters, activity.AlertKinds)
	if err != nil {
		return nil, err
	}
	p, err := h.page(ctx, q)
	if err != nil {
		return nil, err
	}
	out := alertsPage{Day: q.Day, Alerts: make([]alertView, len(p.Entries)), Next: p.Next}
	if len(q.Kinds) == 1 {
		out.Kind = q.Kinds[0]
	}
	for i, e := range p.Entries {
		out.Alerts[i] = alertOf(e)
	}
	if q.Cursor == "" {
		counts, complete, err := h.activity.Counts(ctx, q.Day, activity.AlertKinds)
		if err != nil {
			return nil, retryable{activityUnavailable, err}
		}
		out.Counts, out.CountsPartial = counts, !complete
	}
	return out, nil
}

// listAudit serves GET /v1/audit?day=&limit=&cursor=: the changes made through this API on a day,
// newest first.
func (h *handler) listAudit(ctx context.Context, r request) (any, error) {
	q, err := h.activityQuery(r.QueryStringParameters, nil)
	if err != nil {
		return nil, err
	}
	q.Kinds = []string{activity.KindAudit}
	p, err := h.page(ctx, q)
	if err != nil {
		return nil, err
	}
	out := auditPage{Day: q.Day, Actions: make([]actionView, len(p.Entries)), Next: p.Next}
	for i, e := range p.Entries {
		targets := e.Targets
		if targets == nil {
			targets = map[string]string{}
		}
		out.Actions[i] = actionView{At: e.At, Route: e.Route, Targets: targets, KeyID: e.KeyID, KeyName: e.KeyName,
			Status: e.Status, Outcome: e.Outcome, RequestID: e.MessageID}
	}
	return out, nil
}

// audited tells whether a route's requests change something: every method but GET, HEAD and
// OPTIONS. Any route added later is audited by its method alone.
func audited(routeKey string) bool {
	method, _, _ := strings.Cut(routeKey, " ")
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// audit writes the audit log's entry of a request that changed something and succeeded (2xx):
// the route, the ids it named, the caller and the outcome; never the request's body. The change is
// made, whatever becomes of the entry: one the log cannot take is logged here in full (the
// function's log is kept as long as logRetentionDays) and the answer stands.
//
// An entry names the profile its path names (ProfileID), by which an erasure finds it later; a
// profile the request erased is named by its pseudonym only.
func (h *handler) audit(ctx context.Context, req events.APIGatewayV2HTTPRequest, key keystore.APIKey, resp events.APIGatewayV2HTTPResponse, note *auditNote) {
	if h.activity == nil || !audited(req.RouteKey) || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return
	}
	e := activity.Entry{At: h.clock().UTC(), Kind: activity.KindAudit, MessageID: requestID(req), Route: req.RouteKey,
		Targets: targets(req.PathParameters, resp), KeyID: key.ID, KeyName: key.Name, Status: resp.StatusCode,
		Outcome: http.StatusText(resp.StatusCode), ProfileID: req.PathParameters["profileId"]}
	if note != nil && len(note.erased) > 0 {
		for name, v := range e.Targets {
			if slices.Contains(note.erased, v) {
				e.Targets[name] = h.pseudonym(v)
			}
		}
		if slices.Contains(note.erased, e.ProfileID) {
			e.ProfileID = ""
		}
	}
	if err := h.activity.Write(ctx, e); err != nil {
		h.log.ErrorContext(ctx, "change made, not in the audit log", slog.Any("targets", e.Targets), slog.Int("status", e.Status),
			slog.String("at", e.At.Format("2006-01-02T15:04:05.000Z")), slog.String("error", err.Error()))
	}
}

// requestID is API Gateway's id of the request, which the entry is keyed by; a made-up one where
// there is none.
func requestID(req events.APIGatewayV2HTTPRequest) string {
	id := req.RequestContext.RequestID
	if id == "" || len(id) > activity.MaxID || strings.Contains(id, "#") {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		id = "local-" + hex.EncodeToString(b)
	}
	return id
}

// personalIDs are the names of the identifiers of people (userId, anonymousId, emailSha256 …): an
// answer's field of such a name is never an audit target.
var personalIDs = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range identity.AllKinds() {
		m[string(k)] = true
	}
	return m
}()

// targets are the ids a request named: its path parameters (every one is an id: profileId,
// audienceId, traitId …), then the ids its JSON answer names at its top level (a field whose
// name ends in "Id", but those of people's identifiers: the split's splitId, an export's exportId,
// the live profileId of a merged one), at most activity.MaxTargets, each at most activity.MaxID
// bytes. A path parameter wins over an answer's field of the same name.
func targets(path map[string]string, resp events.APIGatewayV2HTTPResponse) map[string]string {
	out := map[string]string{}
	add := func(name, value string) {
		if _, ok := out[name]; ok || value == "" || len(value) > activity.MaxID || len(out) >= activity.MaxTargets {
			return
		}
		out[name] = value
	}
	for _, name := range slices.Sorted(maps.Keys(path)) {
		add(name, path[name])
	}
	if !strings.HasPrefix(resp.Headers["content-type"], "application/json") || resp.IsBase64Encoded {
		return out
	}
	var answer map[string]any
	if json.Unmarshal([]byte(resp.Body), &answer) != nil {
		return out
	}
	for _, name := range slices.Sorted(maps.Keys(answer)) {
		if s, ok := answer[name].(string); ok && strings.HasSuffix(name, "Id") && !personalIDs[name] {
			add(name, s)
		}
	}
	return out
}

// maxContacts bounds GET …/contacts: the newest alerts and triggers sent to a person.
const maxContacts = 100

// maxContactIDs bounds the profile ids a person's contacts are read for: the live profile and the
// newest of those merged into it (each id is one query of the activity log's profile index).
const maxContactIDs = 20

// contacts serves GET /v1/profiles/{profileId}/contacts?limit=: the alerts and triggers dcrm sent
// for the person (under the live profile's id or one merged into it), newest first, as the
// activity log keeps them (90 days).
func (h *handler) contacts(ctx context.Context, r request) (any, error) {
	limit := 25
	for k, v := range r.QueryStringParameters {
		n, err := strconv.Atoi(v)
		switch {
		case k != "limit":
			return nil, badRequest(fmt.Sprintf("unknown parameter %q: use limit", k))
		case err != nil || n < 1 || n > maxContacts:
			return nil, badRequest(fmt.Sprintf("limit must be a whole number from 1 to %d", maxContacts))
		}
		limit = n
	}
	p, err := h.profiles.Profile(ctx, r.id)
	if err != nil {
		return nil, err
	}
	if h.activity == nil {
		return nil, retryable{activityUnavailable, errors.New("no activity table")}
	}
	merged := p.MergedFrom[max(0, len(p.MergedFrom)-(maxContactIDs-1)):]
	entries, err := h.activity.Contacts(ctx, append([]string{p.ID}, merged...), limit)
	if err != nil {
		return nil, retryable{activityUnavailable, err}
	}
	out := contactList{ProfileID: p.ID, Contacts: make([]alertView, len(entries))}
	for i, e := range entries {
		out.Contacts[i] = alertOf(e)
	}
	return out, nil
}

// alertOf is an alert or trigger of the log as the API shows it.
func alertOf(e activity.Entry) alertView {
	return alertView{At: e.At, Kind: e.Kind, ProfileID: e.ProfileID, Reason: e.Reason, Facts: e.Facts,
		MessageID: e.MessageID, Channel: e.Channel}
}
