package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/dcrm-project/dcrm/shared/activation"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/profilestore"
)

// The activation routes read the members index (profilestore's AudienceMembers table); the
// exports (exports.go) write what they read to the exports bucket (README.md, "Audience members
// and exports").

// memberReader pages through an audience's members (profilestore.Store).
type memberReader interface {
	Members(ctx context.Context, audienceID, cursor string, limit int) ([]activation.Member, string, error)
}

const defaultMembersPage = 100

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
