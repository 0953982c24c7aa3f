package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/source"
)

// The key routes (admin scope) manage the write keys and profile-API keys of the Keys table
// through shared/keystore, the functions `dcrm source add` and `dcrm apikey …` use. Only a key's
// hash is stored: a new key is answered once, by POST, and never again. A change takes effect
// within keystore.CacheTTL: each function instance trusts what it read of a key that long.

// keyStore keeps the keys (keystore.Store, uncached: an operator reads what is stored).
type keyStore interface {
	Keys(ctx context.Context, limit int, cursor string) (keystore.KeyPage, error)
	AddSource(ctx context.Context, src source.Source, now time.Time) (string, keystore.Key, error)
	AddProfileAPIKey(ctx context.Context, k keystore.APIKey) (string, keystore.APIKey, error)
	Revoke(ctx context.Context, id string, now time.Time) (keystore.Key, error)
}

// Bounds of what a new key takes.
const (
	maxKeyBody    = 4 << 10
	maxKeyName    = 100 // characters
	maxOrigins    = 20
	maxRateLimit  = 1_000_000
	maxExpiryDays = 36500 // as `dcrm apikey add --expires`
	defaultKeys   = 50
)

// keyView is a key as the API shows it: never the key or its hash.
type keyView struct {
	KeyID   string      `json:"keyId"`
	Kind    string      `json:"kind"`
	Name    string      `json:"name"`
	Status  string      `json:"status"` // active, revoked, expired
	Source  *sourceView `json:"source,omitempty"`
	Scopes  []string    `json:"scopes,omitempty"`
	Legacy  bool        `json:"legacy,omitempty"` // made before keys had scopes: read only
	Created *time.Time  `json:"created,omitempty"`
	Expires *time.Time  `json:"expires,omitempty"`
	Revoked *time.Time  `json:"revoked,omitempty"`
	Last4   string      `json:"last4,omitempty"`
}

// sourceView is a write key's source.
type sourceView struct {
	SourceID         string   `json:"sourceId"`
	Name             string   `json:"name"`
	AllowedOrigins   []string `json:"allowedOrigins"`
	Trusted          bool     `json:"trusted"`
	KeepRawPII       bool     `json:"keepRawPII"`
	PhoneCountryCode string   `json:"phoneCountryCode,omitempty"`
	RateLimit        int      `json:"rateLimit"` // events per second per instance of collect
}

// keyList is a page of keys.
type keyList struct {
	Keys []keyView `json:"keys"`
	Next string    `json:"next,omitempty"`
}

// newKey answers POST /v1/keys: the key, this once, and what was stored.
type newKey struct {
	Key string `json:"key"`
	keyView
	CacheSeconds int `json:"takesEffectWithinSeconds"`
}

func (newKey) status() int { return http.StatusCreated }

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func keyViewOf(k keystore.Key, now time.Time) keyView {
	v := keyView{KeyID: k.ID, Kind: k.Kind, Name: k.Name, Legacy: k.Legacy, Created: timeOrNil(k.Created),
		Expires: timeOrNil(k.Expires), Revoked: timeOrNil(k.Revoked), Last4: k.Last4, Status: "active"}
	switch {
	case !k.Revoked.IsZero() && !now.Before(k.Revoked):
		v.Status = "revoked"
	case !k.Expires.IsZero() && !now.Before(k.Expires):
		v.Status = "expired"
	}
	for _, s := range k.Scopes {
		v.Scopes = append(v.Scopes, string(s))
	}
	if k.Source != nil {
		s := k.Source
		v.Source = &sourceView{SourceID: s.ID, Name: s.Name, AllowedOrigins: s.AllowedOrigins, Trusted: s.Trusted,
			KeepRawPII: s.KeepRawPII, PhoneCountryCode: s.PhoneCountryCode, RateLimit: s.Rate()}
		if v.Source.AllowedOrigins == nil {
			v.Source.AllowedOrigins = []string{}
		}
	}
	return v
}

// listKeys serves GET /v1/keys?limit=&cursor=: a page of the keys of both kinds.
func (h *handler) listKeys(ctx context.Context, r request) (any, error) {
	limit, cursor := defaultKeys, ""
	for k, v := range r.QueryStringParameters {
		switch k {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > keystore.MaxPage {
				return nil, badRequest(fmt.Sprintf("limit must be a whole number from 1 to %d", keystore.MaxPage))
			}
			limit = n
		case "cursor":
			cursor = v
		default:
			return nil, badRequest(fmt.Sprintf("unknown parameter %q: use limit or cursor", k))
		}
	}
	page, err := h.keyStore.Keys(ctx, limit, cursor)
	if errors.Is(err, keystore.ErrBadCursor) {
		return nil, badRequest("cursor is not one this API returned; start again without it")
	}
	if err != nil {
		return nil, err
	}
	list := keyList{Keys: []keyView{}, Next: page.Next}
	now := h.clock()
	for _, k := range page.Keys {
		list.Keys = append(list.Keys, keyViewOf(k, now))
	}
	return list, nil
}

