// Package importing is the bulk import's domain: files of customers, order lines (online and
// offline), returns, contacts, service cases, consents and marketing spend, read row by row into
// the events the collection endpoint puts on the stream (as a trusted source) or, for spend,
// records of their own; every row that is not imported is rejected with its line and a reason a
// person can act on.
//
// A file is CSV with a header line, or JSON Lines, either gzip-compressed or not, read as a
// stream with memory bounded by the row limits (MaxRowBytes, MaxRowFields, MaxOrderRows) and the
// duplicate sets, however large it is. A Mapping says which column holds which field; the kinds'
// fields, their types and bounds, and what each row becomes are documented in README.md, and the
// rows' JSON Schemas are in events/schemas/import.
//
//	rd, err := importing.NewReader(file, importing.Spec{Kind: importing.Orders, Mapping: m, Source: src, ReceivedAt: now})
//	for {
//		out, err := rd.Next()                 // io.EOF at the end
//		…out.Event (to the stream), out.Spend, out.Rejected (line, reason, the row redacted)
//	}
//	status := rd.Status()                     // rows read, imported, rejected, duplicates, events
//
// Importing a file again gives the same message ids (they hash the rows' normalised values), so
// the recording engine, which drops a messageId it has recorded, changes nothing. The package is
// pure: no AWS, the clock passed in (Spec.ReceivedAt).
package importing
