package fanout_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/fanout"
)

func TestPlanCoversEverySegmentOnce(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		items     int64
		partSize  int
		segments  int
		wantParts int
	}{
		{0, 200_000, 4, 1}, {199_999, 200_000, 4, 1}, {200_000, 200_000, 4, 1}, {200_001, 200_000, 4, 2},
		{10_000_000, 200_000, 4, 50}, {10_000_000, 250_000, 3, 40}, {1_000_000_000, 200_000, 4, fanout.MaxParts},
		{10_000_000, 200_000, 1, 50}, {7, 3, 1, 3}, {7, 0, 1, 1},
	} {
		ps := fanout.Plan(tc.items, tc.partSize, tc.segments, at)
		require.Len(t, ps, tc.wantParts, "%+v", tc)
		seen := map[int]int{}
		for i, p := range ps {
			require.NoError(t, p.Valid())
			require.Equal(t, i, p.Index)
			segs, total := p.ScanSegments()
			require.Equal(t, tc.wantParts*tc.segments, total)
			for _, s := range segs {
				seen[s]++
			}
		}
		require.Equal(t, tc.wantParts*tc.segments, len(seen), "%+v", tc)
		for s := range tc.wantParts * tc.segments {
			require.Equal(t, 1, seen[s], "segment %d of %+v", s, tc)
		}
	}
}

func TestReadTellsAPartFromARun(t *testing.T) {
	t.Parallel()
	const at = `"2025-03-15T12:00:00Z"`
	p, ok, err := fanout.Read([]byte(`{"part":{"index":1,"parts":4,"segments":2,"asOf":` + at + `}}`))
	require.True(t, ok)
	require.NoError(t, err)
	require.Equal(t, fanout.Part{Index: 1, Parts: 4, Segments: 2, AsOf: time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC)}, p)
	segs, total := p.ScanSegments()
	require.Equal(t, []int{2, 3}, segs)
	require.Equal(t, 8, total)

	for _, notAPart := range []string{`not json`, `null`, `[1]`, `{}`, `{"schedule":"score","time":` + at + `}`} {
		_, ok, err := fanout.Read([]byte(notAPart))
		require.False(t, ok, notAPart)
		require.NoError(t, err, notAPart)
	}
	for raw, why := range map[string]string{
		`{"part":{"index":0,"parts":4,"segments":4,"asOf":` + at + `},"time":` + at + `}`: `unknown field "time"`,
		`{"part":{"index":0,"parts":4,"segment":4,"asOf":` + at + `}}`:                    `unknown field "segment"`,
		`{"part":"all"}`: "read part",
	} {
		_, ok, err := fanout.Read([]byte(raw))
		require.True(t, ok, raw)
		require.ErrorContains(t, err, why, raw)
	}
	for _, raw := range []string{`{"part":null}`, `{"part":{}}`, `{"part":{"index":4,"parts":4,"segments":4,"asOf":` + at + `}}`,
		`{"part":{"index":0,"parts":4,"segments":4}}`, `{"part":{"index":0,"parts":1001,"segments":1,"asOf":` + at + `}}`} {
		p, ok, err := fanout.Read([]byte(raw))
		require.True(t, ok, raw)
		require.NoError(t, err, raw)
		require.ErrorContains(t, p.Valid(), "not a part of a run", raw)
	}
}

// recorder keeps what is sent, failing from the call numbered failAt (from 1) when set.
type recorder struct {
	payloads [][]byte
	failAt   int
}

func (r *recorder) InvokeAsync(_ context.Context, payload []byte) error {
	if r.failAt > 0 && len(r.payloads)+1 >= r.failAt {
		return errors.New("throttled")
	}
	r.payloads = append(r.payloads, payload)
	return nil
}

func TestSendSendsEachPartAsAnEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	parts := fanout.Plan(10, 4, 1, time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC))
	var r recorder
	require.NoError(t, fanout.Send(ctx, &r, parts))
	require.Len(t, r.payloads, 3)
	for i, payload := range r.payloads {
		p, ok, err := fanout.Read(payload)
		require.True(t, ok)
		require.NoError(t, err)
		require.Equal(t, parts[i], p)
		var e fanout.Event
		require.NoError(t, json.Unmarshal(payload, &e))
	}
	r = recorder{failAt: 2}
	require.ErrorContains(t, fanout.Send(ctx, &r, parts), "send part 1 of 3: throttled")
	require.Len(t, r.payloads, 1)
}

func TestSelfOnlyInLambda(t *testing.T) {
	t.Parallel()
	_, ok := fanout.Self(aws.Config{}, func(string) string { return "" })
	require.False(t, ok, "outside Lambda there is no function to fan out to")
	l, ok := fanout.Self(aws.Config{Region: "us-east-1"}, func(k string) string {
		return map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "dcrm-snapshot"}[k]
	})
	require.True(t, ok)
	require.Equal(t, "dcrm-snapshot", l.Name())
}
