package importing

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/source"
)

// importedAt is the time the tests' imports begin.
var importedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func spec(k Kind) Spec {
	return Spec{Kind: k, Source: source.Source{ID: "src-import"}, ReceivedAt: importedAt}
}

// readAll reads a whole file, failing the test on an error of the file or the stream.
func readAll(t testing.TB, file string, s Spec) ([]Output, Status) {
	t.Helper()
	rd, err := NewReader(strings.NewReader(file), s)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	return drain(t, rd)
}

func drain(t testing.TB, rd *Reader) ([]Output, Status) {
	t.Helper()
	var out []Output
	for {
		o, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, o)
	}
	st := rd.Status()
	if st.Rows != st.Imported+st.Rejected+st.Duplicates {
		t.Errorf("status does not add up: %+v", st)
	}
	return out, st
}

func rejections(out []Output) []Rejection {
	var r []Rejection
	for _, o := range out {
		if o.Rejected != nil {
			r = append(r, *o.Rejected)
		}
	}
	return r
}

func events(out []Output) []Output {
	var r []Output
	for _, o := range out {
		if o.Event != nil {
			r = append(r, o)
		}
	}
	return r
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
