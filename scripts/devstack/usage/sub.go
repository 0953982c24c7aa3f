package usage

import "time"

// Sub is the usage between before and s: what a run made, when before was taken at its start.
func (s Snapshot) Sub(before Snapshot) Snapshot {
	d := empty()
	d.At = s.At
	d.API = API{
		Requests: s.API.Requests - before.API.Requests, Billed: s.API.Billed - before.API.Billed,
		BytesIn: s.API.BytesIn - before.API.BytesIn, BytesOut: s.API.BytesOut - before.API.BytesOut,
		AccessLogBytes: s.API.AccessLogBytes - before.API.AccessLogBytes,
		ByRoute:        subMap(s.API.ByRoute, before.API.ByRoute), ByStatus: subMap(s.API.ByStatus, before.API.ByStatus),
	}
	a, b := s.DynamoDB, before.DynamoDB
	d.DynamoDB = Dynamo{
		Requests: subMap(a.Requests, b.Requests), Errors: subMap(a.Errors, b.Errors),
		ReadUnits: subMap(a.ReadUnits, b.ReadUnits), WriteUnits: subMap(a.WriteUnits, b.WriteUnits),
		ReadUnitsByOp: subMap(a.ReadUnitsByOp, b.ReadUnitsByOp), WriteUnitsByOp: subMap(a.WriteUnitsByOp, b.WriteUnitsByOp),
		ConditionalFailure: subMap(a.ConditionalFailure, b.ConditionalFailure),
	}
	k, kb := s.Kinesis, before.Kinesis
	d.Kinesis = Stream{
		Requests: subMap(k.Requests, kb.Requests), Records: k.Records - kb.Records, FailedRecords: k.FailedRecords - kb.FailedRecords,
		Bytes: k.Bytes - kb.Bytes, BilledKB: k.BilledKB - kb.BilledKB, PayloadUnits: k.PayloadUnits - kb.PayloadUnits,
		GetRecordsCalls: k.GetRecordsCalls - kb.GetRecordsCalls, RecordsRead: k.RecordsRead - kb.RecordsRead, BytesRead: k.BytesRead - kb.BytesRead,
	}
	d.SQS = Queue{Requests: subMap(s.SQS.Requests, before.SQS.Requests), Billed: s.SQS.Billed - before.SQS.Billed}
	d.S3 = Storage{
		Requests: subMap(s.S3.Requests, before.S3.Requests), ByClass: subMap(s.S3.ByClass, before.S3.ByClass),
		Errors: subMap(s.S3.Errors, before.S3.Errors), BytesIn: s.S3.BytesIn - before.S3.BytesIn, BytesOut: s.S3.BytesOut - before.S3.BytesOut,
		Objects: s.S3.Objects, StoredBytes: s.S3.StoredBytes,
	}
	f, fb := s.Firehose, before.Firehose
	d.Firehose = Delivery{
		Requests: subMap(f.Requests, fb.Requests), Errors: subMap(f.Errors, fb.Errors), Records: f.Records - fb.Records,
		FailedRecords: f.FailedRecords - fb.FailedRecords, Bytes: f.Bytes - fb.Bytes, BilledBytes: f.BilledBytes - fb.BilledBytes,
	}
	for name, f := range s.Lambda {
		p := before.Lambda[name]
		f.Invocations -= p.Invocations
		f.BilledMS -= p.BilledMS
		f.GBSeconds -= p.GBSeconds
		f.LogBytes -= p.LogBytes
		if f != (Function{MemoryMB: f.MemoryMB, InFlight: f.InFlight}) || f.InFlight > 0 {
			d.Lambda[name] = f
		}
	}
	d.CPU = subMap(s.CPU, before.CPU)
	return d
}

// Elapsed is the time between the two snapshots.
func (s Snapshot) Elapsed(before Snapshot) time.Duration { return s.At.Sub(before.At) }

// subMap is a - b by key, keeping only the keys that changed.
func subMap[V int64 | float64](a, b map[string]V) map[string]V {
	d := map[string]V{}
	for k, v := range a {
		if x := v - b[k]; x != 0 {
			d[k] = x
		}
	}
	return d
}

// Sum adds the values of a map.
func Sum[V int64 | float64](m map[string]V) V {
	var t V
	for _, v := range m {
		t += v
	}
	return t
}
