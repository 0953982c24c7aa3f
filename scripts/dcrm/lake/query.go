//go:build cgo

package lake

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
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
			if t, ok := v.(time.Time); ok && types[i].DatabaseTypeName() == "DATE" {
				vals[i] = date(t) // Athena prints a date without a time
			}
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

// date is a DATE value, printed as YYYY-MM-DD.
type date time.Time

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

// jsonValue is a value for a JSON Lines row: numbers and booleans as themselves, the rest as text.
func jsonValue(v any) any {
	switch x := v.(type) {
	case nil, bool, float64, float32, int, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return x
	case *big.Int, duckdb.Decimal: // HUGEINT (a sum of BIGINTs), DECIMAL (a literal such as 1.5)
		return json.Number(text(x))
	}
	return text(v)
}
