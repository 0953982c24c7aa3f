package keystore

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/source"
)

func newStore(t *testing.T) (*Store, string) {
	e := localawstest.Reachable(t)
	name := localawstest.NewTopologyTable(t, topology.KeyTable)
	return New(e.Dynamo(), name), name
}

func TestWriteAndProfileKeys(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	shop := source.Source{ID: "src_shop", Name: "shop", AllowedOrigins: []string{"https://shop.example"}}
	write, api := NewKey("wk_"), NewKey("pk_")
	if err := s.PutSource(ctx, write, shop); err != nil {
		t.Fatal(err)
	}
	if err := s.PutProfileAPIKey(ctx, api, "crm"); err != nil {
		t.Fatal(err)
	}

	got, err := s.Source(ctx, write)
	if err != nil || !reflect.DeepEqual(got, shop) {
		t.Fatalf("Source(write key) = %+v, %v; want %+v", got, err, shop)
	}
	if err := s.CheckProfileAPIKey(ctx, api); err != nil {
		t.Errorf("profile key refused: %v", err)
	}
	if k, err := s.ProfileAPIKey(ctx, api); err != nil || !reflect.DeepEqual(k.Scopes, []Scope{Admin}) || k.Name != "crm" {
		t.Errorf("PutProfileAPIKey stored %+v, %v; want an admin key", k, err)
	}
	// A write key is public (it ships in pages): it must never open the profile API, and vice versa.
	if err := s.CheckProfileAPIKey(ctx, write); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("write key accepted as profile key: %v", err)
	}
	if _, err := s.Source(ctx, api); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("profile key accepted as write key: %v", err)
	}
	for _, k := range []string{"", "wk_nope", strings.Repeat("k", MaxKeyLength+1), "wk_ with space", "wk_\x00"} {
		if _, err := s.Source(ctx, k); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("Source(%q) err = %v, want ErrUnknownKey", k, err)
		}
	}
}

func TestOnlyHashesAreStored(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	key, api := NewKey("wk_"), NewKey("pk_")
	if err := s.PutSource(ctx, key, source.Source{ID: "s", Name: "s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAPIKey(ctx, api, APIKey{Name: "crm", Scopes: []Scope{Read}, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	if err := s.table.Scan().All(ctx, &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 {
		t.Fatalf("stored items = %v", items)
	}
	for _, it := range items {
		if it["keyHash"] != Hash(key) && it["keyHash"] != Hash(api) {
			t.Errorf("item not keyed by a hash: %v", it)
		}
		for _, v := range it {
			if s, ok := v.(string); ok && (strings.Contains(s, key) || strings.Contains(s, api)) {
				t.Fatalf("a raw key is stored: %v", it)
			}
		}
	}
}

// Keys made with scopes and an expiry are listed (never with their secret or hash) and revoked
// by id; what is stored is what is read back.
func TestAddListRevoke(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	created := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	expires := created.AddDate(0, 3, 0)
	secret, crm, err := s.AddProfileAPIKey(ctx, APIKey{Name: "crm-sync", Scopes: []Scope{Export, Read}, Created: created, Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	want := APIKey{ID: "key_" + Hash(secret)[:12], Name: "crm-sync", Scopes: []Scope{Read, Export},
		Created: created, Expires: expires, Last4: secret[len(secret)-4:]}
	if !reflect.DeepEqual(crm, want) {
		t.Fatalf("AddProfileAPIKey stored %+v, want %+v", crm, want)
	}
	if got, err := s.ProfileAPIKey(ctx, secret); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ProfileAPIKey = %+v, %v; want %+v", got, err, want)
	}
	if !strings.HasPrefix(secret, "pk_") || len(secret) != 39 {
		t.Errorf("new key %q", secret)
	}
	_, ops, err := s.AddProfileAPIKey(ctx, APIKey{Name: "ops", Scopes: []Scope{Admin}, Created: created.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSource(ctx, NewKey("wk_"), source.Source{ID: "s", Name: "shop"}); err != nil {
		t.Fatal(err)
	}

	list, err := s.APIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != crm.ID || list[1].ID != ops.ID {
		t.Fatalf("APIKeys = %+v, want crm-sync then ops, and no write key", list)
	}

	at := created.Add(48 * time.Hour)
	revoked, err := s.RevokeAPIKey(ctx, crm.ID, at)
	if err != nil || !revoked.Revoked.Equal(at) {
		t.Fatalf("RevokeAPIKey = %+v, %v", revoked, err)
	}
	if err := s.CheckProfileAPIKey(ctx, secret); !errors.Is(err, ErrRevokedKey) {
		t.Errorf("a revoked key checks %v", err)
	}
	again, err := s.RevokeAPIKey(ctx, crm.ID, at.Add(time.Hour))
	if err != nil || !again.Revoked.Equal(at) {
		t.Errorf("revoking again = %+v, %v; want the first revocation kept", again, err)
	}
	if _, err := s.RevokeAPIKey(ctx, "key_000000000000", at); !errors.Is(err, ErrNoSuchID) {
		t.Errorf("revoking an unknown id: %v", err)
	}

	for _, bad := range []APIKey{{Name: "x", Created: created}, {Name: "x", Scopes: []Scope{"write"}, Created: created},
		{Name: "x", Scopes: []Scope{Read}}} {
		if _, _, err := s.AddProfileAPIKey(ctx, bad); err == nil {
			t.Errorf("AddProfileAPIKey(%+v) stored it", bad)
		}
	}
}

// A key stored before keys had scopes (kind and name only) is read-only and listed as legacy.
func TestLegacyKeysAreReadOnly(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	old := NewKey("pk_")
	if err := s.table.Put(map[string]any{"keyHash": Hash(old), "kind": "profile-api", "name": "crm"}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	k, err := s.ProfileAPIKey(ctx, old)
	if err != nil || !k.Legacy || !reflect.DeepEqual(k.Scopes, []Scope{Read}) || k.Usable(time.Now()) != nil {
		t.Fatalf("legacy key = %+v, %v", k, err)
	}
	if k.Allows(Erase) || k.Allows(Export) || !k.Allows(Read) {
		t.Errorf("legacy key allows more than read: %+v", k)
	}
	list, err := s.APIKeys(ctx)
	if err != nil || len(list) != 1 || list[0].ID != k.ID || !list[0].Legacy {
		t.Fatalf("APIKeys = %+v, %v", list, err)
	}
	if _, err := s.RevokeAPIKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckProfileAPIKey(ctx, old); !errors.Is(err, ErrRevokedKey) {
		t.Errorf("a revoked legacy key checks %v", err)
	}
}
