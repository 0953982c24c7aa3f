package keystore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/source"
)

// The kinds of key, as Key.Kind names them.
const (
	KindWrite      = kindWrite
	KindProfileAPI = kindProfileAPI
)

// Key is a stored key of either kind as an operator sees it: what it is for, never the key or its
// hash (ID holds 12 hex digits of the hash, which name it and reveal nothing usable).
type Key struct {
	ID     string
	Kind   string         // KindWrite or KindProfileAPI
	Name   string         // the source's name, or who uses the profile-API key
	Source *source.Source // of a write key
	// Of a profile-API key (APIKey).
	Scopes []Scope
	Legacy bool
	// Created and Last4 are zero for keys stored without them (legacy profile-API keys, write
	// keys stored by PutSource with a key of the caller's).
	Created time.Time
	Expires time.Time
	Revoked time.Time
	Last4   string
}

func (it item) key() Key {
	k := Key{ID: keyID(it.KeyHash), Kind: it.Kind, Name: it.Name, Created: it.Created, Expires: it.Expires,
		Revoked: it.Revoked, Last4: it.Last4}
	if it.Kind == kindProfileAPI {
		a := it.apiKey()
		k.Scopes, k.Legacy = a.Scopes, a.Legacy
	} else if it.Source != nil {
		src := *it.Source
		k.Source = &src
	}
	return k
}

// AddSource makes a new write key for src, whose ID it derives from the key ("src_" and 12 hex
// digits of its hash), stores its hash with the time it was made and its last four characters,
// and returns the key (the one time it is ever shown), the source and what was stored.
func (s *Store) AddSource(ctx context.Context, src source.Source, now time.Time) (string, Key, error) {
	key := NewKey("wk_")
	hash := Hash(key)
	src.ID = "src_" + hash[:12]
	it := item{KeyHash: hash, Kind: kindWrite, Name: src.Name, Source: &src, Created: now.UTC(), Last4: key[len(key)-4:]}
	if err := s.table.Put(it).If("attribute_not_exists('keyHash')").Run(ctx); err != nil {
		return "", Key{}, fmt.Errorf("put write key: %w", err)
	}
	return key, it.key(), nil
}

// ErrBadCursor is returned for a cursor Keys did not return.
var ErrBadCursor = errors.New("not a cursor of this list")

// MaxPage bounds a page of Keys.
const MaxPage = 100

// KeyPage is a page of keys and the cursor of the next ("" on the last page).
type KeyPage struct {
	Keys []Key
	Next string
}

// scanSegments is how many parallel-scan segments Keys pages through. A cursor is a segment and
// how many of its items were already listed, rather than DynamoDB's last evaluated key, which is
// the key's full hash: a cursor reveals nothing of a key. Resuming re-reads the skipped part of
// one segment, a sixteenth of a table that holds a few keys per source and tool.
const scanSegments = 16

// maxSkip bounds a cursor's count (far more keys than a segment of the table holds).
const maxSkip = 1_000_000

// Keys returns a page of at most limit (1 to MaxPage) keys of both kinds, in the table's order,
// from cursor ("" for the first page). A key stored or revoked between two pages may shift the
// pages after it by one (a key shown twice, or one not shown, at a page's edge); keys are few and
// a list read again from the start shows them all.
func (s *Store) Keys(ctx context.Context, limit int, cursor string) (KeyPage, error) {
	if limit < 1 || limit > MaxPage {
		return KeyPage{}, fmt.Errorf("limit %d out of 1 to %d", limit, MaxPage)
	}
	seg, skip, err := readCursor(cursor)
	if err != nil {
		return KeyPage{}, err
	}
	var page KeyPage
	for ; seg < scanSegments; seg, skip = seg+1, 0 {
		iter := s.table.Scan().Segment(seg, scanSegments).Iter()
		var it item
		for i := 0; iter.Next(ctx, &it); i++ {
			if i < skip {
				continue
			}
			if len(page.Keys) == limit { // one more exists: the next page starts at it
				page.Next = writeCursor(seg, i)
				return page, nil
			}
			page.Keys = append(page.Keys, it.key())
			it = item{}
		}
		if err := iter.Err(); err != nil {
			return KeyPage{}, fmt.Errorf("list keys: %w", err)
		}
	}
	return page, nil
}

func writeCursor(seg, skip int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("k1." + strconv.Itoa(seg) + "." + strconv.Itoa(skip)))
}

func readCursor(c string) (seg, skip int, err error) {
	if c == "" {
		return 0, 0, nil
	}
	if len(c) > 64 {
		return 0, 0, ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, 0, ErrBadCursor
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 || parts[0] != "k1" {
		return 0, 0, ErrBadCursor
	}
	seg, err1 := strconv.Atoi(parts[1])
	skip, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || seg < 0 || seg >= scanSegments || skip < 0 || skip > maxSkip {
		return 0, 0, ErrBadCursor
	}
	return seg, skip, nil
}

// idPattern is a key's id: "key_" and 12 lower-case hex digits (keyID).
var idPattern = regexp.MustCompile(`^key_[0-9a-f]{12}$`)

// ValidID tells whether id can be a key's id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Revoke revokes the key of either kind with the id at now and returns it; collect refuses a
// revoked write key, the profile API a revoked profile-API key, each within its cache's TTL
// (CacheTTL). Revoking a revoked key again keeps its first revocation time. ErrNoSuchID: no key
// has the id.
func (s *Store) Revoke(ctx context.Context, id string, now time.Time) (Key, error) {
	it, err := s.revoke(ctx, id, "", now)
	return it.key(), err
}

// revoke revokes the key with the id, of the kind given ("": either).
func (s *Store) revoke(ctx context.Context, id, kind string, now time.Time) (item, error) {
	if !ValidID(id) {
		return item{}, fmt.Errorf("%w: %q", ErrNoSuchID, id)
	}
	// An id is a prefix of the hash, the table's key: finding it is a scan, whose filter keeps the
	// one match (two keys sharing 48 bits of hash would need some 16 million keys).
	scan := s.table.Scan().Filter("begins_with('keyHash', ?)", strings.TrimPrefix(id, "key_"))
	if kind != "" {
		scan = s.table.Scan().Filter("begins_with('keyHash', ?) AND 'kind' = ?", strings.TrimPrefix(id, "key_"), kind)
	}
	var items []item
	if err := scan.All(ctx, &items); err != nil {
		return item{}, fmt.Errorf("find key %s: %w", id, err)
	}
	switch {
	case len(items) == 0:
		return item{}, fmt.Errorf("%w: %q", ErrNoSuchID, id)
	case len(items) > 1:
		return item{}, fmt.Errorf("%d keys share the id %s; nothing was revoked", len(items), id)
	}
	it := items[0]
	if !it.Revoked.IsZero() {
		return it, nil
	}
	err := s.table.Update("keyHash", it.KeyHash).Set("revoked", now.UTC()).
		If("attribute_exists('keyHash') AND attribute_not_exists('revoked')").Value(ctx, &it)
	if dynamo.IsCondCheckFailed(err) { // revoked (or deleted) meanwhile: read what is there
		err = s.table.Get("keyHash", it.KeyHash).Consistent(true).One(ctx, &it)
	}
	if err != nil {
		return item{}, fmt.Errorf("revoke key %s: %w", id, err)
	}
	return it, nil
}
