package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
pkg: github.com/dcrm-project/dcrm/functions/collect
BenchmarkCollect/track-1KB         	   24188	     40000 ns/op	  29.16 MB/s	        79.00 allocs/event	     25000 events/s	     40000 ns/event	    7016 B/op	      79 allocs/op
BenchmarkCollect/track-1KB         	   24188	     60000 ns/op	  29.16 MB/s	        79.00 allocs/event	     16667 events/s	     60000 ns/event	    7016 B/op	      79 allocs/op
BenchmarkCollect/track-1KB         	   24188	     50000 ns/op	  29.16 MB/s	        79.00 allocs/event	     20000 events/s	     50000 ns/event	    7016 B/op	      79 allocs/op
BenchmarkJSONFloor/track-1KB-2     	   50742	     20000 ns/op	  31.81 MB/s	        20.00 allocs/event	     50000 events/s	     20000 ns/event	    3824 B/op	      20 allocs/op
BenchmarkJSONFloor/track-1KB-2     	   50742	     30000 ns/op	  31.81 MB/s	        20.00 allocs/event	     33333 events/s	     30000 ns/event	    3824 B/op	      20 allocs/op
PASS
ok  	github.com/dcrm-project/dcrm/functions/collect	7.547s
`

func TestParseAndReport(t *testing.T) {
	r, err := Parse(strings.NewReader(sample))
	require.NoError(t, err)
	require.Len(t, r, 2, "the -2 suffix of GOMAXPROCS is dropped, so runs of one benchmark group together")
	assert.Equal(t, []float64{40000, 60000, 50000}, r["BenchmarkCollect/track-1KB"]["ns/event"])
	assert.Equal(t, 50000.0, Median(r["BenchmarkCollect/track-1KB"]["ns/event"]))
	assert.Equal(t, 25000.0, Median(r["BenchmarkJSONFloor/track-1KB"]["ns/event"]), "even count: mean of the middle two")

	var out bytes.Buffer
	require.NoError(t, Report(&out, r))
	assert.Regexp(t, `track-1KB\s+2\.00×\s+3\.95×`, out.String())
	assert.Regexp(t, `BenchmarkCollect/track-1KB\s+3\s+50000\s+20000\s+79\.0`, out.String())
}

func TestMedian(t *testing.T) {
	assert.Equal(t, 0.0, Median(nil))
	assert.Equal(t, 3.0, Median([]float64{5, 1, 3}))
	in := []float64{4, 1, 3, 2}
	assert.Equal(t, 2.5, Median(in))
	assert.Equal(t, []float64{4, 1, 3, 2}, in, "the input is not reordered")
}

func TestRunRejectsEmptyInput(t *testing.T) {
	err := run(nil, strings.NewReader("PASS\n"), &bytes.Buffer{})
	assert.ErrorContains(t, err, "no benchmark results")
	err = run([]string{"does-not-exist.txt"}, nil, &bytes.Buffer{})
	assert.Error(t, err)
}

func TestParseRejectsBadValues(t *testing.T) {
	_, err := Parse(strings.NewReader("BenchmarkX 10 abc ns/op\n"))
	assert.ErrorContains(t, err, `value "abc"`)
}

func TestReportsTheProcessCPUPerMillionEvents(t *testing.T) {
	r, err := Parse(strings.NewReader(`BenchmarkCollectProcess/batch-100events-1visitors   200  48227 ns/op  207 events/s  128.5 collect-cpu-s/Mevents  17.0 host-cpu-s/Mevents  840.5 kinesis-cpu-s/Mevents  2 processes  0 retries
BenchmarkCollectProcess/batch-100events-1visitors   200  48227 ns/op  307 events/s  90.5 collect-cpu-s/Mevents  19.0 host-cpu-s/Mevents  640.5 kinesis-cpu-s/Mevents  2 processes  1 retries
BenchmarkCollectProcess/batch-100events-1visitors   200  48227 ns/op  250 events/s  100.0 collect-cpu-s/Mevents  18.0 host-cpu-s/Mevents  700.0 kinesis-cpu-s/Mevents  2 processes  0 retries
`))
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, Report(&out, r))
	assert.Regexp(t, `BenchmarkCollectProcess/batch-100events-1visitors\s+3\s+100\s+18\.0\s+700\s+250\s+0\.00`, out.String())
}
