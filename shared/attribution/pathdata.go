package attribution

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of ReadPathData: longer lines, channel names or paths, or longer numbers, are errors.
const (
	MaxLineBytes    = 1 << 20
	MaxChannelBytes = 256
	MaxTouches      = 10_000
	maxNumberBytes  = 64
)

// The PathData columns.
const (
	colPath        = "path"
	colConversions = "total_conversions"
	colValue       = "total_conversion_value"
	colNulls       = "total_null"
)

// ReadPathData reads aggregated paths in the format of ChannelAttribution's PathData: CSV with a
// header line naming the columns path and total_conversions, and optionally
// total_conversion_value and total_null (any order, any case; other columns are ignored, missing
// optional ones read as 0). A path is its channels separated by ">" (PathData writes " > "); spaces
// and tabs around each channel are dropped. Counts are non-negative finite numbers, the value a
// finite number. Fields may be quoted ("…", with "" for a quote) but not span lines; blank lines
// are skipped; a UTF-8 byte order mark before the header is ignored.
//
// Input is bounded: a line longer than MaxLineBytes, a channel name longer than MaxChannelBytes,
// a path of more than MaxTouches touches, a number longer than 64 bytes, a channel name that is
// not UTF-8 or empty, all stop the read with the line number and the reason.
func ReadPathData(r io.Reader) ([]Path, error) {
	br := bufio.NewReaderSize(r, MaxLineBytes+2)
	intern := map[string]string{}
	var (
		paths  []Path
		fields []string
		col    map[string]int
		ncols  int
	)
	for line := 1; ; line++ {
		raw, readErr := br.ReadSlice('\n')
		if errors.Is(readErr, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("line %d: longer than %d bytes: %w", line, MaxLineBytes, ErrInvalid)
		}
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return nil, fmt.Errorf("line %d: %w", line, readErr)
		}
		text := bytes.TrimRight(raw, "\r\n")
		if len(text) > MaxLineBytes {
			return nil, fmt.Errorf("line %d: longer than %d bytes: %w", line, MaxLineBytes, ErrInvalid)
		}
		if line == 1 {
			text = bytes.TrimPrefix(text, []byte("\ufeff"))
		}
		if len(bytes.TrimSpace(text)) > 0 {
			var err error
			if fields, err = splitCSVLine(text, fields[:0]); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			if col == nil {
				if col, err = pathDataColumns(fields); err != nil {
					return nil, fmt.Errorf("line %d: %w", line, err)
				}
				ncols = len(fields)
			} else {
				if len(fields) != ncols {
					return nil, fmt.Errorf("line %d: %d fields, the header has %d: %w", line, len(fields), ncols, ErrInvalid)
				}
				p, err := parsePathRow(fields, col, intern)
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", line, err)
				}
				paths = append(paths, p)
			}
		}
		if readErr != nil {
			break
		}
	}
	if col == nil {
		return nil, fmt.Errorf("no header line (path,total_conversions,…): %w", ErrInvalid)
	}
	return paths, nil
}

// pathDataColumns finds the columns in a header line.
func pathDataColumns(header []string) (map[string]int, error) {
	col := map[string]int{colValue: -1, colNulls: -1}
	seen := map[string]bool{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		switch name {
		case colPath, colConversions, colValue, colNulls:
			if seen[name] {
				return nil, fmt.Errorf("header names %s twice: %w", name, ErrInvalid)
			}
			seen[name] = true
			col[name] = i
		}
	}
	for _, name := range []string{colPath, colConversions} {
		if !seen[name] {
			return nil, fmt.Errorf("header %q has no %s column (want path,total_conversions[,total_conversion_value][,total_null]): %w",
				strings.Join(header, ","), name, ErrInvalid)
		}
	}
	return col, nil
}

func parsePathRow(fields []string, col map[string]int, intern map[string]string) (Path, error) {
	var p Path
	var err error
	if p.Channels, err = parseChannels(fields[col[colPath]], intern); err != nil {
		return Path{}, err
	}
	if p.Conversions, err = parseNumber(colConversions, fields[col[colConversions]], 0); err != nil {
		return Path{}, err
	}
	if i := col[colValue]; i >= 0 {
		if p.Value, err = parseNumber(colValue, fields[i], math.Inf(-1)); err != nil {
			return Path{}, err
		}
	}
	if i := col[colNulls]; i >= 0 {
		if p.Nulls, err = parseNumber(colNulls, fields[i], 0); err != nil {
			return Path{}, err
		}
	}
	return p, nil
}

