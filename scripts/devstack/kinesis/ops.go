package kinesis

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// recordFault says, for each record a put is about to write, the error code it fails with ("" for
// none): the per-record faults injected (faults.go).
type recordFault func() string

// operations are the calls this server answers, by the name after the X-Amz-Target prefix.
var operations = map[string]func(s *Server, body []byte, fail recordFault) (any, error){
	"CreateStream":          (*Server).createStream,
	"DeleteStream":          (*Server).deleteStream,
	"ListStreams":           (*Server).listStreams,
	"DescribeStream":        (*Server).describeStream,
	"DescribeStreamSummary": (*Server).describeStreamSummary,
	"ListShards":            (*Server).listShards,
	"PutRecord":             (*Server).putRecord,
	"PutRecords":            (*Server).putRecords,
	"GetShardIterator":      (*Server).getShardIterator,
	"GetRecords":            (*Server).getRecords,
}

// Shapes of the protocol (field names as the API reference spells them).
type (
	streamRef struct {
		StreamName string `json:",omitempty"`
		StreamARN  string `json:",omitempty"`
	}
	modeDetails  struct{ StreamMode string }
	hashKeyRange struct {
		StartingHashKey, EndingHashKey string
	}
	sequenceRange struct {
		StartingSequenceNumber string
		EndingSequenceNumber   *string `json:",omitempty"`
	}
	shardOut struct {
		ShardId             string
		HashKeyRange        hashKeyRange
		SequenceNumberRange sequenceRange
	}
	monitoring struct{ ShardLevelMetrics []string }
)

var streamNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// epoch is a time as the protocol writes timestamps: seconds since 1970, with milliseconds.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func fromEpoch(sec float64) time.Time {
	return time.UnixMilli(int64(sec * 1000))
}

func (s *Server) arn(name string) string {
	return "arn:aws:kinesis:" + s.opts.Region + ":" + s.opts.Account + ":stream/" + name
}

// resolve finds the stream a request names by StreamName or StreamARN (or both, agreeing).
func (s *Server) resolve(ref streamRef) (*stream, error) {
	name := ref.StreamName
	if ref.StreamARN != "" {
		i := strings.LastIndex(ref.StreamARN, ":stream/")
		if !strings.HasPrefix(ref.StreamARN, "arn:") || i < 0 {
			return nil, invalidArgument("StreamARN %q is not a Kinesis stream ARN", ref.StreamARN)
		}
		fromARN := ref.StreamARN[i+len(":stream/"):]
		if name != "" && name != fromARN {
			return nil, invalidArgument("StreamName %q and StreamARN %q name different streams", name, ref.StreamARN)
		}
		name = fromARN
	}
	if name == "" {
		return nil, invalidArgument("Either StreamName or StreamARN should be provided.")
	}
	if !streamNamePattern.MatchString(name) {
		return nil, validation("Value at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128")
	}
	s.mu.RLock()
	st := s.streams[name]
	s.mu.RUnlock()
	if st == nil {
		return nil, notFound("Stream %s under account %s not found.", name, s.opts.Account)
	}
	return st, nil
}

