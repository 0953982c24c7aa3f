package kinesis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Fault makes calls fail or wait, for tests of what callers do when Kinesis misbehaves. A fault hits
// the calls (or, with PerRecord, the records) that match Operation and Stream, each with probability
// Fraction, until it has hit Count of them. See README.md for examples.
type Fault struct {
	// Operation is the call it applies to ("PutRecords", "GetRecords", …); empty: every call (with
	// PerRecord: PutRecord and PutRecords).
	Operation string `json:"operation,omitempty"`
	// Stream limits it to one stream by name; empty: every stream.
	Stream string `json:"stream,omitempty"`
	// Error is the code the hit call or record fails with: ProvisionedThroughputExceededException,
	// InternalFailure, ServiceUnavailable, LimitExceededException, ExpiredIteratorException, … Empty
	// with a Delay: the call only waits.
	Error string `json:"error,omitempty"`
	// PerRecord makes each record of PutRecords fail on its own (a partial failure: the call
	// succeeds, FailedRecordCount counts them) and PutRecord fail as a call. Its Error is
	// ProvisionedThroughputExceededException or InternalFailure, as AWS gives per record.
	PerRecord bool `json:"perRecord,omitempty"`
	// Count is how many calls (records) it hits before it is spent; 0: it lasts until cleared.
	Count int `json:"count,omitempty"`
	// Fraction is the probability that a matching call (record) is hit; 0 means 1 (every one).
	Fraction float64 `json:"fraction,omitempty"`
	// Seed makes the random choices of Fraction repeatable; 0 picks one.
	Seed uint64 `json:"seed,omitempty"`
	// Delay is how long a hit call waits before it is answered (for PerRecord faults: every
	// matching call).
	Delay Duration `json:"delay,omitempty"`
}

// Duration is a time.Duration written in JSON as a Go duration string ("250ms", "2s").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`delay must be a duration string such as "250ms"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 || v > 10*time.Minute {
		return fmt.Errorf("delay %q is not a duration between 0 and 10m", s)
	}
	*d = Duration(v)
	return nil
}

// FaultStatus is an injected fault and how often it has hit.
type FaultStatus struct {
	ID int `json:"id"`
	Fault
	Hits int `json:"hits"`
}

// faultErrors are the codes a fault may give, with the HTTP status AWS answers them with.
var faultErrors = map[string]int{
	"ProvisionedThroughputExceededException": 400,
	"LimitExceededException":                 400,
	"ExpiredIteratorException":               400,
	"ResourceNotFoundException":              400,
	"ResourceInUseException":                 400,
	"InvalidArgumentException":               400,
	"KMSThrottlingException":                 400,
	"AccessDeniedException":                  400,
	"InternalFailure":                        500,
	"ServiceUnavailable":                     503,
}

func faultError(code string) *apiError {
	return errorf(faultErrors[code], code, "injected fault: %s", code)
}

type activeFault struct {
	FaultStatus
	rng *rand.Rand
}

// hit decides whether the fault hits one more call or record; the caller holds the faults' lock.
func (f *activeFault) hit() bool {
	if f.Count > 0 && f.Hits >= f.Count {
		return false
	}
	if f.Fraction > 0 && f.Fraction < 1 && f.rng.Float64() >= f.Fraction {
		return false
	}
	f.Hits++
	return true
}

func (f *activeFault) spent() bool { return f.Count > 0 && f.Hits >= f.Count }

func (f *activeFault) matches(op string, stream func() string) bool {
	if f.Stream != "" && f.Stream != stream() {
		return false
	}
	if f.PerRecord && f.Operation == "" {
		return op == "PutRecords" || op == "PutRecord"
	}
	return f.Operation == "" || f.Operation == op
}

type faults struct {
	mu     sync.Mutex
	next   int
	active []*activeFault
}

func (fs *faults) init() { fs.next = 1 }

