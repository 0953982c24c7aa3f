package s3server_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/s3server"
)

func TestEncodeKeyAsS3Does(t *testing.T) {
	for key, want := range map[string]string{
		"customers/crm export.csv":            "customers/crm+export.csv",
		"orders/a+b.csv":                      "orders/a%2Bb.csv",
		"events/date=2026-12-07/part-0.jsonl": "events/date%3D2026-12-07/part-0.jsonl",
		"orders/café ☕.csv":                   "orders/caf%C3%A9+%E2%98%95.csv",
		"a&b?c#d%e":                           "a%26b%3Fc%23d%25e",
	} {
		got := s3server.EncodeKey(key)
		assert.Equal(t, want, got, key)
		back, err := url.QueryUnescape(got)
		require.NoError(t, err)
		assert.Equal(t, key, back, "aws-lambda-go's documented way to decode it")
	}
}

// The event is what aws-lambda-go reads as events.S3Event, field for field as S3 sends it (the
// sample in events/s3, in S3's documented shape).
func TestEventIsS3s(t *testing.T) {
	at := time.Date(2026, 12, 7, 11, 30, 0, 123_000_000, time.UTC)
	raw := s3server.Event(s3server.Created{Event: s3server.EventMultipart, Time: at, Bucket: "dcrm-import", Key: "orders/big file+1.csv",
		Size: 6 << 20, ETag: "9b2cf535f27731c974343645a3985328-2", Sequencer: "0055AED6DCD90281E5", SourceIP: "127.0.0.1"}, "us-east-1", "import-orders")
	var ev events.S3Event
	require.NoError(t, json.Unmarshal(raw, &ev))
	require.Len(t, ev.Records, 1)
	r := ev.Records[0]
	assert.Equal(t, "ObjectCreated:CompleteMultipartUpload", r.EventName)
	assert.Equal(t, "aws:s3", r.EventSource)
	assert.Equal(t, "2.1", r.EventVersion)
	assert.Equal(t, "us-east-1", r.AWSRegion)
	assert.True(t, at.Equal(r.EventTime))
	assert.Equal(t, "dcrm-import", r.S3.Bucket.Name)
	assert.Equal(t, "arn:aws:s3:::dcrm-import", r.S3.Bucket.Arn)
	assert.Equal(t, "import-orders", r.S3.ConfigurationID)
	assert.Equal(t, "orders/big+file%2B1.csv", r.S3.Object.Key)
	assert.Equal(t, int64(6<<20), r.S3.Object.Size)
	assert.Equal(t, "9b2cf535f27731c974343645a3985328-2", r.S3.Object.ETag)
	assert.Equal(t, "0055AED6DCD90281E5", r.S3.Object.Sequencer)
	assert.Equal(t, "127.0.0.1", r.RequestParameters.SourceIPAddress)

	// Every field S3 documents is there, and nothing else.
	var got, sample map[string]any
	require.NoError(t, json.Unmarshal(raw, &got))
	sampleRaw, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "s3", "object-created.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(sampleRaw, &sample))
	assert.Equal(t, keys(sample), keys(got))
}

// keys lists the paths of a JSON document's object members.
func keys(v any) []string {
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				out = append(out, prefix+"."+k)
				walk(prefix+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(prefix+"[]", e)
			}
		}
	}
	walk("", v)
	slices.Sort(out)
	return out
}

// FuzzEncodeKey: every key S3 takes (UTF-8) comes back from its encoding by url.QueryUnescape,
// and the encoding has no character a form value would misread.
func FuzzEncodeKey(f *testing.F) {
	for _, k := range []string{"orders/a b+c.csv", "café/☕", "%2F", "a//b", ""} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !utf8.ValidString(key) {
			return
		}
		enc := s3server.EncodeKey(key)
		back, err := url.QueryUnescape(enc)
		if err != nil || back != key {
			t.Fatalf("%q encoded %q decodes to %q, %v", key, enc, back, err)
		}
		if strings.ContainsAny(enc, " &=?#") {
			t.Fatalf("%q encoded %q keeps a character to escape", key, enc)
		}
	})
}
