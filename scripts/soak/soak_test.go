package main

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMediansAndPercentiles(t *testing.T) {
	xs := []sample{{lag: 3 * time.Second}, {lag: time.Second}, {lag: 2 * time.Second}, {lag: 10 * time.Second}}
	assert.Equal(t, 2500.0, medianOf(xs, func(s sample) float64 { return ms(s.lag) }))
	assert.Equal(t, 2000.0, medianOf(xs[:3], func(s sample) float64 { return ms(s.lag) }))
	d := []time.Duration{5, 1, 4, 2, 3}
	assert.Equal(t, time.Duration(3), percentile(d, 0.5))
	assert.Equal(t, time.Duration(5), percentile(d, 0.99))
	assert.Zero(t, percentile(nil, 0.5))
}

func TestTheListenerOfAPortIsFoundWithItsMemory(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("needs /proc")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	assert.Equal(t, os.Getpid(), listener("http://"+ln.Addr().String()))
	assert.Positive(t, rss(os.Getpid()))
	assert.Zero(t, listener("http://127.0.0.1:1"))
}

// TestTheVerdictJudgesDcrmsProcessesAndLatency: the local servers' memory grows with the data they
// hold and is shown, not judged; a function's growth or a slower collect fails the soak.
func TestTheVerdictJudgesDcrmsProcessesAndLatency(t *testing.T) {
	run := func(grow func(i int, smp *sample)) (string, error) {
		var out strings.Builder
		s := &soak{c: config{rate: 40, duration: 30 * time.Minute, faultEvery: 3 * time.Minute, sample: time.Minute,
			warmup: 5 * time.Minute, window: 10 * time.Minute, maxMemGrowth: 0.25, maxLatGrowth: 0.5}, out: &out}
		for i := range 30 {
			smp := sample{at: time.Duration(i+1) * time.Minute, p50: 3 * time.Millisecond, p99: 8 * time.Millisecond, lag: time.Second,
				rss: map[string]int64{"host": 20 << 10, "stitch": 70 << 10, "kinesis": int64(30+5*i) << 10}}
			grow(i, &smp)
			s.samples = append(s.samples, smp)
		}
		err := s.report()
		f := s.figure(time.Now())
		require.Len(t, f.Panels, 4)
		assert.Len(t, f.Panels[0].Series, 2, "host and stitch")
		assert.Len(t, f.Panels[1].Series, 1, "kinesis")
		assert.Len(t, f.Panels[1].Series[0].Points, 30)
		assert.Equal(t, 175.0, f.Panels[1].Series[0].Points[29].Y, "MB")
		return out.String(), err
	}

	out, err := run(func(int, *sample) {})
	require.NoError(t, err, out)
	assert.Contains(t, out, "holds the run's data: not judged")
	assert.Contains(t, out, "memory and latency flat")

	out, err = run(func(i int, smp *sample) { smp.rss["stitch"] += int64(3*i) << 10 })
	require.ErrorContains(t, err, "rss stitch grew", out)

	out, err = run(func(i int, smp *sample) {
		if i >= 20 {
			smp.p50 = 10 * time.Millisecond
		}
	})
	require.ErrorContains(t, err, "collect p50 grew", out)
}
