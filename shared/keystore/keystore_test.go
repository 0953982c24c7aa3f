package keystore

import (
	"context"
	"errors"
	"reflect"
	"testing"

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
	// A write key is public (it ships in pages): it must never open the profile API, and vice versa.
	if err := s.CheckProfileAPIKey(ctx, write); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("write key accepted as profile key: %v", err)
	}
	if _, err := s.Source(ctx, api); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("profile key accepted as write key: %v", err)
	}
	for _, k := range []string{"", "wk_nope"} {
		if _, err := s.Source(ctx, k); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("Source(%q) err = %v, want ErrUnknownKey", k, err)
		}
	}
}

func TestOnlyHashesAreStored(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	key := NewKey("wk_")
	if err := s.PutSource(ctx, key, source.Source{ID: "s", Name: "s"}); err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	if err := s.table.Scan().All(ctx, &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0]["keyHash"] != Hash(key) {
		t.Fatalf("stored items = %v", items)
	}
	for _, v := range items[0] {
		if v == key {
			t.Fatal("the raw key is stored")
		}
	}
}
