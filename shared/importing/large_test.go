package importing

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// rowsReader makes a CSV file of n order lines as it is read, never holding it: line 10 opens a
// quote that is never closed and line 5000 is over MaxRowBytes.
type rowsReader struct {
	n, i int
	buf  []byte
}

func (r *rowsReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		switch {
		case r.i > r.n:
			return 0, io.EOF
		case r.i == 0:
			r.buf = []byte("order_id,timestamp,userId,price,quantity\n")
		case r.i == 9: // line 10
			r.buf = []byte("o9,2024-01-01,\"u9,1,1\n")
		case r.i == 4999: // line 5000
			r.buf = []byte("o19,2024-01-01,u" + strings.Repeat("9", MaxRowBytes) + ",1,1\n")
		default:
			r.buf = fmt.Appendf(nil, "o%d,2024-01-01T10:00:00Z,u%d,%d.5,%d\n", r.i, r.i%1000, r.i%50, 1+r.i%3)
		}
		r.i++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// A large file is read with bounded memory; a quote never closed costs the rows up to the row
// limit, and an over-long row only itself.
func TestALargeFileIsReadWithBoundedMemory(t *testing.T) {
	n := 300_000
	if testing.Short() {
		n = 30_000
	}
	rd, err := NewReader(&rowsReader{n: n}, spec(Orders))
	if err != nil {
		t.Fatal(err)
	}
	var rejected []Rejection
	var peak uint64
	var ms runtime.MemStats
	for i := 0; ; i++ {
		o, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if o.Rejected != nil {
			rejected = append(rejected, *o.Rejected)
		}
		if i%20_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	st := rd.Status()
	if len(rejected) != 2 || rejected[0].Line != 10 || rejected[0].LastLine <= 10 || rejected[0].LastLine > 10+MaxRowBytes/30 ||
		rejected[0].Reason != fmt.Sprintf("the row is longer than %d bytes (is a quote not closed?)", MaxRowBytes) ||
		rejected[1].Line != 5000 || rejected[1].Reason != fmt.Sprintf("the row is longer than %d bytes", MaxRowBytes) {
		t.Errorf("rejections %+v", rejected)
	}
	if st.Rows != int64(n)-int64(rejected[0].LastLine-rejected[0].Line) || st.Rows != st.Imported+st.Rejected {
		t.Errorf("status %+v", st)
	}
	if peak > 64<<20 {
		t.Errorf("heap in use reached %d MB", peak>>20)
	}
	t.Logf("%d rows, heap in use at most %.1f MB", st.Rows, float64(peak)/(1<<20))
}
