package rfm

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// orderColumns are the header names (lower case, without spaces, "_" or "-") that ReadOrders
// takes for the customer id, the order date and the revenue.
var orderColumns = [3][]string{
	{"customerid", "customer"},
	{"orderdate", "date"},
	{"revenue", "amount"},
}

// ReadOrders reads orders from CSV with a header row. It finds the customer id, order date and
// revenue columns by name (customer_id / customer, order_date / date, revenue / amount, in any
// case, with or without "_", "-" or spaces); if the header does not name all three, it takes
// the first three columns in that order. Dates are YYYY-MM-DD or RFC 3339. A bad row stops the
// read with its line number and reason.
func ReadOrders(r io.Reader) ([]Order, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("orders: empty file: %w", ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("orders: %w: %w", err, ErrInvalid)
	}
	at, err := orderColumnsOf(header)
	if err != nil {
		return nil, err
	}
	var orders []Order
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return orders, nil
		}
		if err != nil {
			return nil, fmt.Errorf("orders: %w: %w", err, ErrInvalid)
		}
		line, _ := cr.FieldPos(0)
		o, err := parseOrder(rec[at[0]], rec[at[1]], rec[at[2]])
		if err != nil {
			return nil, fmt.Errorf("orders line %d: %w", line, err)
		}
		orders = append(orders, o)
	}
}

func orderColumnsOf(header []string) ([3]int, error) {
	if len(header) < 3 {
		return [3]int{}, fmt.Errorf("orders: header has %d columns, want customer id, order date and revenue: %w", len(header), ErrInvalid)
	}
	norm := strings.NewReplacer("_", "", "-", "", " ", "", "\ufeff", "")
	found := [3]int{-1, -1, -1}
	for i, h := range header {
		h = strings.ToLower(norm.Replace(h))
		for role, names := range orderColumns {
			for _, name := range names {
				if h == name && found[role] < 0 {
					found[role] = i
				}
			}
		}
	}
	for _, i := range found {
		if i < 0 {
			return [3]int{0, 1, 2}, nil
		}
	}
	return found, nil
}

func parseOrder(id, date, revenue string) (Order, error) {
	id, date, revenue = strings.TrimSpace(id), strings.TrimSpace(date), strings.TrimSpace(revenue)
	if id == "" {
		return Order{}, fmt.Errorf("customer id is empty: %w", ErrInvalid)
	}
	d, err := parseDate(date)
	if err != nil {
		return Order{}, err
	}
	v, err := strconv.ParseFloat(revenue, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Order{}, fmt.Errorf("revenue %q: not a finite number: %w", revenue, ErrInvalid)
	}
	return Order{CustomerID: id, Date: d, Revenue: v}, nil
}

// parseDate reads YYYY-MM-DD or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("order date %q: want YYYY-MM-DD or RFC 3339: %w", s, ErrInvalid)
}
