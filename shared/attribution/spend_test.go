package attribution

import (
	"errors"
	"math"
	"testing"
)

func ptr(v float64) *float64 { return &v }

func same(a, b *float64) bool {
	return (a == nil) == (b == nil) && (a == nil || math.Abs(*a-*b) < 1e-12)
}

// Two days of spend on two channels and a third day outside the window; last touch credits paid
// search 3 conversions worth 300 and email 1 worth 50: CPA and ROAS by hand.
func TestReturns(t *testing.T) {
	spend := []Spend{
		{Date: "2026-11-01", Channel: "Paid_Search", Campaign: "Xmas", Cost: 100, Currency: "eur"},
		{Date: "2026-11-02", Channel: "paid search", Campaign: "xmas", Cost: 50, Currency: "EUR"},
		{Date: "2026-11-02", Channel: "Display", Cost: 40, Currency: "EUR"},
		{Date: "2026-12-01", Channel: "paid search", Cost: 999, Currency: "EUR"}, // after the window
	}
	spent, currency, err := Spent(spend, "2026-11-01", "2026-11-30", ByChannel)
	if err != nil || currency != "EUR" || spent["paid search"] != 150 || spent["display"] != 40 || len(spent) != 2 {
		t.Fatalf("spent %v %q %v", spent, currency, err)
	}
	if byCampaign, _, _ := Spent(spend, "2026-11-01", "2026-11-30", ByCampaign); byCampaign["xmas"] != 150 || byCampaign[""] != 40 {
		t.Errorf("by campaign %v", byCampaign)
	}
	r, err := LastTouch([]Path{
		{Channels: []string{"email", "paid search"}, Conversions: 3, Value: 300},
		{Channels: []string{"paid search", "email"}, Conversions: 1, Value: 50, Nulls: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Return{
		{Channel: "display", Spend: 40, ROAS: ptr(0)},                                                // spent on, never credited: no CPA
		{Channel: "email", Conversions: 1, Value: 50},                                                // credited, no spend: neither ratio
		{Channel: "paid search", Spend: 150, Conversions: 3, Value: 300, CPA: ptr(50), ROAS: ptr(2)}, // 150/3, 300/150
	}
	got := Returns(r, spent)
	if len(got) != len(want) {
		t.Fatalf("returns %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Channel != w.Channel || g.Spend != w.Spend || g.Conversions != w.Conversions || g.Value != w.Value || !same(g.CPA, w.CPA) || !same(g.ROAS, w.ROAS) {
			t.Errorf("%d: %+v, want %+v", i, g, w)
		}
	}
}

func TestSpentRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		spend    []Spend
		from, to string
	}{
		"two currencies": {[]Spend{{Date: "2026-11-01", Channel: "a", Cost: 1, Currency: "EUR"}, {Date: "2026-11-01", Channel: "a", Cost: 1, Currency: "GBP"}}, "2026-11-01", "2026-11-30"},
		"negative cost":  {[]Spend{{Date: "2026-11-01", Channel: "a", Cost: -1, Currency: "EUR"}}, "2026-11-01", "2026-11-30"},
		"NaN cost":       {[]Spend{{Date: "2026-11-01", Channel: "a", Cost: math.NaN(), Currency: "EUR"}}, "2026-11-01", "2026-11-30"},
		"bad date":       {[]Spend{{Date: "1 Nov", Channel: "a", Cost: 1, Currency: "EUR"}}, "2026-11-01", "2026-11-30"},
		"bad window":     {nil, "November", "2026-11-30"},
	} {
		if _, _, err := Spent(c.spend, c.from, c.to, ByChannel); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Customers by first touch: counts, revenue, CLV, CAC and CLV:CAC by hand; unknown first touches
// grouped; a channel spent on that acquired no one listed.
func TestAcquired(t *testing.T) {
	got := Acquired([]Customer{
		{AcquisitionChannel: "Paid Search", Revenue: 100, CLV: 300},
		{AcquisitionChannel: "paid_search", Revenue: 50, CLV: 100},
		{AcquisitionChannel: "", Revenue: 10, CLV: 20},
		{AcquisitionChannel: "store", Revenue: 70, CLV: 90},
	}, map[string]float64{"paid search": 100, "display": 30})
	want := []Base{
		{Channel: "display", Spend: 30},
		{Channel: "paid search", Customers: 2, Revenue: 150, CLV: 400, AverageCLV: 200, Spend: 100, CAC: ptr(50), CLVToCAC: ptr(4)},
		{Channel: "store", Customers: 1, Revenue: 70, CLV: 90, AverageCLV: 90},
		{Channel: "unknown", Customers: 1, Revenue: 10, CLV: 20, AverageCLV: 20},
	}
	if len(got) != len(want) {
		t.Fatalf("bases %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Channel != w.Channel || g.Customers != w.Customers || g.Revenue != w.Revenue || g.CLV != w.CLV || g.AverageCLV != w.AverageCLV ||
			g.Spend != w.Spend || !same(g.CAC, w.CAC) || !same(g.CLVToCAC, w.CLVToCAC) {
			t.Errorf("%d: %+v, want %+v", i, g, w)
		}
	}
}