// Inject adds a fault and returns its id.
func (s *Server) Inject(f Fault) (int, error) {
	if f.Operation != "" && operations[f.Operation] == nil {
		return 0, fmt.Errorf("operation %q is not one this server answers", f.Operation)
	}
	if _, ok := faultErrors[f.Error]; f.Error != "" && !ok {
		return 0, fmt.Errorf("error %q is not one a fault can give (see README.md)", f.Error)
	}
	if f.Error == "" && f.Delay == 0 {
		return 0, errors.New("a fault needs an error, a delay or both")
	}
	if f.PerRecord {
		if f.Operation != "" && f.Operation != "PutRecords" && f.Operation != "PutRecord" {
			return 0, errors.New("perRecord applies to PutRecords and PutRecord only")
		}
		if f.Error != "ProvisionedThroughputExceededException" && f.Error != "InternalFailure" {
			return 0, errors.New("a record fails with ProvisionedThroughputExceededException or InternalFailure")
		}
	}
	if f.Count < 0 || f.Fraction < 0 || f.Fraction > 1 {
		return 0, errors.New("count must be at least 0 and fraction between 0 and 1")
	}
	seed := f.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	fs := &s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	a := &activeFault{FaultStatus: FaultStatus{ID: fs.next, Fault: f}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	fs.next++
	fs.active = append(fs.active, a)
	s.log.Info("fault injected", "id", a.ID, "operation", f.Operation, "stream", f.Stream, "error", f.Error,
		"perRecord", f.PerRecord, "count", f.Count, "fraction", f.Fraction, "delay", time.Duration(f.Delay))
	return a.ID, nil
}

// Faults lists the faults in force (spent ones are gone).
func (s *Server) Faults() []FaultStatus {
	fs := &s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := []FaultStatus{}
	for _, a := range fs.active {
		out = append(out, a.FaultStatus)
	}
	return out
}

// RemoveFault removes one fault; it reports whether there was one of that id.
func (s *Server) RemoveFault(id int) bool {
	fs := &s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, a := range fs.active {
		if a.ID == id {
			fs.active = append(fs.active[:i], fs.active[i+1:]...)
			return true
		}
	}
	return false
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	fs := &s.faults
	fs.mu.Lock()
	fs.active = nil
	fs.mu.Unlock()
}

// hitCall is what the faults do to one call.
type hitCall struct {
	delay   time.Duration
	err     error
	records recordFault
}

func noRecordFault() string { return "" }

// match applies the faults to a call of op on stream: the first call fault that hits gives its
// delay and error; per-record faults are consulted record by record as the call puts them.
func (fs *faults) match(op string, streamOf func() string) hitCall {
	out := hitCall{records: noRecordFault}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.active) == 0 {
		return out
	}
	name, named := "", false
	stream := func() string { // read from the request once, and only if a fault names a stream
		if !named {
			name, named = streamOf(), true
		}
		return name
	}
	var perRecord []*activeFault
	for _, a := range fs.active {
		if !a.matches(op, stream) {
			continue
		}
		if a.PerRecord {
			perRecord = append(perRecord, a)
			out.delay = max(out.delay, time.Duration(a.Delay))
			continue
		}
		if out.err == nil && out.delay == 0 && a.hit() {
			out.delay = time.Duration(a.Delay)
			if a.Error != "" {
				out.err = faultError(a.Error)
			}
		}
	}
	fs.sweep()
	if len(perRecord) > 0 {
		out.records = func() string {
			fs.mu.Lock()
			defer fs.mu.Unlock()
			code := ""
			for _, a := range perRecord {
				if a.hit() {
					code = a.Error
					break
				}
			}
			fs.sweep()
			return code
		}
	}
	return out
}

// sweep drops spent faults; the caller holds the lock.
func (fs *faults) sweep() {
	kept := fs.active[:0]
	for _, a := range fs.active {
		if !a.spent() {
			kept = append(kept, a)
		}
	}
	clear(fs.active[len(kept):])
	fs.active = kept
}
