package profilestore

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
)

func TestEventTimesRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var many []time.Time
	for i := range 200 {
		many = append(many, t0.Add(time.Duration(i)*17*time.Minute+time.Duration(i)*time.Millisecond))
	}
	in := eventTimes{"productviewed": many, "signedup": {}, "old": {time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)}}
	av, err := in.MarshalDynamo()
	require.NoError(t, err)
	// A few bytes a time, not the ~20 of JSON nanoseconds: a write is billed by the item's size.
	require.Less(t, len(av.(*types.AttributeValueMemberB).Value), 4*200+64)
	var out eventTimes
	require.NoError(t, out.UnmarshalDynamo(av))
	require.Equal(t, in, out)
}

// Whatever the attribute holds, reading it gives times or an error, never a panic or a huge
// allocation.
func FuzzEventTimes(f *testing.F) {
	av, _ := eventTimes{"a": {time.UnixMilli(5)}, "b": {}}.MarshalDynamo()
	f.Add(av.(*types.AttributeValueMemberB).Value)
	f.Add([]byte{1, 200, 200, 200, 200, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e eventTimes
		if e.UnmarshalDynamo(&types.AttributeValueMemberB{Value: b}) != nil {
			return
		}
		again, err := e.MarshalDynamo()
		require.NoError(t, err)
		var back eventTimes
		require.NoError(t, back.UnmarshalDynamo(again))
		require.Equal(t, e, back)
	})
}
