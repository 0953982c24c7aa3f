package computed

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dcrm-project/dcrm/shared/strictjson"
)

// lookup reads a property of an event: a path into nested objects. Missing, or null: false.
func lookup(props map[string]any, path []string) (any, bool) {
	var v any = props
	for _, name := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[name]; !ok {
			return nil, false
		}
	}
	return v, v != nil
}

// holds tells whether an event's properties pass a condition. A missing property passes only !=
// (which is exactly not ==).
func (c cond) holds(props map[string]any) bool {
	x, ok := lookup(props, c.path)
	switch c.op {
	case "exists":
		return ok
	case "!=":
		return !ok || !strictjson.Equal(x, c.v)
	}
	if !ok {
		return false
	}
	switch c.op {
	case "==":
		return strictjson.Equal(x, c.v)
	case "in":
		for _, v := range c.v.([]any) {
			if strictjson.Equal(x, v) {
				return true
			}
		}
		return false
	case "contains":
		switch x := x.(type) {
		case string:
			s, ok := c.v.(string)
			return ok && strings.Contains(x, s)
		case []any:
			for _, item := range x {
				if strictjson.Equal(item, c.v) {
					return true
				}
			}
		case []string:
			for _, item := range x {
				if strictjson.Equal(item, c.v) {
					return true
				}
			}
		}
		return false
	}
	n, ok := strictjson.Number(x)
	if !ok {
		return false
	}
	v := c.v.(float64)
	switch c.op {
	case "<":
		return n < v
	case "<=":
		return n <= v
	case ">":
		return n > v
	}
	return n >= v
}

// MaxValueBytes bounds a string value kept in a state (mostFrequent, unique, first, last):
// longer ones are cut to it, at a UTF-8 character boundary, so that the state stays small.
const MaxValueBytes = 32

// scalar reads the value first and last keep: a string (not empty; cut to MaxValueBytes), a
// finite number or a boolean. Anything else (objects, lists) is no value.
func scalar(x any) (any, bool) {
	switch x := x.(type) {
	case string:
		if x == "" {
			return nil, false
		}
		return cut(x), true
	case bool:
		return x, true
	}
	if f, ok := strictjson.Number(x); ok { // not a string: those were read above
		return f, true
	}
	return nil, false
}

// text reads the value mostFrequent and unique count, as a string: strings as they are (not
// empty; cut to MaxValueBytes), numbers in their shortest form ("42", "0.5"), booleans as
// "true" and "false".
func text(x any) (string, bool) {
	v, ok := scalar(x)
	if !ok {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	}
	f := v.(float64)
	if math.Abs(f) < 1e21 {
		return cut(strconv.FormatFloat(f, 'f', -1, 64)), true
	}
	return strconv.FormatFloat(f, 'g', -1, 64), true
}

// cut shortens a string to MaxValueBytes at a character boundary; invalid UTF-8 is replaced so
// that the state's JSON reads back the same.
func cut(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxValueBytes {
		return s
	}
	i := MaxValueBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
