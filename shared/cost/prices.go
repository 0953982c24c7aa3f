package cost

// PricesCopied is the day the prices below were copied, for us-east-1 (US East, N. Virginia), at
// the first tier of each (a larger account pays less per unit past the tiers' thresholds), without
// free tiers.
const PricesCopied = "2026-12-07"

// Region is where the prices apply.
const Region = "us-east-1"

// A Price is one public list price.
type Price struct {
	ID      string  // how the estimate names it
	Service string  // the AWS service
	What    string  // what is billed
	USD     float64 // per Unit
	Unit    string
	Source  string // the page it was read from
	// Checked says how the figure was checked: "page" when the price page's text gave the figure,
	// "secondary" when a page quoting the price page did (named in Note), "unverified" when no
	// page at hand gave it and the figure is the one we know (Note says so).
	Checked string
	Note    string
	Used    bool // false: listed for a later estimate (archive, analytics), not used yet
}

// Prices is the table the estimate multiplies usage by.
var Prices = []Price{
	{ID: "api-http-requests", Service: "API Gateway", What: "HTTP API requests (metered in 512 KB increments)", USD: 1.00, Unit: "million requests",
		Source: "https://aws.amazon.com/api-gateway/pricing/", Checked: "secondary",
		Note: "AWS whitepaper 'Best Practices for Designing Amazon API Gateway Private APIs', cost optimization, table 4: first 300 million $1.00 per million, us-east-1", Used: true},
	{ID: "lambda-requests", Service: "Lambda", What: "requests", USD: 0.20, Unit: "million requests",
		Source: "https://aws.amazon.com/lambda/pricing/", Checked: "secondary", Note: "a Lambda cost guide's table: $0.20 per million requests for x86 and arm64 alike", Used: true},
	{ID: "lambda-arm-gb-second", Service: "Lambda", What: "duration, Arm (arm64), first 7.5 billion GB-s a month", USD: 0.0000133334, Unit: "GB-second",
		Source: "https://aws.amazon.com/lambda/pricing/", Checked: "secondary", Note: "cloudchipr.com's Lambda pricing guide (US East): Arm, first 7.5 billion GB-s a month, $0.0000133334", Used: true},
	{ID: "logs-ingested-gb", Service: "CloudWatch Logs", What: "logs ingested (Standard class)", USD: 0.50, Unit: "GB",
		Source: "https://aws.amazon.com/cloudwatch/pricing/", Checked: "secondary", Note: "hykell.com's CloudWatch Logs pricing guide: $0.50 per GB ingested in us-east-1 (Lambda's logs may be billed on the vended-logs tiers, which start at the same $0.50)", Used: true},
	{ID: "kinesis-ondemand-stream-hour", Service: "Kinesis Data Streams", What: "on-demand stream-hour", USD: 0.04, Unit: "stream-hour",
		Source: "https://aws.amazon.com/kinesis/data-streams/pricing/", Checked: "unverified", Note: "the page was found but the text at hand did not show the figure", Used: true},
	{ID: "kinesis-ondemand-ingested-gb", Service: "Kinesis Data Streams", What: "on-demand data ingested (each record rounded up to 1 KB)", USD: 0.08, Unit: "GB",
		Source: "https://aws.amazon.com/kinesis/data-streams/pricing/", Checked: "unverified", Note: "the page states the 1 KB rounding; the figure is not in the text at hand", Used: true},
	{ID: "kinesis-ondemand-retrieved-gb", Service: "Kinesis Data Streams", What: "on-demand data retrieved (shared-throughput consumers)", USD: 0.04, Unit: "GB",
		Source: "https://aws.amazon.com/kinesis/data-streams/pricing/", Checked: "unverified", Note: "the figure is not in the text at hand", Used: true},
	{ID: "kinesis-shard-hour", Service: "Kinesis Data Streams", What: "provisioned shard-hour", USD: 0.015, Unit: "shard-hour",
		Source: "https://aws.amazon.com/kinesis/data-streams/pricing/", Checked: "secondary", Note: "c3x.dev's Kinesis cost page quotes $0.015 per shard-hour", Used: true},
	{ID: "kinesis-put-payload-units", Service: "Kinesis Data Streams", What: "provisioned PUT payload units (25 KB each)", USD: 0.014, Unit: "million units",
		Source: "https://aws.amazon.com/kinesis/data-streams/pricing/", Checked: "unverified", Note: "the figure is not in the text at hand", Used: true},
	{ID: "dynamodb-ondemand-wru", Service: "DynamoDB", What: "on-demand write request units", USD: 0.625, Unit: "million WRU",
		Source: "https://aws.amazon.com/dynamodb/pricing/on-demand/", Checked: "secondary", Note: "airbyte.com's DynamoDB pricing guide quotes $0.625 per million WRU (us-east-1, after the November 2024 price cut)", Used: true},
	{ID: "dynamodb-ondemand-rru", Service: "DynamoDB", What: "on-demand read request units", USD: 0.125, Unit: "million RRU",
		Source: "https://aws.amazon.com/dynamodb/pricing/on-demand/", Checked: "secondary", Note: "the same guide: $0.125 per million RRU", Used: true},
	{ID: "dynamodb-wcu-hour", Service: "DynamoDB", What: "provisioned write capacity unit-hour", USD: 0.00065, Unit: "WCU-hour",
		Source: "https://aws.amazon.com/dynamodb/pricing/provisioned/", Checked: "unverified", Note: "the page was found but the text at hand did not show the figure", Used: true},
	{ID: "dynamodb-rcu-hour", Service: "DynamoDB", What: "provisioned read capacity unit-hour", USD: 0.00013, Unit: "RCU-hour",
		Source: "https://aws.amazon.com/dynamodb/pricing/provisioned/", Checked: "unverified", Note: "the page was found but the text at hand did not show the figure", Used: true},
	{ID: "sqs-requests", Service: "SQS", What: "standard queue requests (each 64 KB chunk of a payload is one)", USD: 0.40, Unit: "million requests",
		Source: "https://aws.amazon.com/sqs/pricing/", Checked: "secondary", Note: "cloudburn.io and factualminds.com SQS pricing guides (2026): $0.40 per million, first 100 billion", Used: true},
	{ID: "s3-standard-gb-month", Service: "S3", What: "Standard storage, first 50 TB", USD: 0.023, Unit: "GB-month",
		Source: "https://aws.amazon.com/s3/pricing/", Checked: "unverified", Note: "not yet used: the event archive comes in a later issue"},
	{ID: "s3-put-requests", Service: "S3", What: "PUT, COPY, POST, LIST requests", USD: 0.005, Unit: "thousand requests",
		Source: "https://aws.amazon.com/s3/pricing/", Checked: "unverified", Note: "not yet used"},
	{ID: "s3-get-requests", Service: "S3", What: "GET, HEAD, SELECT requests (a ranged GET is one)", USD: 0.0004, Unit: "thousand requests",
		Source: "https://aws.amazon.com/s3/pricing/", Checked: "secondary",
		Note: "c3x.dev's S3 request fees page: GET, HEAD, SELECT $0.0004 per 1,000 at S3 Standard (PUT, COPY, POST, LIST $0.005); not yet used by the estimate: the archive's erasure pass is priced with it in functions/archive/README.md"},
	{ID: "firehose-ingested-gb", Service: "Data Firehose", What: "Direct PUT ingestion, first 500 TB a month (each record rounded up to 5 KB)", USD: 0.029, Unit: "GB",
		Source: "https://aws.amazon.com/firehose/pricing/", Checked: "unverified",
		Note: "not verified (2026-12-07): the pricing page's text at hand states the 5 KB increments per record (5,120 bytes) but not the figure; $0.029 per GB for the first 500 TB a month in us-east-1 is what cost notes quoting the page give", Used: true},
	{ID: "athena-scanned-tb", Service: "Athena", What: "data scanned by SQL queries", USD: 5.00, Unit: "TB",
		Source: "https://aws.amazon.com/athena/pricing/", Checked: "unverified", Note: "not yet used"},
}

// price returns the figure of a price by its ID; the table is fixed, so a missing ID is a bug.
func price(id string) float64 {
	for _, p := range Prices {
		if p.ID == id {
			return p.USD
		}
	}
	panic("cost: no price " + id)
}
