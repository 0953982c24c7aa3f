package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"time"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/computed"
)

// The audience routes keep the audience definitions (shared/audience's language) in the Audiences
// table, through shared/audiencestore, which keeps the set valid under concurrent writes. They
// only read and write definitions; membership is not evaluated here.

// audienceStore keeps the audience definitions (audiencestore.Store).
type audienceStore interface {
	List(ctx context.Context) ([]audiencestore.Stored, error)
	Get(ctx context.Context, id string) (audiencestore.Stored, error)
	Put(ctx context.Context, def audience.Definition, by string) (audiencestore.Stored, error)
	Delete(ctx context.Context, id, by string) error
	// The computed traits kept beside the audiences (traits.go).
	Traits(ctx context.Context) ([]computed.Definition, error)
	Trait(ctx context.Context, id string) (computed.Definition, error)
	PutTrait(ctx context.Context, def computed.Definition, by string) (bool, error)
	DeleteTrait(ctx context.Context, id, by string) error
	// Sizes are an audience's member counts by scoring run, oldest first.
	Sizes(ctx context.Context, id string, days int, now time.Time) ([]audiencestore.Size, error)
}

// audienceIDPattern is an audience id as the language takes it (a lower-case slug, at most
// audience.MaxIDBytes; a test holds the two together).
var audienceIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// audienceID reads the audienceId path parameter.
func audienceID(r request) (string, error) {
	id := r.PathParameters["audienceId"]
	if len(id) > audience.MaxIDBytes || !audienceIDPattern.MatchString(id) {
		return "", badRequest(fmt.Sprintf("audienceId must be a lower-case slug of 1 to %d bytes (a-z, 0-9, hyphens inside)", audience.MaxIDBytes))
	}
	return id, nil
}

// listAudiences serves GET /v1/audiences: every audience defined, by id, with its definition.
func (h *handler) listAudiences(ctx context.Context, r request) (any, error) {
	if len(r.QueryStringParameters) > 0 {
		return nil, badRequest("GET /v1/audiences takes no parameters: it lists every audience")
	}
	all, err := h.audiences.List(ctx)
	if err != nil {
		return nil, audienceError("", err)
	}
	return audienceListOf(all), nil
}

// getAudience serves GET /v1/audiences/{audienceId}: the audience as stored.
func (h *handler) getAudience(ctx context.Context, r request) (any, error) {
	id, err := audienceID(r)
	if err != nil {
		return nil, err
	}
	st, err := h.audiences.Get(ctx, id)
	if err != nil {
		return nil, audienceError(id, err)
	}
	v := audienceViewOf(st)
	if v.Size, err = h.latestSize(ctx, id); err != nil {
		return nil, audienceError(id, err)
	}
	return v, nil
}

// putAudience serves PUT /v1/audiences/{audienceId}: the body is the definition, whose id is the
// path's. It creates the audience (201) or replaces it (200), and answers it as stored.
func (h *handler) putAudience(ctx context.Context, r request) (any, error) {
	id, err := audienceID(r)
	if err != nil {
		return nil, err
	}
	raw, err := requestBody(r.APIGatewayV2HTTPRequest, math.MaxInt)
	if err != nil {
		return nil, err
	}
	if len(raw) > audiencestore.MaxDefinitionBytes {
		return nil, tooLarge(fmt.Sprintf("the definition is %d bytes, at most %d", len(raw), audiencestore.MaxDefinitionBytes))
	}
	def, err := audience.Parse(raw) // errors say where: rule.all[2]: field "traits.plan": …
	if err != nil {
		return nil, badRequest(err.Error())
	}
	if def.ID != id {
		return nil, badRequest(fmt.Sprintf("the definition's id %q is not the path's %q", def.ID, id))
	}
	st, err := h.audiences.Put(ctx, def, r.key.ID)
	if err != nil {
		return nil, audienceError(id, err)
	}
	// What changed, never the definition's values; the line names the key.
	h.log.InfoContext(ctx, "audience written", slog.String("audienceId", id), slog.Int("version", st.Version), slog.Bool("created", st.Created))
	return audienceWritten{audienceViewOf(st), st.Created}, nil
}

// deleteAudience serves DELETE /v1/audiences/{audienceId}: 204 once removed.
func (h *handler) deleteAudience(ctx context.Context, r request) (any, error) {
	id, err := audienceID(r)
	if err != nil {
		return nil, err
	}
	if err := h.audiences.Delete(ctx, id, r.key.ID); err != nil {
		return nil, audienceError(id, err)
	}
	h.log.InfoContext(ctx, "audience removed", slog.String("audienceId", id))
	return noContent{}, nil
}

// audienceWritten is a PUT's answer: the audience as stored, 201 when the PUT created it.
type audienceWritten struct {
	audienceView
	created bool
}

func (a audienceWritten) status() int {
	if a.created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// noContent is a 204: done, nothing to say.
type noContent struct{}

// audienceError is the route's error for what the store returned.
func audienceError(id string, err error) error {
	switch {
	case errors.Is(err, audiencestore.ErrNotFound):
		return notFound(fmt.Sprintf("no audience %q; GET /v1/audiences lists them", id))
	case errors.Is(err, audiencestore.ErrTooLarge):
		return tooLarge(err.Error())
	case errors.Is(err, audiencestore.ErrInvalidSet), errors.Is(err, audiencestore.ErrTooMany), errors.Is(err, audiencestore.ErrReferenced):
		return conflict(err.Error())
	case errors.Is(err, audiencestore.ErrChanged):
		return raced{"the audiences changed under a concurrent write; try again", err}
	case errors.Is(err, audience.ErrInvalid):
		return badRequest(err.Error())
	}
	return retryable{"audiences are unavailable right now; try again", err}
}

// conflict is a 409: the request is sound but the state refuses it, in words.
type conflict string

func (c conflict) Error() string { return string(c) }

// tooLarge is a 413, in words.
type tooLarge string

func (t tooLarge) Error() string { return string(t) }

// raced is a change that lost a race with another (a 503 with Retry-After: 1): the reason for
// the caller, the cause for the log. Nothing was written; the request is safe to repeat.
type raced struct {
	reason string
	err    error
}

func (c raced) Error() string { return c.reason + ": " + c.err.Error() }
func (c raced) Unwrap() error { return c.err }
