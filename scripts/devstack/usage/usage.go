// Package usage meters what the local stack asks of AWS, as AWS would bill it: the requests each
// function and the stream mapping send to DynamoDB, Kinesis and SQS, the HTTP API's requests, and
// Lambda's invocations, billed duration and log bytes. The local host puts one reverse proxy per
// AWS service in front of its local server (Proxy) and wraps it in Meter.Middleware; the
// functions' AWS endpoints point at the proxies, so neither they nor the servers know.
//
// What each service counts:
//   - DynamoDB: requests by operation; read and write units by table and operation, from the
//     ConsumedCapacity the server reports (the meter asks every read and write for it,
//     ReturnConsumedCapacity TOTAL, when the caller did not); writes refused by their condition
//     (AWS bills them at least one write unit; DynamoDB Local reports nothing for them).
//   - Kinesis: requests by operation; PutRecord(s) records accepted, their bytes (data and
//     partition key), the bytes on-demand bills (each record rounded up to 1 KB) and the PUT
//     payload units provisioned bills (25 KB each); GetRecords calls, records and bytes.
//   - SQS: requests by operation, and billed requests (each 64 KB of a request or its answer is one).
//   - Data Firehose (the local host's own server, scripts/devstack/firehose): requests by
//     operation, records put and accepted, their bytes, and the bytes Direct PUT ingestion bills
//     (each record rounded up to 5 KB); the objects it delivers are S3's PUT requests.
//   - S3 (every client's requests, the local S3 server being the host's own): requests by
//     operation and by the class S3 prices them in (PUT, COPY, POST and LIST; GET, HEAD and the
//     rest; DELETE, free), bytes sent and received, and the objects and bytes stored when the
//     snapshot was taken.
//   - HTTP API: requests by route key, billed requests (512 KB increments), bytes in and out.
//   - Lambda: invocations, billed duration (each rounded up to 1 ms) × configured memory in
//     GB-seconds, bytes written to the log (CloudWatch Logs ingestion), by function.
//
// A Snapshot holds the counts since the stack started; the difference of two (Sub) is a run's usage.
// The local host serves the snapshot at GET /_local/usage on the API's loopback port (Handler).
package usage

import (
	"encoding/json"
	"math"
	"net/http"
	"sync"
	"time"
)

// The services the proxies stand in front of, as Middleware and middleware hooks name them.
const (
	DynamoDB = "dynamodb"
	Kinesis  = "kinesis"
	SQS      = "sqs"
	S3       = "s3"
	Firehose = "firehose"
)

// Path is where the local host serves the snapshot, on the API's port.
const Path = "/_local/usage"

// Snapshot is what a meter counted since it started.
type Snapshot struct {
	At       time.Time           `json:"at"`
	API      API                 `json:"api"`
	DynamoDB Dynamo              `json:"dynamodb"`
	Kinesis  Stream              `json:"kinesis"`
	SQS      Queue               `json:"sqs"`
	S3       Storage             `json:"s3"`
	Firehose Delivery            `json:"firehose"`
	Lambda   map[string]Function `json:"lambda"`     // by topology name
	CPU      map[string]float64  `json:"cpuSeconds"` // user + system CPU by process ("devstack", "function:collect" …)
}

// API is the HTTP API's usage.
type API struct {
	Requests int64 `json:"requests"`
	Billed   int64 `json:"billedRequests"` // in 512 KB increments of the request
	BytesIn  int64 `json:"bytesIn"`
	BytesOut int64 `json:"bytesOut"`
	// AccessLogBytes are what the deployed stage's access log would write for these requests.
	AccessLogBytes int64            `json:"accessLogBytes"`
	ByRoute        map[string]int64 `json:"byRoute"`  // "POST /v1/batch"; "" for no route (404)
	ByStatus       map[string]int64 `json:"byStatus"` // "2xx", "4xx" …
}

// Dynamo is DynamoDB's usage.
type Dynamo struct {
	Requests           map[string]int64   `json:"requests"`           // by operation
	Errors             map[string]int64   `json:"errors"`             // answers other than 200, by operation
	ReadUnits          map[string]float64 `json:"readUnits"`          // by table
	WriteUnits         map[string]float64 `json:"writeUnits"`         // by table
	ReadUnitsByOp      map[string]float64 `json:"readUnitsByOp"`      // by operation
	WriteUnitsByOp     map[string]float64 `json:"writeUnitsByOp"`     // by operation
	ConditionalFailure map[string]int64   `json:"conditionalFailure"` // writes refused by their condition, by table ("" when not known)
}

// Stream is Kinesis's usage.
type Stream struct {
	Requests        map[string]int64 `json:"requests"` // by operation
	Records         int64            `json:"records"`  // put and accepted
	FailedRecords   int64            `json:"failedRecords"`
	Bytes           int64            `json:"bytes"`        // data + partition key of the accepted records
	BilledKB        int64            `json:"billedKB"`     // on-demand: each record rounded up to 1 KB
	PayloadUnits    int64            `json:"payloadUnits"` // provisioned: 25 KB PUT payload units
	GetRecordsCalls int64            `json:"getRecordsCalls"`
	RecordsRead     int64            `json:"recordsRead"`
	BytesRead       int64            `json:"bytesRead"`
}

// Queue is SQS's usage.
type Queue struct {
	Requests map[string]int64 `json:"requests"` // by operation
	Billed   int64            `json:"billedRequests"`
}

