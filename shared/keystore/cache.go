package keystore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/dcrm-project/dcrm/shared/source"
)

// CacheTTL is how long a function instance trusts what it read of a key, found or not: a revoked
// key, a changed source or a new key takes effect within it.
const CacheTTL = 30 * time.Second

// maxCached bounds the entries a cache holds, so that a flood of made-up keys cannot grow it
// without end.
const maxCached = 10_000

// Cache answers key look-ups from memory for ttl after reading them from the store, for keys
// found and for keys not found (so that a flood of unknown keys costs one read per key and TTL,
// not one per request). Failed reads are not remembered. It is safe for concurrent use.
type Cache struct {
	store *Store
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]cached // by the key's hash, so that no key is held in memory
}

type cached struct {
	it    item
	err   error // nil or ErrUnknownKey
	until time.Time
}

// NewCache returns a cache of the store's look-ups, each trusted for ttl (CacheTTL in functions).
func NewCache(s *Store, ttl time.Duration) *Cache {
	return &Cache{store: s, ttl: ttl, now: time.Now, entries: map[string]cached{}}
}

// WithClock makes the cache read the time from now (for tests).
func (c *Cache) WithClock(now func() time.Time) *Cache { c.now = now; return c }

// Source is Store.Source, cached.
func (c *Cache) Source(ctx context.Context, key string) (source.Source, error) {
	return sourceOf(c.lookup(ctx, key))
}

// ProfileAPIKey is Store.ProfileAPIKey, cached: whether the key is usable (APIKey.Usable) is the
// caller's to ask at each request, so an expiry takes effect on time.
func (c *Cache) ProfileAPIKey(ctx context.Context, key string) (APIKey, error) {
	return apiKeyOf(c.lookup(ctx, key))
}

func (c *Cache) lookup(ctx context.Context, key string) (item, error) {
	if !wellFormed(key) {
		return item{}, ErrUnknownKey
	}
	hash := Hash(key)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[hash]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.it, e.err
	}
	it, err := c.store.get(ctx, hash)
	if err != nil && !errors.Is(err, ErrUnknownKey) {
		return it, err // not remembered: the next request reads again
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCached {
		c.evict(now)
	}
	c.entries[hash] = cached{it: it, err: err, until: now.Add(c.ttl)}
	return it, err
}

// evict drops the expired entries and, if the cache is still over nine tenths full, arbitrary
// ones until it is not.
func (c *Cache) evict(now time.Time) {
	for h, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, h)
		}
	}
	for h := range c.entries {
		if len(c.entries) < maxCached*9/10 {
			return
		}
		delete(c.entries, h)
	}
}
