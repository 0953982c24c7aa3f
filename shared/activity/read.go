package activity

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// ErrBadCursor is Read's error for a cursor it did not make for the same day and kinds.
var ErrBadCursor = errors.New("not a cursor of this day's entries")

// Query is a page of a day's entries of some kinds, newest first.
type Query struct {
	Day    string   // YYYY-MM-DD (UTC)
	Kinds  []string // at least one
	Limit  int      // 1 to MaxLimit
	Cursor string   // the Next of the page before; "" for the first
}

// Page is the entries of a Query, newest first, and the cursor of the next page ("" when this is
// the last).
type Page struct {
	Entries []Entry
	Next    string
}

// Partitions reads a kind's day (the store).
type Partitions interface {
	// Newest returns at most limit entries of the kind's day, newest first, those older than the
	// sort key before ("" from the newest), and whether older ones are left.
	Newest(ctx context.Context, kind, day, before string, limit int) ([]Entry, bool, error)
}

// Position markers of a cursor: a kind not read yet, a kind read to its end.
const (
	fromNewest = ""
	done       = "~" // sorts after every sort key, which starts with a digit
)

// cursor is where a page ended in each kind: the sort key of the last entry it took.
type cursor struct {
	Day   string            `json:"d"`
	Kinds map[string]string `json:"k"`
}

// Read reads a page: the newest Limit entries of the kinds after the cursor, one read of at most
// Limit entries per kind not read to its end, in parallel, merged by time. An entry is on exactly
// one page of the day; one written while the pages are read is on one page or none (the newest
// are on the first).
func Read(ctx context.Context, p Partitions, q Query) (Page, error) {
	if _, err := ParseDay(q.Day); err != nil {
		return Page{}, err
	}
	if len(q.Kinds) == 0 || q.Limit < 1 || q.Limit > MaxLimit {
		return Page{}, fmt.Errorf("read %d entries of %d kinds: want 1 to %d entries of at least one kind", q.Limit, len(q.Kinds), MaxLimit)
	}
	pos, err := readCursor(q)
	if err != nil {
		return Page{}, err
	}
	type part struct {
		entries []Entry
		more    bool
		err     error
	}
	parts := make([]part, len(q.Kinds))
	var wg sync.WaitGroup
	for i, kind := range q.Kinds {
		if pos[kind] == done {
			continue
		}
		wg.Go(func() {
			es, more, err := p.Newest(ctx, kind, q.Day, pos[kind], q.Limit)
			parts[i] = part{es, more, err}
		})
	}
	wg.Wait()
	var all []Entry
	for i, pt := range parts {
		if pt.err != nil {
			return Page{}, fmt.Errorf("read the %s entries of %s: %w", q.Kinds[i], q.Day, pt.err)
		}
		all = append(all, pt.entries...)
	}
	slices.SortStableFunc(all, newestFirst)
	all = all[:min(len(all), q.Limit)]
	taken := map[string]int{}
	for _, e := range all {
		taken[e.Kind]++
		_, pos[e.Kind] = e.Keys()
	}
	for i, kind := range q.Kinds {
		if pos[kind] != done && taken[kind] == len(parts[i].entries) && !parts[i].more {
			pos[kind] = done
		}
	}
	page := Page{Entries: all}
	for _, v := range pos {
		if v != done {
			page.Next = writeCursor(cursor{Day: q.Day, Kinds: pos})
			break
		}
	}
	if page.Entries == nil {
		page.Entries = []Entry{}
	}
	return page, nil
}

// newestFirst orders entries by time, newest first; then by kind and message id, so that the
// order is total.
func newestFirst(a, b Entry) int {
	_, ka := a.Keys()
	_, kb := b.Keys()
	return cmp.Or(cmp.Compare(kb, ka), cmp.Compare(a.Kind, b.Kind))
}

// readCursor reads the query's cursor: where each of its kinds stands.
func readCursor(q Query) (map[string]string, error) {
	pos := make(map[string]string, len(q.Kinds))
	if q.Cursor == "" {
		for _, k := range q.Kinds {
			pos[k] = fromNewest
		}
		return pos, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
	var c cursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.Day != q.Day || len(c.Kinds) != len(q.Kinds) {
		return nil, ErrBadCursor
	}
	for _, k := range q.Kinds {
		v, ok := c.Kinds[k]
		if !ok {
			return nil, ErrBadCursor
		}
		if v != fromNewest && v != done {
			if _, _, err := ParseSortKey(v); err != nil {
				return nil, ErrBadCursor
			}
		}
		pos[k] = v
	}
	return pos, nil
}

func writeCursor(c cursor) string {
	c.Kinds = maps.Clone(c.Kinds)
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}
