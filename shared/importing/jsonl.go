package importing

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// lineScanner reads the lines of a JSON Lines file one at a time, with memory bounded by
// maxBytes: a longer line is read to its end, kept no further, and reported. Blank lines are
// skipped.
type lineScanner struct {
	br       *bufio.Reader
	maxBytes int
	line     int
	buf      []byte
}

// next returns the next non-blank line (without its line break), its number and whether it was
// too long; io.EOF after the last.
func (s *lineScanner) next() ([]byte, int, bool, error) {
	for {
		s.buf = s.buf[:0]
		over, size := false, 0
		for {
			chunk, err := s.br.ReadSlice('\n')
			size += len(chunk)
			if size > s.maxBytes+2 { // +2: the line break does not count
				over = true
			}
			if !over {
				s.buf = append(s.buf, chunk...)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, s.line + 1, false, err
			}
			if size == 0 {
				return nil, s.line + 1, false, io.EOF
			}
			s.line++
			break
		}
		line := bytes.TrimSuffix(bytes.TrimSuffix(s.buf, []byte("\n")), []byte("\r"))
		if over || len(line) > s.maxBytes {
			return nil, s.line, true, nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		return line, s.line, false, nil
	}
}

// jsonMember is one member of a JSON Lines row: its name and its value as text.
type jsonMember struct{ name, value string }

// readJSONRow reads one line as a flat JSON object: each member's value a string, a number or a
// boolean (null: no value). A member sent twice counts once, with its last value, as
// encoding/json decodes it.
func readJSONRow(line []byte, maxFields int) ([]jsonMember, string) {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, "the line is not a JSON object"
	}
	var out []jsonMember
	index := map[string]int{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, "the line is not valid JSON: " + trimJSONError(err)
		}
		name := tok.(string)
		tok, err = d.Token()
		if err != nil {
			return nil, "the line is not valid JSON: " + trimJSONError(err)
		}
		var v string
		switch t := tok.(type) {
		case string:
			v = t
		case json.Number:
			v = t.String()
		case bool:
			v = strconv.FormatBool(t)
		case nil:
		case json.Delim:
			return nil, fmt.Sprintf("member %q is an object or a list: rows are flat (one value per field)", short(name))
		}
		if i, dup := index[name]; dup {
			out[i].value = v
			continue
		}
		if len(out) == maxFields {
			return nil, fmt.Sprintf("the row has more than %d fields", maxFields)
		}
		index[name] = len(out)
		out = append(out, jsonMember{name, v})
	}
	if _, err := d.Token(); err != nil { // the closing brace
		return nil, "the line is not valid JSON: " + trimJSONError(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, "the line has more after its JSON object (one object a line)"
	}
	return out, ""
}

func trimJSONError(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "it ends early"
	}
	return err.Error()
}
