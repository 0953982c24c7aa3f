package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// invocation is what the Lambda runtime calls with each event: the HTTP API's event (payload
// format 2.0) in, the response out. aws-lambda-go would decode the event by reflection with
// encoding/json, whose scanner walks the whole document (the body, as one JSON string, is nearly
// all of it) before it unescapes the body into a string that collect then copies into bytes. Here
// the event is validated by beacon's scanner, the body's string is unescaped once into bytes, and
// encoding/json decodes only the rest, a few hundred bytes of headers and request context.
type invocation struct{ h *handler }

func (i invocation) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, body, err := decodeEvent(payload)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // as aws-lambda-go encodes a response
	if err := enc.Encode(i.h.serve(ctx, req, body)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// decodeEvent reads the event as encoding/json would into an events.APIGatewayV2HTTPRequest, but
// for its body, which it returns apart as bytes (req.Body stays empty). An event that is not a
// JSON object is encoding/json's error.
func decodeEvent(payload []byte) (events.APIGatewayV2HTTPRequest, []byte, error) {
	var req events.APIGatewayV2HTTPRequest
	members, ok := beacon.Members(payload)
	if !ok {
		err := json.Unmarshal(payload, &req)
		if err == nil {
			err = errors.New("the event is not a JSON object") // null, say
		}
		return req, nil, err
	}
	var (
		body []byte
		rest = make([]byte, 0, 2048)
	)
	rest = append(rest, '{')
	for _, m := range members {
		// encoding/json matches names regardless of case, and the last of equal names wins. A body
		// that is not a string is left to encoding/json, whose error it is.
		if strings.EqualFold(m.Name, "body") && m.Value[0] == '"' {
			body = appendUnquoted(make([]byte, 0, len(m.Value)), m.Value) // never longer than its literal
			continue
		}
		if len(rest) > 1 {
			rest = append(rest, ',')
		}
		name, _ := json.Marshal(m.Name) // a string always encodes
		rest = append(append(append(rest, name...), ':'), m.Value...)
	}
	rest = append(rest, '}')
	if err := json.Unmarshal(rest, &req); err != nil {
		return req, nil, err
	}
	return req, body, nil
}

// appendUnquoted appends the value of lit, a valid JSON string literal (quotes included), as
// encoding/json decodes it: an invalid UTF-8 byte or a lone surrogate becomes U+FFFD.
func appendUnquoted(dst, lit []byte) []byte {
	s := lit[1 : len(lit)-1]
	for len(s) > 0 {
		// Copy the run up to the next escape in one go when it is ASCII (a body's JSON escapes a
		// quote every few bytes, too often to call bytes.IndexByte for each), or valid UTF-8.
		n, ascii := 0, true
		for n < len(s) && s[n] != '\\' {
			ascii = ascii && s[n] < utf8.RuneSelf
			n++
		}
		if ascii || utf8.Valid(s[:n]) {
			dst, s = append(dst, s[:n]...), s[n:]
		} else {
			for n > 0 {
				r, size := utf8.DecodeRune(s)
				if r == utf8.RuneError && size == 1 {
					dst = utf8.AppendRune(dst, unicode.ReplacementChar)
				} else {
					dst = append(dst, s[:size]...)
				}
				s, n = s[size:], n-size
			}
		}
		if len(s) == 0 {
			break
		}
		// s[0] is a backslash of a valid escape.
		switch c := s[1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[2:6])
			if utf16.IsSurrogate(r) {
				if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(s[8:12])); dec != unicode.ReplacementChar {
						dst, s = utf8.AppendRune(dst, dec), s[12:]
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			dst, s = utf8.AppendRune(dst, r), s[6:]
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		s = s[2:]
	}
	return dst
}

// hex4 is the value of four hexadecimal digits.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
