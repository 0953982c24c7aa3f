// Package strictjson reads the JSON documents people write by hand (audience and computed-trait
// definitions), strictly: an object member by member, so that an unknown or repeated member is an
// error the reader names rather than a key silently ignored; and the checks every definition makes
// of its id and its texts.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Document reads exactly one JSON document: an error says it is not JSON, or that more follows.
func Document(data []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON document")
	}
	return raw, nil
}

// Member is one member of a JSON object, its value as written.
type Member struct {
	Name string
	Raw  json.RawMessage
}

// Members reads a JSON object's members in order, refusing a member given twice; what names the
// object in the error when raw is not one ("want a condition").
func Members(raw json.RawMessage, what string) ([]Member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("want %s", what)
	}
	var out []Member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		for _, m := range out {
			if m.Name == name {
				return nil, fmt.Errorf("member %q given twice", name)
			}
		}
		out = append(out, Member{name, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

// slug is an id: lower-case letters and digits, hyphens inside.
var slug = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

// CheckID checks an id: a lower-case slug of at most max bytes; example is one, for the message.
func CheckID(id string, max int, example string) error {
	switch {
	case id == "":
		return errors.New("is empty")
	case len(id) > max:
		return fmt.Errorf("is %d bytes: at most %d", len(id), max)
	case !slug.MatchString(id):
		return fmt.Errorf("%q: want a lower-case slug such as %q (a-z, 0-9, hyphens inside)", id, example)
	}
	return nil
}

// CheckText checks a text for people: UTF-8, at most max bytes, and not blank when required.
func CheckText(s string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return errors.New("is empty")
	case len(s) > max:
		return fmt.Errorf("is %d bytes: at most %d", len(s), max)
	case !utf8.ValidString(s):
		return errors.New("is not UTF-8")
	}
	return nil
}
