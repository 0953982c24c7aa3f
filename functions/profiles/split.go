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
	"github.com/dcrm-project/dcrm/shared/profilestore"
)

// retryAfter is the Retry-After, in seconds, of an answer to a request that met concurrent writes.
const retryAfter = "1"

// mergeLog is the answer of GET /{profileId}/merges.
type mergeLog struct {
	ProfileID string               `json:"profileId"` // the live profile
	Merges    []profilestore.Merge `json:"merges"`    // oldest first
}

// merges lists how the profiles merged into the live profile of id joined.
func (h *handler) merges(ctx context.Context, id string) (mergeLog, error) {
	p, err := h.profiles.Profile(ctx, id)
	if err != nil {
		return mergeLog{}, err
	}
	ms, err := h.profiles.Merges(ctx, p.ID)
	if err != nil {
		return mergeLog{}, err
	}
	return mergeLog{ProfileID: p.ID, Merges: append([]profilestore.Merge{}, ms...)}, nil
}

// split undoes the merge of profile from into the live profile of id and then publishes
// profile.split. It publishes after the split, because a split is a correction that must not be
// announced before it is done; when the publication fails the caller repeats the request, the
// store finds the split done (or finishes it) and the message goes out again under the same
// messageId.
func (h *handler) split(ctx context.Context, id, from string) (profilestore.Separation, error) {
	s, err := h.profiles.Split(ctx, id, from)
	if err != nil {
		return profilestore.Separation{}, err
	}
	h.log.InfoContext(ctx, "profile split", slog.Any("separation", s))
	if err := h.updates.Send(ctx, message.NewProfileSplit(s.ProfileID, s.SplitID, s.Identifiers, s.Touchpoints, h.now())); err != nil {
		return profilestore.Separation{}, fmt.Errorf("publish split of %s from %s: %w", s.SplitID, s.ProfileID, err)
	}
	return s, nil
}

// maxSplitBody bounds the body of a split request.
const maxSplitBody = 4 << 10

// splitRequest reads the body of POST /{profileId}/split, {"profileId": "<merged profile>"}, or
// says what is wrong with it.
func splitRequest(req events.APIGatewayV2HTTPRequest) (string, string) {
	const usage = `send JSON {"profileId": "<id of the profile merged into this one>"}`
	raw, msg := requestBody(req, maxSplitBody)
	if msg != "" {
		return "", msg
	}
	var b struct {
		ProfileID *string `json:"profileId"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return "", "body is not a split request (" + jsonProblem(err) + "): " + usage
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", "body holds more than one JSON value: " + usage
	}
	switch {
	case b.ProfileID == nil:
		return "", "profileId is missing: " + usage
	case *b.ProfileID == "":
		return "", "profileId is empty: " + usage
	case len(*b.ProfileID) > profile.MaxIDLength:
		return "", fmt.Sprintf("profileId longer than %d bytes", profile.MaxIDLength)
	}
	return *b.ProfileID, ""
}

// requestBody returns the bytes of a request's body, decoded from base64 when API Gateway encoded
// it, or says why it cannot be read.
func requestBody(req events.APIGatewayV2HTTPRequest, limit int) ([]byte, string) {
	raw := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, "body is not valid base64"
		}
	}
	if len(raw) > limit {
		return nil, fmt.Sprintf("body larger than %d bytes", limit)
	}
	return raw, ""
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
