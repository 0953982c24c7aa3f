package cost

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// run is a run of 1,000 events whose figures make round numbers per million (worked out by hand
// in the tests below).
var run = Usage{
	Events:              1000,
	APIRequests:         100,        // 100,000 per million × $1.00/M = $0.10
	APILogBytes:         gib / 4000, // ¼ GiB × $0.50 = $0.125
	LambdaRequests:      150,        // 150,000 × $0.20/M = $0.03
	LambdaGBSeconds:     5,          // 5,000 GB-s × $0.0000133334 = $0.066667
	LogBytes:            gib / 1000, // 1 GiB × $0.50 = $0.50
	SQSRequests:         10,         // 10,000 × $0.40/M = $0.004
	KinesisBilledKB:     1048.576,   // 1,048,576 KB = 1 GiB × $0.08 = $0.08
	KinesisBytesRead:    gib / 1000, // 1 GiB × $0.04 = $0.04
	KinesisPayloadUnits: 100,        // 100,000 × $0.014/M = $0.0014
	KinesisRecords:      100,        // 0.1 record per event
	KinesisBytes:        100_000,    // 100 B per event
	DynamoWRU:           500,        // 500,000 × $0.625/M = $0.3125
	DynamoRRU:           2000,       // 2,000,000 × $0.125/M = $0.25
	FirehoseBilledBytes: gib / 1000, // 1 GiB × $0.029 = $0.029
}

func usd(t *testing.T, e Estimate, id string) float64 {
	t.Helper()
	for _, l := range e.Lines {
		if l.Price == id {
			return l.USD
		}
	}
	t.Fatalf("no line %s in %+v", id, e.Lines)
	return 0
}

func TestOnDemandPerMillion(t *testing.T) {
	e, err := PerMillion(run, DefaultAssumptions(), Setup{OnDemand, HTTPAPI})
	require.NoError(t, err)
	for id, want := range map[string]float64{
		// The functions' logs and the API's access log: $0.50 + $0.125.
		"api-http-requests": 0.10, "lambda-requests": 0.03, "lambda-arm-gb-second": 0.066667, "logs-ingested-gb": 0.625,
		"sqs-requests": 0.004, "kinesis-ondemand-ingested-gb": 0.08, "kinesis-ondemand-retrieved-gb": 0.04,
		// One stream all month (730 h × $0.04 = $29.20) spread over 100 million events: $0.292 per million.
		"kinesis-ondemand-stream-hour": 0.292,
		"dynamodb-ondemand-wru":        0.3125, "dynamodb-ondemand-rru": 0.25,
		"firehose-ingested-gb": 0.029,
	} {
		require.InDelta(t, want, usd(t, e, id), 1e-6, id)
	}
	require.Len(t, e.Lines, 11)
	require.InDelta(t, 1.829167, e.USD, 1e-6)
	require.Equal(t, "logs-ingested-gb", e.Dominant().Price)
	require.InDelta(t, 0.625/1.829167, e.Share(e.Dominant()), 1e-6)
	require.Equal(t, "dynamodb-ondemand-wru", e.Lines[1].Price, "most expensive first")
	require.InDelta(t, 500_000, e.Lines[1].Quantity, 1e-6, "write units per million events")
}

func TestProvisionedPerMillion(t *testing.T) {
	e, err := PerMillion(run, DefaultAssumptions(), Setup{Provisioned, HTTPAPI})
	require.NoError(t, err)
	// Auto-scaled tables at 60 % on average, plus the least unit of 6 tables and indexes all month
	// (6 × 730 h spread over 100 million events: 43.8 unit-hours per million).
	// Writes: 500,000 WRU per million events ÷ 3,600 ÷ 0.6 = 231.48 WCU-hours, + 43.8 = 275.28:
	// × $0.00065 = $0.178933.
	require.InDelta(t, 0.178933, usd(t, e, "dynamodb-wcu-hour"), 1e-6)
	// Reads: 2,000,000 RRU ÷ 3,600 ÷ 0.6 = 925.93 RCU-hours, + 43.8 = 969.73: × $0.00013 = $0.126064.
	require.InDelta(t, 0.126064, usd(t, e, "dynamodb-rcu-hour"), 1e-6)
	// 100 million events a month: 38.05 events/s on average, 76.10 at a peak of twice that;
	// 7.6 records/s and 7.4 KB/s at the peak: one shard, 730 × $0.015 / 100 = $0.1095.
	require.InDelta(t, 0.1095, usd(t, e, "kinesis-shard-hour"), 1e-9)
	require.InDelta(t, 0.0014, usd(t, e, "kinesis-put-payload-units"), 1e-9)
	require.InDelta(t, 0.029, usd(t, e, "firehose-ingested-gb"), 1e-6, "the same in either mode")
	require.InDelta(t, 1.270564, e.USD, 1e-6)
	require.Equal(t, "logs-ingested-gb", e.Dominant().Price)
}

