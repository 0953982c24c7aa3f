package pii

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// Redact returns a copy of a JSON document with every "email" and "phone" member (at any depth:
// traits, context.traits, properties, …) replaced by "sha256:" and the hash of its normalised form,
// so that a refused event can be kept for an operator without keeping the raw personal data.
// Bytes that are not JSON have anything shaped like an email address replaced the same way.
func Redact(doc []byte) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return emailLike.ReplaceAllFunc(doc, func(m []byte) []byte { return []byte(redacted(string(m), "email")) })
	}
	out, err := json.Marshal(redactValue(v, ""))
	if err != nil {
		return nil
	}
	return out
}

var emailLike = regexp.MustCompile(`[^\s"'<>@,;:]+@[^\s"'<>@,;:]+\.[^\s"'<>@,;:]+`)

func redactValue(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			x[k] = redactValue(val, strings.ToLower(k))
		}
		return x
	case []any:
		for i, val := range x {
			x[i] = redactValue(val, key)
		}
		return x
	case string:
		if key == "email" || key == "phone" {
			return redacted(x, key)
		}
	}
	return v
}

// redacted is the stand-in for a raw value: the hash of its normalised form when it normalises,
// else of the value as sent.
func redacted(raw, kind string) string {
	norm, ok := NormalizeEmail(raw, "")
	if kind == "phone" {
		norm, ok = NormalizePhone(raw, "", "")
	}
	if !ok {
		norm = raw
	}
	return "sha256:" + Hash(norm)
}