// Storage is S3's usage.
type Storage struct {
	Requests map[string]int64 `json:"requests"` // by operation
	ByClass  map[string]int64 `json:"byClass"`  // S3PutClass, S3GetClass, S3FreeClass
	Errors   map[string]int64 `json:"errors"`   // answers of 4xx and 5xx, by operation
	BytesIn  int64            `json:"bytesIn"`  // request bodies (uploads; transfer in is free)
	BytesOut int64            `json:"bytesOut"` // answer bodies (downloads and listings)
	// Objects and StoredBytes are what the buckets held when the snapshot was taken (gauges: Sub
	// keeps the later value); storage is billed by the byte-month.
	Objects     int64 `json:"objects"`
	StoredBytes int64 `json:"storedBytes"`
}

// Delivery is Data Firehose's usage.
type Delivery struct {
	Requests      map[string]int64 `json:"requests"` // by operation
	Errors        map[string]int64 `json:"errors"`   // calls refused as a whole, by operation
	Records       int64            `json:"records"`  // put and accepted
	FailedRecords int64            `json:"failedRecords"`
	Bytes         int64            `json:"bytes"`       // data of the accepted records
	BilledBytes   int64            `json:"billedBytes"` // each accepted record rounded up to 5 KB (FirehoseIncrement)
}

// Function is one Lambda function's usage.
type Function struct {
	Invocations int64   `json:"invocations"`
	BilledMS    int64   `json:"billedMs"`
	MemoryMB    int     `json:"memoryMB"`
	GBSeconds   float64 `json:"gbSeconds"`
	LogBytes    int64   `json:"logBytes"`
	// InFlight are the invocations running when the snapshot was taken (a gauge: Sub keeps the later value).
	InFlight int64 `json:"inFlight"`
}

// Meter counts usage. Safe for concurrent use.
type Meter struct {
	mu     sync.Mutex
	s      Snapshot
	cpu    func() map[string]time.Duration
	stored func() (objects, bytes int64)
	now    func() time.Time
}

// Stored sets what reports the objects and bytes S3 holds, read at each snapshot.
func (m *Meter) Stored(f func() (objects, bytes int64)) {
	m.mu.Lock()
	m.stored = f
	m.mu.Unlock()
}

// New returns an empty meter. cpu, if set, reports the CPU each process of the stack used so far.
func New(cpu func() map[string]time.Duration) *Meter {
	return &Meter{s: empty(), cpu: cpu, now: time.Now}
}

func empty() Snapshot {
	return Snapshot{
		API:      API{ByRoute: map[string]int64{}, ByStatus: map[string]int64{}},
		DynamoDB: Dynamo{Requests: map[string]int64{}, Errors: map[string]int64{}, ReadUnits: map[string]float64{}, WriteUnits: map[string]float64{}, ReadUnitsByOp: map[string]float64{}, WriteUnitsByOp: map[string]float64{}, ConditionalFailure: map[string]int64{}},
		Kinesis:  Stream{Requests: map[string]int64{}},
		SQS:      Queue{Requests: map[string]int64{}},
		S3:       Storage{Requests: map[string]int64{}, ByClass: map[string]int64{}, Errors: map[string]int64{}},
		Firehose: Delivery{Requests: map[string]int64{}, Errors: map[string]int64{}},
		Lambda:   map[string]Function{},
		CPU:      map[string]float64{},
	}
}

// Snapshot returns a copy of the counts so far.
func (m *Meter) Snapshot() Snapshot {
	m.mu.Lock()
	b, _ := json.Marshal(m.s)
	stored := m.stored
	m.mu.Unlock()
	var s Snapshot
	_ = json.Unmarshal(b, &s) // a deep copy
	s.At = m.now().UTC()
	if stored != nil {
		s.S3.Objects, s.S3.StoredBytes = stored()
	}
	if m.cpu != nil {
		for k, v := range m.cpu() {
			s.CPU[k] = v.Seconds()
		}
	}
	return s
}

func (m *Meter) update(f func(s *Snapshot)) {
	m.mu.Lock()
	f(&m.s)
	m.mu.Unlock()
}

// Started notes that an invocation of function began; Invocation ends it.
func (m *Meter) Started(function string) {
	m.update(func(s *Snapshot) {
		f := s.Lambda[function]
		f.InFlight++
		s.Lambda[function] = f
	})
}

// Invocation counts one invocation of function, of configured memory memoryMB, that ran for d.
func (m *Meter) Invocation(function string, memoryMB int, d time.Duration) {
	billed := int64(math.Ceil(float64(d) / float64(time.Millisecond)))
	m.update(func(s *Snapshot) {
		f := s.Lambda[function]
		f.InFlight = max(0, f.InFlight-1)
		f.Invocations++
		f.BilledMS += billed
		f.MemoryMB = memoryMB
		f.GBSeconds += float64(billed) / 1000 * float64(memoryMB) / 1024
		s.Lambda[function] = f
	})
}

// LogWriter counts the bytes written through it as function's log.
func (m *Meter) LogWriter(function string) func(n int) {
	return func(n int) {
		m.update(func(s *Snapshot) {
			f := s.Lambda[function]
			f.LogBytes += int64(n)
			s.Lambda[function] = f
		})
	}
}

// Handler serves the snapshot as JSON.
func (m *Meter) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(m.Snapshot())
	})
}