// keyRequest is the body of POST /v1/keys.
type keyRequest struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// of a write key
	AllowedOrigins   []string `json:"allowedOrigins"`
	Trusted          bool     `json:"trusted"`
	KeepRawPII       bool     `json:"keepRawPII"`
	PhoneCountryCode string   `json:"phoneCountryCode"`
	RateLimit        int      `json:"rateLimit"`
	// of a profile-API key
	Scopes  []string `json:"scopes"`
	Expires string   `json:"expires"`
}

// keyFields are the body's members, by kind.
var keyFields = map[string][]string{
	keystore.KindWrite:      {"kind", "name", "allowedOrigins", "trusted", "keepRawPII", "phoneCountryCode", "rateLimit"},
	keystore.KindProfileAPI: {"kind", "name", "scopes", "expires"},
}

// createKey serves POST /v1/keys: a write key for a new source, or a profile-API key with scopes.
func (h *handler) createKey(ctx context.Context, r request) (any, error) {
	raw, err := requestBody(r.APIGatewayV2HTTPRequest, maxKeyBody)
	if err != nil {
		return nil, err
	}
	now := h.clock()
	kr, err := readKeyRequest(raw, now)
	if err != nil {
		return nil, err
	}
	var secret string
	var stored keystore.Key
	if kr.write != nil {
		secret, stored, err = h.keyStore.AddSource(ctx, *kr.write, now)
	} else {
		var k keystore.APIKey
		secret, k, err = h.keyStore.AddProfileAPIKey(ctx, *kr.api)
		stored = keystore.Key{ID: k.ID, Kind: keystore.KindProfileAPI, Name: k.Name, Scopes: k.Scopes,
			Created: k.Created, Expires: k.Expires, Last4: k.Last4}
	}
	if err != nil {
		return nil, err
	}
	h.log.InfoContext(ctx, "key created", slog.String("newKeyId", stored.ID), slog.String("kind", stored.Kind))
	return newKey{Key: secret, keyView: keyViewOf(stored, now), CacheSeconds: int(keystore.CacheTTL / time.Second)}, nil
}

// parsedKey is a valid request for one kind of key.
type parsedKey struct {
	write *source.Source
	api   *keystore.APIKey
}

// readKeyRequest reads and checks the body of POST /v1/keys.
func readKeyRequest(raw []byte, now time.Time) (parsedKey, error) {
	const usage = `send JSON {"kind": "write", "name", "allowedOrigins": [...]} or {"kind": "profile-api", "name", "scopes": [...], "expires"}`
	var kr keyRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kr); err != nil {
		return parsedKey{}, badRequest("body is not a key request (" + jsonProblem(err) + "): " + usage)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return parsedKey{}, badRequest("body holds more than one JSON value: " + usage)
	}
	fields, ok := keyFields[kr.Kind]
	if !ok {
		return parsedKey{}, badRequest(fmt.Sprintf("kind must be %q or %q", keystore.KindWrite, keystore.KindProfileAPI))
	}
	// encoding/json matches names in any case; the API's are exact, and each kind has its own.
	var members map[string]json.RawMessage
	_ = json.Unmarshal(raw, &members)
	for k := range members {
		if !slices.Contains(fields, k) {
			return parsedKey{}, badRequest(fmt.Sprintf("%q is not a field of a %s key; its fields: %s", k, kr.Kind, strings.Join(fields, ", ")))
		}
	}
	name, err := keyName(kr.Name)
	if err != nil {
		return parsedKey{}, err
	}
	if kr.Kind == keystore.KindWrite {
		src, err := sourceOf(name, kr)
		return parsedKey{write: &src}, err
	}
	if len(kr.Scopes) == 0 || len(kr.Scopes) > len(keystore.AllScopes()) {
		return parsedKey{}, badRequest(fmt.Sprintf("scopes: name 1 to %d of %s", len(keystore.AllScopes()), scopeNames()))
	}
	for _, s := range kr.Scopes {
		if strings.Contains(s, ",") {
			return parsedKey{}, badRequest(fmt.Sprintf("scopes: unknown scope %q; known scopes: %s", s, scopeNames()))
		}
	}
	scopes, err := keystore.ParseScopes(strings.Join(kr.Scopes, ","))
	if err != nil {
		return parsedKey{}, badRequest("scopes: " + err.Error())
	}
	k := keystore.APIKey{Name: name, Scopes: scopes, Created: now}
	if kr.Expires != "" {
		t, err := time.Parse(time.RFC3339, kr.Expires)
		switch {
		case err != nil:
			return parsedKey{}, badRequest("expires must be an RFC 3339 time, e.g. 2027-01-01T00:00:00Z")
		case !t.After(now):
			return parsedKey{}, badRequest("expires must be in the future")
		case t.After(now.AddDate(0, 0, maxExpiryDays)):
			return parsedKey{}, badRequest(fmt.Sprintf("expires must be within %d days", maxExpiryDays))
		}
		k.Expires = t.UTC()
	}
	return parsedKey{api: &k}, nil
}

