package schemas

import (
	"errors"
	"slices"
	"testing"
)

func TestImportRowSchemas(t *testing.T) {
	kinds := ImportKinds()
	slices.Sort(kinds)
	want := []string{"cases", "consents", "contacts", "customers", "orders", "returns", "spend"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("import kinds %v, want %v", kinds, want)
	}
	if err := ValidateImportRow("orders", []byte(`{"order_id":"o1","timestamp":"2024-01-01","userId":17850,"quantity":-2,"price":"3.5"}`)); err != nil {
		t.Errorf("a valid order line: %v", err)
	}
	for _, bad := range []string{
		`{"timestamp":"2024-01-01","userId":"u1","price":3}`,                     // no order_id
		`{"order_id":"o1","timestamp":"2024-01-01","price":3}`,                   // no one
		`{"order_id":"o1","timestamp":"2024-01-01","userId":" ","price":3}`,      // a blank id is no one
		`{"order_id":"o1","timestamp":"2024-01-01","userId":"u1"}`,               // no price or revenue
		`{"order_id":"o1","timestamp":"2024-01-01","userId":"u1","price":"1,5"}`, // not a number
		`{"order_id":"o1","timestamp":"2024-01-01","userId":"u1","price":3,"x":{"nested":1}}`,
	} {
		if err := ValidateImportRow("orders", []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if err := ValidateImportRow("invoices", []byte(`{}`)); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown kind: %v", err)
	}
}
