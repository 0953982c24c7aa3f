package importing

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseMapping(t *testing.T) {
	m, err := ParseMapping(Orders, `order_id=InvoiceNo, userId = CustomerID,"properties.region=Region, State",sku=`)
	if err != nil {
		t.Fatal(err)
	}
	want := Mapping{"order_id": "InvoiceNo", "userId": "CustomerID", "properties.region": "Region, State", "sku": ""}
	if !maps.Equal(m, want) {
		t.Errorf("mapping = %v, want %v", m, want)
	}
	if m, err := ParseMapping(Orders, "  "); err != nil || len(m) != 0 {
		t.Errorf("empty mapping: %v, %v", m, err)
	}
	bad := map[string]string{
		"order=InvoiceNo":                 `orders has no field "order" (its fields: userId, anonymousId, email, phone, order_id, timestamp,`,
		"order_id":                        `"order_id" is not field=Column`,
		"=InvoiceNo":                      `"=InvoiceNo" is not field=Column`,
		"order_id=A,order_id=B":           "field order_id is mapped twice",
		"properties.country-code=Country": "a custom name is 1 to 64 letters, digits or _",
		"properties.revenue=Total":        `"revenue" is a name the event sets itself`,
		"properties.products=P":           `"products" is a name the event sets itself`,
		"properties.country=":             "properties.country names no column",
		"traits.tier=Tier":                `orders has no field "traits.tier"`,
		`order_id="Invoice`:               `mapping "order_id=\"Invoice"`,
	}
	for in, reason := range bad {
		_, err := ParseMapping(Orders, in)
		if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), reason) {
			t.Errorf("ParseMapping(%q) = %v, want %q", in, err, reason)
		}
	}
	if _, err := ParseMapping(Spend, "properties.x=X"); err == nil || !strings.Contains(err.Error(), `spend has no field "properties.x"`) {
		t.Errorf("spend takes no custom properties: %v", err)
	}
	if _, err := ParseMapping(Customers, "traits.loyalty_card=Card,tier=Level"); err != nil {
		t.Errorf("custom trait: %v", err)
	}
	if _, err := ParseKind("invoices"); err == nil || !strings.Contains(err.Error(), "one of customers, orders, returns, contacts, cases, consents, spend") {
		t.Errorf("ParseKind: %v", err)
	}
}

func TestHeaderIsCheckedAgainstTheMapping(t *testing.T) {
	m := Mapping{"order_id": "InvoiceNo", "properties.country": "Country"}
	cases := map[string]string{
		// A mapped column that is not in the header.
		"Invoice,timestamp,userId,price\n":   `column "InvoiceNo" (mapped to order_id) is not in the header (the header has Invoice, timestamp, userId, price)`,
		"InvoiceNo,timestamp,userId,price\n": `column "Country" (mapped to properties.country) is not in the header`,
		// A required field without a column.
		"InvoiceNo,Country,userId,price\n": "orders needs the field timestamp, and no column holds it",
		// No one to attach the rows to.
		"InvoiceNo,Country,timestamp,price\n": "orders needs a column of userId, anonymousId, email or phone",
		// A column read twice.
		"InvoiceNo,Country,timestamp,userId,USERID\n": `column "userId" is in the header 2 times`,
		"": "the file is empty",
	}
	for file, reason := range cases {
		s := spec(Orders)
		s.Mapping = m
		_, err := NewReader(strings.NewReader(file), s)
		if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), reason) {
			t.Errorf("header %q: %v, want %q", file, err, reason)
		}
	}
}

func TestDefaultColumnsUnknownColumnsAndDisabledFields(t *testing.T) {
	s := spec(Orders)
	s.Mapping = Mapping{"sku": ""}
	file := " Order_ID ,TIMESTAMP,userId,price,sku,note,Note2,\n" + // a trailing comma: a column without a name
		"o1,2024-01-02,u1,5,S1,x,y,\n"
	out, st := readAll(t, file, s)
	if len(events(out)) != 1 {
		t.Fatalf("outputs: %+v", out)
	}
	if got := string(out[0].Event.Properties); strings.Contains(got, "S1") {
		t.Errorf("sku mapped to nothing was read: %s", got)
	}
	wantCols := map[string]string{"order_id": "Order_ID", "timestamp": "TIMESTAMP", "userId": "userId", "price": "price"}
	if !maps.Equal(st.Columns, wantCols) {
		t.Errorf("columns = %v, want %v", st.Columns, wantCols)
	}
	if strings.Join(st.UnknownColumns, ",") != "sku,note,Note2" {
		t.Errorf("unknown columns = %v", st.UnknownColumns)
	}
}

func TestEveryKindDocumentsItsFields(t *testing.T) {
	for _, k := range AllKinds {
		fs := k.Fields()
		if len(fs) == 0 {
			t.Fatalf("%s has no fields", k)
		}
		seen := map[string]bool{}
		for _, f := range fs {
			if seen[f.Name] || f.Doc == "" || f.Type == "" {
				t.Errorf("%s.%s: duplicate, or no doc or type", k, f.Name)
			}
			seen[f.Name] = true
			if (f.Type == String || f.Type == ID || f.Type == Label) && f.MaxLength == 0 {
				t.Errorf("%s.%s: a string without a bound", k, f.Name)
			}
			if (f.Type == Integer || f.Type == Number) && (f.Min == nil || f.Max == nil) {
				t.Errorf("%s.%s: a number without bounds", k, f.Name)
			}
		}
	}
}
