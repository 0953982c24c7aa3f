// Package lambdamem fits Go's garbage collector to a Lambda function's memory. A function's
// invocations allocate a few times their payload while what lives on between them is small
// (clients, caches), so with Go's default GOGC of 100 nearly every invocation starts a collection,
// which Lambda bills as duration. A higher GOGC lets the heap grow further before one starts, and
// a soft memory limit below the function's memory makes it collect harder rather than outgrow it.
package lambdamem

import (
	"runtime/debug"
	"strconv"
)

// TuneGC sets GOGC to gcPercent and a soft memory limit of three quarters of the function's memory
// (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB, which Lambda and the local host set). GOGC and
// GOMEMLIMIT, when set in the environment, win.
func TuneGC(getenv func(string) string, gcPercent int) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if mb, err := strconv.Atoi(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")); err == nil && mb > 0 && getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(mb) << 20 * 3 / 4)
	}
}
