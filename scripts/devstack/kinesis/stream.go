package kinesis

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"
)

// record is one record on a shard. Its ordinal is its position in the shard since the stream was
// created (trimmed records keep their numbers), which the sequence number encodes.
type record struct {
	ordinal uint64
	arrival time.Time
	key     string
	data    []byte
}

func (r *record) size() int { return len(r.data) + len(r.key) }

// shard is one shard's log and its throughput allowances.
type shard struct {
	index      int
	start, end hashKey
	startSeq   string // sequence number of the shard's first record ever

	recs  []record // the records still kept, oldest first
	base  uint64   // ordinal of recs[0] (of the next record when recs is empty)
	bytes int64    // size of recs

	writeBytes, writeRecords, readCalls, readBytes bucket
}

func (s *shard) id() string { return shardID(s.index) }

func shardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

// tip is the ordinal the next record will get.
func (s *shard) tip() uint64 { return s.base + uint64(len(s.recs)) }

// stream is one stream. Its fields other than name, arn, mode, created and shards are guarded by mu.
type stream struct {
	name, arn string
	mode      string // PROVISIONED or ON_DEMAND
	created   time.Time
	shards    []*shard
	retention time.Duration

	mu      sync.Mutex
	bytes   int64 // of all shards' kept records
	trimmed struct {
		records, bytes int64     // dropped over the byte budget since the last log line
		logged         time.Time // when that line was written
	}
	usage Usage
}

// Usage counts what was done with a stream since it was created: what AWS bills (PUT payload units
// of 25 KB, on-demand data in and out) and what it refused.
type Usage struct {
	PutRecords        int64 `json:"putRecords"`        // records written
	PutBytes          int64 `json:"putBytes"`          // their data and partition keys
	PutPayloadUnits   int64 `json:"putPayloadUnits"`   // each record's size in 25 KB units, rounded up
	ThrottledRecords  int64 `json:"throttledRecords"`  // records refused for the shard's write limits
	GetRecordsCalls   int64 `json:"getRecordsCalls"`   // GetRecords calls answered
	ThrottledReads    int64 `json:"throttledReads"`    // GetRecords calls refused for the read limits
	GetRecordsRecords int64 `json:"getRecordsRecords"` // records they returned
	GetBytes          int64 `json:"getBytes"`          // those records' data
}

// payloadUnit is the size of a Kinesis PUT payload unit.
const payloadUnit = 25 << 10

// creationID tells a stream from an earlier one of the same name in iterators.
func (st *stream) creationID() int64 { return st.created.UnixNano() }

// shardFor is the shard whose hash key range holds h.
func (st *stream) shardFor(h hashKey) *shard {
	i := sort.Search(len(st.shards), func(i int) bool { return h.less(st.shards[i].start) })
	return st.shards[max(i-1, 0)]
}

