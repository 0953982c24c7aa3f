//go:build cgo

package lake

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Output formats of Query.
const (
	CSV   = "csv"   // a header line, then one line per row (RFC 4180)
	Table = "table" // columns aligned, for a terminal
	JSONL = "jsonl" // one JSON object per row
)

// QueryError is a query DuckDB refused or failed: a mistake in the SQL, not in dcrm.
type QueryError struct{ Err error }

func (e *QueryError) Error() string { return "query: " + e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

// Query runs q and writes its rows to w in format. Values print as Athena prints them in CSV:
// timestamps "2006-01-02 15:04:05.000" (UTC), NULL as nothing.
func (l *Lake) Query(ctx context.Context, q, format string, w io.Writer) error {
	if format != CSV && format != Table && format != JSONL {
		return fmt.Errorf("unknown format %q (csv, table, jsonl)", format)
	}
	rows, err := l.db.QueryContext(ctx, q)
	if err != nil {
		return &QueryError{err}
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return &QueryError{err}
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return &QueryError{err}
	}
	out := newPrinter(format, w, cols)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return &QueryError{err}
		}
		for i, v := range vals {
			vals[i] = typed(v, types[i].DatabaseTypeName())
		}
		if err := out.row(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return &QueryError{err}
	}
	return out.close()
}

type printer struct {
	format string
	cols   []string
	csv    *csv.Writer
	tab    *tabwriter.Writer
	w      io.Writer
}

func newPrinter(format string, w io.Writer, cols []string) *printer {
	p := &printer{format: format, cols: cols, w: w}
	switch format {
	case CSV:
		p.csv = csv.NewWriter(w)
		p.csv.Write(cols)
	case Table:
		p.tab = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(p.tab, strings.Join(cols, "\t")+"\t")
	}
	return p
}

func (p *printer) row(vals []any) error {
	switch p.format {
	case CSV:
		rec := make([]string, len(vals))
		for i, v := range vals {
			rec[i] = text(v)
		}
		return p.csv.Write(rec)
	case Table:
		rec := make([]string, len(vals))
		for i, v := range vals {
			rec[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(text(v))
		}
		_, err := fmt.Fprintln(p.tab, strings.Join(rec, "\t")+"\t")
		return err
	}
	obj := make(map[string]any, len(vals))
	for i, v := range vals {
		obj[p.cols[i]] = jsonValue(v)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	_, err = p.w.Write(append(b, '\n'))
	return err
}

func (p *printer) close() error {
	switch p.format {
	case CSV:
		p.csv.Flush()
		return p.csv.Error()
	case Table:
		return p.tab.Flush()
	}
	return nil
}

// Values whose printing depends on their SQL type, not only their Go type.
type (
	date      time.Time // DATE: 2026-12-07
	clock     time.Time // TIME: 10:04:00.000
	zonedTime time.Time // TIMESTAMP WITH TIME ZONE: 2026-12-07 10:04:00.000 UTC
)

// typed marks a scanned value with its SQL type where that decides how it prints.
func typed(v any, sqlType string) any {
	switch x := v.(type) {
	case time.Time:
		switch sqlType {
		case "DATE":
			return date(x)
		case "TIME":
			return clock(x)
		case "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE":
			return zonedTime(x)
		}
	case []byte:
		if sqlType == "UUID" && len(x) == 16 {
			u := duckdb.UUID(x)
			return u.String()
		}
	}
	return v
}

// text is a value as Athena's CSV output writes it.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.000")
	case date:
		return time.Time(x).UTC().Format(time.DateOnly)
	case clock:
		return time.Time(x).UTC().Format("15:04:05.000")
	case zonedTime:
		return time.Time(x).UTC().Format("2006-01-02 15:04:05.000") + " UTC"
	case duckdb.Interval:
		if x.Months != 0 {
			return fmt.Sprintf("%d-%d", x.Months/12, x.Months%12) // year to month, as Trino prints it
		}
		d := time.Duration(x.Micros) * time.Microsecond
		return fmt.Sprintf("%d %02d:%02d:%02d.%03d", int64(x.Days)+int64(d/(24*time.Hour)), int(d.Hours())%24, int(d.Minutes())%60, int(d.Seconds())%60, d.Milliseconds()%1000)
	case []any, map[string]any, duckdb.OrderedMap:
		if b, err := json.Marshal(jsonable(x)); err == nil {
			return string(b)
		}
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case *big.Int:
		return x.String()
	case duckdb.Decimal:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// jsonValue is a value for a JSON Lines row: numbers and booleans as themselves, lists and
// structs as JSON, the rest as text.
func jsonValue(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return text(x)
		}
		return x
	case float32:
		return jsonValue(float64(x))
	case nil, bool, int, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return x
	case []any, map[string]any, duckdb.OrderedMap:
		return jsonable(x)
	case *big.Int, duckdb.Decimal: // HUGEINT (a sum of BIGINTs), DECIMAL (a literal such as 1.5)
		return json.Number(text(x))
	}
	return text(v)
}

// jsonable is a list, struct or map value with every element made encodable by encoding/json.
func jsonable(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case duckdb.OrderedMap:
		out := make(map[string]any, x.Len())
		values := x.Values()
		for i, k := range x.Keys() {
			out[text(k)] = jsonable(values[i])
		}
		return out
	}
	return jsonValue(v)
}