// keyName checks a key's name: 1 to maxKeyName characters once trimmed, no control characters.
func keyName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > maxKeyName || !utf8.ValidString(s) {
		return "", badRequest(fmt.Sprintf("name must be 1 to %d characters", maxKeyName))
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", badRequest("name must not hold control characters")
	}
	return s, nil
}

// sourceOf checks the write key's source.
func sourceOf(name string, kr keyRequest) (source.Source, error) {
	src := source.Source{Name: name, Trusted: kr.Trusted, KeepRawPII: kr.KeepRawPII, PhoneCountryCode: kr.PhoneCountryCode, RateLimit: kr.RateLimit}
	if len(kr.AllowedOrigins) > maxOrigins {
		return src, badRequest(fmt.Sprintf("allowedOrigins: at most %d", maxOrigins))
	}
	if kr.Trusted && len(kr.AllowedOrigins) > 0 {
		return src, badRequest("a trusted (server) source has no allowed origins: collect refuses its key from any browser")
	}
	for _, o := range kr.AllowedOrigins {
		norm, err := source.CheckOrigin(o)
		if err != nil {
			return src, badRequest("allowedOrigins: " + err.Error())
		}
		if !slices.Contains(src.AllowedOrigins, norm) {
			src.AllowedOrigins = append(src.AllowedOrigins, norm)
		}
	}
	if kr.PhoneCountryCode != "" && (len(kr.PhoneCountryCode) > 3 || strings.Trim(kr.PhoneCountryCode, "0123456789") != "" || kr.PhoneCountryCode[0] == '0') {
		return src, badRequest(`phoneCountryCode is a country calling code of 1 to 3 digits, e.g. "44"`)
	}
	if kr.RateLimit < 0 || kr.RateLimit > maxRateLimit {
		return src, badRequest(fmt.Sprintf("rateLimit is 0 (the default, %d) to %d events per second", source.DefaultRateLimit, maxRateLimit))
	}
	return src, nil
}

func scopeNames() string {
	var names []string
	for _, s := range keystore.AllScopes() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// confirmSelf is the query that lets a caller revoke the key it is using.
const confirmSelf = "confirm=self"

// revokeKey serves DELETE /v1/keys/{keyId}: revoke the key (again: the same answer). A caller
// revoking the profile-API key it sends is refused (409) unless it says so (?confirm=self): the
// request would lock it out. A console user's token is not a key, so the console never meets it.
func (h *handler) revokeKey(ctx context.Context, r request) (any, error) {
	id := r.PathParameters["keyId"]
	if !keystore.ValidID(id) {
		return nil, badRequest("keyId is key_ and 12 hex digits, as GET /v1/keys lists it")
	}
	for k, v := range r.QueryStringParameters {
		if k != "confirm" || v != "self" {
			return nil, badRequest(fmt.Sprintf("unknown parameter %q: DELETE /v1/keys/{keyId} takes only ?%s", k, confirmSelf))
		}
	}
	if id == r.key.ID && r.QueryStringParameters["confirm"] != "self" {
		return nil, conflict(fmt.Sprintf("%s is the key this request uses: revoking it locks this caller out; to do it anyway, repeat with ?%s", id, confirmSelf))
	}
	now := h.clock()
	k, err := h.keyStore.Revoke(ctx, id, now)
	if errors.Is(err, keystore.ErrNoSuchID) {
		return nil, notFound("no key has the id " + id)
	}
	if err != nil {
		return nil, err
	}
	h.log.InfoContext(ctx, "key revoked", slog.String("revokedKeyId", k.ID), slog.String("kind", k.Kind))
	return revokedKey{keyViewOf(k, now), int(keystore.CacheTTL / time.Second)}, nil
}

// revokedKey answers DELETE /v1/keys/{keyId}.
type revokedKey struct {
	keyView
	CacheSeconds int `json:"takesEffectWithinSeconds"`
}
