package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"

	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/computed"
)

// The computed-trait routes keep the computed-trait definitions (shared/computed's language)
// beside the audiences, in the Audiences table, through shared/audiencestore: one version covers
// both, so an audience never reads a trait a concurrent change removes. They only read and write
// definitions; the values are computed as events are recorded (shared/recording).

// traitID reads the traitId path parameter: a lower-case slug, as computed.Parse takes an id.
func traitID(r request) (string, error) {
	id := r.PathParameters["traitId"]
	if len(id) > computed.MaxIDBytes || !audienceIDPattern.MatchString(id) {
		return "", badRequest(fmt.Sprintf("traitId must be a lower-case slug of 1 to %d bytes (a-z, 0-9, hyphens inside)", computed.MaxIDBytes))
	}
	return id, nil
}

// listTraits serves GET /v1/traits: every computed trait defined, by id.
func (h *handler) listTraits(ctx context.Context, r request) (any, error) {
	if len(r.QueryStringParameters) > 0 {
		return nil, badRequest("GET /v1/traits takes no parameters: it lists every computed trait")
	}
	all, err := h.audiences.Traits(ctx)
	if err != nil {
		return nil, traitError("", err)
	}
	out := traitList{Traits: make([]json.RawMessage, 0, len(all))}
	for _, d := range all {
		raw, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		out.Traits = append(out.Traits, raw)
	}
	return out, nil
}

// getTrait serves GET /v1/traits/{traitId}: the definition as stored.
func (h *handler) getTrait(ctx context.Context, r request) (any, error) {
	id, err := traitID(r)
	if err != nil {
		return nil, err
	}
	d, err := h.audiences.Trait(ctx, id)
	if err != nil {
		return nil, traitError(id, err)
	}
	return d, nil
}

// putTrait serves PUT /v1/traits/{traitId}: the body is the definition, whose id is the path's. It
// creates the trait (201) or replaces it (200), and answers the definition as stored.
func (h *handler) putTrait(ctx context.Context, r request) (any, error) {
	id, err := traitID(r)
	if err != nil {
		return nil, err
	}
	raw, err := requestBody(r.APIGatewayV2HTTPRequest, math.MaxInt)
	if err != nil {
		return nil, err
	}
	if len(raw) > audiencestore.MaxTraitBytes {
		return nil, tooLarge(fmt.Sprintf("the definition is %d bytes, at most %d", len(raw), audiencestore.MaxTraitBytes))
	}
	def, err := computed.Parse(raw) // errors say where: where[1]: property "price": op "~": …
	if err != nil {
		return nil, badRequest(err.Error())
	}
	if def.ID != id {
		return nil, badRequest(fmt.Sprintf("the definition's id %q is not the path's %q", def.ID, id))
	}
	created, err := h.audiences.PutTrait(ctx, def, r.key.ID)
	if err != nil {
		return nil, traitError(id, err)
	}
	stored, err := json.Marshal(def)
	if err != nil {
		return nil, err
	}
	// What changed, never the definition's values; the line names the key.
	h.log.InfoContext(ctx, "computed trait written", slog.String("traitId", id), slog.Bool("created", created))
	return traitWritten{stored, created}, nil
}

// deleteTrait serves DELETE /v1/traits/{traitId}: 204 once removed.
func (h *handler) deleteTrait(ctx context.Context, r request) (any, error) {
	id, err := traitID(r)
	if err != nil {
		return nil, err
	}
	if err := h.audiences.DeleteTrait(ctx, id, r.key.ID); err != nil {
		return nil, traitError(id, err)
	}
	h.log.InfoContext(ctx, "computed trait removed", slog.String("traitId", id))
	return noContent{}, nil
}

// traitWritten is a PUT's answer: the definition as stored, 201 when the PUT created it.
type traitWritten struct {
	definition json.RawMessage
	created    bool
}

func (t traitWritten) MarshalJSON() ([]byte, error) { return t.definition, nil }

func (t traitWritten) status() int {
	if t.created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// traitError is the route's error for what the store returned.
func traitError(id string, err error) error {
	switch {
	case errors.Is(err, audiencestore.ErrTraitNotFound):
		return notFound(fmt.Sprintf("no computed trait %q; GET /v1/traits lists them", id))
	case errors.Is(err, audiencestore.ErrTooMany), errors.Is(err, audiencestore.ErrReferenced):
		return conflict(err.Error())
	case errors.Is(err, audiencestore.ErrChanged):
		return raced{"the audiences and computed traits changed under a concurrent write; try again", err}
	case errors.Is(err, computed.ErrInvalid):
		return badRequest(err.Error())
	}
	return retryable{"computed traits are unavailable right now; try again", err}
}
