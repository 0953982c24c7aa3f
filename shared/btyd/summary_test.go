package btyd

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSummarise(t *testing.T) {
	at := func(s string, h int) time.Time { return day(s).Add(time.Duration(h) * time.Hour) }
	txs := []Transaction{
		{"b", at("2024-01-08", 9), 10}, // b's first purchase...
		{"b", at("2024-01-08", 17), 5}, // ...and a second on the same day: one transaction of 15
		{"b", at("2024-01-15", 12), 20},
		{"b", at("2024-01-15", 13), 4},  // same day again: 24
		{"b", at("2024-01-29", 8), 30},  // the last day of calibration counts
		{"b", at("2024-02-05", 8), 99},  // holdout
		{"b", at("2024-02-05", 9), 99},  // same holdout day
		{"b", at("2024-02-06", 9), 99},  // holdout
		{"b", at("2024-03-01", 9), 99},  // after the holdout end: ignored
		{"a", at("2024-01-01", 0), 50},  // one purchase only
		{"c", at("2024-02-01", 0), 50},  // first bought in the holdout: not a calibration customer
		{"d", at("2024-01-22", 23), -5}, // a refund is still a transaction
		{"d", at("2024-01-29", 1), 7},
	}
	got, err := Summarise(txs, Summary{CalibrationEnd: day("2024-01-29"), HoldoutEnd: day("2024-02-29")})
	if err != nil {
		t.Fatal(err)
	}
	want := []Customer{
		{ID: "a", X: 0, Tx: 0, T: 4},
		{ID: "b", X: 2, Tx: 3, T: 3, Spend: (24 + 30) / 2.0, HoldoutX: 2},
		{ID: "d", X: 1, Tx: 1, T: 1, Spend: 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("weeks:\n got %+v\nwant %+v", got, want)
	}

	got, err = Summarise(txs, Summary{CalibrationEnd: day("2024-01-29"), Unit: Day})
	if err != nil {
		t.Fatal(err)
	}
	want = []Customer{
		{ID: "a", X: 0, Tx: 0, T: 28},
		{ID: "b", X: 2, Tx: 21, T: 21, Spend: 27}, // no holdout end: nothing counted after calibration
		{ID: "d", X: 1, Tx: 7, T: 7, Spend: 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("days:\n got %+v\nwant %+v", got, want)
	}
}

// A day is the calendar day where the purchase happened: 23:30 and 00:30 in New York are two
// days, although they are the same UTC day.
func TestSummariseLocalDays(t *testing.T) {
	ny := time.FixedZone("EST", -5*3600)
	txs := []Transaction{
		{"a", time.Date(2024, 1, 1, 18, 30, 0, 0, ny), 1}, // 23:30 UTC
		{"a", time.Date(2024, 1, 1, 23, 30, 0, 0, ny), 1}, // 04:30 UTC the next day, same NY day
		{"a", time.Date(2024, 1, 2, 0, 30, 0, 0, ny), 1},  // next NY day
	}
	got, err := Summarise(txs, Summary{CalibrationEnd: day("2024-01-08"), Unit: Day})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Customer{{ID: "a", X: 1, Tx: 1, T: 7, Spend: 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestSummariseErrors(t *testing.T) {
	ok := []Transaction{{"a", day("2024-01-01"), 1}}
	cal := Summary{CalibrationEnd: day("2024-01-31")}
	for _, c := range []struct {
		name string
		txs  []Transaction
		s    Summary
		want error
	}{
		{"empty id", []Transaction{{" ", day("2024-01-01"), 1}}, cal, ErrTransaction},
		{"NaN amount", []Transaction{{"a", day("2024-01-01"), math.NaN()}}, cal, ErrTransaction},
		{"infinite amount", []Transaction{{"a", day("2024-01-01"), math.Inf(1)}}, cal, ErrTransaction},
		{"unit", ok, Summary{CalibrationEnd: day("2024-01-31"), Unit: "fortnight"}, ErrUnit},
		{"all after the calibration", ok, Summary{CalibrationEnd: day("2023-12-31")}, ErrNoCustomers},
		{"nothing", nil, cal, ErrNoCustomers},
	} {
		if _, err := Summarise(c.txs, c.s); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Summarise(ok, Summary{CalibrationEnd: day("2024-01-31"), HoldoutEnd: day("2024-01-30")}); err == nil {
		t.Error("a holdout ending before the calibration was accepted")
	}
}
