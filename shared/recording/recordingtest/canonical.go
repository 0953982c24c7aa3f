package recordingtest

import (
	"encoding/json"
)

// zeroTime is how JSON writes a zero time.Time.
const zeroTime = "0001-01-01T00:00:00Z"

// Canonical is v as JSON values without what stores may leave out: nulls, empty lists and maps,
// zero times. Two stores hold the same thing when their values' canonical forms are equal.
func Canonical(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // tests only: a value that cannot be written as JSON is a test's mistake
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return prune(out)
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e = prune(e); e == nil {
				delete(x, k)
			} else {
				x[k] = e
			}
		}
		if len(x) == 0 {
			return nil
		}
	case []any:
		for i, e := range x {
			x[i] = prune(e)
		}
		if len(x) == 0 {
			return nil
		}
	case string:
		if x == zeroTime {
			return nil
		}
	}
	return v
}
