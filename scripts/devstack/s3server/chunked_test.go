package s3server

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// encodeChunks is the aws-chunked encoding of data in chunks of size n, with a trailer.
func encodeChunks(data []byte, n int) []byte {
	var b bytes.Buffer
	for len(data) > 0 {
		c := data[:min(n, len(data))]
		data = data[len(c):]
		fmt.Fprintf(&b, "%x;chunk-signature=%064x\r\n%s\r\n", len(c), 0, c)
	}
	b.WriteString("0;chunk-signature=0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n")
	return b.Bytes()
}

func TestChunkReader(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	for _, n := range []int{1, 7, 8192, 1 << 20} {
		got, err := io.ReadAll(newChunkReader(bytes.NewReader(encodeChunks(data, n))))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("chunks of %d: %d bytes, %v", n, len(got), err)
		}
	}
	for _, bad := range []string{"", "5\r\nabc", "5\r\nabcdeXX0\r\n\r\n", "zz\r\n", "-1\r\n", "5\r\nabcde\r\n"} {
		if _, err := io.ReadAll(newChunkReader(bytes.NewReader([]byte(bad)))); err == nil {
			t.Errorf("%q decoded without an error", bad)
		}
	}
}

// FuzzChunkReader: any body decodes or fails, without a panic or a hang, and what encodeChunks
// made decodes back to the data.
func FuzzChunkReader(f *testing.F) {
	f.Add([]byte("hello, world"), uint8(3), []byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte{}, uint8(1), []byte("0;chunk-signature=x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte, n uint8, raw []byte) {
		_, _ = io.Copy(io.Discard, newChunkReader(bytes.NewReader(raw)))
		got, err := io.ReadAll(newChunkReader(bytes.NewReader(encodeChunks(data, int(n)+1))))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %q, %v; want %q", got, err, data)
		}
	})
}
