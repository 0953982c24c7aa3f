package s3server

import (
	"bufio"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/johannesboyne/gofakes3"
)

// chunkReader decodes the aws-chunked encoding: chunks of "<hex size>[;chunk-signature=…]\r\n",
// the data and "\r\n", ended by a chunk of size 0 and optional trailing headers (a checksum).
// Signatures and checksums are not checked: any credentials are accepted locally.
type chunkReader struct {
	r      *bufio.Reader
	remain int64 // of the current chunk
	done   bool
	err    error
}

func newChunkReader(r io.Reader) *chunkReader { return &chunkReader{r: bufio.NewReader(r)} }

// maxChunkHeader bounds a chunk's header line (a size and a signature are some 90 bytes).
const maxChunkHeader = 4 << 10

// errBadChunk is S3's 400 for a body that is not what its headers say.
var errBadChunk = gofakes3.ErrorMessage(gofakes3.ErrIncompleteBody, "malformed or truncated aws-chunked body")

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.remain == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	n, err := c.r.Read(p[:min(int64(len(p)), c.remain)])
	c.remain -= int64(n)
	if err == io.EOF {
		err = errBadChunk
	}
	if c.remain == 0 && err == nil {
		err = c.crlf()
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// next reads a chunk's header; after the last chunk it reads the trailers up to the empty line.
func (c *chunkReader) next() error {
	line, err := c.line()
	if err == io.EOF {
		return errBadChunk
	}
	if err != nil {
		return err
	}
	size, _, _ := strings.Cut(line, ";")
	n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
	if err != nil || n < 0 {
		return errBadChunk
	}
	if n > 0 {
		c.remain = n
		return nil
	}
	c.done = true
	for {
		trailer, err := c.line()
		if err == io.EOF || err == nil && trailer == "" {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (c *chunkReader) line() (string, error) {
	var b []byte
	for {
		part, more, err := c.r.ReadLine()
		if err == io.EOF && len(b) > 0 {
			return "", errBadChunk
		}
		if err != nil {
			return "", err
		}
		b = append(b, part...)
		if len(b) > maxChunkHeader {
			return "", errBadChunk
		}
		if !more {
			return string(b), nil
		}
	}
}

func (c *chunkReader) crlf() error {
	var b [2]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil || string(b[:]) != "\r\n" {
		return errBadChunk
	}
	return nil
}

// requestError is an S3 error that gofakes3 has no code for.
type requestError struct {
	XMLName xml.Name `xml:"Error"`
	Code    string
	Message string
	status  int
}

func (e *requestError) Error() string { return e.Code + ": " + e.Message }

var (
	errEntityTooSmall = &requestError{Code: "EntityTooSmall", Message: "Your proposed upload is smaller than the minimum allowed object size.", status: http.StatusBadRequest}
	errEntityTooLarge = &requestError{Code: "EntityTooLarge", Message: "Your proposed upload exceeds the maximum allowed object size.", status: http.StatusBadRequest}
)
