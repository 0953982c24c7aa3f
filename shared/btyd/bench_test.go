package btyd

import (
	"sync"
	"testing"
)

// Benchmarks (method and results in README.md):
//
//	GOMAXPROCS=1 go test -run '^$' -bench . -benchmem -count 6 ./shared/btyd
//
// Fits run on the CDNOW sample (2,357 customers) and on CDNOW_master.txt (23,570), both with
// the calibration period of the papers; scoring is P(alive), expected purchases over 52 weeks and
// CLV with weekly discounting, for both purchase models, per customer.

var cdnowMaster = sync.OnceValues(func() ([]Customer, error) {
	txs, err := readCDNOW("CDNOW_master.txt", 0, 1, 3)
	if err != nil {
		return nil, err
	}
	return Summarise(txs, cdnowSummary)
})

func benchData(b *testing.B) map[string][]Customer {
	b.Helper()
	master, err := cdnowMaster()
	if err != nil {
		b.Fatal(err)
	}
	return map[string][]Customer{"sample": fittedCDNOW(b).customers, "master": master}
}

func BenchmarkFit(b *testing.B) {
	fits := []struct {
		name string
		fit  func([]Customer) error
	}{
		{"bgnbd", func(cs []Customer) error { _, err := FitBGNBD(cs); return err }},
		{"paretonbd", func(cs []Customer) error { _, err := FitParetoNBD(cs); return err }},
		{"gammagamma", func(cs []Customer) error { _, err := FitGammaGamma(cs); return err }},
	}
	data := benchData(b)
	for _, f := range fits {
		for _, set := range []string{"sample", "master"} {
			b.Run(f.name+"/"+set, func(b *testing.B) {
				for b.Loop() {
					if err := f.fit(data[set]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkScore(b *testing.B) {
	f := fittedCDNOW(b)
	v := Valuation{Horizon: 52, AnnualRate: 0.1, Margin: 1}
	var sink float64
	n := 0
	for b.Loop() {
		for _, c := range f.customers {
			s, err := f.models.Score(c, v)
			if err != nil {
				b.Fatal(err)
			}
			sink += s.CLVBGNBD + s.CLVPareto
		}
		n += len(f.customers)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "customers/s")
	if sink <= 0 {
		b.Fatal("no value scored")
	}
}

func BenchmarkSummariseMaster(b *testing.B) {
	txs, err := readCDNOW("CDNOW_master.txt", 0, 1, 3)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Summarise(txs, cdnowSummary); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(txs)), "transactions/op")
}
