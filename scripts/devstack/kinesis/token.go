package kinesis

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// token is what a shard iterator or a ListShards NextToken stands for: a position in a stream (a
// record's ordinal in a shard, or a shard index to list from), and when it was issued, which bounds
// its life. Tokens are opaque to callers and signed, so a forged or mangled one is refused rather
// than read.
type token struct {
	stream   string
	creation int64 // the stream's creation, so a token of a deleted stream does not read its successor
	shard    int
	position uint64
	issued   time.Time
}

// tokenKey signs tokens. The signature tells a token this server issued from a mangled or made-up
// one; it is no secret (a caller on loopback is trusted), and a token outlives nothing it should
// not, since a restarted server has no streams and a recreated stream has another creation time.
var tokenKey = []byte("dcrm local kinesis tokens")

const macLen = 12

func (s *Server) writeToken(t token) string {
	payload := t.stream + "|" + strconv.FormatInt(t.creation, 36) + "|" + strconv.Itoa(t.shard) + "|" +
		strconv.FormatUint(t.position, 36) + "|" + strconv.FormatInt(t.issued.UnixNano(), 36)
	m := hmac.New(sha256.New, tokenKey)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(append(m.Sum(nil)[:macLen], payload...))
}

func (s *Server) readToken(text string) (token, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil || len(raw) <= macLen {
		return token{}, false
	}
	mac, payload := raw[:macLen], raw[macLen:]
	m := hmac.New(sha256.New, tokenKey)
	m.Write(payload)
	if !hmac.Equal(mac, m.Sum(nil)[:macLen]) {
		return token{}, false
	}
	parts := strings.Split(string(payload), "|")
	if len(parts) != 5 {
		return token{}, false
	}
	creation, err1 := strconv.ParseInt(parts[1], 36, 64)
	shard, err2 := strconv.Atoi(parts[2])
	position, err3 := strconv.ParseUint(parts[3], 36, 64)
	issued, err4 := strconv.ParseInt(parts[4], 36, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || shard < 0 {
		return token{}, false
	}
	return token{stream: parts[0], creation: creation, shard: shard, position: position, issued: time.Unix(0, issued)}, true
}
