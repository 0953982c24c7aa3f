package strictjson

import (
	"math"
	"strconv"
	"strings"
)

// Number reads a finite number from a value as encoding/json decodes it (float64), another Go
// number type, or a numeric string ("42", as amounts are often sent).
func Number(x any) (float64, bool) {
	var f float64
	switch x := x.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case int32:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint64:
		f = float64(x)
	case uint32:
		f = float64(x)
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// Equal compares a value with a condition's (a string, a boolean or a float64, as a definition
// holds them): strings exactly, booleans, and a number with a number or a numeric string.
func Equal(x, want any) bool {
	switch w := want.(type) {
	case string:
		s, ok := x.(string)
		return ok && s == w
	case bool:
		b, ok := x.(bool)
		return ok && b == w
	case float64:
		n, ok := Number(x)
		return ok && n == w
	}
	return false
}