func parseChannels(s string, intern map[string]string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("path is empty: %w", ErrInvalid)
	}
	n := strings.Count(s, ">") + 1
	if n > MaxTouches {
		return nil, fmt.Errorf("path has %d touches, at most %d: %w", n, MaxTouches, ErrInvalid)
	}
	channels := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		part, rest, _ := strings.Cut(s, ">")
		s = rest
		name := strings.Trim(part, " \t")
		switch {
		case name == "":
			return nil, fmt.Errorf("path touch %d: empty channel name: %w", i, ErrInvalid)
		case len(name) > MaxChannelBytes:
			return nil, fmt.Errorf("path touch %d: channel name of %d bytes, at most %d: %w", i, len(name), MaxChannelBytes, ErrInvalid)
		case !utf8.ValidString(name):
			return nil, fmt.Errorf("path touch %d: channel name %q is not UTF-8: %w", i, name, ErrInvalid)
		}
		if in, ok := intern[name]; ok {
			name = in
		} else {
			name = strings.Clone(name)
			intern[name] = name
		}
		channels = append(channels, name)
	}
	return channels, nil
}

func parseNumber(name, s string, min float64) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("%s is empty: %w", name, ErrInvalid)
	}
	if len(s) > maxNumberBytes {
		return 0, fmt.Errorf("%s of %d bytes, at most %d: %w", name, len(s), maxNumberBytes, ErrInvalid)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < min {
		if min == 0 {
			return 0, fmt.Errorf("%s %q: want a finite number ≥ 0: %w", name, s, ErrInvalid)
		}
		return 0, fmt.Errorf("%s %q: want a finite number: %w", name, s, ErrInvalid)
	}
	return v, nil
}

// splitCSVLine splits one CSV line into fields, appending them to dst. A field may be quoted, with
// "" standing for a quote; a quote elsewhere, text after a closing quote, or a quoted field that
// does not close on the line, are errors.
func splitCSVLine(line []byte, dst []string) ([]string, error) {
	for i := 0; ; {
		if i < len(line) && line[i] == '"' {
			var b strings.Builder
			j := i + 1
			for {
				k := bytes.IndexByte(line[j:], '"')
				if k < 0 {
					return nil, fmt.Errorf("field %d: quote not closed on its line: %w", len(dst)+1, ErrInvalid)
				}
				b.Write(line[j : j+k])
				j += k + 1
				if j < len(line) && line[j] == '"' {
					b.WriteByte('"')
					j++
					continue
				}
				break
			}
			dst = append(dst, b.String())
			if j == len(line) {
				return dst, nil
			}
			if line[j] != ',' {
				return nil, fmt.Errorf("field %d: text after the closing quote: %w", len(dst), ErrInvalid)
			}
			i = j + 1
			continue
		}
		k := bytes.IndexByte(line[i:], ',')
		end := len(line)
		if k >= 0 {
			end = i + k
		}
		if bytes.IndexByte(line[i:end], '"') >= 0 {
			return nil, fmt.Errorf("field %d: quote inside an unquoted field: %w", len(dst)+1, ErrInvalid)
		}
		dst = append(dst, string(line[i:end]))
		if k < 0 {
			return dst, nil
		}
		i = end + 1
	}
}

// WritePathData writes paths in the format ReadPathData reads: the header
// path,total_conversions,total_conversion_value,total_null, the path quoted with its channels
// joined by " > ", the numbers to full precision. Times are not written.
func WritePathData(w io.Writer, paths []Path) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(colPath + "," + colConversions + "," + colValue + "," + colNulls + "\n")
	var buf []byte
	for _, p := range paths {
		buf = append(buf[:0], '"')
		for i, ch := range p.Channels {
			if i > 0 {
				buf = append(buf, " > "...)
			}
			buf = append(buf, strings.ReplaceAll(ch, `"`, `""`)...)
		}
		buf = append(buf, '"', ',')
		buf = strconv.AppendFloat(buf, p.Conversions, 'g', -1, 64)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, p.Value, 'g', -1, 64)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, p.Nulls, 'g', -1, 64)
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	return bw.Flush()
}
