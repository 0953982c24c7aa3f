package usage

import "github.com/dcrm-project/dcrm/shared/cost"

// CostUsage is the usage in the cost package's terms, for the given number of events: DynamoDB
// writes refused by their condition count one unit each (AWS bills them; DynamoDB Local reports
// nothing for them).
func (d Snapshot) CostUsage(events int) cost.Usage {
	u := cost.Usage{
		Events: float64(events), APIRequests: float64(d.API.Billed), APILogBytes: float64(d.API.AccessLogBytes), SQSRequests: float64(d.SQS.Billed),
		KinesisBilledKB: float64(d.Kinesis.BilledKB), KinesisBytesRead: float64(d.Kinesis.BytesRead),
		KinesisPayloadUnits: float64(d.Kinesis.PayloadUnits), KinesisRecords: float64(d.Kinesis.Records), KinesisBytes: float64(d.Kinesis.Bytes),
		DynamoWRU: Sum(d.DynamoDB.WriteUnits) + float64(Sum(d.DynamoDB.ConditionalFailure)),
		DynamoRRU: Sum(d.DynamoDB.ReadUnits), FirehoseBilledBytes: float64(d.Firehose.BilledBytes),
	}
	for _, f := range d.Lambda {
		u.LambdaRequests += float64(f.Invocations)
		u.LambdaGBSeconds += f.GBSeconds
		u.LogBytes += float64(f.LogBytes)
	}
	return u
}