func (s *Server) createStream(body []byte, _ recordFault) (any, error) {
	var in struct {
		StreamName        string
		ShardCount        *int
		StreamModeDetails *modeDetails
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !streamNamePattern.MatchString(in.StreamName) {
		return nil, validation("Value at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128")
	}
	mode := "PROVISIONED"
	if in.StreamModeDetails != nil {
		mode = in.StreamModeDetails.StreamMode
	}
	var shards int
	switch mode {
	case "PROVISIONED":
		if in.ShardCount == nil {
			return nil, invalidArgument("ShardCount is required for a PROVISIONED stream")
		}
		if shards = *in.ShardCount; shards < 1 {
			return nil, validation("Value '%d' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1", shards)
		}
	case "ON_DEMAND":
		shards = OnDemandShards
	default:
		return nil, validation("Value '%s' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]", mode)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[in.StreamName] != nil {
		return nil, errorf(400, "ResourceInUseException", "Stream %s under account %s already exists.", in.StreamName, s.opts.Account)
	}
	if s.shards+shards > s.opts.ShardLimit {
		return nil, errorf(400, "LimitExceededException", "This request would exceed the shard limit for the account %s in %s. Current shard count for the account: %d. Limit: %d. Number of additional shards that would have resulted from this request: %d.",
			s.opts.Account, s.opts.Region, s.shards, s.opts.ShardLimit, shards)
	}
	now := s.now()
	st := &stream{name: in.StreamName, arn: s.arn(in.StreamName), mode: mode, created: now, retention: DefaultRetention}
	starts, ends := splitHashRange(shards)
	for i := range shards {
		st.shards = append(st.shards, &shard{
			index: i, start: starts[i], end: ends[i], startSeq: sequenceNumber(i, 0),
			writeBytes: newBucket(s.limits.WriteBytesPerSecond, now), writeRecords: newBucket(s.limits.WriteRecordsPerSecond, now),
			readCalls: newBucket(s.limits.ReadCallsPerSecond, now), readBytes: newBucket(s.limits.ReadBytesPerSecond, now),
		})
	}
	s.streams[in.StreamName] = st
	s.shards += shards
	s.log.Info("stream created", "stream", in.StreamName, "mode", mode, "shards", shards)
	return struct{}{}, nil
}

func (s *Server) deleteStream(body []byte, _ recordFault) (any, error) {
	var in struct {
		streamRef
		EnforceConsumerDeletion bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	st, err := s.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.streams[st.name] == st {
		delete(s.streams, st.name)
		s.shards -= len(st.shards)
	}
	s.mu.Unlock()
	s.log.Info("stream deleted", "stream", st.name)
	return struct{}{}, nil
}

func (s *Server) listStreams(body []byte, _ recordFault) (any, error) {
	var in struct {
		Limit                    *int
		ExclusiveStartStreamName string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 10_000 {
			return nil, validation("Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000", *in.Limit)
		}
		limit = *in.Limit
	}
	s.mu.RLock()
	var all []*stream
	for _, st := range s.streams {
		if st.name > in.ExclusiveStartStreamName {
			all = append(all, st)
		}
	}
	s.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	type summary struct {
		StreamName, StreamARN, StreamStatus string
		StreamModeDetails                   modeDetails
		StreamCreationTimestamp             float64
	}
	out := struct {
		StreamNames     []string
		StreamSummaries []summary
		HasMoreStreams  bool
	}{StreamNames: []string{}, StreamSummaries: []summary{}, HasMoreStreams: len(all) > limit}
	for _, st := range all[:min(limit, len(all))] {
		out.StreamNames = append(out.StreamNames, st.name)
		out.StreamSummaries = append(out.StreamSummaries, summary{st.name, st.arn, "ACTIVE", modeDetails{st.mode}, epoch(st.created)})
	}
	return out, nil
}

func (st *stream) shardsOut(from, limit int) []shardOut {
	out := []shardOut{}
	for _, sh := range st.shards[min(from, len(st.shards)):min(from+limit, len(st.shards))] {
		out = append(out, shardOut{
			ShardId:             sh.id(),
			HashKeyRange:        hashKeyRange{sh.start.String(), sh.end.String()},
			SequenceNumberRange: sequenceRange{StartingSequenceNumber: sh.startSeq},
		})
	}
	return out
}

// shardsAfter is the index of the first shard after the given id ("" for the first).
func (st *stream) shardsAfter(id string) int {
	if id == "" {
		return 0
	}
	if sh := st.shardByID(id); sh != nil {
		return sh.index + 1
	}
	// An id that is not a shard of this stream: the shards that sort after it.
	return sort.Search(len(st.shards), func(i int) bool { return st.shards[i].id() > id })
}

func (s *Server) describeStream(body []byte, _ recordFault) (any, error) {
	var in struct {
		streamRef
		Limit                 *int
		ExclusiveStartShardId string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 10_000 {
			return nil, validation("Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000", *in.Limit)
		}
		limit = *in.Limit
	}
	st, err := s.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	from := st.shardsAfter(in.ExclusiveStartShardId)
	type description struct {
		StreamName, StreamARN, StreamStatus string
		StreamModeDetails                   modeDetails
		Shards                              []shardOut
		HasMoreShards                       bool
		RetentionPeriodHours                int
		StreamCreationTimestamp             float64
		EnhancedMonitoring                  []monitoring
		EncryptionType                      string
	}
	return struct{ StreamDescription description }{description{
		StreamName: st.name, StreamARN: st.arn, StreamStatus: "ACTIVE", StreamModeDetails: modeDetails{st.mode},
		Shards: st.shardsOut(from, limit), HasMoreShards: from+limit < len(st.shards),
		RetentionPeriodHours: int(st.retention / time.Hour), StreamCreationTimestamp: epoch(st.created),
		EnhancedMonitoring: []monitoring{{ShardLevelMetrics: []string{}}}, EncryptionType: "NONE",
	}}, nil
}

func (s *Server) describeStreamSummary(body []byte, _ recordFault) (any, error) {
	var in streamRef
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	st, err := s.resolve(in)
	if err != nil {
		return nil, err
	}
	type summary struct {
		StreamName, StreamARN, StreamStatus string
		StreamModeDetails                   modeDetails
		RetentionPeriodHours                int
		StreamCreationTimestamp             float64
		EnhancedMonitoring                  []monitoring
		EncryptionType                      string
		OpenShardCount, ConsumerCount       int
	}
	return struct{ StreamDescriptionSummary summary }{summary{
		StreamName: st.name, StreamARN: st.arn, StreamStatus: "ACTIVE", StreamModeDetails: modeDetails{st.mode},
		RetentionPeriodHours: int(st.retention / time.Hour), StreamCreationTimestamp: epoch(st.created),
		EnhancedMonitoring: []monitoring{{ShardLevelMetrics: []string{}}}, EncryptionType: "NONE",
		OpenShardCount: len(st.shards),
	}}, nil
}

func (s *Server) listShards(body []byte, _ recordFault) (any, error) {
	var in struct {
		streamRef
		NextToken             string
		ExclusiveStartShardId string
		MaxResults            *int
		ShardFilter           *struct {
			Type    string
			ShardId string
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10_000 {
			return nil, validation("Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 10000", *in.MaxResults)
		}
		limit = min(*in.MaxResults, 1000)
	}
	var (
		st   *stream
		from int
	)
	if in.NextToken != "" {
		if in.StreamName != "" || in.ExclusiveStartShardId != "" || in.ShardFilter != nil {
			return nil, invalidArgument("NextToken and StreamName, ExclusiveStartShardId or ShardFilter cannot be provided together.")
		}
		t, ok := s.readToken(in.NextToken)
		if !ok {
			return nil, invalidArgument("Invalid NextToken.")
		}
		if s.now().Sub(t.issued) > IteratorLifetime {
			return nil, errorf(400, "ExpiredNextTokenException", "The NextToken has expired: it is valid for %d seconds.", int(IteratorLifetime.Seconds()))
		}
		var err error
		if st, err = s.resolve(streamRef{StreamName: t.stream}); err != nil {
			return nil, err
		}
		if st.creationID() != t.creation {
			return nil, notFound("Stream %s under account %s not found.", t.stream, s.opts.Account)
		}
		from = int(t.position)
	} else {
		var err error
		if st, err = s.resolve(in.streamRef); err != nil {
			return nil, err
		}
		from = st.shardsAfter(in.ExclusiveStartShardId)
		if f := in.ShardFilter; f != nil {
			switch f.Type {
			case "AFTER_SHARD_ID":
				if f.ShardId == "" {
					return nil, invalidArgument("ShardFilter of type AFTER_SHARD_ID needs a ShardId.")
				}
				from = max(from, st.shardsAfter(f.ShardId))
			case "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST", "AT_TIMESTAMP", "FROM_TIMESTAMP":
				// Shards are never closed here, so every shard is open at any time asked about.
			default:
				return nil, validation("Value '%s' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set", f.Type)
			}
		}
	}
	out := struct {
		Shards    []shardOut
		NextToken string `json:",omitempty"`
	}{Shards: st.shardsOut(from, limit)}
	if from+limit < len(st.shards) {
		out.NextToken = s.writeToken(token{stream: st.name, creation: st.creationID(), position: uint64(from + limit), issued: s.now()})
	}
	return out, nil
}

type putEntry struct {
	Data            []byte
	PartitionKey    string
	ExplicitHashKey *string
}

var hashKeyPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,38})$`)

// check validates one record ("records.N.member." in messages of PutRecords) and finds its shard.
func (st *stream) check(e putEntry, field string) (*shard, error) {
	if e.Data == nil {
		return nil, validation("Value null at '%sdata' failed to satisfy constraint: Member must not be null", field)
	}
	// AWS answers these two with InvalidArgumentException rather than a ValidationException: a
	// stream's record size is a setting of the stream (1 MiB unless raised, which this server does
	// not do).
	if len(e.Data) > MaxRecordBytes {
		return nil, invalidArgument("Record data size %d exceeds the stream's max record size of %d bytes", len(e.Data), MaxRecordBytes)
	}
	if n := utf8.RuneCountInString(e.PartitionKey); n < 1 || n > maxPartitionKeyRune {
		return nil, invalidArgument("Partition key must be between 1 and %d in length", maxPartitionKeyRune)
	}
	if len(e.Data)+len(e.PartitionKey) > MaxRecordBytes {
		return nil, invalidArgument("The record's data and partition key (%d bytes) exceed the limit of %d bytes.", len(e.Data)+len(e.PartitionKey), MaxRecordBytes)
	}
	h := partitionHash(e.PartitionKey)
	if e.ExplicitHashKey != nil {
		if !hashKeyPattern.MatchString(*e.ExplicitHashKey) {
			return nil, validation("Value at '%sexplicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})", field)
		}
		var ok bool
		if h, ok = parseHashKey(*e.ExplicitHashKey); !ok {
			return nil, invalidArgument("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", *e.ExplicitHashKey)
		}
	}
	return st.shardFor(h), nil
}

// admit takes a record's share of its shard's write allowance, reporting false when the shard has
// not enough left. The caller holds the stream's lock.
func admit(sh *shard, now time.Time, size int) bool {
	if !sh.writeBytes.has(now, float64(size)) || !sh.writeRecords.has(now, 1) {
		return false
	}
	sh.writeBytes.spend(float64(size))
	sh.writeRecords.spend(1)
	return true
}

func (s *Server) throttledWrite(st *stream, sh *shard) string {
	return "Rate exceeded for shard " + sh.id() + " in stream " + st.name + " under account " + s.opts.Account + "."
}

func (s *Server) putRecord(body []byte, fail recordFault) (any, error) {
	var in struct {
		streamRef
		putEntry
		SequenceNumberForOrdering string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	st, err := s.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	sh, err := st.check(in.putEntry, "")
	if err != nil {
		return nil, err
	}
	if code := fail(); code != "" {
		return nil, faultError(code)
	}
	now := s.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	if !admit(sh, now, len(in.Data)+len(in.PartitionKey)) {
		st.usage.ThrottledRecords++
		return nil, errorf(400, "ProvisionedThroughputExceededException", "%s", s.throttledWrite(st, sh))
	}
	seq := st.append(sh, now, in.PartitionKey, in.Data)
	s.trim(st, now)
	return struct{ ShardId, SequenceNumber, EncryptionType string }{sh.id(), seq, "NONE"}, nil
}

type putResult struct {
	SequenceNumber string `json:",omitempty"`
	ShardId        string `json:",omitempty"`
	ErrorCode      string `json:",omitempty"`
	ErrorMessage   string `json:",omitempty"`
}

func (s *Server) putRecords(body []byte, fail recordFault) (any, error) {
	var in struct {
		streamRef
		Records []putEntry
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if n := len(in.Records); n < 1 || n > MaxPutRecords {
		return nil, validation("Value at 'records' failed to satisfy constraint: Member must have length between 1 and %d", MaxPutRecords)
	}
	st, err := s.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	shards := make([]*shard, len(in.Records))
	total := 0
	for i, e := range in.Records {
		if shards[i], err = st.check(e, "records."+strconv.Itoa(i+1)+".member."); err != nil {
			return nil, err
		}
		total += len(e.Data) + len(e.PartitionKey)
	}
	if total > MaxPutRecordsBytes {
		return nil, invalidArgument("Records size exceeds 5 MB limit")
	}
	out := struct {
		FailedRecordCount int
		Records           []putResult
		EncryptionType    string
	}{Records: make([]putResult, len(in.Records)), EncryptionType: "NONE"}
	now := s.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, e := range in.Records {
		sh := shards[i]
		switch code := fail(); {
		case code != "":
			out.Records[i] = putResult{ErrorCode: code, ErrorMessage: faultError(code).msg}
		case !admit(sh, now, len(e.Data)+len(e.PartitionKey)):
			st.usage.ThrottledRecords++
			out.Records[i] = putResult{ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: s.throttledWrite(st, sh)}
		default:
			out.Records[i] = putResult{SequenceNumber: st.append(sh, now, e.PartitionKey, e.Data), ShardId: sh.id()}
			continue
		}
		out.FailedRecordCount++
	}
	s.trim(st, now)
	return out, nil
}

// trim applies retention and the byte budget to a stream whose lock the caller holds, and logs
// what went over the budget at most every ten seconds.
func (s *Server) trim(st *stream, now time.Time) {
	recs, bytes := st.trim(now, s.opts.StreamBytes)
	st.trimmed.records += recs
	st.trimmed.bytes += bytes
	if st.trimmed.records > 0 && now.Sub(st.trimmed.logged) >= 10*time.Second {
		s.log.Warn("stream over its byte budget: oldest records dropped", "stream", st.name,
			"records", st.trimmed.records, "bytes", st.trimmed.bytes, "budget", s.opts.StreamBytes)
		st.trimmed.records, st.trimmed.bytes, st.trimmed.logged = 0, 0, now
	}
}

func (s *Server) getShardIterator(body []byte, _ recordFault) (any, error) {
	var in struct {
		streamRef
		ShardId                string
		ShardIteratorType      string
		StartingSequenceNumber *string
		Timestamp              *float64
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	st, err := s.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	sh := st.shardByID(in.ShardId)
	if sh == nil {
		return nil, notFound("Shard %s in stream %s under account %s does not exist", in.ShardId, st.name, s.opts.Account)
	}
	now := s.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	var pos uint64
	switch in.ShardIteratorType {
	case "TRIM_HORIZON":
		pos = sh.base
	case "LATEST":
		pos = sh.tip()
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		if in.StartingSequenceNumber == nil {
			return nil, invalidArgument("StartingSequenceNumber must be provided for ShardIteratorType %s", in.ShardIteratorType)
		}
		idx, ord, ok := parseSequenceNumber(*in.StartingSequenceNumber)
		if !ok || idx != sh.index {
			return nil, invalidArgument("StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s is invalid because it did not come from this stream.",
				*in.StartingSequenceNumber, sh.id(), st.name, s.opts.Account)
		}
		if in.ShardIteratorType == "AFTER_SEQUENCE_NUMBER" {
			ord++
		}
		if ord > sh.tip() {
			return nil, invalidArgument("StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s is invalid.",
				*in.StartingSequenceNumber, sh.id(), st.name, s.opts.Account)
		}
		pos = max(ord, sh.base)
	case "AT_TIMESTAMP":
		if in.Timestamp == nil {
			return nil, invalidArgument("Timestamp must be provided for ShardIteratorType AT_TIMESTAMP")
		}
		at := fromEpoch(*in.Timestamp)
		if at.After(now) {
			return nil, invalidArgument("Timestamp cannot be in the future")
		}
		pos = sh.firstAtOrAfter(at)
	default:
		return nil, validation("Value '%s' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST]", in.ShardIteratorType)
	}
	it := s.writeToken(token{stream: st.name, creation: st.creationID(), shard: sh.index, position: pos, issued: now})
	return struct{ ShardIterator string }{it}, nil
}

type recordOut struct {
	Data                        []byte
	PartitionKey                string
	SequenceNumber              string
	ApproximateArrivalTimestamp float64
}

func (s *Server) getRecords(body []byte, _ recordFault) (any, error) {
	var in struct {
		ShardIterator string
		Limit         *int
		StreamARN     string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if n := len(in.ShardIterator); n < 1 || n > 512 {
		return nil, validation("Value at 'shardIterator' failed to satisfy constraint: Member must have length between 1 and 512")
	}
	limit := MaxGetRecords
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > MaxGetRecords {
			return nil, validation("Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *in.Limit, MaxGetRecords)
		}
		limit = *in.Limit
	}
	t, ok := s.readToken(in.ShardIterator)
	if !ok {
		return nil, invalidArgument("Invalid ShardIterator.")
	}
	now := s.now()
	if age := now.Sub(t.issued); age > IteratorLifetime {
		return nil, errorf(400, "ExpiredIteratorException", "Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			t.issued.UTC().Format(time.RFC1123), now.UTC().Format(time.RFC1123), IteratorLifetime.Milliseconds())
	}
	st, err := s.resolve(streamRef{StreamName: t.stream, StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	if st.creationID() != t.creation || t.shard >= len(st.shards) {
		return nil, notFound("Shard %s in stream %s under account %s does not exist", shardID(t.shard), t.stream, s.opts.Account)
	}
	sh := st.shards[t.shard]
	st.mu.Lock()
	defer st.mu.Unlock()
	s.trim(st, now)
	if !sh.readCalls.has(now, 1) || !sh.readBytes.has(now, 1) {
		st.usage.ThrottledReads++
		return nil, errorf(400, "ProvisionedThroughputExceededException", "Rate exceeded for Shard - %s in stream %s under account %s.", sh.id(), st.name, s.opts.Account)
	}
	sh.readCalls.spend(1)
	first := sh.find(t.position)
	recs := make([]recordOut, 0, min(limit, len(sh.recs)-first))
	size := 0
	i := first
	for ; i < len(sh.recs) && len(recs) < limit; i++ {
		r := &sh.recs[i]
		if size+len(r.data) > MaxGetRecordsBytes && len(recs) > 0 {
			break
		}
		size += len(r.data)
		recs = append(recs, recordOut{Data: r.data, PartitionKey: r.key, SequenceNumber: sequenceNumber(sh.index, r.ordinal), ApproximateArrivalTimestamp: epoch(r.arrival)})
	}
	sh.readBytes.spend(float64(size))
	st.usage.GetRecordsCalls++
	st.usage.GetRecordsRecords += int64(len(recs))
	st.usage.GetBytes += int64(size)
	var behind int64
	if i < len(sh.recs) {
		behind = max(now.Sub(sh.recs[i].arrival).Milliseconds(), 0)
	}
	next := s.writeToken(token{stream: st.name, creation: t.creation, shard: sh.index, position: sh.base + uint64(i), issued: now})
	return struct {
		Records            []recordOut
		NextShardIterator  string
		MillisBehindLatest int64
	}{recs, next, behind}, nil
}
