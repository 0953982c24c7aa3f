package importing

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/datasets"
	"github.com/dcrm-project/dcrm/shared/rfm"
)

// retailSpec reads the set as orders: what README.md documents as its mapping.
func retailSpec(t testing.TB) Spec {
	m, err := ParseMapping(Orders, "order_id=InvoiceNo,userId=CustomerID,quantity=Quantity,price=UnitPrice,timestamp=InvoiceDate,properties.country=Country")
	if err != nil {
		t.Fatal(err)
	}
	s := spec(Orders)
	s.Mapping, s.TimeLayout, s.Currency, s.Nulls = m, "1/2/2006 15:04", "GBP", []string{"(blank)"}
	return s
}

// customerFigures is what a customer's orders and returns add up to.
type customerFigures struct {
	revenue             float64 // net of returns
	orders, returns     int
	firstOrder, lastOrd time.Time
}

func (c *customerFigures) order(at time.Time) {
	c.orders++
	if c.firstOrder.IsZero() || at.Before(c.firstOrder) {
		c.firstOrder = at
	}
	if at.After(c.lastOrd) {
		c.lastOrd = at
	}
}

// The set read through the import as orders gives, per customer, the revenue net of returns, the
// orders, the returns, the first and last order and the RFM scores that a direct computation
// from the file gives.
func TestOnlineRetailImportsAsTheFileSays(t *testing.T) {
	path := datasets.OnlineRetail()

	want, rows, anonymous, lastDay := directFigures(t, path)

	// Through the import.
	f2, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	rd, err := NewReader(f2, retailSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	out, st := drain(t, rd)
	got := map[string]*customerFigures{}
	var gross, refunded float64
	for _, o := range out {
		if o.Rejected != nil {
			continue
		}
		e := o.Event
		var p struct {
			Revenue  float64 `json:"revenue"`
			Currency string  `json:"currency"`
			Country  string  `json:"country"`
		}
		if err := json.Unmarshal(e.Properties, &p); err != nil || p.Currency != "GBP" || p.Country == "" {
			t.Fatalf("%s: %v %s", e.MessageID, err, e.Properties)
		}
		c := got[e.UserID]
		if c == nil {
			c = &customerFigures{}
			got[e.UserID] = c
		}
		c.revenue += p.Revenue
		switch e.Event {
		case EventOrderCompleted:
			c.order(e.Timestamp)
			gross += p.Revenue
		case EventOrderRefunded:
			c.returns++
			refunded += p.Revenue
		default:
			t.Fatalf("event %q", e.Event)
		}
	}

	if st.Rows != int64(len(rows)-1) || st.Rejected != int64(anonymous) || st.Duplicates != 0 || st.Imported != st.Rows-st.Rejected {
		t.Errorf("status %+v; %d rows, %d without a customer", st, len(rows)-1, anonymous)
	}
	for _, r := range rejections(out) {
		if r.Reason != "the row names no one: it needs a userId, anonymousId, email or phone" && r.Reason != "price -11062.06 is less than 0" {
			t.Errorf("line %d: %s", r.Line, r.Reason)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d customers, the file has %d", len(got), len(want))
	}
	var net float64
	var orders, returns int
	for id, w := range want {
		g := got[id]
		if g == nil {
			t.Errorf("customer %s missing", id)
			continue
		}
		if math.Abs(g.revenue-w.revenue) > 1e-6*math.Max(1, math.Abs(w.revenue)) || g.orders != w.orders || g.returns != w.returns ||
			!g.firstOrder.Equal(w.firstOrder) || !g.lastOrd.Equal(w.lastOrd) {
			t.Errorf("customer %s: import %+v, file %+v", id, *g, *w)
		}
		net += w.revenue
		orders += w.orders
		returns += w.returns
	}

	// RFM at the day after the file's last.
	asOf := time.Date(lastDay.Year(), lastDay.Month(), lastDay.Day()+1, 0, 0, 0, 0, time.UTC)
	rfmOf := func(figures map[string]*customerFigures) map[string]rfm.Score {
		var cs []rfm.Customer
		for id, c := range figures {
			if c.orders > 0 {
				cs = append(cs, rfm.Customer{ID: id, LastOrder: c.lastOrd, Orders: c.orders, Revenue: c.revenue})
			}
		}
		scores, _, err := rfm.ScoreAll(cs, asOf, rfm.ConventionR)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]rfm.Score{}
		for _, s := range scores {
			out[s.ID] = s
		}
		return out
	}
	gotRFM, wantRFM := rfmOf(got), rfmOf(want)
	differ := 0
	for id, w := range wantRFM {
		g := gotRFM[id]
		if g.RecencyDays != w.RecencyDays || g.Frequency != w.Frequency || math.Abs(g.Monetary-w.Monetary) > 1e-6*math.Max(1, math.Abs(w.Monetary)) || g.RFM() != w.RFM() {
			differ++
			if differ < 5 {
				t.Errorf("customer %s: RFM %+v, file %+v", id, g, w)
			}
		}
	}
	if len(gotRFM) != len(wantRFM) || differ > 0 {
		t.Errorf("%d customers scored, file %d; %d differ", len(gotRFM), len(wantRFM), differ)
	}
	t.Logf("rows %d: imported %d, rejected %d (no customer), events %d; customers %d (%d with an order, scored at %s); orders %d, returns %d; revenue %.2f bought, %.2f refunded, %.2f net (file: %.2f)",
		st.Rows, st.Imported, st.Rejected, st.Events, len(want), len(wantRFM), asOf.Format(time.DateOnly), orders, returns, gross, refunded, gross+refunded, net)
}

// directFigures reads the set with encoding/csv alone: per customer, what their invoices add up to;
// also the rows, how many name no customer, and the latest time.
func directFigures(t testing.TB, path string) (want map[string]*customerFigures, rows [][]string, anonymous int, lastDay time.Time) {
	t.Helper()
	// Directly, with encoding/csv: an invoice is an order when it has lines bought and a return
	// when it has lines returned; its time is its first line's; rows without a customer are
	// not anyone's.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err = csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]*customerFigures{}
	type invoice struct {
		at               time.Time
		bought, returned bool
		customer         string
	}
	invoices := map[string]*invoice{}
	var order []string

	for _, r := range rows[1:] {
		no, date, customer := r[0], r[1], r[2]
		at, err := time.Parse("1/2/2006 15:04", date)
		if err != nil {
			t.Fatal(err)
		}
		if at.After(lastDay) {
			lastDay = at
		}
		if customer == "(blank)" {
			anonymous++
			continue
		}
		q, _ := strconv.ParseFloat(r[4], 64)
		price, _ := strconv.ParseFloat(r[5], 64)
		inv := invoices[no]
		if inv == nil {
			inv = &invoice{at: at, customer: customer}
			invoices[no] = inv
			order = append(order, no)
		}
		inv.bought = inv.bought || q > 0
		inv.returned = inv.returned || q < 0
		c := want[customer]
		if c == nil {
			c = &customerFigures{}
			want[customer] = c
		}
		c.revenue += q * price
	}
	for _, no := range order {
		inv := invoices[no]
		if inv.bought {
			want[inv.customer].order(inv.at)
		}
		if inv.returned {
			want[inv.customer].returns++
		}
	}

	return want, rows, anonymous, lastDay
}

// BenchmarkOnlineRetail reads and converts the whole set (import), reported per row; scan is the
// CSV scanner alone, for how much of it reading the file is.
func BenchmarkOnlineRetail(b *testing.B) {
	data, err := os.ReadFile(datasets.OnlineRetail())
	if err != nil {
		b.Fatal(err)
	}
	const rows = 25_943
	b.Run("import", func(b *testing.B) {
		s := retailSpec(b)
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			rd, err := NewReader(bytesReader(data), s)
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := rd.Next(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
			if rd.Status().Rows != rows {
				b.Fatalf("%d rows", rd.Status().Rows)
			}
		}
		b.ReportMetric(rows*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		if cpu := cpuTime() - cpu; cpu > 0 {
			b.ReportMetric(rows*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			s := newCSVScanner(bufio.NewReaderSize(bytesReader(data), 64<<10), ',', MaxRowBytes, MaxRowFields)
			n := 0
			for {
				if _, err := s.next(); err == io.EOF {
					break
				}
				n++
			}
			if n != rows+1 {
				b.Fatalf("%d records", n)
			}
		}
		b.ReportMetric(rows*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
