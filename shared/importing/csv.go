package importing

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// csvScanner reads the records of a CSV file (RFC 4180, as encoding/csv reads it: fields
// separated by comma, quoted with '"' where they hold a comma, a quote ("") or a line break;
// CRLF or LF line ends; empty lines skipped) one at a time, with memory bounded by the limits:
// a record over maxBytes or maxFields is scanned to its end, kept no further, and reported.
// Unlike encoding/csv, a malformed record (a bare quote, text after a closing quote) is only that
// record's problem: the scanner goes on with the next, its line numbers still right.
type csvScanner struct {
	br        *bufio.Reader
	comma     byte
	maxBytes  int
	maxFields int
	line      int // line breaks read so far

	buf  []byte // the current record's field bytes
	ends []int  // where each field ends in buf
}

// csvRecord is one record: where it is, its fields, or why it cannot be read.
type csvRecord struct {
	line, lastLine int
	fields         []string
	problem        string // "" when the record was read
}

func newCSVScanner(br *bufio.Reader, comma byte, maxBytes, maxFields int) *csvScanner {
	return &csvScanner{br: br, comma: comma, maxBytes: maxBytes, maxFields: maxFields}
}

// next returns the next record, or io.EOF after the last; other errors are the stream's.
func (s *csvScanner) next() (csvRecord, error) {
	var (
		rec               = csvRecord{line: s.line + 1}
		size              int
		quoted, quoteSeen bool
		fieldStart        = true
		over, tooMany     bool
		quoteLine         int
		startOfField      = 0
		nfields           int
		prev, last        byte // the last two bytes read
	)
	s.buf, s.ends = s.buf[:0], s.ends[:0]
	fail := func(format string, args ...any) {
		if rec.problem == "" {
			rec.problem = fmt.Sprintf(format, args...)
		}
	}
	add := func(c byte) {
		if !over && !tooMany {
			s.buf = append(s.buf, c)
		}
	}
	endField := func() {
		nfields++
		if nfields > s.maxFields {
			if !tooMany {
				fail("the row has more than %d fields", s.maxFields)
			}
			tooMany = true
			return
		}
		if !over {
			s.ends = append(s.ends, len(s.buf))
		}
		startOfField = len(s.buf)
	}
	for {
		chunk, err := s.br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
			return rec, err
		}
		for _, c := range chunk {
			size++
			prev, last = last, c
			if size > s.maxBytes && !over {
				over = true
				s.buf, s.ends = s.buf[:0], s.ends[:0]
				fail("the row is longer than %d bytes", s.maxBytes)
			}
			if quoted {
				if !quoteSeen {
					switch c {
					case '"':
						quoteSeen = true
					case '\n':
						s.line++
						if over {
							// A quoted field this long is most likely a quote never closed: the
							// record ends at this line break, so one stray quote costs the rows
							// within the limit, not the rest of the file.
							rec.problem += " (is a quote not closed?)"
							return s.finish(rec, over), nil
						}
						// A CRLF inside a quoted field is read as LF, as encoding/csv does.
						if prev == '\r' && !over && !tooMany && len(s.buf) > startOfField && s.buf[len(s.buf)-1] == '\r' {
							s.buf = s.buf[:len(s.buf)-1]
						}
						add(c)
					default:
						add(c)
					}
					continue
				}
				quoteSeen = false
				if c == '"' { // "" is a quote
					add(c)
					continue
				}
				quoted = false // the closing quote; c follows the field
				if c != s.comma && c != '\n' && c != '\r' {
					fail("field %d has text after its closing quote (a quote inside a quoted field is written \"\")", nfields+1)
				}
			}
			switch c {
			case s.comma:
				endField()
				fieldStart = true
			case '\n':
				s.line++
				if prev == '\r' && !over && !tooMany && len(s.buf) > startOfField && s.buf[len(s.buf)-1] == '\r' {
					s.buf = s.buf[:len(s.buf)-1]
				}
				if size == 1 || (size == 2 && len(s.buf) == 0 && nfields == 0 && !over) {
					// An empty line (or a lone CR): no record. Start again on the next line.
					rec, size, fieldStart = csvRecord{line: s.line + 1}, 0, true
					s.buf = s.buf[:0]
					continue
				}
				endField()
				return s.finish(rec, over), nil
			case '"':
				if fieldStart {
					quoted, fieldStart, quoteLine = true, false, s.line+1
					continue
				}
				fail("field %d has a quote but does not start with one (quote the whole field and write a quote inside it as \"\")", nfields+1)
				add(c)
			default:
				fieldStart = false
				add(c)
			}
		}
		if errors.Is(err, io.EOF) {
			if size == 0 || (size == 1 && last == '\r') { // nothing, or a lone CR: no record
				return rec, io.EOF
			}
			if quoted && !quoteSeen {
				fail("a quoted field opened on line %d is not closed", quoteLine)
			}
			if last == '\r' && !quoted && !over && !tooMany && len(s.buf) > startOfField && s.buf[len(s.buf)-1] == '\r' {
				s.buf = s.buf[:len(s.buf)-1] // a CR before the end of the file, as encoding/csv drops it
			}
			endField()
			if last != '\n' {
				s.line++ // the last line, without its line break
			}
			return s.finish(rec, over), nil
		}
	}
}

// finish makes the fields of a complete record.
func (s *csvScanner) finish(rec csvRecord, over bool) csvRecord {
	rec.lastLine = s.line
	if rec.problem != "" || over {
		return rec
	}
	all := string(s.buf)
	rec.fields = make([]string, len(s.ends))
	start := 0
	for i, end := range s.ends {
		rec.fields[i] = all[start:end]
		start = end
	}
	return rec
}
