// Package archive is the format of dcrm's event archive and of its daily snapshots: Parquet files
// in an S3 bucket, laid out in Hive partitions, read by Athena through Glue tables and locally by
// `dcrm sql` through the same table names, columns and types.
//
// The tables are described once, by the Go row types of this package (Event, Profile, Identifier,
// Merge) and their parquet struct tags: the files are written from them, and Tables derives from
// them the columns and their SQL types that the Glue tables (the CDK app) and the local engine's
// views are made of. Adding a field to a row type adds the column everywhere.
//
//	events/dt=YYYY-MM-DD/part-<hash>.parquet       every accepted event, by the UTC date of its timestamp
//	profiles/dt=YYYY-MM-DD/part-<s>-of-<n>-<i>.parquet     the daily snapshot of live profiles (functions/snapshot)
//	identifiers/dt=YYYY-MM-DD/part-<s>-of-<n>-<i>.parquet  the snapshot's identifiers, one row per profile and identifier
//	merges/dt=YYYY-MM-DD/part-<s>-of-<n>-<i>.parquet       the snapshot's merged-away profile ids, each to its live profile
//
// Personal data is as collect left it on the stream (see FromEvent): the person's email and phone
// only as hashes, other personal data hashed or redacted, the IP address truncated. An erased
// person's rows are removed from every file by the archive function's daily pass, from the requests
// the profile API leaves under erasures/ (erasure.go).
package archive

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// SQL types of the columns, as Glue and Athena name them.
const (
	String    = "string"
	BigInt    = "bigint"
	Double    = "double"
	Boolean   = "boolean"
	Timestamp = "timestamp" // UTC, millisecond precision
)

// Column is one column of a table: its name as queries spell it and its SQL type.
type Column struct {
	Name string
	Type string
	// JSON says the string holds JSON text (properties, traits, context …): the row type's
	// field is tagged `archive:"json"`.
	JSON bool
}

// GlueName is the column's name in the Glue catalog, which keeps names in lower case; Athena
// matches a query's names and the Parquet files' names to it without regard to case.
func (c Column) GlueName() string { return strings.ToLower(c.Name) }

// PartitionKey is the Hive partition every table is laid out by: the UTC date (YYYY-MM-DD) of the
// event, or of the snapshot. It is a string, so that `WHERE dt >= '2026-12-01'` prunes files in
// both engines without a cast.
var PartitionKey = Column{Name: "dt", Type: String}

// Table is one table of the archive.
type Table struct {
	Name string // the table (and view) name: events, profiles, identifiers, merges
	// Prefix is where its files are under the bucket's root, ending in "/"; partitions below it
	// are PartitionKey.Name + "=" + date.
	Prefix  string
	Columns []Column // the files' columns, in file order; the partition key is not among them
	// Partition is the partition key, a column of the table made from the files' paths.
	Partition Column
	row       reflect.Type
	// person are the row type's fields tagged `archive:"person"`, which hold a profile id: an
	// erasure removes the rows in which any of them names an erased profile (erasure.go).
	person []personField
}

// personField is a field of a row type that holds a profile id.
type personField struct {
	column string // its column
	index  int    // its index in the row type
}

// The tables' names.
const (
	EventsTable      = "events"
	ProfilesTable    = "profiles"
	IdentifiersTable = "identifiers"
	MergesTable      = "merges"
)

// Tables are the archive's tables, in the order they are documented.
var Tables = []Table{
	table(EventsTable, Event{}),
	table(ProfilesTable, Profile{}),
	table(IdentifiersTable, Identifier{}),
	table(MergesTable, Merge{}),
}

// TableNamed returns the table of that name.
func TableNamed(name string) (Table, bool) {
	for _, t := range Tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// Key is the object key of a file of the table in the partition of date dt (YYYY-MM-DD) named
// name (without the extension).
func (t Table) Key(dt, name string) string {
	return t.Prefix + PartitionKey.Name + "=" + dt + "/" + name + ".parquet"
}

func table(name string, row any) Table {
	schema := parquet.SchemaOf(row)
	t := Table{Name: name, Prefix: name + "/", Partition: PartitionKey, row: reflect.TypeOf(row)}
	isJSON := map[string]bool{}
	for f := range t.row.Fields() {
		column := strings.Split(f.Tag.Get("parquet"), ",")[0]
		switch f.Tag.Get("archive") {
		case "json":
			isJSON[column] = true
		case "person":
			if f.Type.Kind() != reflect.String {
				panic(fmt.Sprintf("archive: person column %s of %s is not a string", column, name))
			}
			t.person = append(t.person, personField{column: column, index: f.Index[0]})
		}
	}
	for _, f := range schema.Fields() {
		t.Columns = append(t.Columns, Column{Name: f.Name(), Type: sqlType(f), JSON: isJSON[f.Name()]})
	}
	return t
}

// sqlType is the Glue type of a leaf column of this package's row types; any other Parquet type
// is a programming error in a row type.
func sqlType(f parquet.Field) string {
	if !f.Leaf() || f.Repeated() {
		panic(fmt.Sprintf("archive: column %s is not a flat column", f.Name()))
	}
	t := f.Type()
	var logical format.LogicalTypeValue
	if lt := t.LogicalType(); lt != nil {
		logical = lt.Value
	}
	if ts, ok := logical.(*format.TimestampType); ok {
		if _, millis := ts.Unit.Value.(*format.MilliSeconds); !millis || !ts.IsAdjustedToUTC {
			panic(fmt.Sprintf("archive: timestamp column %s must be UTC milliseconds (Athena's precision)", f.Name()))
		}
		return Timestamp
	}
	switch t.Kind() {
	case parquet.Boolean:
		return Boolean
	case parquet.Int64:
		return BigInt
	case parquet.Double:
		return Double
	case parquet.ByteArray:
		if _, ok := logical.(*format.StringType); ok {
			return String
		}
	}
	panic(fmt.Sprintf("archive: column %s has the unmapped type %v", f.Name(), t))
}

// ParseKey reads an object key of the archive (relative to its root): the table, the partition
// date and the file name, when the key is a file of a table's layout, PREFIX/dt=YYYY-MM-DD/NAME.parquet
// with no other path element, so that a reader may place it on a local disk without leaving its
// folder.
func ParseKey(key string) (t Table, dt, name string, ok bool) {
	for _, t := range Tables {
		rest, found := strings.CutPrefix(key, t.Prefix)
		if !found {
			continue
		}
		part, name, found := strings.Cut(rest, "/")
		dt, isPart := strings.CutPrefix(part, t.Partition.Name+"=")
		if !found || !isPart || !validDate(dt) || !validName(name) {
			return Table{}, "", "", false
		}
		return t, dt, name, true
	}
	return Table{}, "", "", false
}

func validDate(dt string) bool {
	_, err := time.Parse(time.DateOnly, dt)
	return err == nil
}

// validName is a file name of a partition: ends in .parquet, no path element, not hidden.
func validName(name string) bool {
	return strings.HasSuffix(name, ".parquet") && len(name) > len(".parquet") && !strings.HasPrefix(name, ".") &&
		!strings.ContainsAny(name, "/\\\x00")
}
