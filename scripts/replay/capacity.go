package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Meter is a pass-through proxy in front of DynamoDB that asks every write and every read for its
// consumed capacity (ReturnConsumedCapacity TOTAL, added to the request) and adds up the write and
// read units the database reports, per table and per operation. The callers do not ask for
// capacity themselves; the proxy changes nothing else of a request or a response. Requests that
// fail (a condition not met, a cancelled transaction) report no capacity and are counted apart.
type Meter struct {
	proxy *httputil.ReverseProxy

	mu     sync.Mutex
	units  map[string]float64 // write units by table
	reads  map[string]float64 // read units by table
	ops    map[string]int     // successful requests by operation
	failed map[string]int     // failed requests by operation
	last   time.Time          // when the last request came
}

// writes and reads are the operations the meter asks capacity of.
var (
	writes = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "TransactWriteItems": true, "BatchWriteItem": true}
	reads  = map[string]bool{"GetItem": true, "BatchGetItem": true, "Query": true, "Scan": true, "TransactGetItems": true}
)

func metered(op string) bool { return writes[op] || reads[op] }

// NewMeter returns a meter forwarding to the DynamoDB endpoint target.
func NewMeter(target string) (*Meter, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("parse endpoint %q: %w", target, err)
	}
	m := &Meter{units: map[string]float64{}, reads: map[string]float64{}, ops: map[string]int{}, failed: map[string]int{}}
	m.proxy = httputil.NewSingleHostReverseProxy(u)
	m.proxy.ModifyResponse = m.observe
	return m, nil
}

func operation(r *http.Request) string {
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	return op
}

// ServeHTTP forwards a request, asking writes and reads for their consumed capacity.
func (m *Meter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.last = time.Now()
	m.mu.Unlock()
	if metered(operation(r)) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, fmt.Sprintf("read request: %v", err), http.StatusBadGateway)
			return
		}
		var req map[string]any
		if json.Unmarshal(body, &req) == nil {
			req["ReturnConsumedCapacity"] = "TOTAL"
			if b, err := json.Marshal(req); err == nil {
				body = b
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", fmt.Sprint(len(body)))
	}
	m.proxy.ServeHTTP(w, r)
}

type consumed struct {
	TableName     string
	CapacityUnits float64
}

func (m *Meter) observe(resp *http.Response) error {
	op := operation(resp.Request)
	if !metered(op) {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		m.mu.Lock()
		m.failed[op]++
		m.mu.Unlock()
		return nil
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	body := raw
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(raw)); err == nil {
			if b, err := io.ReadAll(zr); err == nil {
				body = b
			}
		}
	}
	var out struct{ ConsumedCapacity json.RawMessage }
	_ = json.Unmarshal(body, &out)
	var list []consumed
	if len(out.ConsumedCapacity) > 0 && out.ConsumedCapacity[0] == '[' {
		_ = json.Unmarshal(out.ConsumedCapacity, &list)
	} else if len(out.ConsumedCapacity) > 0 {
		var one consumed
		if json.Unmarshal(out.ConsumedCapacity, &one) == nil {
			list = append(list, one)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops[op]++
	units := m.units
	if reads[op] {
		units = m.reads
	}
	for _, c := range list {
		units[c.TableName] += c.CapacityUnits
	}
	return nil
}

// Idle tells how long ago the last request came.
func (m *Meter) Idle() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Since(m.last)
}

// Usage is what a meter counted.
type Usage struct {
	Units     map[string]float64 // write units by table
	ReadUnits map[string]float64 // read units by table
	Ops       map[string]int     // successful requests by operation
	Failed    map[string]int     // failed requests by operation
}

// Usage returns a copy of the counts so far.
func (m *Meter) Usage() Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := Usage{Units: map[string]float64{}, ReadUnits: map[string]float64{}, Ops: map[string]int{}, Failed: map[string]int{}}
	for k, v := range m.units {
		u.Units[k] = v
	}
	for k, v := range m.reads {
		u.ReadUnits[k] = v
	}
	for k, v := range m.ops {
		u.Ops[k] = v
	}
	for k, v := range m.failed {
		u.Failed[k] = v
	}
	return u
}

// Sub returns the counts of u since before.
func (u Usage) Sub(before Usage) Usage {
	d := Usage{Units: map[string]float64{}, ReadUnits: map[string]float64{}, Ops: map[string]int{}, Failed: map[string]int{}}
	for k, v := range u.Units {
		d.Units[k] = v - before.Units[k]
	}
	for k, v := range u.ReadUnits {
		d.ReadUnits[k] = v - before.ReadUnits[k]
	}
	for k, v := range u.Ops {
		d.Ops[k] = v - before.Ops[k]
	}
	for k, v := range u.Failed {
		d.Failed[k] = v - before.Failed[k]
	}
	return d
}

// Total returns the write units of the given tables (all tables when none is given).
func (u Usage) Total(tables ...string) float64 { return total(u.Units, tables) }

// ReadTotal returns the read units of the given tables (all tables when none is given).
func (u Usage) ReadTotal(tables ...string) float64 { return total(u.ReadUnits, tables) }

func total(units map[string]float64, tables []string) float64 {
	t := 0.0
	for k, v := range units {
		if len(tables) == 0 || contains(tables, k) {
			t += v
		}
	}
	return t
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// String prints the counts, sorted.
func (u Usage) String() string {
	var b strings.Builder
	keys := func(m map[string]int) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	var tables []string
	for k := range u.Units {
		tables = append(tables, k)
	}
	for k := range u.ReadUnits {
		if _, ok := u.Units[k]; !ok {
			tables = append(tables, k)
		}
	}
	sort.Strings(tables)
	for _, k := range tables {
		fmt.Fprintf(&b, "  %-40s %8.1f WRU %8.1f RCU\n", k, u.Units[k], u.ReadUnits[k])
	}
	for _, k := range keys(u.Ops) {
		fmt.Fprintf(&b, "  %-40s %8d ok, %d failed\n", k, u.Ops[k], u.Failed[k])
	}
	for _, k := range keys(u.Failed) {
		if _, ok := u.Ops[k]; !ok {
			fmt.Fprintf(&b, "  %-40s %8d ok, %d failed\n", k, 0, u.Failed[k])
		}
	}
	return b.String()
}
