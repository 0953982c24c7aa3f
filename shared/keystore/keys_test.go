package keystore

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/source"
)

// Keys of both kinds are listed page by page, each once, never with the key or its hash; a write
// key made by AddSource names its source and is refused once revoked.
func TestKeysPagesAndRevokesBothKinds(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	write, w, err := s.AddSource(ctx, source.Source{Name: "shop", AllowedOrigins: []string{"https://shop.example"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := Key{ID: "key_" + Hash(write)[:12], Kind: KindWrite, Name: "shop", Created: now, Last4: write[len(write)-4:],
		Source: &source.Source{ID: "src_" + Hash(write)[:12], Name: "shop", AllowedOrigins: []string{"https://shop.example"}}}
	if !reflect.DeepEqual(w, want) || !strings.HasPrefix(write, "wk_") {
		t.Fatalf("AddSource = %q, %+v; want %+v", write, w, want)
	}
	if src, err := s.Source(ctx, write); err != nil || src.ID != w.Source.ID {
		t.Fatalf("Source(new write key) = %+v, %v", src, err)
	}
	secrets := map[string]string{w.ID: write}
	for i := range 22 {
		key, k, err := s.AddProfileAPIKey(ctx, APIKey{Name: "tool", Scopes: []Scope{Read}, Created: now.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		secrets[k.ID] = key
	}

	seen := map[string]Key{}
	cursor, pages := "", 0
	for {
		page, err := s.Keys(ctx, 5, cursor)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Keys) > 5 || (page.Next != "" && len(page.Keys) != 5) {
			t.Fatalf("page %d: %d keys, next %q", pages, len(page.Keys), page.Next)
		}
		for _, k := range page.Keys {
			if _, dup := seen[k.ID]; dup {
				t.Fatalf("%s listed twice", k.ID)
			}
			seen[k.ID] = k
			if strings.Contains(page.Next, Hash(secrets[k.ID])[12:24]) {
				t.Fatalf("a cursor holds a key's hash: %q", page.Next)
			}
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(seen) != 23 || pages != 5 {
		t.Fatalf("listed %d keys in %d pages; want 23 in 5", len(seen), pages)
	}
	if got := seen[w.ID]; !reflect.DeepEqual(got, want) {
		t.Errorf("the write key listed as %+v, want %+v", got, want)
	}

	revoked, err := s.Revoke(ctx, w.ID, now.Add(time.Hour))
	if err != nil || !revoked.Revoked.Equal(now.Add(time.Hour)) || revoked.Kind != KindWrite {
		t.Fatalf("Revoke(write key) = %+v, %v", revoked, err)
	}
	if _, err := s.Source(ctx, write); !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrRevokedKey) {
		t.Errorf("a revoked write key: %v; want unknown and revoked", err)
	}
	if again, err := s.Revoke(ctx, w.ID, now.Add(2*time.Hour)); err != nil || !again.Revoked.Equal(now.Add(time.Hour)) {
		t.Errorf("revoking again = %+v, %v; want the first time kept", again, err)
	}
	for _, id := range []string{"key_000000000000", "key_XYZ", "", w.ID + "0"} {
		if _, err := s.Revoke(ctx, id, now); !errors.Is(err, ErrNoSuchID) {
			t.Errorf("Revoke(%q) = %v, want ErrNoSuchID", id, err)
		}
	}
	// RevokeAPIKey keeps to profile-API keys.
	if _, err := s.RevokeAPIKey(ctx, w.ID, now); !errors.Is(err, ErrNoSuchID) {
		t.Errorf("RevokeAPIKey(write key id) = %v", err)
	}
}

func TestKeysRefusesBadPagesWithoutReading(t *testing.T) {
	s := &Store{} // no table: a read would fail otherwise than with ErrBadCursor
	for _, c := range []string{"x", "!!", writeCursor(scanSegments, 0), writeCursor(0, -1), writeCursor(0, maxSkip+1),
		strings.Repeat("a", 65), "azIuMC4w"} {
		if _, err := s.Keys(context.Background(), 10, c); !errors.Is(err, ErrBadCursor) {
			t.Errorf("Keys(cursor %q) = %v, want ErrBadCursor", c, err)
		}
	}
	for _, n := range []int{0, -1, MaxPage + 1} {
		if _, err := s.Keys(context.Background(), n, ""); err == nil {
			t.Errorf("Keys(limit %d) read", n)
		}
	}
	if seg, skip, err := readCursor(writeCursor(3, 7)); err != nil || seg != 3 || skip != 7 {
		t.Errorf("cursor round trip = %d, %d, %v", seg, skip, err)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{"key_0123456789ab": true, "key_0123456789AB": false, "key_0123": false,
		"src_0123456789ab": false, "key_0123456789abc": false, "": false} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v", id, !want)
		}
	}
}
