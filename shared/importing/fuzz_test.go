package importing

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// FuzzCSVScanner: any bytes are read as records without a panic, each record in order and within
// the limits, and whatever encoding/csv reads without an error is read the same.
func FuzzCSVScanner(f *testing.F) {
	for _, seed := range []string{
		"a,b\r\nc,d\n", "\"a\nb\",c\n", "\"a\"\"b\",\"\"\n", "a\"b,c\n", "\"a\"b,c\n", "\"open\n", "\n\n\r\n", "a,b", "\xef\xbb\xbfa\n",
		"\"x\r\ny\"\r\n", "\r", "a\rb\n", "\"\"\"\n", ",,,\n", "\"a\",\n\"b\"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxBytes, maxFields = 64, 8
		s := newCSVScanner(bufio.NewReaderSize(bytes.NewReader(in), 16), ',', maxBytes, maxFields)
		var recs []csvRecord
		prev := 0
		for {
			r, err := s.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.line <= prev || r.lastLine < r.line || r.lastLine > bytes.Count(in, []byte("\n"))+1 {
				t.Fatalf("record at lines %d-%d after line %d", r.line, r.lastLine, prev)
			}
			prev = r.lastLine
			if (r.problem == "") == (r.fields == nil) || len(r.fields) > maxFields || len(strings.Join(r.fields, ",")) > maxBytes {
				t.Fatalf("record %+v", r)
			}
			recs = append(recs, r)
		}
		if len(in) > maxBytes || slices.ContainsFunc(recs, func(r csvRecord) bool { return r.problem != "" }) {
			return
		}
		cr := csv.NewReader(bytes.NewReader(in))
		cr.FieldsPerRecord = -1
		want, err := cr.ReadAll()
		if err != nil {
			return
		}
		if len(want) != len(recs) {
			t.Fatalf("%d records, encoding/csv %d: %+v / %q", len(recs), len(want), recs, want)
		}
		for i := range want {
			if !slices.Equal(want[i], recs[i].fields) {
				t.Fatalf("record %d: %q, encoding/csv %q", i, recs[i].fields, want[i])
			}
		}
	})
}

// FuzzReader: any file of any kind is read without a panic or an error of its own; every row is
// imported, rejected with a reason or counted a duplicate; every event is one the recording
// engine takes and the stream carries.
func FuzzReader(f *testing.F) {
	for _, seed := range []struct {
		kind uint8
		file string
	}{
		{1, ordersCSV},
		{0, customersCSV},
		{3, "userId,type,timestamp\nu1,call,2024-01-01\n"},
		{4, "case_id,userId,opened_at,closed_at\nk1,u1,2024-01-01,2024-01-02\n"},
		{5, "email,purpose,granted,timestamp\na@b.example,marketing,yes,2024-01-01\n"},
		{6, "date,channel,cost,currency\n2024-01-01,email,5,EUR\n"},
		{0, `{"userId":"c1","email":"a@b.example","tier":"gold"}` + "\n" + `{"userId":"c2","tier":{"x":1}}`},
		{1, `{"order_id":"o1","userId":"u1","timestamp":"2024-01-01","price":3,"quantity":-2,"properties.x":"y"}`},
		{2, "order_id,timestamp,userId,quantity,revenue\nr1,2024-01-01,u1,1,5\nr1,2024-01-01,u1,1,5\n"},
	} {
		f.Add(seed.kind, []byte(seed.file), false)
		f.Add(seed.kind, []byte(seed.file), true)
	}
	f.Fuzz(func(t *testing.T, kind uint8, file []byte, zipped bool) {
		k := AllKinds[int(kind)%len(AllKinds)]
		s := spec(k)
		s.Currency = "EUR"
		s.TimeLayout = "1/2/2006 15:04"
		if p := k.CustomPrefix(); p != "" {
			s.Mapping = Mapping{p + "x": "x"}
		}
		in := file
		if zipped {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(file)
			w.Close()
			in = b.Bytes()
		}
		rd, err := NewReader(bytes.NewReader(in), s)
		if err != nil {
			return // a header the mapping does not fit: the import's error, before any row
		}
		var events, spend, rejected int64
		for {
			o, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if o.Line < 1 || o.LastLine < o.Line {
				t.Fatalf("output at lines %d-%d", o.Line, o.LastLine)
			}
			switch {
			case o.Event != nil:
				events++
				if _, err := profile.FromEvent(*o.Event); err != nil {
					t.Fatalf("the engine refuses %+v: %v", o.Event, err)
				}
				raw, err := json.Marshal(o.Event)
				if err != nil || len(raw) > beacon.MaxEventBytes {
					t.Fatalf("event of %d bytes: %v", len(raw), err)
				}
				if evs, err := beacon.DecodeRecord(beacon.JoinRecord([]json.RawMessage{raw})); err != nil || evs[0].MessageID != o.Event.MessageID {
					t.Fatalf("the stream cannot carry %s: %v", raw, err)
				}
			case o.Spend != nil:
				spend++
			case o.Rejected != nil:
				rejected++
				if o.Rejected.Reason == "" || (o.Rejected.Row != nil && !json.Valid(o.Rejected.Row)) {
					t.Fatalf("rejection %+v", o.Rejected)
				}
			default:
				t.Fatal("an empty output")
			}
		}
		st := rd.Status()
		if st.Rows != st.Imported+st.Rejected+st.Duplicates || st.Events != events || st.Spend != spend || st.Rejected != rejected ||
			(st.Imported > 0) != (events+spend > 0) {
			t.Fatalf("status %+v; %d events, %d spend, %d rejected", st, events, spend, rejected)
		}
	})
}