// shardByID finds a shard by its id, also in the short forms AWS accepts ("1", "shardId-1").
func (st *stream) shardByID(id string) *shard {
	n := id
	if len(n) > len("shardId-") && n[:len("shardId-")] == "shardId-" {
		n = n[len("shardId-"):]
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 || i >= len(st.shards) || len(n) > 12 {
		return nil
	}
	return st.shards[i]
}

// Sequence numbers are 56 decimal digits: "49", the shard's index in 10 digits and the record's
// ordinal in 44, so they increase within a shard and tell which shard they came from.
func sequenceNumber(shard int, ordinal uint64) string {
	return fmt.Sprintf("49%010d%044d", shard, ordinal)
}

// parseSequenceNumber is the inverse of sequenceNumber; ok is false for anything else.
func parseSequenceNumber(s string) (shard int, ordinal uint64, ok bool) {
	if len(s) != 56 || s[:2] != "49" {
		return 0, 0, false
	}
	sh, err := strconv.ParseUint(s[2:12], 10, 31)
	if err != nil {
		return 0, 0, false
	}
	ord, err := strconv.ParseUint(s[12:], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return int(sh), ord, true
}

// append adds a record to the shard (the caller holds the stream's lock) and returns its sequence
// number.
func (st *stream) append(sh *shard, now time.Time, key string, data []byte) string {
	r := record{ordinal: sh.tip(), arrival: now, key: key, data: data}
	sh.recs = append(sh.recs, r)
	sh.bytes += int64(r.size())
	st.bytes += int64(r.size())
	st.usage.PutRecords++
	st.usage.PutBytes += int64(r.size())
	st.usage.PutPayloadUnits += int64((r.size() + payloadUnit - 1) / payloadUnit)
	return sequenceNumber(sh.index, r.ordinal)
}

// trim drops records older than the retention period, then the oldest records of the stream while
// it holds more than budget bytes (0: no budget). It returns what went over the budget. The caller
// holds the lock.
func (st *stream) trim(now time.Time, budget int64) (records, bytes int64) {
	cutoff := now.Add(-st.retention)
	for _, sh := range st.shards {
		n := sort.Search(len(sh.recs), func(i int) bool { return !sh.recs[i].arrival.Before(cutoff) })
		st.drop(sh, n)
	}
	for budget > 0 && st.bytes > budget {
		// The oldest record of the stream goes first, whichever shard it is on.
		var oldest *shard
		for _, sh := range st.shards {
			if len(sh.recs) > 0 && (oldest == nil || sh.recs[0].arrival.Before(oldest.recs[0].arrival)) {
				oldest = sh
			}
		}
		if oldest == nil {
			break
		}
		before := st.bytes
		// Drop a run of records at once: at least what puts the stream under budget.
		n, freed := 0, int64(0)
		for n < len(oldest.recs) && before-freed > budget && (n == 0 || !oldest.recs[n].arrival.After(oldest.recs[0].arrival.Add(time.Second))) {
			freed += int64(oldest.recs[n].size())
			n++
		}
		st.drop(oldest, n)
		records += int64(n)
		bytes += before - st.bytes
	}
	return records, bytes
}

// drop removes the n oldest records of the shard, releasing the backing array once most of it is
// unused.
func (st *stream) drop(sh *shard, n int) {
	if n == 0 {
		return
	}
	var freed int64
	for i := range n {
		freed += int64(sh.recs[i].size())
		sh.recs[i] = record{}
	}
	sh.recs = sh.recs[n:]
	sh.base += uint64(n)
	sh.bytes -= freed
	st.bytes -= freed
	if cap(sh.recs) > 1024 && len(sh.recs) < cap(sh.recs)/4 {
		sh.recs = append([]record(nil), sh.recs...)
	}
}

// find is the index in sh.recs of the first record with an ordinal at or after ord.
func (sh *shard) find(ord uint64) int {
	if ord <= sh.base {
		return 0
	}
	return int(min(ord-sh.base, uint64(len(sh.recs))))
}

// firstAtOrAfter is the ordinal of the first record that arrived at or after t (the tip if none).
func (sh *shard) firstAtOrAfter(t time.Time) uint64 {
	i := sort.Search(len(sh.recs), func(i int) bool { return !sh.recs[i].arrival.Before(t) })
	return sh.base + uint64(i)
}

// bucket is a token bucket: rate tokens a second, holding at most burst. Tokens may go below zero
// (a read that returned more than the allowance), which delays the next calls as AWS does.
type bucket struct {
	tokens, rate, burst float64
	last                time.Time
}

func newBucket(rate float64, now time.Time) bucket {
	return bucket{tokens: rate, rate: rate, burst: rate, last: now}
}

func (b *bucket) refill(now time.Time) {
	if b.rate <= 0 {
		return
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.burst, b.tokens+el*b.rate)
		b.last = now
	}
}

// has reports whether n tokens are there (always, for an unlimited bucket).
func (b *bucket) has(now time.Time, n float64) bool {
	if b.rate <= 0 {
		return true
	}
	b.refill(now)
	return b.tokens >= n
}

func (b *bucket) spend(n float64) {
	if b.rate > 0 {
		b.tokens -= n
	}
}
