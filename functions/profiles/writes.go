package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// erase serves DELETE /v1/profiles/{profileId}: it erases the person for as long as the
// function's time allows, and answers 202 with the progress while there is more to do (the caller
// repeats the request, which goes on where it stopped), 200 when the erasure is complete (also on
// every later request). Before the erasure starts it leaves the request that removes the person
// from the event archive's files in the archive bucket (archive.Erasure: the profile id, the ids
// merged into it, the time), then announces the erasure on the profile-updates queue, so that no
// erasure is done without either: when one fails nothing is erased and the caller repeats the
// request, which writes the same request again and announces under the same messageId. It also
// removes the person's alerts and triggers from the activity log, and their ids from its audit
// entries (a pseudonym instead), before the erasure starts and again on every request.
func (h *handler) erase(ctx context.Context, r request) (any, error) {
	announce := func(ctx context.Context, p profile.Profile) error {
		at := h.now()
		e := archive.NewErasure(p.ID, p.MergedFrom, at)
		body, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := h.archive.Put(ctx, e.PendingKey(), body); err != nil {
			return fmt.Errorf("request the erasure of %s from the archive: %w", p.ID, err)
		}
		if err := h.updates.Send(ctx, message.NewProfileErased(p.ID, p.MergedFrom, at)); err != nil {
			return fmt.Errorf("announce erasure of %s: %w", p.ID, err)
		}
		// The activity log: the person's alerts and triggers go, the audit log keeps a pseudonym.
		ids := append([]string{p.ID}, p.MergedFrom...)
		r.note.erase(ids...)
		return h.forget(ctx, ids)
	}
	e, err := h.profiles.EraseAnnounced(ctx, r.id, announce)
	if err != nil {
		return nil, err
	}
	// Again on every request, for an alert a run sent for the live profile while the erasure
	// started (none is sent once the profile is marked erased); the request names the ids by
	// their pseudonyms in the audit log.
	r.note.erase(r.id, e.ProfileID)
	if err := h.forget(ctx, []string{e.ProfileID}); err != nil {
		return nil, retryable{"the erasure is under way, but the activity log is unavailable right now; repeat the request", err}
	}
	h.log.InfoContext(ctx, "erasure of a person", slog.String("profileId", e.ProfileID), slog.String("state", e.State),
		slog.Int("profiles", e.Profiles), slog.Int("identifiers", e.Identifiers), slog.Int("touchpoints", e.Touchpoints))
	return erasureOf(e), nil
}

// consent serves PUT /v1/profiles/{profileId}/consent: it records a consent change and
// publishes the resulting state as profile.consent. The state is published on every request,
// changed or not, so a request repeated after a failed publish still reaches the CRM; its
// messageId depends only on the state, so repeats are dropped.
func (h *handler) consent(ctx context.Context, r request) (any, error) {
	change, err := consentChange(r.APIGatewayV2HTTPRequest, h.now())
	if err != nil {
		return nil, err
	}
	live, state, err := h.profiles.SetConsent(ctx, r.id, change)
	if err != nil {
		return nil, err
	}
	wire := make(map[string]message.Consent, len(state))
	for purpose, c := range state {
		wire[purpose] = message.Consent(c)
	}
	if err := h.updates.Send(ctx, message.NewProfileConsent(live, wire)); err != nil {
		return nil, fmt.Errorf("publish consent of %s: %w", live, err)
	}
	return consentState{ProfileID: live, Consent: consentOf(state)}, nil
}

// consentBody is the body of PUT /{profileId}/consent.
type consentBody struct {
	Analytics *bool  `json:"analytics"`
	Marketing *bool  `json:"marketing"`
	Source    string `json:"source"`
	At        string `json:"at"`
}

// maxConsentBody bounds the body of a consent request.
const maxConsentBody = 4 << 10

// consentChange reads a consent request: the purposes it answers, given at "at" (RFC 3339, default
// now), or says what is wrong with it.
func consentChange(req events.APIGatewayV2HTTPRequest, now time.Time) (map[string]profile.Consent, error) {
	const usage = `send JSON {"analytics": true|false, "marketing": true|false, "source": "...", "at": "<RFC 3339 time>"} with at least one purpose`
	raw, err := requestBody(req, maxConsentBody)
	if err != nil {
		return nil, err
	}
	var b consentBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, badRequest("body is not a consent object: " + usage)
	}
	var extra map[string]json.RawMessage
	_ = json.Unmarshal(raw, &extra)
	for k := range extra {
		switch k {
		case profile.PurposeAnalytics, profile.PurposeMarketing, "source", "at":
		default:
			return nil, badRequest(fmt.Sprintf("unknown field %q: %s", k, usage))
		}
	}
	if b.Analytics == nil && b.Marketing == nil {
		return nil, badRequest("no purpose answered: " + usage)
	}
	if len(b.Source) > profile.MaxConsentSource {
		return nil, badRequest(fmt.Sprintf("source longer than %d bytes", profile.MaxConsentSource))
	}
	at := now.UTC()
	if b.At != "" {
		t, err := time.Parse(time.RFC3339Nano, b.At)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("at %q is not an RFC 3339 time", b.At))
		}
		at = t.UTC()
	}
	change := map[string]profile.Consent{}
	if b.Analytics != nil {
		change[profile.PurposeAnalytics] = profile.Consent{Granted: *b.Analytics, At: at, Source: b.Source}
	}
	if b.Marketing != nil {
		change[profile.PurposeMarketing] = profile.Consent{Granted: *b.Marketing, At: at, Source: b.Source}
	}
	return change, nil
}
