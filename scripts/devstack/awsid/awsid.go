// Package awsid makes the random identifiers the local host hands out, in the shapes AWS gives
// them: request and event ids, X-Ray trace ids, log stream names. Every random id of the local host
// comes from here.
package awsid

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// UUID is a random version 4 UUID, the shape of Lambda's request ids and EventBridge's event ids.
func UUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Hex is n random lowercase hexadecimal digits.
func Hex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// APIRequestID has the shape of the request ids of API Gateway's HTTP APIs (Apigw-Requestid).
func APIRequestID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// TraceRoot is the root of an X-Ray trace id for a trace started at t: version 1, the time in
// seconds as 8 hexadecimal digits, and 24 random ones.
func TraceRoot(t time.Time) string {
	return fmt.Sprintf("1-%08x-%s", t.Unix(), Hex(24))
}
