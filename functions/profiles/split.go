package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// merges serves GET /v1/profiles/{profileId}/merges: how the profiles merged into the live
// profile joined.
func (h *handler) merges(ctx context.Context, r request) (any, error) {
	p, err := h.profiles.Profile(ctx, r.id)
	if err != nil {
		return nil, err
	}
	ms, err := h.profiles.Merges(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return mergeLog{ProfileID: p.ID, Merges: mergesOf(ms)}, nil
}

// split serves POST /v1/profiles/{profileId}/split: it undoes the merge of the profile the body
// names into the live profile and then publishes profile.split. It publishes after the split,
// because a split is a correction that must not be announced before it is done; when the
// publication fails the caller repeats the request, the engine finds the split done (or finishes
// it) and the message goes out again under the same messageId.
func (h *handler) split(ctx context.Context, r request) (any, error) {
	from, err := splitRequest(r.APIGatewayV2HTTPRequest)
	if err != nil {
		return nil, err
	}
	s, err := h.profiles.Split(ctx, r.id, from)
	if err != nil {
		return nil, err
	}
	h.log.InfoContext(ctx, "profile split", slog.String("profileId", s.ProfileID), slog.String("splitId", s.SplitID),
		slog.Int("identifiers", s.Identifiers), slog.Int("touchpoints", s.Touchpoints))
	if err := h.updates.Send(ctx, message.NewProfileSplit(s.ProfileID, s.SplitID, s.Identifiers, s.Touchpoints, h.now())); err != nil {
		return nil, fmt.Errorf("publish split of %s from %s: %w", s.SplitID, s.ProfileID, err)
	}
	return separation(s), nil
}

// maxSplitBody bounds the body of a split request.
const maxSplitBody = 4 << 10

// splitRequest reads the body of POST /{profileId}/split, {"profileId": "<merged profile>"}.
func splitRequest(req events.APIGatewayV2HTTPRequest) (string, error) {
	const usage = `send JSON {"profileId": "<id of the profile merged into this one>"}`
	raw, err := requestBody(req, maxSplitBody)
	if err != nil {
		return "", err
	}
	var b struct {
		ProfileID *string `json:"profileId"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return "", badRequest("body is not a split request (" + jsonProblem(err) + "): " + usage)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", badRequest("body holds more than one JSON value: " + usage)
	}
	// encoding/json matches field names in any case; the API's names are exact, as for consent.
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(raw, &fields) // decoded above as an object (or null)
	for k := range fields {
		if k != "profileId" {
			return "", badRequest(fmt.Sprintf("unknown field %q: %s", k, usage))
		}
	}
	switch {
	case b.ProfileID == nil:
		return "", badRequest("profileId is missing: " + usage)
	case *b.ProfileID == "":
		return "", badRequest("profileId is empty: " + usage)
	case len(*b.ProfileID) > profile.MaxIDLength:
		return "", badRequest(fmt.Sprintf("profileId longer than %d bytes", profile.MaxIDLength))
	}
	return *b.ProfileID, nil
}

// requestBody returns the bytes of a request's body, decoded from base64 when API Gateway encoded
// it, or says why it cannot be read.
func requestBody(req events.APIGatewayV2HTTPRequest, limit int) ([]byte, error) {
	raw := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, badRequest("body is not valid base64")
		}
	}
	if len(raw) > limit {
		return nil, badRequest(fmt.Sprintf("body larger than %d bytes", limit))
	}
	return raw, nil
}

// jsonProblem says briefly what a JSON decoder found wrong, without echoing the input.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return "empty"
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return "not a JSON object"
		}
		return fmt.Sprintf("%s must be a %s", typeErr.Field, typeErr.Type)
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return "not valid JSON"
	}
	return err.Error() // e.g. json: unknown field "x"
}
