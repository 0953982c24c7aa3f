package keystore

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/source"
)

// The cache answers from memory within its TTL, for keys found and not found, and reads the
// table again after it: what changed in the table in between shows only then.
func TestCacheRemembersForItsTTL(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	clock := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c := NewCache(s, CacheTTL).WithClock(func() time.Time { return clock })

	secret, k, err := s.AddProfileAPIKey(ctx, APIKey{Name: "crm", Scopes: []Scope{Read}, Created: clock})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.ProfileAPIKey(ctx, secret); err != nil || got.ID != k.ID {
		t.Fatalf("ProfileAPIKey = %+v, %v", got, err)
	}
	if _, err := s.RevokeAPIKey(ctx, k.ID, clock); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(CacheTTL - time.Second)
	if got, err := c.ProfileAPIKey(ctx, secret); err != nil || got.Usable(clock) != nil {
		t.Fatalf("within the TTL the cached key = %+v, %v; want it still usable", got, err)
	}
	clock = clock.Add(time.Second)
	if got, _ := c.ProfileAPIKey(ctx, secret); !errors.Is(got.Usable(clock), ErrRevokedKey) {
		t.Fatalf("after the TTL the key = %+v; want it revoked", got)
	}

	// A key not found is remembered too: stored meanwhile, it is still unknown until the TTL ends.
	late := NewKey("wk_")
	if _, err := c.Source(ctx, late); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Source(unknown) = %v", err)
	}
	if err := s.PutSource(ctx, late, source.Source{ID: "s", Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Source(ctx, late); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("within the TTL the unknown key read the table again: %v", err)
	}
	clock = clock.Add(CacheTTL)
	if src, err := c.Source(ctx, late); err != nil || src.Name != "shop" {
		t.Fatalf("after the TTL Source = %+v, %v", src, err)
	}
	// One entry per kind of answer: a profile key asked as a write key is unknown, from memory.
	if _, err := c.Source(ctx, secret); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("profile key as a write key: %v", err)
	}
	if _, err := c.ProfileAPIKey(ctx, late); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("write key as a profile key: %v", err)
	}
}

// Keys that cannot be keys are never looked up nor remembered; failed reads are not remembered.
func TestCacheNeverRemembersJunkOrFailures(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	missing := New(e.Dynamo(), localawstest.UniqueName("no-such-table"))
	c := NewCache(missing, time.Hour)
	for _, k := range []string{"", "pk_\n", string(make([]byte, MaxKeyLength+1))} {
		if _, err := c.ProfileAPIKey(ctx, k); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("ProfileAPIKey(%q) = %v, want ErrUnknownKey without a read", k, err)
		}
	}
	for range 2 {
		if _, err := c.ProfileAPIKey(ctx, NewKey("pk_")); err == nil || errors.Is(err, ErrUnknownKey) {
			t.Fatalf("a failed read = %v, want the failure", err)
		}
	}
	if len(c.entries) != 0 {
		t.Errorf("the cache remembered %d entries", len(c.entries))
	}
}

func TestCacheStaysBounded(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c := NewCache(nil, time.Minute)
	for i := range maxCached {
		until := now.Add(time.Minute)
		if i%2 == 0 {
			until = now // expired
		}
		c.entries[strconv.Itoa(i)] = cached{err: ErrUnknownKey, until: until}
	}
	c.evict(now)
	if n := len(c.entries); n != maxCached/2 {
		t.Fatalf("after dropping the expired, %d entries; want %d", n, maxCached/2)
	}
	for i := range maxCached {
		c.entries["live"+strconv.Itoa(i)] = cached{err: ErrUnknownKey, until: now.Add(time.Minute)}
	}
	c.evict(now)
	if n := len(c.entries); n >= maxCached*9/10 || n < maxCached*9/10-1 {
		t.Fatalf("a full cache of live entries kept %d; want just under %d", n, maxCached*9/10)
	}
}
