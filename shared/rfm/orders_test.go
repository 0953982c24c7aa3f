package rfm

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReadOrdersColumns(t *testing.T) {
	want := []Order{
		{"ann", time.Date(2006, 3, 1, 0, 0, 0, 0, time.UTC), 12.5},
		{"bob", time.Date(2006, 3, 2, 9, 30, 0, 0, time.FixedZone("", 3600)), 3},
	}
	for name, in := range map[string]string{
		"R package names":                  "customer_id,order_date,revenue\nann,2006-03-01,12.5\nbob,2006-03-02T09:30:00+01:00,3\n",
		"other names, order and case, BOM": "\ufeffAmount,Note,Date,Customer ID\n12.5,x,2006-03-01,ann\n 3 ,y, 2006-03-02T09:30:00+01:00 ,bob\n",
		"no known names: first three":      "who,when,how much,why\nann,2006-03-01,12.5,a\nbob,2006-03-02T09:30:00+01:00,3,b\n",
	} {
		got, err := ReadOrders(strings.NewReader(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !slices.EqualFunc(got, want, func(a, b Order) bool {
			return a.CustomerID == b.CustomerID && a.Date.Equal(b.Date) && a.Revenue == b.Revenue
		}) {
			t.Errorf("%s: read %+v\nwant %+v", name, got, want)
		}
	}
}

func TestReadOrdersErrors(t *testing.T) {
	const header = "customer_id,order_date,revenue\n"
	for _, c := range []struct{ in, wantInErr string }{
		{"", "empty file"},
		{"customer_id,revenue\n", "header has 2 columns"},
		{header + "a,2006-01-01,1\n,2006-01-02,1\n", "line 3: customer id is empty"},
		{header + "a,01/02/2006,1\n", `line 2: order date "01/02/2006": want YYYY-MM-DD or RFC 3339`},
		{header + "a,2006-01-01,abc\n", `line 2: revenue "abc": not a finite number`},
		{header + "a,2006-01-01,NaN\n", `revenue "NaN"`},
		{header + "a,2006-01-01,-Inf\n", `revenue "-Inf"`},
		{header + "a,2006-01-01,1\nb,2006-01-01\n", "line 3"},
		{header + "a,\"2006-01-01,1\n", "line 2"},
	} {
		_, err := ReadOrders(strings.NewReader(c.in))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.wantInErr) {
			t.Errorf("ReadOrders(%q) err = %v, want ErrInvalid mentioning %q", c.in, err, c.wantInErr)
		}
	}
}

func FuzzReadOrders(f *testing.F) {
	f.Add("customer_id,order_date,revenue,first_name\n\"Brion Stark\",2004-12-20,32,\"Brion\"\n")
	f.Add("Amount,Date,Customer\n1e3,2006-03-02T09:30:00Z,x\n-2,2006-03-03,y\n")
	f.Add("a,b,c\n1,2,3\n")
	f.Add("customer_id,order_date,revenue\n\"a\nb\",2006-01-01,0x1p-2\n")
	f.Fuzz(func(t *testing.T, in string) {
		orders, err := ReadOrders(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		for _, o := range orders {
			if strings.TrimSpace(o.CustomerID) == "" || math.IsNaN(o.Revenue) || math.IsInf(o.Revenue, 0) {
				t.Fatalf("accepted %+v", o)
			}
		}
		// Whatever it accepts, the rest of the pipeline takes without panicking.
		customers, _ := Customers(orders, time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC))
		_, _, _ = ScoreAll(customers, time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), ConventionR)
	})
}
