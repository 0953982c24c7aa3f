// Package cost turns what a run asked of AWS into US dollars per million events, with the public
// list prices of a dated table (Prices). It is arithmetic only: the usage comes from the local
// host's meter (scripts/devstack/usage) over a load run (scripts/load).
//
// Two set-ups are priced: on-demand (DynamoDB on-demand, Kinesis on-demand) and provisioned
// (DynamoDB provisioned capacity, Kinesis shards). Request-priced items scale with the events;
// hourly items (stream-hours, shard-hours, provisioned capacity) are spread over a stated monthly
// volume of events (Assumptions.EventsPerMonth); provisioned capacity is sized for the peak rate
// (the monthly mean × Assumptions.PeakToMean) at a utilisation target.
package cost

import (
	"fmt"
	"math"
	"sort"
)

// Usage is what a run asked of AWS, in billing units, and how many events it carried.
type Usage struct {
	Events              float64 // events accepted by the endpoint
	APIRequests         float64 // HTTP API requests, in 512 KB increments
	LambdaRequests      float64 // invocations
	LambdaGBSeconds     float64
	LogBytes            float64 // written to CloudWatch Logs
	KinesisBilledKB     float64 // on-demand ingestion: records rounded up to 1 KB
	KinesisBytesRead    float64 // retrieved by the stream's consumers
	KinesisPayloadUnits float64 // provisioned: 25 KB PUT payload units
	KinesisRecords      float64 // records put (to size shards: 1,000 records/s each)
	KinesisBytes        float64 // bytes put (to size shards: 1 MB/s each)
	DynamoWRU           float64 // write units (conditional failures included, 1 each)
	DynamoRRU           float64 // read units
	SQSRequests         float64 // in 64 KB chunks
}

// Assumptions are what the estimate needs beyond the run.
type Assumptions struct {
	EventsPerMonth float64 // the volume hourly costs are spread over
	PeakToMean     float64 // the peak hour's rate over the month's mean, for provisioned capacity
	Utilisation    float64 // provisioned capacity's target utilisation at the peak (0.7: 70 %)
	Streams        int     // Kinesis streams (one per deployment)
}

// DefaultAssumptions: 100 million events a month, a peak twice the mean, 70 % utilisation, one stream.
func DefaultAssumptions() Assumptions {
	return Assumptions{EventsPerMonth: 100e6, PeakToMean: 2, Utilisation: 0.7, Streams: 1}
}

// HoursPerMonth is AWS's month for hourly prices.
const HoursPerMonth = 730

const gib = 1 << 30

// Mode is a capacity set-up priced.
type Mode string

const (
	OnDemand    Mode = "on-demand"
	Provisioned Mode = "provisioned"
)

// Line is one item of an estimate.
type Line struct {
	Price    string  // Price.ID
	Quantity float64 // billed units per million events: requests, GB-seconds, GB, hours (not millions)
	USD      float64 // per million events
}

// Estimate is the cost of a million events in one mode.
type Estimate struct {
	Mode  Mode
	Lines []Line // most expensive first
	USD   float64
}

// Dominant is the most expensive line.
func (e Estimate) Dominant() Line {
	if len(e.Lines) == 0 {
		return Line{}
	}
	return e.Lines[0]
}

// Share is a line's part of the total, 0 to 1.
func (e Estimate) Share(l Line) float64 {
	if e.USD == 0 {
		return 0
	}
	return l.USD / e.USD
}

// PerMillion prices a million events like the run's, in mode.
func PerMillion(u Usage, a Assumptions, mode Mode) (Estimate, error) {
	if u.Events <= 0 {
		return Estimate{}, fmt.Errorf("no events: nothing to divide by")
	}
	if a.EventsPerMonth <= 0 || a.Utilisation <= 0 || a.Utilisation > 1 || a.PeakToMean < 1 || a.Streams < 0 {
		return Estimate{}, fmt.Errorf("assumptions out of range: %+v", a)
	}
	per := 1e6 / u.Events            // scales the run's usage to a million events
	months := 1e6 / a.EventsPerMonth // a million events' share of a month's hourly costs
	e := Estimate{Mode: mode}
	add := func(id string, quantity, unitSize float64) {
		e.Lines = append(e.Lines, Line{Price: id, Quantity: quantity, USD: quantity / unitSize * price(id)})
	}
	add("api-http-requests", u.APIRequests*per, 1e6)
	add("lambda-requests", u.LambdaRequests*per, 1e6)
	add("lambda-arm-gb-second", u.LambdaGBSeconds*per, 1)
	add("logs-ingested-gb", u.LogBytes*per/gib, 1)
	add("sqs-requests", u.SQSRequests*per, 1e6)

	// The month's mean and peak rates of events, and of each unit per event at them.
	meanEventsPerSecond := a.EventsPerMonth / (HoursPerMonth * 3600)
	peak := meanEventsPerSecond * a.PeakToMean
	switch mode {
	case OnDemand:
		add("kinesis-ondemand-ingested-gb", u.KinesisBilledKB*per*1024/gib, 1)
		add("kinesis-ondemand-retrieved-gb", u.KinesisBytesRead*per/gib, 1)
		add("kinesis-ondemand-stream-hour", float64(a.Streams)*HoursPerMonth*months, 1)
		add("dynamodb-ondemand-wru", u.DynamoWRU*per, 1e6)
		add("dynamodb-ondemand-rru", u.DynamoRRU*per, 1e6)
	case Provisioned:
		// A shard takes 1 MB/s or 1,000 records/s, whichever comes first.
		shards := math.Max(1, math.Ceil(math.Max(peak*u.KinesisBytes/u.Events/(1<<20), peak*u.KinesisRecords/u.Events/1000)/a.Utilisation))
		add("kinesis-shard-hour", shards*float64(max(a.Streams, 1))*HoursPerMonth*months, 1)
		add("kinesis-put-payload-units", u.KinesisPayloadUnits*per, 1e6)
		wcu := math.Max(1, math.Ceil(peak*u.DynamoWRU/u.Events/a.Utilisation))
		rcu := math.Max(1, math.Ceil(peak*u.DynamoRRU/u.Events/a.Utilisation))
		add("dynamodb-wcu-hour", wcu*HoursPerMonth*months, 1)
		add("dynamodb-rcu-hour", rcu*HoursPerMonth*months, 1)
	default:
		return Estimate{}, fmt.Errorf("unknown mode %q", mode)
	}
	sort.SliceStable(e.Lines, func(i, j int) bool { return e.Lines[i].USD > e.Lines[j].USD })
	for _, l := range e.Lines {
		e.USD += l.USD
	}
	return e, nil
}

// Describe names a price by its ID: "DynamoDB: on-demand write request units".
func Describe(id string) string {
	for _, p := range Prices {
		if p.ID == id {
			return p.Service + ": " + p.What
		}
	}
	return id
}

// UnitOf is a price's unit.
func UnitOf(id string) string {
	for _, p := range Prices {
		if p.ID == id {
			return p.Unit
		}
	}
	return ""
}
