package itemsize

import (
	"strings"
	"testing"
)

func TestEstimateFollowsDynamoDBsRules(t *testing.T) {
	// a: 1 + 3; n: 1 + 5 digits / 2 + 1; l: 1 + 3 + 2 elements + 1 + 2; m: 1 + 3 + 1 member + 1 + 1;
	// f: 1 + 1 digit / 2 + 1 (0.5); e and z: empty, not stored.
	got, err := dynamoBytes([]byte(`{"a":"xyz","n":12345,"l":[1,"ab"],"m":{"k":true},"f":0.5,"e":"","z":[]}`))
	if err != nil || got != 4+4+9+7+2 {
		t.Errorf("dynamoBytes = %d, %v; want 26", got, err)
	}

	// Below the limit an upper bound will do; past it the estimate is close.
	type record struct {
		ID     string
		Traits map[string]any
	}
	small := record{ID: "prf_1", Traits: map[string]any{"n": 1.0}}
	if got, err := Estimate(small, MaxItemBytes); err != nil || got > 4<<10 {
		t.Errorf("a small record: %d bytes, %v", got, err)
	}
	big := record{ID: "prf_1", Traits: map[string]any{"notes": strings.Repeat("x", 401<<10)}}
	if got, _ := Estimate(big, MaxItemBytes); got <= MaxItemBytes || got > MaxItemBytes+(2<<10) {
		t.Errorf("a 401 KB trait: %d bytes", got)
	}
}
