package main

import (
	"net"
	"os"
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
