package importing

import (
	"errors"
	"strings"
	"testing"
)

func TestKindOfKey(t *testing.T) {
	for key, want := range map[string]Kind{
		"orders/2024-05-01.csv.gz":         Orders,
		"imports/customers/crm.jsonl":      Customers,
		"imports/spend/2024/05/google.csv": Spend,
	} {
		if k, err := KindOfKey(key); k != want || err != nil {
			t.Errorf("KindOfKey(%q) = %q, %v; want %q", key, k, err, want)
		}
	}
	for _, key := range []string{"orders.csv", "imports/invoices/a.csv", ""} {
		if _, err := KindOfKey(key); !errors.Is(err, ErrSpec) {
			t.Errorf("KindOfKey(%q): %v", key, err)
		}
	}
}

func TestSetOption(t *testing.T) {
	s := spec(Orders)
	for name, value := range map[string]string{
		"map": "order_id=InvoiceNo", "time-layout": "1/2/2006 15:04", "timezone": "UTC", "currency": "gbp",
		"nulls": "NULL,(blank)", "comma": "tab", "format": "CSV",
	} {
		if err := s.SetOption(name, value); err != nil {
			t.Errorf("%s=%s: %v", name, value, err)
		}
	}
	if s.Mapping["order_id"] != "InvoiceNo" || s.TimeLayout != "1/2/2006 15:04" || s.Location == nil || s.Currency != "GBP" ||
		len(s.Nulls) != 2 || s.Comma != '\t' || s.Format != CSV {
		t.Errorf("spec %+v", s)
	}
	for name, value := range map[string]string{
		"map": "order=X", "timezone": "Mars/Olympus", "currency": "pounds", "comma": ":", "format": "xlsx", "sheet": "1",
	} {
		if err := s.SetOption(name, value); !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), value) && !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", name, value, err)
		}
	}
}