// TestFunctionURLFrontDoor: through collect's function URL a request is its Lambda invocation
// alone: no API request ($0.10) and no access-log line ($0.125) of the run's.
func TestFunctionURLFrontDoor(t *testing.T) {
	for _, mode := range []Mode{OnDemand, Provisioned} {
		api, err := PerMillion(run, DefaultAssumptions(), Setup{mode, HTTPAPI})
		require.NoError(t, err)
		url, err := PerMillion(run, DefaultAssumptions(), Setup{mode, FunctionURL})
		require.NoError(t, err)
		require.InDelta(t, api.USD-0.225, url.USD, 1e-6, mode)
		require.InDelta(t, 0.50, usd(t, url, "logs-ingested-gb"), 1e-6, mode)
		for _, l := range url.Lines {
			require.NotEqual(t, "api-http-requests", l.Price, mode)
		}
		require.Len(t, url.Lines, len(api.Lines)-1)
	}
	require.Equal(t, "provisioned, function URL", Setup{Provisioned, FunctionURL}.String())
	require.Equal(t, "on-demand", Setup{OnDemand, HTTPAPI}.String())
}

// TestProvisionedShardsFollowThePeak: at a billion events a month with 1 KB per event, the peak
// (2 × 380.5 events/s × 1,000 B = 761,035 B/s, 0.726 MiB/s) ÷ 0.7 needs 2 shards.
func TestProvisionedShardsFollowThePeak(t *testing.T) {
	u := run
	u.KinesisBytes = 1_000_000 // 1,000 B per event
	a := DefaultAssumptions()
	a.EventsPerMonth = 1e9
	e, err := PerMillion(u, a, Setup{Provisioned, HTTPAPI})
	require.NoError(t, err)
	// 2 shards × 730 h × $0.015 = $21.90 a month over 1,000 million events.
	require.InDelta(t, 0.0219, usd(t, e, "kinesis-shard-hour"), 1e-9)
}

func TestPerMillionRefusesWhatItCannotPrice(t *testing.T) {
	_, err := PerMillion(Usage{}, DefaultAssumptions(), Setups[0])
	require.ErrorContains(t, err, "no events")
	a := DefaultAssumptions()
	a.Utilisation = 1.5
	_, err = PerMillion(run, a, Setups[0])
	require.ErrorContains(t, err, "assumptions")
	a = DefaultAssumptions()
	a.ScaledUtilisation = 0
	_, err = PerMillion(run, a, Setups[0])
	require.ErrorContains(t, err, "assumptions")
	_, err = PerMillion(run, DefaultAssumptions(), Setup{"reserved", HTTPAPI})
	require.ErrorContains(t, err, "unknown mode")
	_, err = PerMillion(run, DefaultAssumptions(), Setup{OnDemand, "carrier pigeon"})
	require.ErrorContains(t, err, "unknown front door")
}

// TestEveryPriceSaysWhereItCameFrom: each row has a source page and how it was checked, and an
// unverified or unused row says why in its note.
func TestEveryPriceSaysWhereItCameFrom(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Prices {
		require.False(t, seen[p.ID], "duplicate %s", p.ID)
		seen[p.ID] = true
		require.Regexp(t, `^https://aws\.amazon\.com/`, p.Source, p.ID)
		require.Contains(t, []string{"page", "secondary", "unverified"}, p.Checked, p.ID)
		require.Positive(t, p.USD, p.ID)
		if p.Checked != "page" || !p.Used {
			require.NotEmpty(t, p.Note, p.ID)
		}
	}
	require.Regexp(t, `^\d{4}-\d{2}-\d{2}$`, PricesCopied)
}
