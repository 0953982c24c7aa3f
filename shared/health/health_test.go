package health

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func TestLagVerdict(t *testing.T) {
	for _, tc := range []struct {
		lag  Lag
		want string
	}{
		{Lag{Lag: 4999 * time.Millisecond, At: now.Add(-time.Minute)}, OK},
		{Lag{Lag: 5 * time.Second, At: now.Add(-time.Minute)}, Behind},
		{Lag{Lag: time.Hour, At: now}, Behind},
		{Lag{Lag: time.Second, At: now.Add(-LagStale - time.Second)}, Unknown},
		{Lag{}, Unknown},
	} {
		require.Equal(t, tc.want, tc.lag.Verdict(now), "%+v", tc.lag)
	}
}

func TestShardOf(t *testing.T) {
	require.Equal(t, "shardId-000000000000", ShardOf("shardId-000000000000:49590338271490256608559692538361571095921575989136588898"))
	for _, bad := range []string{"", "e", ":1", "shard id:1", "shärd:1", strings.Repeat("s", MaxShardID+1) + ":1"} {
		require.Empty(t, ShardOf(bad), bad)
	}
}

// A shard's lag is kept once a period per process, whatever the batches; keys are bounded.
func TestThrottle(t *testing.T) {
	th := Throttle{Every: time.Minute}
	require.True(t, th.Due("a", now))
	require.False(t, th.Due("a", now.Add(59*time.Second)))
	require.True(t, th.Due("b", now.Add(time.Second)), "each key on its own")
	require.True(t, th.Due("a", now.Add(time.Minute)))
	require.True(t, th.Due("a", now.Add(-time.Hour)), "a clock that went back")
	for i := range MaxThrottleKeys + 5 {
		th.Due(strings.Repeat("k", i%50)+string(rune('a'+i%26))+time.Duration(i).String(), now)
	}
	require.LessOrEqual(t, len(th.last), MaxThrottleKeys)
}

func TestLabel(t *testing.T) {
	for reason, want := range map[string]string{
		"record is not a beacon event: invalid character 'x'": "record is not a beacon event",
		"identifier erased": "identifier erased",
		`no usable identifier: anonymousId "null" is junk (literal)`: "no usable identifier",
		"recorded without some of its traits: email too long":        "recorded without some of its traits",
		"source src_1, request r-9: 3 of the batch's events refused": Other,
		"Event Too Large: 40 KB":                                     Other,
		"":                                                           Other,
		strings.Repeat("a", MaxLabel+1) + ": x":                      Other,
		"ann@example.com":                                            Other,
	} {
		require.Equal(t, want, Label(reason), reason)
	}
	require.Equal(t, "stitch: identifier erased", Key("stitch", "identifier erased"))
}

func TestReason(t *testing.T) {
	require.Empty(t, Reason(nil))
	require.Equal(t, "score profiles: throttled", Reason(errors.New("score profiles: throttled\ngoroutine 1 …")))
	long := Reason(errors.New(strings.Repeat("é", 300)))
	require.Equal(t, MaxReason, len([]rune(long)))
	require.NotContains(t, Reason(errors.New("read ann@example.com: denied")), "ann@example.com", "addresses are hashed")
}

func TestRunNextAndLate(t *testing.T) {
	every, timeout := time.Hour, 15*time.Minute
	never := Run{}
	require.True(t, never.Next(every).IsZero())
	require.True(t, never.Late(every, timeout, now))
	r := Run{Started: now.Add(-90 * time.Minute), Outcome: OK}
	require.Equal(t, now.Add(-30*time.Minute), r.Next(every))
	require.False(t, r.Late(every, timeout, now), "one run missed is not yet late")
	r.Started = now.Add(-2*time.Hour - time.Second)
	require.True(t, r.Late(every, timeout, now))
	running := Run{Started: now.Add(-10 * time.Minute), Outcome: Running}
	require.False(t, running.Late(every, timeout, now))
	running.Started = now.Add(-16 * time.Minute)
	require.True(t, running.Late(every, timeout, now), "cut off by its timeout")
}

func TestDays(t *testing.T) {
	require.Equal(t, []string{"2026-03-08", "2026-03-09", "2026-03-10"}, Days(now, 3))
	require.Equal(t, "2026-03-10", Day(time.Date(2026, 3, 11, 0, 30, 0, 0, time.FixedZone("CET", 3600))))
}
