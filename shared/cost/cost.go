// Package cost turns what a run asked of AWS into US dollars per million events, with the public
// list prices of a dated table (Prices). It is arithmetic only: the usage comes from the local
// host's meter (scripts/devstack/usage) over a load run (scripts/load).
//
// A set-up is a capacity mode and a front door. On-demand: DynamoDB on-demand, Kinesis on-demand.
// Provisioned: DynamoDB provisioned capacity that auto scaling keeps near the load (priced at the
// utilisation it achieves on average, never under each table's least capacity), Kinesis shards
// sized for the peak rate (the monthly mean × Assumptions.PeakToMean) at a utilisation target.
// The beacon's front door is the HTTP API (each request billed, and its access-log line) or
// collect's function URL (the Lambda invocation alone). Request-priced items scale with the
// events; hourly items (stream-hours, shard-hours, capacity-hours) are spread over a stated
// monthly volume of events (Assumptions.EventsPerMonth).
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
	APILogBytes         float64 // the HTTP API stage's access log
	LambdaRequests      float64 // invocations
	LambdaGBSeconds     float64
	LogBytes            float64 // written to CloudWatch Logs by the functions (and Lambda for them)
	KinesisBilledKB     float64 // on-demand ingestion: records rounded up to 1 KB
	KinesisBytesRead    float64 // retrieved by the stream's consumers
	KinesisPayloadUnits float64 // provisioned: 25 KB PUT payload units
	KinesisRecords      float64 // records put (to size shards: 1,000 records/s each)
	KinesisBytes        float64 // bytes put (to size shards: 1 MB/s each)
	DynamoWRU           float64 // write units (conditional failures included, 1 each)
	DynamoRRU           float64 // read units
	SQSRequests         float64 // in 64 KB chunks
	// FirehoseBilledBytes are the bytes Data Firehose bills Direct PUT ingestion by: each record
	// rounded up to a multiple of 5 KB (the archive feed's).
	FirehoseBilledBytes float64
}

// Assumptions are what the estimate needs beyond the run.
type Assumptions struct {
	EventsPerMonth float64 // the volume hourly costs are spread over
	PeakToMean     float64 // the peak hour's rate over the month's mean, for provisioned shards
	Utilisation    float64 // provisioned shards' target utilisation at the peak (0.7: 70 %)
	// ScaledUtilisation is the share of auto-scaled DynamoDB capacity used on average over a month.
	// Auto scaling tracks 70 %, but it adds capacity a minute or two after a rise and removes it
	// only after a quarter of an hour below the target, a limited number of times a day: on a
	// day's curve of traffic it averages less than its target.
	ScaledUtilisation float64
	// Tables is the number of tables and indexes, each provisioned with at least one read and one
	// write unit however idle.
	Tables  int
	Streams int // Kinesis streams (one per deployment)
}

// DefaultAssumptions: 100 million events a month, a peak twice the mean, shards at 70 %
// utilisation, auto-scaled tables at 60 % on average, dcrm's six tables and indexes, one stream.
func DefaultAssumptions() Assumptions {
	return Assumptions{EventsPerMonth: 100e6, PeakToMean: 2, Utilisation: 0.7, ScaledUtilisation: 0.6, Tables: 6, Streams: 1}
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

// FrontDoor is how beacons reach collect.
type FrontDoor string

const (
	HTTPAPI     FrontDoor = "HTTP API"
	FunctionURL FrontDoor = "function URL"
)

// Setup is what is priced: a capacity mode and the beacon's front door.
type Setup struct {
	Capacity Mode
	Beacon   FrontDoor
}

// String is "on-demand" for the default front door, "on-demand, function URL" otherwise.
func (s Setup) String() string {
	if s.Beacon == HTTPAPI {
		return string(s.Capacity)
	}
	return string(s.Capacity) + ", " + string(s.Beacon)
}

// Setups are the set-ups a run is priced in, the deployment's defaults first.
var Setups = []Setup{{OnDemand, HTTPAPI}, {Provisioned, HTTPAPI}, {OnDemand, FunctionURL}, {Provisioned, FunctionURL}}

// Line is one item of an estimate.
type Line struct {
	Price    string  // Price.ID
	Quantity float64 // billed units per million events: requests, GB-seconds, GB, hours (not millions)
	USD      float64 // per million events
}

// Estimate is the cost of a million events in one set-up.
type Estimate struct {
	Setup Setup
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

// PerMillion prices a million events like the run's, in set-up s.
func PerMillion(u Usage, a Assumptions, s Setup) (Estimate, error) {
	if u.Events <= 0 {
		return Estimate{}, fmt.Errorf("no events: nothing to divide by")
	}
	if a.EventsPerMonth <= 0 || a.Utilisation <= 0 || a.Utilisation > 1 || a.ScaledUtilisation <= 0 || a.ScaledUtilisation > 1 ||
		a.PeakToMean < 1 || a.Streams < 0 || a.Tables < 0 {
		return Estimate{}, fmt.Errorf("assumptions out of range: %+v", a)
	}
	per := 1e6 / u.Events            // scales the run's usage to a million events
	months := 1e6 / a.EventsPerMonth // a million events' share of a month's hourly costs
	e := Estimate{Setup: s}
	add := func(id string, quantity, unitSize float64) {
		e.Lines = append(e.Lines, Line{Price: id, Quantity: quantity, USD: quantity / unitSize * price(id)})
	}
	logBytes := u.LogBytes
	switch s.Beacon {
	case HTTPAPI:
		add("api-http-requests", u.APIRequests*per, 1e6)
		logBytes += u.APILogBytes
	case FunctionURL: // the invocation is all a request costs; a function URL keeps no access log
	default:
		return Estimate{}, fmt.Errorf("unknown front door %q", s.Beacon)
	}
	add("lambda-requests", u.LambdaRequests*per, 1e6)
	add("lambda-arm-gb-second", u.LambdaGBSeconds*per, 1)
	add("logs-ingested-gb", logBytes*per/gib, 1)
	add("sqs-requests", u.SQSRequests*per, 1e6)
	add("firehose-ingested-gb", u.FirehoseBilledBytes*per/gib, 1)

	// The month's mean and peak rates of events, and of each unit per event at them.
	meanEventsPerSecond := a.EventsPerMonth / (HoursPerMonth * 3600)
	peak := meanEventsPerSecond * a.PeakToMean
	switch s.Capacity {
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
		// Auto scaling keeps capacity near the hour's load: a unit-hour per 3,600 units consumed at
		// the utilisation it achieves, on top of the least unit of every table and index (counted
		// for busy ones too: a little over, never under).
		least := float64(a.Tables) * HoursPerMonth * months
		add("dynamodb-wcu-hour", least+u.DynamoWRU*per/3600/a.ScaledUtilisation, 1)
		add("dynamodb-rcu-hour", least+u.DynamoRRU*per/3600/a.ScaledUtilisation, 1)
	default:
		return Estimate{}, fmt.Errorf("unknown mode %q", s.Capacity)
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
