package lambdamem

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTuneGCFollowsTheFunctionsMemoryUnlessGoSettingsAreGiven(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

	TuneGC(env(map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}), 400)
	assert.Equal(t, 400, debug.SetGCPercent(100))
	assert.Equal(t, int64(192<<20), debug.SetMemoryLimit(math.MaxInt64))

	TuneGC(env(map[string]string{"GOGC": "50", "GOMEMLIMIT": "64MiB", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}), 400)
	assert.Equal(t, 100, debug.SetGCPercent(100), "GOGC wins")
	assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "GOMEMLIMIT wins")

	TuneGC(env(nil), 400)
	assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "no limit without the function's memory")
}
